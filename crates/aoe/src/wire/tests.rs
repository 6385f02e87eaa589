use super::*;
use crate::{EmitError, ParseError};
use proptest::prelude::*;

const A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
const B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);

fn eth() -> EthernetHeader {
    EthernetHeader {
        dst: A,
        src: B,
        ethertype: ETHERTYPE_AOE,
    }
}

/// A READ SECTORS EXT request for 2 sectors at LBA 0x0102030405, tag 0x11223344.
const READ_REQ: [u8; 36] = [
    0x02, 0, 0, 0, 0, 0x0a, // dst
    0x02, 0, 0, 0, 0, 0x0b, // src
    0x88, 0xa2, // type
    0x10, 0x00, // ver 1, no flags, no error
    0x00, 0x07, 0x03, 0x00, // shelf 7, slot 3, command ATA
    0x11, 0x22, 0x33, 0x44, // tag
    0x40, 0x00, 0x02, 0x24, // aflags E, feature, count 2, READ EXT
    0x05, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00, 0x00, // LBA, reserved
];

fn emit_a5(f: &Frame<'_>) -> Vec<u8> {
    let mut buf = vec![0xa5u8; f.buffer_len()];
    let n = f.emit(&mut buf).unwrap();
    assert_eq!(n, buf.len());
    buf
}

#[test]
fn test_parse_ata_request() {
    let f = Frame::parse(&READ_REQ).unwrap();
    assert_eq!(f.eth, eth());
    assert_eq!(f.aoe, AoeHeader::request(7, 3, Command::ATA, 0x1122_3344));
    let Body::Ata(h, data) = f.body else { panic!() };
    assert!(h.aflags.extended() && !h.aflags.write());
    assert_eq!(h.sector_count, 2);
    assert_eq!(h.cmd_status, 0x24);
    assert_eq!(h.lba, 0x01_0203_0405);
    assert!(data.is_empty());
}

#[test]
fn test_emit_ata_request_pads_to_60() {
    let f = Frame::parse(&READ_REQ).unwrap();
    let out = emit_a5(&f);
    assert_eq!(out.len(), 60);
    assert_eq!(&out[..36], &READ_REQ[..]);
    assert!(out[36..].iter().all(|b| *b == 0));
}

#[test]
fn test_parse_short_frames() {
    // A 32-byte query config (vblade and iPXE do not pad on veth/tap).
    let mut b = READ_REQ[..24].to_vec();
    b[19] = 1;
    b.extend_from_slice(&[0, 16, 0x40, 0x19, 2, 0x10, 0, 0]);
    let f = Frame::parse(&b).unwrap();
    let Body::Config(h, s) = f.body else { panic!() };
    assert_eq!(h.buffer_count, 16);
    assert_eq!(h.firmware_version, 0x4019);
    assert_eq!(h.sectors_per_frame, 2);
    assert_eq!(h.aoe_version, 1);
    assert_eq!(h.ccmd, ConfigCommand::READ);
    assert!(s.is_empty());
    for n in 0..b.len() {
        let e = Frame::parse(&b[..n]).unwrap_err();
        assert!(matches!(e, ParseError::Truncated { .. }), "{n}: {e}");
    }
}

#[test]
fn test_parse_errors_name_the_field() {
    let mut b = READ_REQ.to_vec();
    b[12] = 0x08;
    b[13] = 0x00;
    assert_eq!(Frame::parse(&b).unwrap_err(), ParseError::Ethertype(0x0800));
    assert_eq!(
        Frame::parse(&READ_REQ[..30]).unwrap_err(),
        ParseError::Truncated {
            field: "ata header"
        }
    );
    let mut c = READ_REQ[..24].to_vec();
    c[19] = 1;
    c.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x04, 0x01]);
    assert!(matches!(
        Frame::parse(&c).unwrap_err(),
        ParseError::TooLong {
            field: "config string length",
            len: 1025,
            ..
        }
    ));
    c[30] = 0;
    c[31] = 5;
    assert_eq!(
        Frame::parse(&c).unwrap_err(),
        ParseError::Truncated {
            field: "config string"
        }
    );
}

#[test]
fn test_emit_flags_and_error() {
    let mut aoe = AoeHeader::request(0xffff, 0xff, Command(0xf0), 9);
    aoe.flags = AoeFlags {
        response: true,
        error: true,
    };
    aoe.error = ErrorCode::TARGET_RESERVED;
    let f = Frame {
        eth: eth(),
        aoe,
        body: Body::Other(b"vendor"),
    };
    let out = emit_a5(&f);
    assert_eq!(out[14], 0x1c);
    assert_eq!(out[15], 6);
    assert_eq!(&out[16..20], &[0xff, 0xff, 0xff, 0xf0]);
    let g = Frame::parse(&out).unwrap();
    assert_eq!(g.aoe, aoe);
    assert_eq!(format!("{}", g.aoe.error), "6 (target is reserved)");
}

#[test]
fn test_emit_buffer_too_small_and_bad_lba() {
    let f = Frame::parse(&READ_REQ).unwrap();
    let mut small = [0u8; 59];
    assert_eq!(
        f.emit(&mut small).unwrap_err(),
        EmitError::BufferTooSmall { need: 60, have: 59 }
    );
    let mut g = f;
    let Body::Ata(ref mut h, _) = g.body else {
        panic!()
    };
    h.lba = 1 << 48;
    let mut buf = [0u8; 60];
    assert!(matches!(
        g.emit(&mut buf).unwrap_err(),
        EmitError::InvalidValue { field: "lba", .. }
    ));
}

#[test]
fn test_mask_and_reserve_round_trip() {
    let dirs = Directive::encode_list(&[
        Directive {
            dcmd: DirectiveCommand::ADD,
            mac: A,
        },
        Directive {
            dcmd: DirectiveCommand::DELETE,
            mac: B,
        },
    ]);
    let f = Frame {
        eth: eth(),
        aoe: AoeHeader::request(1, 1, Command::MAC_MASK, 5),
        body: Body::MacMask(
            MacMaskHeader {
                mcmd: MaskCommand::EDIT,
                merror: MaskError::NONE,
            },
            DirectiveList::new(&dirs).unwrap(),
        ),
    };
    let out = emit_a5(&f);
    assert_eq!(&out[24..28], &[0, 1, 0, 2]);
    let g = Frame::parse(&out).unwrap();
    assert_eq!(g, f);
    let Body::MacMask(_, d) = g.body else {
        panic!()
    };
    let v: Vec<_> = d.iter().collect();
    assert_eq!(v[1].dcmd, DirectiveCommand::DELETE);
    assert_eq!(v[1].mac, B);

    let macs = MacList::encode(&[A, B]);
    let f = Frame {
        eth: eth(),
        aoe: AoeHeader::request(1, 1, Command::RESERVE, 6),
        body: Body::Reserve(
            ReserveHeader {
                rcmd: ReserveCommand::SET,
            },
            MacList::new(&macs).unwrap(),
        ),
    };
    let out = emit_a5(&f);
    assert_eq!(&out[24..26], &[1, 2]);
    assert_eq!(Frame::parse(&out).unwrap(), f);
}

#[test]
fn test_mac_addr_text() {
    let m: MacAddr = "02:00:00:00:00:0A".parse().unwrap();
    assert_eq!(m, A);
    assert_eq!(m.to_string(), "02:00:00:00:00:0a");
    assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
    assert!("zz:00:00:00:00:00".parse::<MacAddr>().is_err());
    assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
}

/// Owned description of a frame for proptest.
#[derive(Debug, Clone)]
enum OwnedBody {
    Ata(AtaHeader, Vec<u8>),
    Config(ConfigHeader, Vec<u8>),
    Mask(MacMaskHeader, Vec<u8>),
    Reserve(ReserveHeader, Vec<u8>),
    Other(Vec<u8>),
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn body() -> impl Strategy<Value = (u8, OwnedBody)> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            0..=AtaHeader::MAX_LBA,
            prop::collection::vec(any::<u8>(), 0..1100)
        )
            .prop_map(|(a, e, c, s, lba, d)| (
                0,
                OwnedBody::Ata(
                    AtaHeader {
                        aflags: AtaFlags(a),
                        err_feature: e,
                        sector_count: c,
                        cmd_status: s,
                        lba
                    },
                    d
                )
            )),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            0u8..16,
            0u8..16,
            prop::collection::vec(any::<u8>(), 0..=MAX_CONFIG_LEN)
        )
            .prop_map(|(b, f, s, v, c, st)| (
                1,
                OwnedBody::Config(
                    ConfigHeader {
                        buffer_count: b,
                        firmware_version: f,
                        sectors_per_frame: s,
                        aoe_version: v,
                        ccmd: ConfigCommand(c)
                    },
                    st
                )
            )),
        (
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec((any::<u8>(), mac()), 0..40)
        )
            .prop_map(|(m, e, ds)| {
                let enc = Directive::encode_list(
                    &ds.iter()
                        .map(|(c, m)| Directive {
                            dcmd: DirectiveCommand(*c),
                            mac: *m,
                        })
                        .collect::<Vec<_>>(),
                );
                (
                    2,
                    OwnedBody::Mask(
                        MacMaskHeader {
                            mcmd: MaskCommand(m),
                            merror: MaskError(e),
                        },
                        enc,
                    ),
                )
            }),
        (any::<u8>(), prop::collection::vec(mac(), 0..40)).prop_map(|(r, ms)| (
            3,
            OwnedBody::Reserve(
                ReserveHeader {
                    rcmd: ReserveCommand(r)
                },
                MacList::encode(&ms)
            )
        )),
        (4u8..=255, prop::collection::vec(any::<u8>(), 0..100))
            .prop_map(|(c, b)| (c, OwnedBody::Other(b))),
    ]
}

proptest! {
    /// parse(emit(x)) == x, once x's ATA data or unknown-command bytes are
    /// extended by the zero padding a short frame gets.
    #[test]
    fn prop_round_trip(dst in mac(), src in mac(), ver in 0u8..16, r: bool, e: bool, err: u8, major: u16, minor: u8, tag: u32, (code, b) in body()) {
        let aoe = AoeHeader { version: ver, flags: AoeFlags { response: r, error: e }, error: ErrorCode(err), major, minor, command: Command(code), tag };
        let eth = EthernetHeader { dst, src, ethertype: ETHERTYPE_AOE };
        let body = match &b {
            OwnedBody::Ata(h, d) => Body::Ata(*h, d),
            OwnedBody::Config(h, s) => Body::Config(*h, s),
            OwnedBody::Mask(h, d) => Body::MacMask(*h, DirectiveList::new(d).unwrap()),
            OwnedBody::Reserve(h, m) => Body::Reserve(*h, MacList::new(m).unwrap()),
            OwnedBody::Other(o) => Body::Other(o),
        };
        let f = Frame { eth, aoe, body };
        let mut buf = vec![0xa5u8; f.buffer_len()];
        let n = f.emit(&mut buf).unwrap();
        prop_assert_eq!(n, f.buffer_len());
        prop_assert!(n >= MIN_FRAME_LEN);
        let g = Frame::parse(&buf[..n]).unwrap();
        let pad = n - HEADER_LEN - f.body.buffer_len();
        let mut padded = Vec::new();
        let want = match &b {
            OwnedBody::Ata(h, d) => { padded.extend_from_slice(d); padded.resize(d.len() + pad, 0); Body::Ata(*h, &padded) }
            OwnedBody::Other(o) => { padded.extend_from_slice(o); padded.resize(o.len() + pad, 0); Body::Other(&padded) }
            _ => f.body,
        };
        prop_assert_eq!(g, Frame { eth, aoe, body: want });
    }

    /// parse never panics, and whatever parses re-emits into buffer_len().
    #[test]
    fn prop_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..1600), ethertype: bool) {
        let mut bytes = bytes;
        if ethertype && bytes.len() >= 14 {
            bytes[12] = 0x88;
            bytes[13] = 0xa2;
        }
        if let Ok(f) = Frame::parse(&bytes) {
            let mut buf = vec![0u8; f.buffer_len()];
            prop_assert_eq!(f.emit(&mut buf).unwrap(), buf.len());
            let g = Frame::parse(&buf).unwrap();
            prop_assert_eq!(g.aoe, f.aoe);
        }
    }
}
