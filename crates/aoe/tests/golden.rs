//! Golden frames captured from vblade (see tests/data/README.md): parse,
//! check the fields, re-emit byte for byte.

use netboot_aoe::ata::{get_string, Identity};
use netboot_aoe::wire::{AtaStatus, Body, Command, ConfigCommand, ErrorCode, Frame, MacAddr};

const VBLADE: MacAddr = MacAddr([2, 0, 0, 0, 0x0a, 1]);
const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0x0b, 1]);

macro_rules! golden {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/",
            $name,
            ".bin"
        ))
    };
}

/// Parses, re-emits and compares; returns the parsed frame.
fn round_trip(bytes: &'static [u8]) -> Frame<'static> {
    let f = Frame::parse(bytes).unwrap();
    let mut buf = vec![0xa5u8; f.buffer_len()];
    let n = f.emit(&mut buf).unwrap();
    assert!(n >= bytes.len());
    assert_eq!(&buf[..bytes.len()], bytes);
    assert!(
        buf[bytes.len()..n].iter().all(|b| *b == 0),
        "padding is zeros"
    );
    f
}

fn reply(bytes: &'static [u8]) -> Frame<'static> {
    let f = round_trip(bytes);
    assert_eq!(f.eth.src, VBLADE);
    assert!(f.aoe.flags.response);
    assert_eq!((f.aoe.major, f.aoe.minor), (7, 3));
    f
}

#[test]
fn test_config_reply_and_announcement() {
    for (bytes, tag) in [
        (&golden!("vblade_config_reply")[..], None),
        (&golden!("vblade_unsolicited_reply")[..], Some(0)),
    ] {
        assert_eq!(bytes.len(), 32, "vblade does not pad");
        let f = reply(bytes);
        if let Some(t) = tag {
            assert_eq!(f.aoe.tag, t);
            assert!(f.eth.dst.is_broadcast());
        } else {
            assert_eq!(f.eth.dst, CLIENT);
        }
        let Body::Config(h, s) = f.body else { panic!() };
        assert_eq!(h.buffer_count, 16);
        assert_eq!(h.firmware_version, 0x4019);
        assert_eq!(h.sectors_per_frame, 2);
        assert_eq!(h.aoe_version, 1);
        assert_eq!(h.ccmd, ConfigCommand::READ);
        assert!(s.is_empty());
    }
    let q = round_trip(golden!("aoectl_config_request"));
    assert!(q.eth.dst.is_broadcast());
    assert_eq!(q.aoe.command, Command::QUERY_CONFIG);
}

#[test]
fn test_identify_reply() {
    let f = reply(golden!("vblade_identify_reply"));
    let Body::Ata(h, d) = f.body else { panic!() };
    assert_eq!(AtaStatus(h.cmd_status), AtaStatus(AtaStatus::DRDY));
    assert_eq!(d.len(), 512);
    assert_eq!(Identity::sectors_from(d), 2048);
    assert!(get_string(&d[54..94]).contains("blade"));
}

#[test]
fn test_read_reply() {
    let req = round_trip(golden!("aoectl_read_request"));
    let r = reply(golden!("vblade_read_reply"));
    assert_eq!(req.aoe.tag, r.aoe.tag);
    let Body::Ata(h, d) = r.body else { panic!() };
    assert_eq!(h.cmd_status, AtaStatus::DRDY);
    assert_eq!(h.lba & 0x0fff_ffff, 5);
    assert_eq!(d.len(), 1024);
    assert!(d[..512].iter().all(|b| *b == 5) && d[512..].iter().all(|b| *b == 6));
}

#[test]
fn test_write_and_flush() {
    let w = round_trip(golden!("aoectl_write_request"));
    let Body::Ata(h, d) = w.body else { panic!() };
    assert!(h.aflags.write());
    assert_eq!(h.cmd_status, 0x30);
    assert_eq!(&d[..16], b"golden write....");
    // vblade echoes the written data in its write reply.
    let r = reply(golden!("vblade_write_reply"));
    let Body::Ata(h, d) = r.body else { panic!() };
    assert_eq!(h.cmd_status, AtaStatus::DRDY);
    assert_eq!(&d[..16], b"golden write....");
    // vblade 25 answers FLUSH CACHE with an all-zero status register (no
    // DRDY): success is "ERR clear", which is what our client checks.
    let r = reply(golden!("vblade_flush_reply"));
    let Body::Ata(h, _) = r.body else { panic!() };
    assert!(!AtaStatus(h.cmd_status).is_err());
    round_trip(golden!("aoectl_flush_request"));
    round_trip(golden!("aoectl_identify_request"));
}

#[test]
fn test_error_replies() {
    let r = reply(golden!("vblade_read_past_end_reply"));
    let Body::Ata(h, _) = r.body else { panic!() };
    assert_eq!(h.cmd_status, AtaStatus::DRDY | AtaStatus::ERR);
    assert_eq!(h.err_feature, 0x10, "IDNF");
    round_trip(golden!("aoectl_read_past_end_request"));
    let r = reply(golden!("vblade_cmd66_reply_error1"));
    assert!(r.aoe.flags.error);
    assert_eq!(r.aoe.error, ErrorCode::UNRECOGNIZED_COMMAND);
    assert_eq!(r.aoe.command, Command(0x42));
    round_trip(golden!("aoectl_cmd66_request"));
}

/// Our target answers the same requests with frames of the same shape.
#[test]
fn test_our_target_answers_like_vblade() {
    use netboot_aoe::target::{Target, TargetConfig};
    use netboot_blockdev::MemDisk;
    use std::sync::Arc;
    let data: Vec<u8> = (0..2048u32).flat_map(|n| [n as u8; 512]).collect();
    let disk = MemDisk::from_vec(data, 512).unwrap();
    let t = Target::new(Arc::new(disk), TargetConfig::new(7, 3)).unwrap();
    let mut tx = vec![0u8; t.tx_buffer_len()];
    let now = std::time::Instant::now();
    for (req, rep) in [
        (
            &golden!("aoectl_read_request")[..],
            &golden!("vblade_read_reply")[..],
        ),
        (
            golden!("aoectl_read_past_end_request"),
            golden!("vblade_read_past_end_reply"),
        ),
        (
            golden!("aoectl_cmd66_request"),
            golden!("vblade_cmd66_reply_error1"),
        ),
    ] {
        let n = t.process(now, VBLADE, req, &mut tx).unwrap();
        let ours = Frame::parse(&tx[..n]).unwrap();
        let theirs = Frame::parse(rep).unwrap();
        assert_eq!(ours.eth, theirs.eth);
        assert_eq!(ours.aoe, theirs.aoe);
        match (ours.body, theirs.body) {
            (Body::Ata(a, d), Body::Ata(b, e)) => {
                assert_eq!(
                    (a.cmd_status, a.err_feature, a.lba),
                    (b.cmd_status, b.err_feature, b.lba)
                );
                if a.cmd_status == AtaStatus::DRDY {
                    assert_eq!(d, e);
                }
            }
            _ => assert!(ours.aoe.flags.error),
        }
    }
}
