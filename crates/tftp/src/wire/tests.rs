use super::*;
use proptest::prelude::*;

/// Emits into a buffer pre-filled with 0xa5 so that bytes never written show up.
fn emit_vec(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0xa5u8; p.buffer_len() + 8];
    let n = p.emit(&mut buf).unwrap();
    assert_eq!(n, p.buffer_len());
    assert!(
        buf[n..].iter().all(|&b| b == 0xa5),
        "emit wrote past its length"
    );
    buf.truncate(n);
    buf
}

fn golden(bytes: &[u8], expect: Packet<'_>) {
    let parsed = Packet::parse(bytes).unwrap();
    assert_eq!(parsed, expect);
    assert_eq!(emit_vec(&parsed), bytes);
}

#[test]
fn test_parse_rrq_plain() {
    // tftp-hpa's client: no options.
    golden(
        b"\x00\x01hello.txt\x00octet\x00",
        Packet::Rrq(Request {
            filename: "hello.txt",
            mode: Mode::Octet,
            options: Options::default(),
        }),
    );
}

#[test]
fn test_parse_rrq_ipxe() {
    // The request shape iPXE sends: blksize=1432 and tsize=0.
    golden(
        b"\x00\x01/boot.ipxe\x00octet\x00blksize\x001432\x00tsize\x000\x00",
        Packet::Rrq(Request {
            filename: "/boot.ipxe",
            mode: Mode::Octet,
            options: Options {
                blksize: Some(1432),
                tsize: Some(0),
                ..Options::default()
            },
        }),
    );
}

#[test]
fn test_parse_rrq_curl_order_and_case() {
    // curl sends tsize, then blksize, then timeout; names in any case.
    let p =
        Packet::parse(b"\x00\x01f\x00OCTET\x00TSIZE\x000\x00BlkSize\x001468\x00timeout\x006\x00")
            .unwrap();
    assert_eq!(
        p,
        Packet::Rrq(Request {
            filename: "f",
            mode: Mode::Octet,
            options: Options {
                blksize: Some(1468),
                timeout: Some(6),
                tsize: Some(0),
                windowsize: None
            },
        })
    );
}

#[test]
fn test_parse_wrq_windowsize_unknown_option() {
    let p = Packet::parse(b"\x00\x02up.bin\x00netascii\x00multicast\x00\x00windowsize\x0016\x00")
        .unwrap();
    assert_eq!(
        p,
        Packet::Wrq(Request {
            filename: "up.bin",
            mode: Mode::Netascii,
            options: Options {
                windowsize: Some(16),
                ..Options::default()
            },
        })
    );
}

#[test]
fn test_parse_rrq_mail_and_unknown_mode() {
    assert!(matches!(
        Packet::parse(b"\x00\x01a\x00mail\x00"),
        Ok(Packet::Rrq(Request {
            mode: Mode::Mail,
            ..
        }))
    ));
    assert_eq!(
        Packet::parse(b"\x00\x01a\x00binary\x00"),
        Err(ParseError::UnknownMode("binary".into()))
    );
}

#[test]
fn test_parse_truncated() {
    assert_eq!(
        Packet::parse(b"\x00"),
        Err(ParseError::Truncated { field: "opcode" })
    );
    assert_eq!(
        Packet::parse(b"\x00\x01abc"),
        Err(ParseError::Truncated { field: "filename" })
    );
    assert_eq!(
        Packet::parse(b"\x00\x01abc\x00octet"),
        Err(ParseError::Truncated { field: "mode" })
    );
    assert_eq!(
        Packet::parse(b"\x00\x03\x00"),
        Err(ParseError::Truncated { field: "block" })
    );
    assert_eq!(
        Packet::parse(b"\x00\x04"),
        Err(ParseError::Truncated { field: "block" })
    );
    assert_eq!(
        Packet::parse(b"\x00\x09"),
        Err(ParseError::UnknownOpcode(9))
    );
    assert_eq!(
        Packet::parse(b"\x00\x01\xff\xfe\x00octet\x00"),
        Err(ParseError::InvalidString { field: "filename" })
    );
}

#[test]
fn test_parse_rrq_dangling_option_is_ignored() {
    let p = Packet::parse(b"\x00\x01f\x00octet\x00blksize\x001024\x00tsize").unwrap();
    let Packet::Rrq(r) = p else { panic!() };
    assert_eq!(r.options.blksize, Some(1024));
    assert_eq!(r.options.tsize, None);
}

#[test]
fn test_parse_data() {
    golden(
        b"\x00\x03\xff\xffhello",
        Packet::Data {
            block: 65535,
            data: b"hello",
        },
    );
    golden(
        b"\x00\x03\x00\x00",
        Packet::Data {
            block: 0,
            data: b"",
        },
    );
}

#[test]
fn test_parse_ack() {
    golden(b"\x00\x04\x01\x02", Packet::Ack { block: 0x0102 });
}

#[test]
fn test_parse_error() {
    golden(
        b"\x00\x05\x00\x01File not found\x00",
        Packet::Error {
            code: ErrorCode::FileNotFound,
            message: "File not found",
        },
    );
    // Lenient: no NUL, invalid UTF-8 tail.
    assert_eq!(
        Packet::parse(b"\x00\x05\x00\x63oops\xff"),
        Ok(Packet::Error {
            code: ErrorCode::Unknown(99),
            message: "oops"
        })
    );
}

#[test]
fn test_parse_oack() {
    golden(
        b"\x00\x06blksize\x001468\x00tsize\x0033554432\x00",
        Packet::Oack(Options {
            blksize: Some(1468),
            tsize: Some(33554432),
            ..Options::default()
        }),
    );
    assert!(matches!(
        Packet::parse(b"\x00\x06blksize\x0099999\x00"),
        Err(ParseError::InvalidOption { .. })
    ));
}

#[test]
fn test_emit_too_small() {
    let p = Packet::Ack { block: 1 };
    assert_eq!(
        p.emit(&mut [0u8; 3]),
        Err(EmitError::BufferTooSmall { need: 4, have: 3 })
    );
}

#[test]
fn test_emit_error_truncates_to_buffer() {
    let mut buf = [0u8; 10];
    let n = emit_error(ErrorCode::AccessViolation, "ünïcödé message", &mut buf);
    let p = Packet::parse(&buf[..n]).unwrap();
    let Packet::Error { code, message } = p else {
        panic!()
    };
    assert_eq!(code, ErrorCode::AccessViolation);
    assert!("ünïcödé message".starts_with(message));
    assert_eq!(emit_error(ErrorCode::NotDefined, "x", &mut [0u8; 4]), 0);
}

fn filename() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,64}"
}

fn options() -> impl Strategy<Value = Options> {
    (
        proptest::option::of(MIN_BLKSIZE..=MAX_BLKSIZE),
        proptest::option::of(1u8..=255),
        proptest::option::of(any::<u64>()),
        proptest::option::of(1u16..=65535),
    )
        .prop_map(|(blksize, timeout, tsize, windowsize)| Options {
            blksize,
            timeout,
            tsize,
            windowsize,
        })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Octet), Just(Mode::Netascii), Just(Mode::Mail)]
}

proptest! {
    #[test]
    fn roundtrip_request(name in filename(), mode in mode(), options in options(), write in any::<bool>()) {
        let r = Request { filename: &name, mode, options };
        let p = if write { Packet::Wrq(r) } else { Packet::Rrq(r) };
        let bytes = emit_vec(&p);
        prop_assert_eq!(Packet::parse(&bytes).unwrap(), p);
    }

    #[test]
    fn roundtrip_data(block in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let p = Packet::Data { block, data: &data };
        let bytes = emit_vec(&p);
        prop_assert_eq!(Packet::parse(&bytes).unwrap(), p);
    }

    #[test]
    fn roundtrip_ack_error_oack(block in any::<u16>(), code in any::<u16>(), msg in filename(), o in options()) {
        for p in [
            Packet::Ack { block },
            Packet::Error { code: ErrorCode::from(code), message: &msg },
            Packet::Oack(o),
        ] {
            let bytes = emit_vec(&p);
            prop_assert_eq!(Packet::parse(&bytes).unwrap(), p);
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(p) = Packet::parse(&bytes) {
            // Whatever parses can be emitted again.
            let mut buf = vec![0u8; p.buffer_len()];
            prop_assert!(p.emit(&mut buf).is_ok());
        }
    }
}
