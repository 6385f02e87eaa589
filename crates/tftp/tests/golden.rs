//! Golden vectors: real packets captured from tftpd-hpa and real clients
//! (see tests/data/README.md). Each is parsed and checked field by field,
//! then emitted again. Requests and OACKs whose option order differs from
//! ours (we emit blksize, timeout, tsize, windowsize) compare as values after
//! a second parse; all others compare byte for byte.

use netboot_tftp::wire::{ErrorCode, Mode, Options, Packet, Request};

fn load(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/data/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn check(name: &str, expect: Packet<'_>, byte_exact: bool) {
    let bytes = load(name);
    let p = Packet::parse(&bytes).unwrap();
    assert_eq!(p, expect, "{name}");
    let mut out = vec![0xa5u8; p.buffer_len()];
    let n = p.emit(&mut out).unwrap();
    assert_eq!(n, bytes.len(), "{name}: length");
    if byte_exact {
        assert_eq!(out, bytes, "{name}: bytes");
    } else {
        assert_eq!(Packet::parse(&out).unwrap(), expect, "{name}: re-parse");
    }
}

fn rrq(filename: &str, options: Options) -> Packet<'_> {
    Packet::Rrq(Request {
        filename,
        mode: Mode::Octet,
        options,
    })
}

#[test]
fn curl_request_and_oack() {
    let o = Options {
        blksize: Some(1468),
        timeout: Some(6),
        tsize: Some(0),
        windowsize: None,
    };
    check(
        "rrq_small_bin_tsize_blksize_timeout",
        rrq("small.bin", o),
        false,
    );
    let oack = Options {
        tsize: Some(3000),
        ..o
    };
    check("oack_tsize_blksize_timeout", Packet::Oack(oack), false);
}

#[test]
fn tftp_hpa_requests() {
    check("rrq_small_bin", rrq("small.bin", Options::default()), true);
    check(
        "rrq_missing_bin",
        rrq("missing.bin", Options::default()),
        true,
    );
    check(
        "wrq_new_txt",
        Packet::Wrq(Request {
            filename: "new.txt",
            mode: Mode::Netascii,
            options: Options::default(),
        }),
        true,
    );
}

#[test]
fn atftp_window_request() {
    let o = Options {
        blksize: Some(1024),
        windowsize: Some(4),
        ..Options::default()
    };
    check(
        "rrq_small_bin_blksize_windowsize",
        rrq("small.bin", o),
        true,
    );
    check(
        "oack_blksize",
        Packet::Oack(Options {
            blksize: Some(1024),
            ..Options::default()
        }),
        true,
    );
}

#[test]
fn busybox_request() {
    let o = Options {
        blksize: Some(1468),
        tsize: Some(0),
        ..Options::default()
    };
    check("rrq_small_bin_blksize_tsize", rrq("small.bin", o), true);
    check(
        "oack_blksize_tsize",
        Packet::Oack(Options {
            tsize: Some(3000),
            ..o
        }),
        true,
    );
}

#[test]
fn data_ack_error() {
    check("ack", Packet::Ack { block: 0 }, true);
    check(
        "error_1",
        Packet::Error {
            code: ErrorCode::FileNotFound,
            message: "File not found",
        },
        true,
    );
    check(
        "data_2",
        Packet::Data {
            block: 1,
            data: b"up",
        },
        true,
    );
    for (name, len) in [
        ("data_1468", 1468usize),
        ("data_1024", 1024),
        ("data_512", 512),
        ("data_440", 440),
        ("data_64", 64),
        ("data_952", 952),
    ] {
        let bytes = load(name);
        let Packet::Data { data, .. } = Packet::parse(&bytes).unwrap() else {
            panic!("{name}")
        };
        assert_eq!(data.len(), len);
        assert!(data.iter().all(|&b| b == b'A'), "{name}: payload");
        let p = Packet::parse(&bytes).unwrap();
        let mut out = vec![0u8; p.buffer_len()];
        p.emit(&mut out).unwrap();
        assert_eq!(out, bytes, "{name}");
    }
}
