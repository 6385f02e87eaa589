use super::*;
use crate::wire::{AoeHeader, AtaFlags, MacMaskHeader};
use netboot_blockdev::MemDisk;

const IFACE: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const HOST: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const OTHER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x03]);
const SECTORS: u64 = 64;

fn target_with(cfg: TargetConfig, ro: bool) -> Target {
    let disk = MemDisk::new(SECTORS * 512, 512).read_only(ro);
    let data: Vec<u8> = (0..SECTORS * 512).map(|i| (i / 512) as u8).collect();
    if !ro {
        disk.write_at(&data, 0).unwrap();
    }
    Target::new(Arc::new(disk), cfg).unwrap()
}

fn target() -> Target {
    target_with(TargetConfig::new(1, 2), false)
}

fn frame(src: MacAddr, major: u16, minor: u8, body: Body<'_>) -> Vec<u8> {
    let command = match body {
        Body::Ata(..) => Command::ATA,
        Body::Config(..) => Command::QUERY_CONFIG,
        Body::MacMask(..) => Command::MAC_MASK,
        Body::Reserve(..) => Command::RESERVE,
        Body::Other(_) => Command(0x42),
    };
    let f = Frame {
        eth: EthernetHeader {
            dst: IFACE,
            src,
            ethertype: ETHERTYPE_AOE,
        },
        aoe: AoeHeader::request(major, minor, command, 0x1234),
        body,
    };
    let mut b = vec![0; f.buffer_len()];
    f.emit(&mut b).unwrap();
    b
}

fn ata(cmd_code: u8, lba: u64, count: u8, flags: u8) -> AtaHeader {
    AtaHeader {
        aflags: AtaFlags(flags),
        err_feature: 0,
        sector_count: count,
        cmd_status: cmd_code,
        lba,
    }
}

fn config(ccmd: ConfigCommand) -> ConfigHeader {
    ConfigHeader {
        buffer_count: 0,
        firmware_version: 0,
        sectors_per_frame: 0,
        aoe_version: 1,
        ccmd,
    }
}

/// Sends `rx` and parses the reply into an owned copy.
fn exchange(t: &Target, rx: &[u8]) -> Option<Vec<u8>> {
    let mut tx = vec![0xa5; t.tx_buffer_len()];
    let n = t.process(Instant::now(), IFACE, rx, &mut tx)?;
    assert!(n >= 60);
    tx.truncate(n);
    Some(tx)
}

fn reply_ata(reply: &[u8]) -> (AoeHeader, AtaHeader, Vec<u8>) {
    let f = Frame::parse(reply).unwrap();
    assert!(f.aoe.flags.response);
    assert_eq!(f.eth.src, IFACE);
    let Body::Ata(h, d) = f.body else {
        panic!("{f:?}")
    };
    (f.aoe, h, d.to_vec())
}

fn aoe_error(reply: &[u8]) -> ErrorCode {
    let (_, aoe, _) = wire::parse_headers(reply).unwrap();
    assert!(aoe.flags.response && aoe.flags.error);
    aoe.error
}

#[test]
fn test_sectors_per_frame_from_mtu() {
    assert_eq!(sectors_per_frame(1500), 2);
    assert_eq!(sectors_per_frame(9000), 17);
    assert_eq!(sectors_per_frame(547), 0);
    assert_eq!(sectors_per_frame(1 << 20), 255);
    let mut cfg = TargetConfig::new(1, 2);
    cfg.mtu = 500;
    let refused = |cfg| match Target::new(Arc::new(MemDisk::new(4096, 512)), cfg) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("served"),
    };
    assert_eq!(refused(cfg), "mtu 500: too small for one 512-byte sector");
    assert_eq!(
        refused(TargetConfig::new(0xffff, 1)),
        "shelf 65535: the broadcast shelf"
    );
}

#[test]
fn test_read_sectors_ext_and_lba28() {
    let t = target();
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::READ_SECTORS_EXT, 5, 2, AtaFlags::EXTENDED), &[]),
        ),
    )
    .unwrap();
    let (aoe, h, d) = reply_ata(&r);
    assert_eq!(aoe.tag, 0x1234);
    assert_eq!((aoe.major, aoe.minor), (1, 2));
    assert_eq!(h.cmd_status, AtaStatus::DRDY);
    assert_eq!(d.len(), 1024);
    assert!(d[..512].iter().all(|b| *b == 5) && d[512..].iter().all(|b| *b == 6));
    // LBA28 ignores the device register bits in byte 3.
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::READ_SECTORS, 0xe000_0007, 1, 0), &[]),
        ),
    )
    .unwrap();
    let (_, h, d) = reply_ata(&r);
    assert_eq!(h.lba, 0xe000_0007);
    assert_eq!(d[..512], [7u8; 512]);
}

#[test]
fn test_read_past_end_is_idnf() {
    let t = target();
    for (lba, count) in [(SECTORS, 1), (SECTORS - 1, 2), (AtaHeader::MAX_LBA, 2)] {
        let r = exchange(
            &t,
            &frame(
                HOST,
                1,
                2,
                Body::Ata(
                    ata(cmd::READ_SECTORS_EXT, lba, count, AtaFlags::EXTENDED),
                    &[],
                ),
            ),
        )
        .unwrap();
        let (_, h, d) = reply_ata(&r);
        assert_eq!(h.cmd_status, AtaStatus::DRDY | AtaStatus::ERR);
        assert_eq!(h.err_feature, err::IDNF);
        assert!(d.iter().all(|b| *b == 0), "no data, only padding");
    }
    // The last sector is fine.
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(
                ata(cmd::READ_SECTORS_EXT, SECTORS - 1, 1, AtaFlags::EXTENDED),
                &[],
            ),
        ),
    )
    .unwrap();
    assert_eq!(reply_ata(&r).1.cmd_status, AtaStatus::DRDY);
}

#[test]
fn test_count_above_sectors_per_frame_is_bad_argument() {
    let t = target();
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::READ_SECTORS_EXT, 0, 3, AtaFlags::EXTENDED), &[]),
        ),
    )
    .unwrap();
    assert_eq!(aoe_error(&r), ErrorCode::BAD_ARGUMENT);
}

#[test]
fn test_write_then_flush() {
    let t = target();
    let data = vec![0x5a; 1024];
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(
                ata(
                    cmd::WRITE_SECTORS_EXT,
                    10,
                    2,
                    AtaFlags::EXTENDED | AtaFlags::WRITE,
                ),
                &data,
            ),
        ),
    )
    .unwrap();
    let (_, h, d) = reply_ata(&r);
    assert_eq!(h.cmd_status, AtaStatus::DRDY);
    assert_eq!(d.len(), 60 - 36, "write replies carry no data");
    let mut buf = vec![0; 1024];
    t.disk().read_at(&mut buf, 10 * 512).unwrap();
    assert_eq!(buf, data);
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::FLUSH_CACHE_EXT, 0, 0, AtaFlags::EXTENDED), &[]),
        ),
    )
    .unwrap();
    assert_eq!(reply_ata(&r).1.cmd_status, AtaStatus::DRDY);
    assert_eq!(t.stats().sectors_written.load(Ordering::Relaxed), 2);
}

#[test]
fn test_write_short_data_or_read_only_aborts() {
    let t = target();
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::WRITE_SECTORS, 0, 2, AtaFlags::WRITE), &[1; 600]),
        ),
    )
    .unwrap();
    let (_, h, _) = reply_ata(&r);
    assert_eq!(
        (h.cmd_status, h.err_feature),
        (AtaStatus::DRDY | AtaStatus::ERR, err::ABRT)
    );
    let ro = target_with(TargetConfig::new(1, 2), true);
    let r = exchange(
        &ro,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::WRITE_SECTORS, 0, 1, AtaFlags::WRITE), &[1; 512]),
        ),
    )
    .unwrap();
    assert_eq!(reply_ata(&r).1.err_feature, err::ABRT);
}

#[test]
fn test_identify_and_misc_commands() {
    let t = target();
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::IDENTIFY_DEVICE, 0, 1, 0), &[]),
        ),
    )
    .unwrap();
    let (_, h, d) = reply_ata(&r);
    assert_eq!(h.cmd_status, AtaStatus::DRDY);
    assert_eq!(crate::ata::Identity::sectors_from(&d), SECTORS);
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::CHECK_POWER_MODE, 0, 0, 0), &[]),
        ),
    )
    .unwrap();
    assert_eq!(reply_ata(&r).1.sector_count, 0xff);
    let r = exchange(
        &t,
        &frame(HOST, 1, 2, Body::Ata(ata(cmd::SET_FEATURES, 0, 0, 0), &[])),
    )
    .unwrap();
    assert_eq!(reply_ata(&r).1.cmd_status, AtaStatus::DRDY);
    for code in [0x00, 0xa1, 0xb0, 0xc8, 0x25, 0xff] {
        let r = exchange(&t, &frame(HOST, 1, 2, Body::Ata(ata(code, 0, 1, 0), &[]))).unwrap();
        let (_, h, _) = reply_ata(&r);
        assert_eq!(
            (h.cmd_status, h.err_feature),
            (0x41, err::ABRT),
            "{code:#x}"
        );
    }
}

#[test]
fn test_addressing() {
    let t = target();
    let read = |major, minor| {
        frame(
            HOST,
            major,
            minor,
            Body::Ata(ata(cmd::READ_SECTORS, 0, 1, 0), &[]),
        )
    };
    assert!(exchange(&t, &read(1, 2)).is_some());
    assert!(exchange(&t, &read(0xffff, 2)).is_some());
    assert!(exchange(&t, &read(1, 0xff)).is_some());
    assert!(exchange(&t, &read(0xffff, 0xff)).is_some());
    assert!(exchange(&t, &read(2, 2)).is_none());
    assert!(exchange(&t, &read(1, 3)).is_none());
    // Another destination MAC, our own source, and responses are ignored.
    let mut other_dst = read(1, 2);
    other_dst[5] = 0x77;
    assert_eq!(
        t.prepare(Instant::now(), IFACE, &other_dst).unwrap_err(),
        Ignored::NotForUs
    );
    let mut bcast = read(1, 2);
    bcast[..6].copy_from_slice(&[0xff; 6]);
    assert!(exchange(&t, &bcast).is_some());
    let own = frame(IFACE, 1, 2, Body::Ata(ata(cmd::READ_SECTORS, 0, 1, 0), &[]));
    assert_eq!(
        t.prepare(Instant::now(), IFACE, &own).unwrap_err(),
        Ignored::Own
    );
    let mut resp = read(1, 2);
    resp[14] |= 0x08;
    assert_eq!(
        t.prepare(Instant::now(), IFACE, &resp).unwrap_err(),
        Ignored::Response
    );
}

#[test]
fn test_truncated_and_garbage_get_no_answer() {
    let t = target();
    let full = frame(HOST, 1, 2, Body::Ata(ata(cmd::READ_SECTORS, 0, 1, 0), &[]));
    for n in 0..36 {
        assert!(exchange(&t, &full[..n]).is_none(), "{n}");
    }
    assert!(exchange(&t, &[0xff; 100]).is_none());
}

#[test]
fn test_version_and_unknown_command() {
    let t = target();
    let mut v2 = frame(HOST, 1, 2, Body::Ata(ata(cmd::READ_SECTORS, 0, 1, 0), &[]));
    v2[14] = 0x20;
    assert_eq!(
        aoe_error(&exchange(&t, &v2).unwrap()),
        ErrorCode::UNSUPPORTED_VERSION
    );
    let r = exchange(&t, &frame(HOST, 1, 2, Body::Other(b"x"))).unwrap();
    assert_eq!(aoe_error(&r), ErrorCode::UNRECOGNIZED_COMMAND);
}

fn config_reply(r: &[u8]) -> (ConfigHeader, Vec<u8>) {
    let f = Frame::parse(r).unwrap();
    let Body::Config(h, s) = f.body else { panic!() };
    (h, s.to_vec())
}

#[test]
fn test_config_string_rules() {
    let t = target();
    let q = |c, s: &[u8]| frame(HOST, 0xffff, 0xff, Body::Config(config(c), s));
    let (h, s) = config_reply(&exchange(&t, &q(ConfigCommand::READ, b"")).unwrap());
    assert_eq!(h.buffer_count, 64);
    assert_eq!(h.sectors_per_frame, 2);
    assert_eq!(h.aoe_version, 1);
    assert!(s.is_empty());
    // Empty string: test exact "" matches, "x" does not.
    assert!(exchange(&t, &q(ConfigCommand::TEST_EXACT, b"x")).is_none());
    assert!(exchange(&t, &q(ConfigCommand::TEST_EXACT, b"")).is_some());
    // Set if empty, then again with another string: error 4; same string ok.
    let (_, s) = config_reply(&exchange(&t, &q(ConfigCommand::SET_IF_EMPTY, b"host-a")).unwrap());
    assert_eq!(s, b"host-a");
    let r = exchange(&t, &q(ConfigCommand::SET_IF_EMPTY, b"host-b")).unwrap();
    assert_eq!(aoe_error(&r), ErrorCode::CONFIG_STRING_PRESENT);
    assert!(
        config_reply(&exchange(&t, &q(ConfigCommand::SET_IF_EMPTY, b"host-a")).unwrap()).1
            == b"host-a"
    );
    assert!(exchange(&t, &q(ConfigCommand::TEST_PREFIX, b"host")).is_some());
    assert!(exchange(&t, &q(ConfigCommand::TEST_PREFIX, b"hostz")).is_none());
    assert!(exchange(&t, &q(ConfigCommand::TEST_EXACT, b"host-a")).is_some());
    let (_, s) = config_reply(&exchange(&t, &q(ConfigCommand::FORCE_SET, b"host-b")).unwrap());
    assert_eq!(s, b"host-b");
    assert_eq!(t.config_string(), b"host-b");
    let r = exchange(&t, &q(ConfigCommand(9), b"")).unwrap();
    assert_eq!(aoe_error(&r), ErrorCode::BAD_ARGUMENT);
    // A declared length above 1024 is a bad argument.
    let mut long = q(ConfigCommand::READ, b"");
    long[30..32].copy_from_slice(&1025u16.to_be_bytes());
    long.resize(24 + 8 + 1025, b'a');
    assert_eq!(
        aoe_error(&exchange(&t, &long).unwrap()),
        ErrorCode::BAD_ARGUMENT
    );
}

#[test]
fn test_mac_mask_access_control() {
    let mut cfg = TargetConfig::new(1, 2);
    cfg.allow_macs = vec![HOST];
    let t = target_with(cfg, false);
    let read = |src| frame(src, 1, 2, Body::Ata(ata(cmd::READ_SECTORS, 0, 1, 0), &[]));
    assert!(exchange(&t, &read(HOST)).is_some());
    assert_eq!(
        t.prepare(Instant::now(), IFACE, &read(OTHER)).unwrap_err(),
        Ignored::MacNotAllowed(OTHER)
    );
    // Edit from an allowed MAC: add OTHER, bad directive stops processing.
    let dirs = Directive::encode_list(&[
        Directive {
            dcmd: DirectiveCommand::ADD,
            mac: OTHER,
        },
        Directive {
            dcmd: DirectiveCommand(7),
            mac: OTHER,
        },
    ]);
    let edit = frame(
        HOST,
        1,
        2,
        Body::MacMask(
            MacMaskHeader {
                mcmd: MaskCommand::EDIT,
                merror: MaskError::NONE,
            },
            DirectiveList::new(&dirs).unwrap(),
        ),
    );
    let f = exchange(&t, &edit).unwrap();
    let g = Frame::parse(&f).unwrap();
    let Body::MacMask(h, d) = g.body else {
        panic!()
    };
    assert_eq!(h.merror, MaskError::BAD_DIRECTIVE);
    assert_eq!(
        d.iter().map(|d| d.mac).collect::<Vec<_>>(),
        vec![HOST, OTHER]
    );
    assert!(exchange(&t, &read(OTHER)).is_some());
    // Delete both: the list is empty, everyone is served.
    let dirs = Directive::encode_list(&[
        Directive {
            dcmd: DirectiveCommand::DELETE,
            mac: OTHER,
        },
        Directive {
            dcmd: DirectiveCommand::DELETE,
            mac: HOST,
        },
    ]);
    let edit = frame(
        HOST,
        1,
        2,
        Body::MacMask(
            MacMaskHeader {
                mcmd: MaskCommand::EDIT,
                merror: MaskError::NONE,
            },
            DirectiveList::new(&dirs).unwrap(),
        ),
    );
    assert!(exchange(&t, &edit).is_some());
    assert!(t.mask_list().is_empty());
    assert!(exchange(&t, &read(MacAddr([2, 9, 9, 9, 9, 9]))).is_some());
}

/// A locked list (the server's, one PC per disk): an edit, even from the
/// allowed MAC, is refused with merror 1 and changes nothing.
#[test]
fn test_locked_mac_mask_is_not_edited_by_initiators() {
    let mut cfg = TargetConfig::new(1, 2);
    cfg.allow_macs = vec![HOST];
    cfg.mask_locked = true;
    let t = target_with(cfg, false);
    let dirs = Directive::encode_list(&[Directive {
        dcmd: DirectiveCommand::DELETE,
        mac: HOST,
    }]);
    let edit = frame(
        HOST,
        1,
        2,
        Body::MacMask(
            MacMaskHeader {
                mcmd: MaskCommand::EDIT,
                merror: MaskError::NONE,
            },
            DirectiveList::new(&dirs).unwrap(),
        ),
    );
    let f = exchange(&t, &edit).unwrap();
    let Body::MacMask(h, d) = Frame::parse(&f).unwrap().body else {
        panic!()
    };
    assert_eq!(h.merror, MaskError::UNSPECIFIED);
    assert_eq!(d.iter().map(|d| d.mac).collect::<Vec<_>>(), vec![HOST]);
    assert_eq!(t.mask_list(), vec![HOST]);
    let read = frame(OTHER, 1, 2, Body::Ata(ata(cmd::READ_SECTORS, 0, 1, 0), &[]));
    assert_eq!(
        t.prepare(Instant::now(), IFACE, &read).unwrap_err(),
        Ignored::MacNotAllowed(OTHER)
    );
}

#[test]
fn test_reserve_release() {
    let t = target();
    let res = |src, rcmd, macs: &[MacAddr]| {
        let enc = MacList::encode(macs);
        let f = frame(
            src,
            1,
            2,
            Body::Reserve(ReserveHeader { rcmd }, MacList::new(&enc).unwrap()),
        );
        exchange(&t, &f).unwrap()
    };
    let write = |src| {
        frame(
            src,
            1,
            2,
            Body::Ata(ata(cmd::WRITE_SECTORS, 0, 1, AtaFlags::WRITE), &[9; 512]),
        )
    };
    let r = res(HOST, ReserveCommand::SET, &[HOST]);
    let Body::Reserve(_, m) = Frame::parse(&r).unwrap().body else {
        panic!()
    };
    assert_eq!(m.iter().collect::<Vec<_>>(), vec![HOST]);
    // Writes from others: error 6; reads still served; their set refused.
    assert_eq!(
        aoe_error(&exchange(&t, &write(OTHER)).unwrap()),
        ErrorCode::TARGET_RESERVED
    );
    assert!(exchange(
        &t,
        &frame(OTHER, 1, 2, Body::Ata(ata(cmd::READ_SECTORS, 0, 1, 0), &[]))
    )
    .is_some());
    assert_eq!(
        aoe_error(&res(OTHER, ReserveCommand::SET, &[OTHER])),
        ErrorCode::TARGET_RESERVED
    );
    assert_eq!(
        reply_ata(&exchange(&t, &write(HOST)).unwrap()).1.cmd_status,
        AtaStatus::DRDY
    );
    // Force set from anyone; an empty list releases.
    res(OTHER, ReserveCommand::FORCE_SET, &[]);
    assert!(t.reserve_list().is_empty());
    assert_eq!(
        reply_ata(&exchange(&t, &write(OTHER)).unwrap())
            .1
            .cmd_status,
        AtaStatus::DRDY
    );
    assert_eq!(
        aoe_error(&res(OTHER, ReserveCommand(5), &[])),
        ErrorCode::BAD_ARGUMENT
    );
}

#[test]
fn test_prepare_then_complete_off_thread() {
    let t = Arc::new(target());
    let rx = frame(HOST, 1, 2, Body::Ata(ata(cmd::READ_SECTORS, 3, 1, 0), &[]));
    let work = t.prepare(Instant::now(), IFACE, &rx).unwrap();
    assert_eq!(work.op, Op::Read { lba: 3, count: 1 });
    let t2 = t.clone();
    let reply = std::thread::spawn(move || {
        let mut tx = vec![0; t2.tx_buffer_len()];
        let n = t2.execute(&work, &rx, &mut tx);
        tx.truncate(n);
        tx
    })
    .join()
    .unwrap();
    assert_eq!(reply_ata(&reply).2[..512], [3u8; 512]);
}

#[test]
fn test_announce() {
    let t = target();
    let mut tx = vec![0; t.tx_buffer_len()];
    let n = t.announce(IFACE, &mut tx).unwrap();
    let f = Frame::parse(&tx[..n]).unwrap();
    assert!(f.eth.dst.is_broadcast());
    assert!(f.aoe.flags.response);
    assert!(matches!(f.body, Body::Config(h, _) if h.sectors_per_frame == 2));
}

#[test]
fn test_4k_disk_serves_512_byte_sectors() {
    let disk = MemDisk::new(64 * 4096, 4096);
    let t = Target::new(Arc::new(disk), TargetConfig::new(1, 2)).unwrap();
    assert_eq!(t.sectors(), 512);
    let data = vec![7u8; 512];
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::WRITE_SECTORS, 3, 1, AtaFlags::WRITE), &data),
        ),
    )
    .unwrap();
    assert_eq!(reply_ata(&r).1.cmd_status, AtaStatus::DRDY);
    let r = exchange(
        &t,
        &frame(
            HOST,
            1,
            2,
            Body::Ata(ata(cmd::IDENTIFY_DEVICE, 0, 1, 0), &[]),
        ),
    )
    .unwrap();
    assert_eq!(crate::ata::word(&reply_ata(&r).2, 106), 0x6003);
}

#[test]
fn test_reserve_list_capped_to_mtu() {
    let t = target();
    // 255 MACs would make a 1556-byte reply: refused with error 2.
    let macs: Vec<MacAddr> = (0..255u8).map(|i| MacAddr([2, 0, 0, 0, 1, i])).collect();
    let enc = MacList::encode(&macs);
    let f = frame(
        HOST,
        1,
        2,
        Body::Reserve(
            ReserveHeader {
                rcmd: ReserveCommand::FORCE_SET,
            },
            MacList::new(&enc).unwrap(),
        ),
    );
    assert_eq!(
        aoe_error(&exchange(&t, &f).unwrap()),
        ErrorCode::BAD_ARGUMENT
    );
    assert!(t.reserve_list().is_empty());
}

proptest::proptest! {
    /// Random frames to our MAC never panic the target; every reply parses,
    /// fits the MTU and goes back to the sender.
    #[test]
    fn prop_target_never_panics(frames in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1200), 1..8), cmd in 0u8..5) {
        let t = target();
        let mut tx = vec![0u8; t.tx_buffer_len()];
        for mut f in frames {
            if f.len() >= 24 {
                f[..6].copy_from_slice(&IFACE.0);
                f[12] = 0x88;
                f[13] = 0xa2;
                f[14] = 0x10 | (f[14] & 0x04);
                f[16..18].copy_from_slice(&1u16.to_be_bytes());
                f[18] = 2;
                f[19] = cmd;
            }
            if let Some(n) = t.process(Instant::now(), IFACE, &f, &mut tx) {
                let r = Frame::parse(&tx[..n]).unwrap();
                proptest::prop_assert!(r.aoe.flags.response);
                proptest::prop_assert!(n <= 1514);
                proptest::prop_assert_eq!(&r.eth.dst.0[..], &f[6..12]);
            }
        }
    }
}

/// Runs `frames` through prepare + execute_run; returns the replies.
fn run_batch(t: &Target, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let works: Vec<Work> = frames
        .iter()
        .map(|f| t.prepare(Instant::now(), IFACE, f).unwrap())
        .collect();
    let refs: Vec<&Work> = works.iter().collect();
    let rxs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    let mut bufs: Vec<Vec<u8>> = frames
        .iter()
        .map(|_| vec![0xa5; t.tx_buffer_len()])
        .collect();
    let mut txs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
    let mut lens = vec![0; frames.len()];
    t.execute_run(&refs, &rxs, &mut txs, &mut lens);
    bufs.iter()
        .zip(&lens)
        .map(|(b, n)| b[..*n].to_vec())
        .collect()
}

#[test]
fn test_execute_run_merges_consecutive_reads_and_writes() {
    let reads: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            frame(
                HOST,
                1,
                2,
                Body::Ata(ata(cmd::READ_SECTORS, 10 + 2 * i, 2, 0), &[]),
            )
        })
        .collect();
    let t = target();
    let one_by_one: Vec<Vec<u8>> = reads.iter().map(|f| exchange(&t, f).unwrap()).collect();
    assert!(Target::continues(
        &t.prepare(Instant::now(), IFACE, &reads[0]).unwrap(),
        &t.prepare(Instant::now(), IFACE, &reads[1]).unwrap()
    ));
    assert_eq!(run_batch(&t, &reads), one_by_one);
    assert_eq!(t.stats().sectors_read.load(Ordering::Relaxed), 16);
    // Writes of consecutive sectors land where they belong.
    let data: Vec<Vec<u8>> = (0..3).map(|i| vec![0x40 + i as u8; 1024]).collect();
    let writes: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            frame(
                HOST,
                1,
                2,
                Body::Ata(
                    ata(cmd::WRITE_SECTORS, 20 + 2 * i as u64, 2, AtaFlags::WRITE),
                    &data[i],
                ),
            )
        })
        .collect();
    let replies = run_batch(&t, &writes);
    for r in &replies {
        let (_, h, _) = reply_ata(r);
        assert_eq!(h.cmd_status, AtaStatus::DRDY);
    }
    let mut back = vec![0; 3 * 1024];
    t.disk().read_at(&mut back, 20 * 512).unwrap();
    assert_eq!(back, data.concat());
    // Not a run (a gap, a mix): one at a time, the same replies.
    let mixed = vec![reads[0].clone(), reads[2].clone(), writes[0].clone()];
    let t2 = target();
    let expect: Vec<Vec<u8>> = mixed.iter().map(|f| exchange(&t2, f).unwrap()).collect();
    assert_eq!(run_batch(&t, &mixed), expect);
    // A run into the end: the frame past the end is no read (IDNF), so
    // the works are run one at a time; each reply has its own status.
    let tail: Vec<Vec<u8>> = [60u64, 62, 64]
        .iter()
        .map(|l| frame(HOST, 1, 2, Body::Ata(ata(cmd::READ_SECTORS, *l, 2, 0), &[])))
        .collect();
    let replies = run_batch(&t, &tail);
    let expect: Vec<Vec<u8>> = tail.iter().map(|f| exchange(&t, f).unwrap()).collect();
    assert_eq!(replies, expect);
}
