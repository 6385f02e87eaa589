//! Golden vectors from real peers (see tests/data/README.md): parse each,
//! check key fields, re-emit byte for byte, and compare our proxy replies
//! with dnsmasq's for the same requests.

use std::net::Ipv4Addr;

use netboot_dhcp::policy::{Outcome, Policy, Port, ProxyServer, Reply, ServerIdentity};
use netboot_dhcp::wire::encap::{BootItem, BootServer, PxeVendor};
use netboot_dhcp::wire::{code, ClientArch, Message, MessageType, Op, HEADER_LEN};

macro_rules! fixture {
    ($name:literal) => {
        ($name, include_bytes!(concat!("data/", $name)) as &[u8])
    };
}

const ALL: &[(&str, &[u8])] = &[
    fixture!("ipxe_discover.bin"),
    fixture!("ipxe_request.bin"),
    fixture!("slirp_offer.bin"),
    fixture!("slirp_ack.bin"),
    fixture!("legacy_discover.bin"),
    fixture!("legacy_request_4011.bin"),
    fixture!("efi_discover.bin"),
    fixture!("dnsmasq_offer_bios.bin"),
    fixture!("dnsmasq_ack_4011.bin"),
    fixture!("dnsmasq_offer_efi.bin"),
];

fn get(name: &str) -> &'static [u8] {
    ALL.iter().find(|(n, _)| *n == name).unwrap().1
}

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

#[test]
fn every_fixture_reemits_byte_exact_up_to_padding() {
    for (name, bytes) in ALL {
        let m = Message::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut buf = vec![0xa5u8; 1500];
        let n = m.to_repr().emit(&mut buf).unwrap();
        let end = m.len_without_padding();
        assert_eq!(&buf[..end], &bytes[..end], "{name}");
        // What follows the end option is zero padding on both sides.
        assert!(buf[end..n].iter().all(|&b| b == 0), "{name}");
        assert!(bytes[end..].iter().all(|&b| b == 0), "{name}");
        assert!(n >= 300);
    }
}

#[test]
fn ipxe_discover_fields() {
    let m = Message::parse(get("ipxe_discover.bin")).unwrap();
    assert_eq!(m.op(), Op::Request);
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Discover));
    assert_eq!(m.max_message_size().unwrap(), Some(1472));
    assert_eq!(m.client_arch().unwrap(), Some(ClientArch::X86_BIOS));
    let ndi = m.client_ndi().unwrap().unwrap();
    assert_eq!((ndi.kind, ndi.major, ndi.minor), (1, 2, 1));
    let vc = m.pxe_vendor_class().unwrap();
    assert_eq!(
        (vc.arch, vc.undi),
        (Some(ClientArch::X86_BIOS), Some((2, 1)))
    );
    assert!(m.is_ipxe_user_class());
    assert_eq!(m.parameter_request_list().unwrap().len(), 23);
    assert_eq!(
        m.client_id().unwrap(),
        &[1, 0x52, 0x54, 0, 0x12, 0x34, 0x56][..]
    );
    assert_eq!(m.client_uuid().unwrap().unwrap().0, [0; 16]);
    let ipxe = m.ipxe_options().unwrap().unwrap();
    assert_eq!(ipxe.version(), Some((1, 0, 0)));
    assert!(!ipxe.no_pxedhcp());
}

#[test]
fn ipxe_request_fields() {
    let m = Message::parse(get("ipxe_request.bin")).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Request));
    assert_eq!(m.server_id().unwrap(), Some(Ipv4Addr::new(10, 0, 2, 2)));
    assert_eq!(m.requested_ip().unwrap(), Some(Ipv4Addr::new(10, 0, 2, 15)));
}

#[test]
fn slirp_offer_and_ack_fields() {
    for (name, t) in [
        ("slirp_offer.bin", MessageType::Offer),
        ("slirp_ack.bin", MessageType::Ack),
    ] {
        let m = Message::parse(get(name)).unwrap();
        assert_eq!(m.op(), Op::Reply);
        assert_eq!(m.message_type().unwrap(), Some(t));
        assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(m.siaddr(), Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(
            m.subnet_mask().unwrap(),
            Some(Ipv4Addr::new(255, 255, 255, 0))
        );
        assert_eq!(
            m.routers().unwrap().unwrap().collect::<Vec<_>>(),
            [Ipv4Addr::new(10, 0, 2, 2)]
        );
        assert_eq!(
            m.dns_servers().unwrap().unwrap().collect::<Vec<_>>(),
            [Ipv4Addr::new(10, 0, 2, 3)]
        );
        assert_eq!(m.lease_time().unwrap(), Some(86400));
        assert_eq!(m.pxe_vendor_class(), None);
    }
}

#[test]
fn dnsmasq_replies_fields() {
    let m = Message::parse(get("dnsmasq_offer_bios.bin")).unwrap();
    let v = PxeVendor::parse(m.vendor_specific().unwrap().as_slice().unwrap()).unwrap();
    assert_eq!(v.discovery_control, Some(3));
    assert_eq!(
        v.boot_servers,
        [BootServer {
            kind: 0x8000,
            addrs: vec![SERVER]
        }]
    );
    assert_eq!(v.menu[0].description, b"Boot");
    assert_eq!(v.prompt.as_ref().unwrap().timeout, 0);
    let m = Message::parse(get("dnsmasq_ack_4011.bin")).unwrap();
    assert_eq!(m.file(), Some(&b"undionly.kpxe"[..]));
    let m = Message::parse(get("legacy_request_4011.bin")).unwrap();
    assert_eq!(
        m.pxe_boot_item().unwrap(),
        Some(BootItem {
            kind: 0x8000,
            layer: 0
        })
    );
}

fn ours(port: Port, req: &[u8]) -> Vec<u8> {
    let s = ProxyServer::new(
        Policy::chainload(
            Some("http://10.77.0.1/boot.ipxe"),
            Some("undionly.kpxe"),
            Some("ipxe.efi"),
        ),
        ServerIdentity::new(SERVER),
    );
    let Outcome::Reply(r) = s.handle(port, &Message::parse(req).unwrap()).unwrap() else {
        panic!("no reply")
    };
    let r: Reply = *r;
    let mut buf = vec![0u8; 1500];
    let n = r.repr.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// The fields both servers must agree on.
fn assert_same_pxe_basics(ours: &Message<'_>, theirs: &Message<'_>) {
    assert_eq!(ours.op(), theirs.op());
    assert_eq!(ours.xid(), theirs.xid());
    assert_eq!(ours.flags(), theirs.flags());
    assert_eq!(ours.chaddr(), theirs.chaddr());
    assert_eq!(ours.yiaddr(), theirs.yiaddr());
    assert_eq!(ours.ciaddr(), theirs.ciaddr());
    assert_eq!(ours.message_type().unwrap(), theirs.message_type().unwrap());
    assert_eq!(ours.server_id().unwrap(), theirs.server_id().unwrap());
    assert_eq!(
        ours.vendor_class().unwrap(),
        theirs.vendor_class().unwrap().as_slice().unwrap()
    );
    assert_eq!(
        ours.option(code::CLIENT_UUID).unwrap(),
        theirs
            .option(code::CLIENT_UUID)
            .unwrap()
            .as_slice()
            .unwrap()
    );
}

#[test]
fn proxy_offer_matches_dnsmasq_bios() {
    let ours_b = ours(Port::Dhcp, get("legacy_discover.bin"));
    let o = Message::parse(&ours_b).unwrap();
    let d = Message::parse(get("dnsmasq_offer_bios.bin")).unwrap();
    assert_same_pxe_basics(&o, &d);
    assert_eq!(o.yiaddr(), Ipv4Addr::UNSPECIFIED);
    let ov = PxeVendor::parse(&o.vendor_specific().unwrap().to_cow()).unwrap();
    let dv = PxeVendor::parse(&d.vendor_specific().unwrap().to_cow()).unwrap();
    assert_eq!(ov.discovery_control, dv.discovery_control);
    assert_eq!(ov.boot_servers, dv.boot_servers);
    assert_eq!(
        ov.menu.iter().map(|m| m.kind).collect::<Vec<_>>(),
        dv.menu.iter().map(|m| m.kind).collect::<Vec<_>>()
    );
    assert_eq!(ov.prompt.unwrap().timeout, dv.prompt.unwrap().timeout);
    // Deliberate difference: we also put the next stage in the offer
    // (dnsmasq leaves siaddr/file empty and relies on the 4011 exchange).
    assert_eq!(d.file(), None);
    assert_eq!(o.file(), Some(&b"undionly.kpxe"[..]));
    assert_eq!(o.siaddr(), SERVER);
}

#[test]
fn boot_ack_matches_dnsmasq() {
    let ours_b = ours(Port::BootServer, get("legacy_request_4011.bin"));
    let o = Message::parse(&ours_b).unwrap();
    let d = Message::parse(get("dnsmasq_ack_4011.bin")).unwrap();
    assert_same_pxe_basics(&o, &d);
    assert_eq!(o.siaddr(), d.siaddr());
    assert_eq!(o.file(), d.file());
    let ov = PxeVendor::parse(&o.vendor_specific().unwrap().to_cow()).unwrap();
    let dv = PxeVendor::parse(&d.vendor_specific().unwrap().to_cow()).unwrap();
    assert_eq!(ov.boot_item, dv.boot_item);
    // Deliberate difference: dnsmasq repeats the menu prompt (43.10) in the
    // ACK; the PXE spec does not ask for it and we leave it out.
    assert!(dv.prompt.is_some() && ov.prompt.is_none());
}

#[test]
fn proxy_offer_matches_dnsmasq_efi() {
    let ours_b = ours(Port::Dhcp, get("efi_discover.bin"));
    let o = Message::parse(&ours_b).unwrap();
    let d = Message::parse(get("dnsmasq_offer_efi.bin")).unwrap();
    assert_same_pxe_basics(&o, &d);
    assert_eq!(o.siaddr(), d.siaddr());
    // Deliberate differences: dnsmasq sends UEFI clients neither option 43
    // nor a file (the client then asks on 4011); we send the file and the
    // same option 43 as for BIOS, so either path gets the same answer.
    assert!(d.vendor_specific().is_none() && d.file().is_none());
    assert_eq!(o.file(), Some(&b"ipxe.efi"[..]));
    assert!(o.vendor_specific().is_some());
}

#[test]
fn header_len_constant() {
    assert_eq!(HEADER_LEN, 240);
}
