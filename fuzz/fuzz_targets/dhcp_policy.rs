//! Feed any datagram to the proxyDHCP / PXE boot-server policy on both
//! ports: it answers only PXE clients, and every answer emits and parses.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use netboot_dhcp::policy::{
    classify, Outcome, Policy, Port, ProxyServer, ReplyKind, Rule, ServerIdentity,
};
use netboot_dhcp::wire::{code, Message, MessageType, Op};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else { return };
    let mut policy = Policy::chainload(
        Some("http://10.0.0.1/boot.ipxe"),
        Some("undionly.kpxe"),
        Some("ipxe.efi"),
    );
    // UEFI HTTP boot clients, any architecture.
    policy.rules.push(Rule {
        http: true,
        boot_file: Some("http://10.0.0.1/ipxe.efi".into()),
        ..Rule::default()
    });
    let server = ProxyServer::new(policy, ServerIdentity::new(Ipv4Addr::new(10, 0, 0, 1)));
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
        // HTTP boot clients get URLs and `HTTPClient`, PXE clients never.
        if r.kind == ReplyKind::ProxyOffer {
            let vendor = reply.option(code::VENDOR_CLASS_ID).expect("option 60");
            let http = vendor == b"HTTPClient"[..];
            assert_eq!(http, r.class.http);
            let file = reply.boot_file().expect("a file");
            assert_eq!(file.starts_with(b"http://"), r.class.http || r.class.ipxe);
        }
    }
});
