//! Feed any datagram to the proxyDHCP / PXE boot-server policy on both
//! ports: it answers only PXE clients, and every answer emits and parses.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use netboot_dhcp::policy::{
    classify, Outcome, Policy, Port, ProxyServer, ReplyKind, ServerIdentity,
};
use netboot_dhcp::wire::{Message, MessageType, Op};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else { return };
    let server = ProxyServer::new(
        Policy::chainload(
            Some("http://10.0.0.1/boot.ipxe"),
            Some("undionly.kpxe"),
            Some("ipxe.efi"),
        ),
        ServerIdentity::new(Ipv4Addr::new(10, 0, 0, 1)),
    );
    for port in [Port::Dhcp, Port::BootServer] {
        let Ok(outcome) = server.handle(port, &m) else {
            continue;
        };
        let Outcome::Reply(r) = outcome else { continue };
        assert!(
            matches!(classify(&m), Ok(Some(_))),
            "answered a non-PXE client"
        );
        let mut buf = vec![0u8; r.repr.buffer_len()];
        let n = r.repr.emit(&mut buf).expect("reply emits");
        let reply = Message::parse(&buf[..n]).expect("reply parses");
        assert_eq!(reply.op(), Op::Reply);
        assert_eq!(reply.xid(), m.xid());
        let want = match r.kind {
            ReplyKind::ProxyOffer => {
                assert_eq!(reply.yiaddr(), Ipv4Addr::UNSPECIFIED);
                MessageType::Offer
            }
            ReplyKind::BootAck => MessageType::Ack,
        };
        assert_eq!(reply.message_type().unwrap(), Some(want));
    }
});
