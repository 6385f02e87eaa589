use super::*;
use crate::wire::encap::{IpxeFeature, PxeVendor};
use crate::PolicyError;

const IPXE_DISCOVER: &[u8] = include_bytes!("../../tests/data/ipxe_discover.bin");
const IPXE_REQUEST: &[u8] = include_bytes!("../../tests/data/ipxe_request.bin");
const LEGACY_DISCOVER: &[u8] = include_bytes!("../../tests/data/legacy_discover.bin");
const LEGACY_REQUEST_4011: &[u8] = include_bytes!("../../tests/data/legacy_request_4011.bin");
const EFI_DISCOVER: &[u8] = include_bytes!("../../tests/data/efi_discover.bin");
const SLIRP_OFFER: &[u8] = include_bytes!("../../tests/data/slirp_offer.bin");

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

fn server() -> ProxyServer {
    ProxyServer::new(
        Policy::chainload(
            Some("http://10.77.0.1/boot.ipxe"),
            Some("undionly.kpxe"),
            Some("ipxe.efi"),
        ),
        ServerIdentity::new(SERVER),
    )
}

fn reply(port: Port, bytes: &[u8]) -> Reply {
    match server()
        .handle(port, &Message::parse(bytes).unwrap())
        .unwrap()
    {
        Outcome::Reply(r) => *r,
        Outcome::Ignore(why) => panic!("ignored: {why:?}"),
    }
}

fn ignored(port: Port, bytes: &[u8]) -> Ignored {
    match server()
        .handle(port, &Message::parse(bytes).unwrap())
        .unwrap()
    {
        Outcome::Reply(r) => panic!("answered: {r:?}"),
        Outcome::Ignore(why) => why,
    }
}

#[test]
fn test_classify_fixtures() {
    let c = classify(&Message::parse(IPXE_DISCOVER).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(c.arch, ClientArch::X86_BIOS);
    assert_eq!(c.arch_source, ArchSource::ClientArchOption);
    assert!(c.ipxe);
    assert!(c.ipxe_features.contains(IpxeFeature::HTTP));
    assert!(c.ipxe_features.contains(IpxeFeature::AOE));
    assert_eq!(c.ipxe_version, Some((1, 0, 0)));
    assert_eq!(c.undi, Some((2, 1)));
    assert_eq!(c.hw_addr(), &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);

    let c = classify(&Message::parse(LEGACY_DISCOVER).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((c.arch, c.ipxe), (ClientArch::X86_BIOS, false));
    let c = classify(&Message::parse(EFI_DISCOVER).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((c.arch, c.ipxe), (ClientArch::EFI_X64, false));
    assert_eq!(
        classify(&Message::parse(SLIRP_OFFER).unwrap()).unwrap(),
        None
    );
}

#[test]
fn test_arch_from_vendor_class_when_no_option_93() {
    let mut r = Repr::new(Op::Request);
    r.push(RawOption::message_type(MessageType::Discover));
    r.push(RawOption::new(
        code::VENDOR_CLASS_ID,
        &b"PXEClient:Arch:00011:UNDI:003016"[..],
    ));
    let mut buf = [0u8; 400];
    let n = r.emit(&mut buf).unwrap();
    let c = classify(&Message::parse(&buf[..n]).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.arch, c.arch_source),
        (ClientArch::EFI_ARM64, ArchSource::VendorClass)
    );
    // Plain "PXEClient": assumed BIOS.
    r.options[1] = RawOption::new(code::VENDOR_CLASS_ID, &b"PXEClient"[..]);
    let n = r.emit(&mut buf).unwrap();
    let c = classify(&Message::parse(&buf[..n]).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.arch, c.arch_source),
        (ClientArch::X86_BIOS, ArchSource::Default)
    );
}

#[test]
fn test_non_pxe_clients_are_never_answered() {
    let mut r = Repr::new(Op::Request);
    r.push(RawOption::message_type(MessageType::Discover));
    r.push(RawOption::new(code::VENDOR_CLASS_ID, &b"MSFT 5.0"[..]));
    let mut buf = [0u8; 400];
    let n = r.emit(&mut buf).unwrap();
    assert_eq!(ignored(Port::Dhcp, &buf[..n]), Ignored::NotPxeClient);
    r.options.pop();
    let n = r.emit(&mut buf).unwrap();
    assert_eq!(ignored(Port::Dhcp, &buf[..n]), Ignored::NotPxeClient);
    assert_eq!(ignored(Port::Dhcp, SLIRP_OFFER), Ignored::NotRequest);
    // A REQUEST on 67 is for the site's DHCP server.
    assert_eq!(
        ignored(Port::Dhcp, IPXE_REQUEST),
        Ignored::MessageType(Some(MessageType::Request))
    );
    assert_eq!(
        ignored(Port::BootServer, LEGACY_DISCOVER),
        Ignored::MessageType(Some(MessageType::Discover))
    );
}

#[test]
fn test_ipxe_gets_script_firmware_gets_binary() {
    let r = reply(Port::Dhcp, IPXE_DISCOVER);
    assert_eq!(r.boot.file, "http://10.77.0.1/boot.ipxe");
    let mut buf = [0u8; 600];
    let n = r.repr.emit(&mut buf).unwrap();
    let m = Message::parse(&buf[..n]).unwrap();
    assert_eq!(m.file(), Some(&b"http://10.77.0.1/boot.ipxe"[..]));
    assert!(m.vendor_specific().is_none(), "no PXE menu for iPXE");

    assert_eq!(
        reply(Port::Dhcp, LEGACY_DISCOVER).boot.file,
        "undionly.kpxe"
    );
    assert_eq!(reply(Port::Dhcp, EFI_DISCOVER).boot.file, "ipxe.efi");
    assert_eq!(
        reply(Port::BootServer, LEGACY_REQUEST_4011).boot.file,
        "undionly.kpxe"
    );
}

#[test]
fn test_feature_rule_falls_through() {
    let mut s = server();
    s.policy.rules[0].ipxe_features = vec![IpxeFeature::HTTPS];
    // This iPXE has no HTTPS: the BIOS rule (ipxe unrestricted) applies.
    let m = Message::parse(IPXE_DISCOVER).unwrap();
    let Outcome::Reply(r) = s.handle(Port::Dhcp, &m).unwrap() else {
        panic!()
    };
    assert_eq!((r.boot.rule, r.boot.file.as_str()), (1, "undionly.kpxe"));
    // Only the script rule: no match for a BIOS ROM.
    s.policy.rules.truncate(1);
    let m = Message::parse(LEGACY_DISCOVER).unwrap();
    assert!(matches!(
        s.handle(Port::Dhcp, &m).unwrap(),
        Outcome::Ignore(Ignored::NoRule(_))
    ));
}

#[test]
fn test_next_server_precedence() {
    let mut s = server();
    let m = Message::parse(LEGACY_DISCOVER).unwrap();
    let next = |s: &ProxyServer| match s.handle(Port::Dhcp, &m).unwrap() {
        Outcome::Reply(r) => r.repr.header.siaddr,
        Outcome::Ignore(w) => panic!("{w:?}"),
    };
    assert_eq!(next(&s), SERVER);
    s.identity.tftp_server = Some(Ipv4Addr::new(10, 77, 0, 9));
    assert_eq!(next(&s), Ipv4Addr::new(10, 77, 0, 9));
    s.policy.rules[1].next_server = Some(Ipv4Addr::new(10, 77, 0, 8));
    assert_eq!(next(&s), Ipv4Addr::new(10, 77, 0, 8));
}

#[test]
fn test_long_script_url_goes_to_option_67() {
    let url = format!("http://10.77.0.1/{}", "x".repeat(200));
    let s = ProxyServer::new(
        Policy::new(vec![Rule::ipxe_script(&url)]),
        ServerIdentity::new(SERVER),
    );
    let m = Message::parse(IPXE_DISCOVER).unwrap();
    let Outcome::Reply(r) = s.handle(Port::Dhcp, &m).unwrap() else {
        panic!()
    };
    let mut buf = [0u8; 1024];
    let n = r.repr.emit(&mut buf).unwrap();
    let m = Message::parse(&buf[..n]).unwrap();
    assert_eq!(m.file(), None);
    assert_eq!(m.boot_file().as_deref(), Some(url.as_bytes()));
}

#[test]
fn test_boot_ack_echoes_boot_item() {
    let r = reply(Port::BootServer, LEGACY_REQUEST_4011);
    let mut buf = [0u8; 600];
    let n = r.repr.emit(&mut buf).unwrap();
    let m = Message::parse(&buf[..n]).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Ack));
    assert_eq!(m.xid(), 0x1d2c_3b4b);
    let v = PxeVendor::parse(m.vendor_specific().unwrap().as_slice().unwrap()).unwrap();
    assert_eq!(
        v.boot_item,
        Some(BootItem {
            kind: 0x8000,
            layer: 0
        })
    );
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 77, 0, 2));
}

#[test]
fn test_reply_destination() {
    let src = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 2), 68);
    let m = Message::parse(LEGACY_DISCOVER).unwrap();
    assert_eq!(
        reply_destination(&m, Port::Dhcp, src),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    );
    let m = Message::parse(LEGACY_REQUEST_4011).unwrap();
    assert_eq!(reply_destination(&m, Port::BootServer, src), src);
}

#[test]
fn test_policy_validate() {
    assert!(server().policy.validate().is_ok());
    let p = Policy::new(vec![Rule::default()]);
    assert_eq!(p.validate(), Err(PolicyError::EmptyRule { index: 0 }));
}

#[cfg(feature = "serde")]
#[test]
fn test_policy_from_toml() {
    let p: Policy = toml::from_str(
        r#"
        [[rule]]
        ipxe = true
        ipxe_features = ["http", 0x11]
        script_url = "http://10.0.0.1/boot.ipxe"

        [[rule]]
        arch = "bios"
        boot_file = "undionly.kpxe"

        [[rule]]
        arch = ["efi-x64", 11]
        boot_file = "ipxe.efi"
        next_server = "10.0.0.2"
        "#,
    )
    .unwrap();
    assert_eq!(p.rules.len(), 3);
    assert_eq!(
        p.rules[0].ipxe_features,
        [IpxeFeature::HTTP, IpxeFeature::ISCSI]
    );
    assert_eq!(p.rules[1].arch, [ClientArch::X86_BIOS]);
    assert_eq!(
        p.rules[2].arch,
        [ClientArch::EFI_X64, ClientArch::EFI_ARM64]
    );
    assert_eq!(p.rules[2].next_server, Some(Ipv4Addr::new(10, 0, 0, 2)));
    assert!(toml::from_str::<Policy>("[[rule]]\narch = \"vax\"\n").is_err());
    assert!(toml::from_str::<Policy>("[[rule]]\nfile = \"x\"\n").is_err());
}

/// An EDK2 UEFI HTTP boot DISCOVER (60 `HTTPClient:Arch:00016:...`, 93 =
/// 16), as OVMF sends it.
fn http_discover() -> Vec<u8> {
    let mut r = Repr::new(Op::Request);
    r.header.xid = 7;
    r.push(RawOption::message_type(MessageType::Discover));
    r.push(RawOption::u16(code::CLIENT_ARCH, 16));
    r.push(RawOption::new(
        code::VENDOR_CLASS_ID,
        &b"HTTPClient:Arch:00016:UNDI:003000"[..],
    ));
    let mut buf = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn test_http_boot_clients_get_only_http_rules() {
    let bytes = http_discover();
    let msg = Message::parse(&bytes).unwrap();
    let c = classify(&msg).unwrap().unwrap();
    assert!(c.http);
    assert_eq!(c.arch, ClientArch::EFI_X64_HTTP);
    // The chain-load table has no HTTP rule: an HTTP client is not handed
    // a TFTP file name, even by a rule for any architecture.
    let any_arch = Policy::new(vec![Rule {
        boot_file: Some("undionly.kpxe".into()),
        ..Rule::default()
    }]);
    assert!(any_arch.decide(&c, &ServerIdentity::new(SERVER)).is_none());
    // With an HTTP rule: 60 HTTPClient, no 43, the URL, no address.
    let s = ProxyServer::new(
        Policy::new(vec![Rule {
            http: true,
            boot_file: Some("http://10.77.0.1/ipxe.efi".into()),
            ..Rule::default()
        }]),
        ServerIdentity::new(SERVER),
    );
    let Outcome::Reply(r) = s.handle(Port::Dhcp, &msg).unwrap() else {
        panic!("HTTP client not answered")
    };
    let mut out = vec![0u8; r.repr.buffer_len()];
    let n = r.repr.emit(&mut out).unwrap();
    let offer = Message::parse(&out[..n]).unwrap();
    assert_eq!(
        offer.option(code::VENDOR_CLASS_ID).unwrap(),
        &b"HTTPClient"[..]
    );
    assert!(offer.option(code::VENDOR_SPECIFIC).is_none());
    assert_eq!(
        offer.boot_file().as_deref(),
        Some(&b"http://10.77.0.1/ipxe.efi"[..])
    );
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
    // A PXE client never matches the HTTP rule.
    let pxe = Message::parse(EFI_DISCOVER).unwrap();
    assert!(matches!(
        s.handle(Port::Dhcp, &pxe).unwrap(),
        Outcome::Ignore(Ignored::NoRule(_))
    ));
    // HTTP rules must give URLs.
    let bad = Policy::new(vec![Rule {
        http: true,
        boot_file: Some("ipxe.efi".into()),
        ..Rule::default()
    }]);
    assert_eq!(
        bad.validate(),
        Err(PolicyError::HttpRuleWithoutUrl { index: 0 })
    );
}

/// Option 97 is echoed only at its defined size: a spoofed DISCOVER with a
/// huge (split) 97 does not make us broadcast it back.
#[test]
fn test_oversized_uuid_is_not_echoed() {
    let mut r = Repr::new(Op::Request);
    r.push(RawOption::message_type(MessageType::Discover));
    r.push(RawOption::u16(code::CLIENT_ARCH, 0));
    r.push(RawOption::new(
        code::VENDOR_CLASS_ID,
        &b"PXEClient:Arch:00000:UNDI:002001"[..],
    ));
    r.push(RawOption::new(code::CLIENT_UUID, vec![0u8; 1000]));
    let mut buf = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut buf).unwrap();
    let reply = reply(Port::Dhcp, &buf[..n]);
    assert!(reply.repr.get(code::CLIENT_UUID).is_none());
    assert!(reply.repr.buffer_len() < 576, "{}", reply.repr.buffer_len());
}
