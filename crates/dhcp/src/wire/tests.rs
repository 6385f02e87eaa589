use super::*;
use crate::wire::encap::{IpxeFeature, PxeVendor};
use crate::{EmitError, ParseError};

const IPXE_DISCOVER: &[u8] = include_bytes!("../../tests/data/ipxe_discover.bin");
const DNSMASQ_OFFER_BIOS: &[u8] = include_bytes!("../../tests/data/dnsmasq_offer_bios.bin");

/// A minimal valid message with the given options area (after the cookie).
fn with_options(opts: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; HEADER_LEN];
    v[0] = 1;
    v[1] = 1;
    v[2] = 6;
    v[236..240].copy_from_slice(&MAGIC_COOKIE);
    v.extend_from_slice(opts);
    v
}

#[test]
fn test_parse_discover() {
    let m = Message::parse(IPXE_DISCOVER).unwrap();
    assert_eq!(m.op(), Op::Request);
    assert_eq!(m.xid(), 0xe7c8_ac14);
    assert_eq!(m.client_hw_addr(), &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Discover));
    assert_eq!(m.max_message_size().unwrap(), Some(1472));
    assert_eq!(m.client_arch().unwrap(), Some(ClientArch::X86_BIOS));
    assert!(m.is_ipxe_user_class());
    let ipxe = m.ipxe_options().unwrap().unwrap();
    assert!(ipxe.features().contains(IpxeFeature::HTTP));
    assert!(ipxe.features().contains(IpxeFeature::ISCSI));
    assert!(!ipxe.features().contains(IpxeFeature::HTTPS));
    assert_eq!(ipxe.bus_id(), Some(&[1, 0x80, 0x86, 0x10, 0x0e][..]));
    // Raw option order is wire order.
    let codes: Vec<u8> = m.raw_options().map(|o| o.code).collect();
    assert_eq!(codes, [53, 57, 93, 94, 60, 77, 55, 175, 61, 97]);
}

#[test]
fn test_emit_into_dirty_buffer() {
    // Every byte of the returned length is written (smoltcp's 0xa5 trick).
    let repr = Message::parse(DNSMASQ_OFFER_BIOS).unwrap().to_repr();
    let mut buf = [0xa5u8; 600];
    let n = repr.emit(&mut buf).unwrap();
    assert_eq!(&buf[..n], DNSMASQ_OFFER_BIOS);
}

#[test]
fn test_emit_pads_to_bootp_minimum() {
    let mut r = Repr::new(Op::Reply);
    r.push(RawOption::message_type(MessageType::Ack));
    let mut buf = [0xa5u8; 400];
    let n = r.emit(&mut buf).unwrap();
    assert_eq!(n, BOOTP_MIN_LEN);
    assert_eq!(&buf[240..244], &[53, 1, 5, 255]);
    assert!(buf[244..n].iter().all(|&b| b == 0));
}

#[test]
fn test_emit_buffer_too_small() {
    let r = Message::parse(IPXE_DISCOVER).unwrap().to_repr();
    let mut buf = [0u8; 399];
    assert_eq!(
        r.emit(&mut buf),
        Err(EmitError::BufferTooSmall {
            need: 400,
            have: 399
        })
    );
}

#[test]
fn test_emit_rejects_reserved_codes() {
    for c in [0u8, 52, 255] {
        let mut r = Repr::new(Op::Reply);
        r.push(RawOption::new(c, vec![1]));
        assert_eq!(r.emit(&mut [0u8; 600]), Err(EmitError::ReservedCode(c)));
    }
}

#[test]
fn test_long_option_split_and_joined() {
    let long: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let mut r = Repr::new(Op::Request);
    r.push(RawOption::new(43, long.clone()));
    r.push(RawOption::new(12, &b"host"[..]));
    let mut buf = [0u8; 1024];
    let n = r.emit(&mut buf).unwrap();
    // 255 + 255 + 90.
    assert_eq!(&buf[240..242], &[43, 255]);
    assert_eq!(&buf[497..499], &[43, 255]);
    assert_eq!(&buf[754..756], &[43, 90]);
    let m = Message::parse(&buf[..n]).unwrap();
    let v = m.option(43).unwrap();
    assert_eq!(v.len(), 600);
    assert_eq!(v.instances(), 3);
    assert_eq!(v.as_slice(), None);
    assert_eq!(&*v.to_cow(), &long[..]);
    let mut out = [0u8; 600];
    assert_eq!(v.copy_to(&mut out).unwrap(), &long[..]);
    assert!(v.copy_to(&mut [0u8; 599]).is_err());
    assert_eq!(m.to_repr(), r);
}

#[test]
fn test_overload_order_file_then_sname() {
    // RFC 2131 §4.1: options, then file, then sname; RFC 3396 joins.
    let mut v = with_options(&[52, 1, 3, 12, 2, b'a', b'b', 255]);
    v[108..113].copy_from_slice(&[12, 2, b'c', b'd', 255]);
    v[44..49].copy_from_slice(&[12, 2, b'e', b'f', 255]);
    let m = Message::parse(&v).unwrap();
    assert_eq!(m.overload(), 3);
    assert_eq!(m.file(), None);
    assert_eq!(m.sname(), None);
    assert_eq!(&*m.host_name().unwrap().to_cow(), b"abcdef");
    let areas: Vec<Area> = m.raw_options().map(|o| o.area).collect();
    assert_eq!(
        areas,
        [Area::Options, Area::Options, Area::File, Area::Sname]
    );
}

#[test]
fn test_pad_and_trailing_bytes() {
    let v = with_options(&[0, 0, 53, 1, 1, 0, 255, 7, 7, 7]);
    let m = Message::parse(&v).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Discover));
    assert_eq!(m.len_without_padding(), 247);
}

#[test]
fn test_hostile_inputs() {
    // Truncated header, at every length.
    let good = IPXE_DISCOVER;
    for n in 0..HEADER_LEN {
        assert!(matches!(
            Message::parse(&good[..n]),
            Err(ParseError::Truncated { .. })
        ));
    }
    // Truncated anywhere in the options: never Ok (the end is gone).
    for n in HEADER_LEN..good.len() {
        assert!(Message::parse(&good[..n]).is_err(), "len {n}");
    }
    // Wrong cookie.
    let mut v = good.to_vec();
    v[239] = 0x64;
    assert_eq!(
        Message::parse(&v),
        Err(ParseError::BadCookie([99, 130, 83, 100]))
    );
    // Length past the end.
    assert_eq!(
        Message::parse(&with_options(&[53, 1, 1, 60, 9, b'P'])),
        Err(ParseError::OptionTruncated {
            code: 60,
            offset: 243,
            area: Area::Options
        })
    );
    // Length byte missing.
    assert_eq!(
        Message::parse(&with_options(&[60])),
        Err(ParseError::OptionTruncated {
            code: 60,
            offset: 240,
            area: Area::Options
        })
    );
    // Missing end.
    assert_eq!(
        Message::parse(&with_options(&[53, 1, 1])),
        Err(ParseError::MissingEnd {
            area: Area::Options
        })
    );
    // Overload loop: 52 inside the overloaded file field.
    let mut v = with_options(&[52, 1, 1, 255]);
    v[108..112].copy_from_slice(&[52, 1, 2, 255]);
    assert_eq!(
        Message::parse(&v),
        Err(ParseError::OverloadLoop {
            offset: 108,
            area: Area::File
        })
    );
    // 52 pointing twice.
    assert_eq!(
        Message::parse(&with_options(&[52, 1, 1, 52, 1, 2, 255])),
        Err(ParseError::DuplicateOverload { offset: 243 })
    );
    // Bad 52 values and lengths.
    assert_eq!(
        Message::parse(&with_options(&[52, 1, 4, 255])),
        Err(ParseError::InvalidOverload {
            value: 4,
            offset: 240
        })
    );
    assert!(matches!(
        Message::parse(&with_options(&[52, 2, 1, 1, 255])),
        Err(ParseError::InvalidOptionLength { code: 52, .. })
    ));
    // Overloaded file without end (all zeros is pad, no end).
    assert_eq!(
        Message::parse(&with_options(&[52, 1, 1, 255])),
        Err(ParseError::MissingEnd { area: Area::File })
    );
    // An option in file running past the field.
    let mut v = with_options(&[52, 1, 1, 255]);
    v[230..236].copy_from_slice(&[12, 10, 1, 1, 1, 1]);
    assert_eq!(
        Message::parse(&v),
        Err(ParseError::OptionTruncated {
            code: 12,
            offset: 230,
            area: Area::File
        })
    );
}

#[test]
fn test_huge_parameter_request_list() {
    // 55 sent as 8 full instances: fine, joined lazily.
    let mut opts = Vec::new();
    for _ in 0..8 {
        opts.push(55);
        opts.push(255);
        opts.extend(std::iter::repeat_n(1u8, 255));
    }
    opts.push(255);
    let v = with_options(&opts);
    let m = Message::parse(&v).unwrap();
    assert_eq!(m.parameter_request_list().unwrap().len(), 8 * 255);
    assert_eq!(m.parameter_request_list().unwrap().instances(), 8);
}

#[test]
fn test_malformed_typed_options_name_code_and_offset() {
    let m_bytes = with_options(&[
        53, 2, 1, 1, 93, 3, 0, 0, 0, 97, 17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255,
    ]);
    let m = Message::parse(&m_bytes).unwrap();
    assert_eq!(
        m.message_type(),
        Err(ParseError::InvalidOptionLength {
            code: 53,
            offset: 240,
            len: 2,
            expected: "1"
        })
    );
    assert!(matches!(
        m.client_arch(),
        Err(ParseError::InvalidOptionLength {
            code: 93,
            offset: 244,
            len: 3,
            ..
        })
    ));
    assert_eq!(
        m.client_uuid(),
        Err(ParseError::InvalidOptionValue {
            code: 97,
            offset: 249,
            reason: "UUID type is not 0"
        })
    );
    let m_bytes = with_options(&[175, 3, 0x13, 5, 1, 255]);
    let m = Message::parse(&m_bytes).unwrap();
    assert_eq!(
        m.ipxe_options(),
        Err(ParseError::InvalidSubOption {
            code: 175,
            sub: 0x13,
            offset: 0
        })
    );
}

#[test]
fn test_vendor_class() {
    let v = VendorClass::parse(b"PXEClient:Arch:00007:UNDI:003016").unwrap();
    assert_eq!(v.kind, VendorKind::PxeClient);
    assert_eq!(v.arch, Some(ClientArch::EFI_X64));
    assert_eq!(v.undi, Some((3, 16)));
    let v = VendorClass::parse(b"PXEClient").unwrap();
    assert_eq!((v.arch, v.undi), (None, None));
    let v = VendorClass::parse(b"HTTPClient:Arch:00016:UNDI:003000").unwrap();
    assert_eq!(v.kind, VendorKind::HttpClient);
    assert_eq!(v.arch, Some(ClientArch::EFI_X64_HTTP));
    assert_eq!(VendorClass::parse(b"MSFT 5.0"), None);
    assert_eq!(
        VendorClass::parse(b"PXEClient:Arch:x:UNDI:12")
            .unwrap()
            .arch,
        None
    );
}

#[test]
fn test_user_class_forms() {
    let bare = UserClasses::new(b"iPXE"[..].into());
    assert!(!bare.is_rfc3004());
    assert!(bare.contains(b"iPXE"));
    let rfc = UserClasses::new(b"\x04iPXE\x03foo"[..].into());
    assert!(rfc.is_rfc3004());
    assert_eq!(rfc.iter().collect::<Vec<_>>(), [&b"iPXE"[..], b"foo"]);
}

#[test]
fn test_client_arch_names() {
    assert_eq!("efi-x64".parse::<ClientArch>().unwrap(), ClientArch(7));
    assert_eq!("11".parse::<ClientArch>().unwrap(), ClientArch::EFI_ARM64);
    assert!("nope".parse::<ClientArch>().is_err());
    assert_eq!(ClientArch::EFI_X64_HTTP.to_string(), "efi-x64-http");
    assert!(ClientArch(9).is_efi_x64() && ClientArch(7).is_efi_x64());
    assert!(!ClientArch::X86_BIOS.is_efi());
}

#[test]
fn test_pxe_vendor_roundtrip() {
    let m = Message::parse(DNSMASQ_OFFER_BIOS).unwrap();
    let raw = m.vendor_specific().unwrap().as_slice().unwrap();
    let v = PxeVendor::parse(raw).unwrap();
    assert_eq!(v.discovery_control, Some(3));
    assert_eq!(v.encode().unwrap(), raw);
}

#[test]
fn test_typed_builders() {
    let mut r = Repr::new(Op::Reply);
    r.header.yiaddr = Ipv4Addr::new(10, 0, 2, 15);
    r.push(RawOption::ipv4(
        code::SUBNET_MASK,
        Ipv4Addr::new(255, 255, 255, 0),
    ));
    r.push(RawOption::ipv4_list(
        code::ROUTER,
        &[Ipv4Addr::new(10, 0, 2, 2)],
    ));
    r.push(RawOption::ipv4_list(
        code::DOMAIN_NAME_SERVER,
        &[Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(1, 1, 1, 1)],
    ));
    r.push(RawOption::u32(code::LEASE_TIME, 86400));
    r.set_file(b"boot.ipxe").unwrap();
    assert!(r.set_file(&[b'x'; 129]).is_err());
    let mut buf = [0u8; 600];
    let n = r.emit(&mut buf).unwrap();
    let m = Message::parse(&buf[..n]).unwrap();
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 2, 15));
    assert_eq!(
        m.subnet_mask().unwrap(),
        Some(Ipv4Addr::new(255, 255, 255, 0))
    );
    assert_eq!(
        m.routers().unwrap().unwrap().collect::<Vec<_>>(),
        [Ipv4Addr::new(10, 0, 2, 2)]
    );
    assert_eq!(m.dns_servers().unwrap().unwrap().count(), 2);
    assert_eq!(m.lease_time().unwrap(), Some(86400));
    assert_eq!(m.boot_file().as_deref(), Some(&b"boot.ipxe"[..]));
}
