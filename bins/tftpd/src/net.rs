//! Sockets: listeners that learn each request's local address (so a reply
//! leaves from the address the client talked to, on multi-homed hosts too),
//! and transfer sockets bound in the configured port range.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Socket buffer asked for on every socket: a full window of large blocks
/// overflows Linux's default of about 208 KiB.
const SOCKET_BUFFER: usize = 4 << 20;

fn udp_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(*addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // [::]:69 and 0.0.0.0:69 side by side.
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    Ok(s)
}

/// Binds a listening socket with local-address reporting switched on.
pub fn bind_listener(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = udp_socket(&addr)?;
    s.bind(&addr.into())?;
    let sock = UdpSocket::from_std(s.into())?;
    if addr.is_ipv4() {
        socket::setsockopt(&sock, sockopt::Ipv4PacketInfo, &true)?;
    } else {
        socket::setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)?;
    }
    Ok(sock)
}

/// A datagram with the address it came from and the local address it was sent to.
pub struct Received {
    pub len: usize,
    pub from: SocketAddr,
    pub local: Option<IpAddr>,
}

/// Receives one datagram on a listener made by [`bind_listener`].
pub async fn recv_with_local(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    sock.async_io(Interest::READABLE, || {
        let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo, nix::libc::in6_pktinfo);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = socket::recvmsg::<SockaddrStorage>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let mut local = None;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            match c {
                ControlMessageOwned::Ipv4PacketInfo(i) => {
                    local = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr))));
                }
                ControlMessageOwned::Ipv6PacketInfo(i) => {
                    local = Some(IpAddr::V6(Ipv6Addr::from(i.ipi6_addr.s6_addr)));
                }
                _ => {}
            }
        }
        let from = msg
            .address
            .and_then(|a: SockaddrStorage| {
                if let Some(v4) = a.as_sockaddr_in() {
                    Some(SocketAddr::from((v4.ip(), v4.port())))
                } else {
                    a.as_sockaddr_in6()
                        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
                }
            })
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no source address"))?;
        Ok(Received {
            len: msg.bytes,
            from,
            local,
        })
    })
    .await
}

/// Binds a transfer socket on `local` (or the listener's address when the
/// request went to a broadcast or multicast address), with a port from
/// `range` if given.
pub fn bind_transfer(
    listener: SocketAddr,
    local: Option<IpAddr>,
    range: Option<(u16, u16)>,
) -> io::Result<UdpSocket> {
    let ip = match local {
        Some(IpAddr::V4(v4)) if !v4.is_broadcast() && !v4.is_multicast() => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) if !v6.is_multicast() => IpAddr::V6(v6),
        _ => listener.ip(),
    };
    let try_bind = |port: u16| -> io::Result<UdpSocket> {
        let addr = SocketAddr::new(ip, port);
        let s = udp_socket(&addr)?;
        s.bind(&addr.into())?;
        UdpSocket::from_std(s.into())
    };
    let Some((lo, hi)) = range else {
        return try_bind(0);
    };
    let span = u32::from(hi - lo) + 1;
    let start = rand::random::<u32>() % span;
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "port range exhausted");
    for i in 0..span {
        let port = lo + ((start + i) % span) as u16;
        match try_bind(port) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
