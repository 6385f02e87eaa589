//! The proxyDHCP policy without a daemon: a PXE ROM's DISCOVER, as bytes,
//! answered by a rule table (the way firmware tests, simulators or another
//! DHCP server could embed it).
//!
//! `cargo run -p netboot-examples --example pxe_answer`

use std::net::Ipv4Addr;

use netboot_dhcp::policy::{Outcome, Policy, Port, ProxyServer, ServerIdentity};
use netboot_dhcp::wire::{code, Message, MessageType, Op, RawOption, Repr};

fn discover(arch: u16, ipxe: bool) -> Vec<u8> {
    let mut r = Repr::new(Op::Request);
    r.header.xid = 0x1234_5678;
    r.header.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    r.push(RawOption::message_type(MessageType::Discover));
    r.push(RawOption::u16(code::CLIENT_ARCH, arch));
    r.push(RawOption::new(
        code::VENDOR_CLASS_ID,
        format!("PXEClient:Arch:{arch:05}:UNDI:002001").into_bytes(),
    ));
    if ipxe {
        r.push(RawOption::new(code::USER_CLASS, &b"iPXE"[..]));
    }
    let mut buf = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut buf).expect("buffer_len bytes suffice");
    buf.truncate(n);
    buf
}

fn main() {
    // iPXE gets its script, BIOS ROMs undionly.kpxe, x86-64 UEFI ipxe.efi.
    let server = ProxyServer::new(
        Policy::chainload(
            Some("http://10.0.0.1/boot.ipxe"),
            Some("undionly.kpxe"),
            Some("ipxe.efi"),
        ),
        ServerIdentity::new(Ipv4Addr::new(10, 0, 0, 1)),
    );
    for (what, arch, ipxe) in [
        ("BIOS ROM", 0, false),
        ("UEFI x64", 7, false),
        ("iPXE", 0, true),
    ] {
        let bytes = discover(arch, ipxe);
        let msg = Message::parse(&bytes).expect("our own DISCOVER parses");
        match server
            .handle(Port::Dhcp, &msg)
            .expect("well-formed request")
        {
            Outcome::Reply(r) => {
                let mut out = vec![0u8; r.repr.buffer_len()];
                let n = r.repr.emit(&mut out).expect("emit");
                let offer = Message::parse(&out[..n]).expect("our OFFER parses");
                println!(
                    "{what:9} -> {:?} file {:?} next-server {} ({n} bytes)",
                    offer.message_type().ok().flatten(),
                    String::from_utf8_lossy(&offer.boot_file().unwrap_or_default()),
                    offer.siaddr(),
                );
            }
            Outcome::Ignore(why) => println!("{what:9} -> ignored: {why:?}"),
        }
    }
}
