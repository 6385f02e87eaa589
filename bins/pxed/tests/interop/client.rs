//! A crafted PXE client for the tests (run inside a host's namespace with
//! `Host::run_in`): the requests a BIOS PXE ROM, UEFI firmware or iPXE
//! send, built with netboot-dhcp's emitter, and the replies, parsed.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use netboot_dhcp::wire::encap::{BootItem, PxeVendor};
use netboot_dhcp::wire::{code, ClientArch, Message, MessageType, Op, RawOption, Repr};
use socket2::{Domain, Protocol, Socket, Type};

/// Option 97 as the client sends it (type 0 and a UUID); the server must
/// echo it.
pub const UUID_OPTION: [u8; 17] = [
    0, 0x8e, 0x0c, 0x77, 0xb2, 0xa1, 0xc0, 0x4b, 0x7e, 0x9a, 0x1d, 0x3f, 0x6e, 0x5c, 0x4b, 0x3a,
    0x29,
];

/// A reply, parsed into owned fields.
#[derive(Debug, Clone)]
pub struct Reply {
    pub op: u8,
    pub xid: u32,
    pub chaddr: [u8; 16],
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub kind: Option<MessageType>,
    pub server_id: Option<Ipv4Addr>,
    /// `file`, or option 67 when set.
    pub file: String,
    pub options: Vec<(u8, Vec<u8>)>,
}

impl Reply {
    fn parse(data: &[u8]) -> Option<Reply> {
        let m = Message::parse(data).ok()?;
        let options = m.raw_options().map(|o| (o.code, o.data.to_vec())).collect();
        Some(Reply {
            op: u8::from(m.op()),
            xid: m.xid(),
            chaddr: *m.chaddr(),
            yiaddr: m.yiaddr(),
            siaddr: m.siaddr(),
            kind: m.message_type().ok()?,
            server_id: m.server_id().ok()?,
            file: m
                .boot_file()
                .map(|f| String::from_utf8_lossy(&f).into_owned())
                .unwrap_or_default(),
            options,
        })
    }

    /// The value of option `code` (instances joined).
    pub fn option(&self, code: u8) -> Option<Vec<u8>> {
        let v: Vec<u8> = self
            .options
            .iter()
            .filter(|(c, _)| *c == code)
            .flat_map(|(_, d)| d.iter().copied())
            .collect();
        self.options.iter().any(|(c, _)| *c == code).then_some(v)
    }

    /// Option 43, parsed.
    pub fn pxe_vendor(&self) -> PxeVendor {
        PxeVendor::parse(&self.option(code::VENDOR_SPECIFIC).unwrap_or_default())
            .expect("option 43 parses")
    }
}

/// A client socket on port 68 of one interface.
pub struct Client {
    sock: UdpSocket,
    mac: [u8; 6],
}

impl Client {
    pub fn new(iface: &str, mac: [u8; 6]) -> Client {
        Self::on_port(iface, mac, 68)
    }

    /// A client socket on another port: 67 for a DHCP relay agent.
    pub fn on_port(iface: &str, mac: [u8; 6], port: u16) -> Client {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_broadcast(true).unwrap();
        s.bind_device(Some(iface.as_bytes())).unwrap();
        s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())
            .unwrap();
        Client {
            sock: s.into(),
            mac,
        }
    }

    /// What a relay agent (RFC 2131 §4.1, `giaddr`) forwards: a PXE
    /// DISCOVER from a client on another subnet, sent by unicast to
    /// `server`:67; the replies that come back to the relay within `wait`.
    pub fn relay_discover(
        &self,
        server: Ipv4Addr,
        giaddr: Ipv4Addr,
        arch: ClientArch,
        wait: Duration,
    ) -> Vec<Reply> {
        let xid = Self::next_xid();
        let mut r = self.request(MessageType::Discover, xid, Some(arch), false);
        r.header.giaddr = giaddr;
        r.header.hops = 1;
        self.send_raw(&Self::emit(&r), server, 67);
        self.collect(xid, wait)
    }

    fn request(&self, t: MessageType, xid: u32, arch: Option<ClientArch>, ipxe: bool) -> Repr {
        let mut r = Repr::new(Op::Request);
        r.header.xid = xid;
        r.header.flags = 0x8000;
        r.header.chaddr[..6].copy_from_slice(&self.mac);
        r.push(RawOption::message_type(t));
        r.push(RawOption::u16(code::MAX_MESSAGE_SIZE, 1472));
        r.push(RawOption::new(
            code::PARAMETER_REQUEST_LIST,
            vec![1, 3, 6, 12, 15, 17, 43, 60, 66, 67, 97, 175],
        ));
        if let Some(arch) = arch {
            r.push(RawOption::u16(code::CLIENT_ARCH, arch.0));
            r.push(RawOption::new(code::CLIENT_NDI, vec![1, 2, 1]));
            r.push(RawOption::new(code::CLIENT_UUID, UUID_OPTION.to_vec()));
            r.push(RawOption::new(
                code::VENDOR_CLASS_ID,
                format!("PXEClient:Arch:{:05}:UNDI:002001", arch.0).into_bytes(),
            ));
        }
        if ipxe {
            r.push(RawOption::new(code::USER_CLASS, &b"iPXE"[..]));
            // iPXE's feature flags as qemu's iPXE sends them: priority,
            // HTTP, iSCSI, AoE, TFTP, and the version.
            r.push(RawOption::new(
                code::IPXE_ENCAP,
                vec![
                    0xb1, 5, 1, 0x80, 0x86, 0x10, 0x0e, // bus id
                    0x13, 1, 1, // HTTP
                    0x11, 1, 1, // iSCSI
                    0x12, 1, 1, // AoE
                    0x15, 1, 1, // TFTP
                    0xeb, 3, 1, 0, 0, // version 1.0.0
                ],
            ));
        }
        r
    }

    fn emit(r: &Repr) -> Vec<u8> {
        let mut buf = vec![0u8; r.buffer_len()];
        let n = r.emit(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    /// The bytes of a PXE DISCOVER.
    pub fn pxe_discover_bytes(&self, arch: ClientArch, ipxe: bool, xid: u32) -> Vec<u8> {
        Self::emit(&self.request(MessageType::Discover, xid, Some(arch), ipxe))
    }

    pub fn send_raw(&self, data: &[u8], to: Ipv4Addr, port: u16) {
        let _ = self.sock.send_to(data, SocketAddrV4::new(to, port));
    }

    /// Every reply with `xid` until `wait` has passed.
    fn collect(&self, xid: u32, wait: Duration) -> Vec<Reply> {
        let until = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if let Some(r) = Reply::parse(&buf[..n]) {
                        if r.xid == xid && r.op == 2 {
                            out.push(r);
                        }
                    }
                }
                Err(_) => break,
            }
        }
        out
    }

    fn next_xid() -> u32 {
        use std::sync::atomic::{AtomicU32, Ordering};
        static X: AtomicU32 = AtomicU32::new(0x5eed_0000);
        X.fetch_add(1, Ordering::Relaxed)
    }

    /// A PXE DISCOVER broadcast; the replies seen within `wait`.
    pub fn discover_pxe(&self, arch: ClientArch, ipxe: bool, wait: Duration) -> Vec<Reply> {
        let xid = Self::next_xid();
        let b = self.pxe_discover_bytes(arch, ipxe, xid);
        self.send_raw(&b, Ipv4Addr::BROADCAST, 67);
        self.collect(xid, wait)
    }

    /// The bytes of a DISCOVER without PXE options.
    pub fn plain_discover_bytes(&self, xid: u32) -> Vec<u8> {
        Self::emit(&self.request(MessageType::Discover, xid, None, false))
    }

    /// Broadcasts `data` (a DISCOVER with `xid`, however made) to port 67;
    /// the replies seen within `wait`.
    pub fn broadcast_and_collect(&self, data: &[u8], xid: u32, wait: Duration) -> Vec<Reply> {
        self.send_raw(data, Ipv4Addr::BROADCAST, 67);
        self.collect(xid, wait)
    }

    /// A DISCOVER without PXE options (an ordinary DHCP client).
    pub fn discover_plain(&self, wait: Duration) -> Vec<Reply> {
        let xid = Self::next_xid();
        let b = self.plain_discover_bytes(xid);
        self.send_raw(&b, Ipv4Addr::BROADCAST, 67);
        self.collect(xid, wait)
    }

    /// The PXE boot server REQUEST to `server`:4011 from `ciaddr`, asking
    /// for the first menu item (type 0x8000, layer 0, as dnsmasq's menu
    /// has), and its ACK.
    pub fn boot_server_request(
        &self,
        server: Ipv4Addr,
        arch: ClientArch,
        ciaddr: Ipv4Addr,
    ) -> Reply {
        let xid = Self::next_xid();
        let mut r = self.request(MessageType::Request, xid, Some(arch), false);
        r.header.ciaddr = ciaddr;
        r.header.flags = 0;
        let v = PxeVendor {
            boot_item: Some(BootItem {
                kind: 0x8000,
                layer: 0,
            }),
            ..PxeVendor::default()
        };
        r.push(RawOption::new(code::VENDOR_SPECIFIC, v.encode().unwrap()));
        self.send_raw(&Self::emit(&r), server, 4011);
        let mut replies = self.collect_first(xid, Duration::from_secs(3));
        assert!(!replies.is_empty(), "no reply from {server}:4011");
        replies.remove(0)
    }

    fn collect_first(&self, xid: u32, wait: Duration) -> Vec<Reply> {
        let until = Instant::now() + wait;
        let mut buf = [0u8; 2048];
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                break;
            };
            if let Some(r) = Reply::parse(&buf[..n]) {
                if r.xid == xid && r.op == 2 {
                    return vec![r];
                }
            }
        }
        Vec::new()
    }
}
