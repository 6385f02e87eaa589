//! Tests of the logical unit, command by command, on `MemDisk` (and
//! `FileDisk` for flush and discard).

use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use netboot_blockdev::{BlockDevice, MemDisk};
use proptest::prelude::*;

use super::pr::{SaveHook, SaveStage};
use super::*;
use crate::{Response, Status, Target};

const BLOCKS: u64 = 2048;

fn nexus(i: u64) -> Nexus {
    Nexus::new(
        i,
        format!("iqn.2024-01.test:init{i},i,0x{i:012x}"),
        "iqn.2024-01.test:tgt,t,0x1",
    )
}

fn opts() -> LuOptions {
    LuOptions {
        power_on_ua: false,
        ..LuOptions::default()
    }
}

fn setup_with(o: LuOptions, bs: u32) -> (LogicalUnit, Arc<MemDisk>) {
    let disk = Arc::new(MemDisk::new(BLOCKS * u64::from(bs), bs));
    let lu = LogicalUnit::new(disk.clone(), Identity::new("SN0001"), o).unwrap();
    (lu, disk)
}

fn setup() -> (LogicalUnit, Arc<MemDisk>) {
    setup_with(opts(), 512)
}

fn ex(lu: &LogicalUnit, n: &Nexus, cdb: &[u8], data: &[u8]) -> Response {
    lu.execute(n, cdb, data, u32::MAX)
}

#[track_caller]
fn good(r: &Response) {
    assert_eq!(r.status, Status::Good, "sense {:?}", r.sense_key_asc());
}

#[track_caller]
fn sense(r: &Response, key: u8, asc: u8, ascq: u8) {
    assert_eq!(r.status, Status::CheckCondition);
    assert_eq!(r.sense_key_asc(), Some((key, asc, ascq)));
}

#[track_caller]
fn conflict(r: &Response) {
    assert_eq!(r.status, Status::ReservationConflict);
}

fn rw10(opcode: u8, flags: u8, lba: u32, n: u16) -> Vec<u8> {
    let mut c = vec![opcode, flags];
    c.extend_from_slice(&lba.to_be_bytes());
    c.push(0);
    c.extend_from_slice(&n.to_be_bytes());
    c.push(0);
    c
}

fn rw16(opcode: u8, flags: u8, lba: u64, n: u32) -> Vec<u8> {
    let mut c = vec![opcode, flags];
    c.extend_from_slice(&lba.to_be_bytes());
    c.extend_from_slice(&n.to_be_bytes());
    c.extend_from_slice(&[0, 0]);
    c
}

fn rw12(opcode: u8, lba: u32, n: u32) -> Vec<u8> {
    let mut c = vec![opcode, 0];
    c.extend_from_slice(&lba.to_be_bytes());
    c.extend_from_slice(&n.to_be_bytes());
    c.extend_from_slice(&[0, 0]);
    c
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn test_unit_ready_and_power_on_ua() {
    let (lu, _) = setup_with(LuOptions::default(), 512);
    let n = nexus(1);
    // INQUIRY does not report or clear the unit attention.
    good(&ex(&lu, &n, &[0x12, 0, 0, 0, 36, 0], &[]));
    sense(&ex(&lu, &n, &[0; 6], &[]), 6, 0x29, 0x00);
    good(&ex(&lu, &n, &[0; 6], &[]));
    // Another nexus gets its own.
    sense(&ex(&lu, &nexus(2), &[0; 6], &[]), 6, 0x29, 0x00);
    // LUN reset: BUS DEVICE RESET for everyone.
    lu.reset();
    sense(&ex(&lu, &n, &[0; 6], &[]), 6, 0x29, 0x03);
    good(&ex(&lu, &n, &[0; 6], &[]));
}

#[test]
fn test_request_sense() {
    let (lu, _) = setup_with(LuOptions::default(), 512);
    let n = nexus(1);
    let r = ex(&lu, &n, &[0x03, 0, 0, 0, 252, 0], &[]);
    good(&r);
    assert_eq!(Sense::parse_key_asc(&r.data_in), Some((6, 0x29, 0)));
    assert_eq!(r.data_in.len(), 18);
    let r = ex(&lu, &n, &[0x03, 1, 0, 0, 252, 0], &[]);
    good(&r);
    assert_eq!(r.data_in[0], 0x72);
    assert_eq!(Sense::parse_key_asc(&r.data_in), Some((0, 0, 0)));
}

#[test]
fn test_inquiry_standard() {
    let (lu, _) = setup();
    let n = nexus(1);
    let r = ex(&lu, &n, &[0x12, 0, 0, 0, 255, 0], &[]);
    good(&r);
    let d = &r.data_in;
    assert_eq!(d.len(), 96);
    assert_eq!(
        (d[0], d[2], d[3] & 0x0f, d[4] as usize),
        (0, 6, 2, d.len() - 5)
    );
    assert_eq!(&d[8..16], b"NETBOOT ");
    assert_eq!(&d[16..32], b"VIRTUAL-DISK    ");
    assert_eq!(&d[32..36], b"0001");
    assert_eq!(&d[62..64], &[0x04, 0xc0]); // SBC-3
                                           // Allocation length truncates.
    assert_eq!(ex(&lu, &n, &[0x12, 0, 0, 0, 5, 0], &[]).data_in.len(), 5);
    // Page code without EVPD, CMDDT.
    sense(&ex(&lu, &n, &[0x12, 0, 0x80, 0, 255, 0], &[]), 5, 0x24, 0);
    sense(&ex(&lu, &n, &[0x12, 2, 0, 0, 255, 0], &[]), 5, 0x24, 0);
}

#[test]
fn test_inquiry_vpd() {
    let (lu, _) = setup();
    let n = nexus(1);
    let vpd = |p: u8| {
        let r = ex(&lu, &n, &[0x12, 1, p, 0x01, 0, 0], &[]);
        good(&r);
        assert_eq!(r.data_in[1], p);
        assert_eq!(
            usize::from(u16::from_be_bytes([r.data_in[2], r.data_in[3]])) + 4,
            r.data_in.len()
        );
        r.data_in
    };
    let d = vpd(0x00);
    assert_eq!(&d[4..], &[0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    for p in &d[4..] {
        vpd(*p);
    }
    assert_eq!(&vpd(0x80)[4..], b"SN0001");
    let d = vpd(0x83);
    assert_eq!(&d[4..8], &[0x01, 0x03, 0x00, 8]);
    assert_eq!(d[8] >> 4, 3);
    assert_eq!(&d[12..16], &lu.identity().naa.to_be_bytes()[4..]);
    assert_eq!(&d[16..20], &[0x02, 0x01, 0x00, 14]);
    assert_eq!(&d[20..34], b"NETBOOT SN0001");
    let d = vpd(0xb0);
    assert_eq!(d.len(), 64);
    assert_eq!(d[5], 128); // max compare and write
    assert_eq!(
        u32::from_be_bytes(d[8..12].try_into().unwrap()),
        (8 << 20) / 512
    );
    assert_eq!(u32::from_be_bytes(d[20..24].try_into().unwrap()), 1 << 20);
    assert_eq!(u32::from_be_bytes(d[24..28].try_into().unwrap()), 256);
    assert_eq!(u64::from_be_bytes(d[36..44].try_into().unwrap()), 1 << 20);
    let d = vpd(0xb1);
    assert_eq!(&d[4..6], &[0, 1]);
    let d = vpd(0xb2);
    assert_eq!(d[5], 0xe4);
    sense(&ex(&lu, &n, &[0x12, 1, 0x99, 0, 255, 0], &[]), 5, 0x24, 0);
    // NAA 6: 16-byte designator.
    let disk = Arc::new(MemDisk::new(1 << 20, 512));
    let mut id = Identity::new("x");
    id.naa = 0x6001_4050_0000_0001;
    let lu = LogicalUnit::new(disk, id, opts()).unwrap();
    let d = ex(&lu, &n, &[0x12, 1, 0x83, 0, 255, 0], &[]).data_in;
    assert_eq!(d[7], 16);
}

#[test]
fn test_identity_validation() {
    let disk = Arc::new(MemDisk::new(1 << 20, 512));
    let mut id = Identity::new("x");
    id.vendor = "TOO-LONG-VENDOR".into();
    assert!(LogicalUnit::new(disk.clone(), id, opts()).is_err());
    assert!(LogicalUnit::new(disk, Identity::new("has space"), opts()).is_err());
}

#[test]
fn test_read_capacity() {
    let (lu, _) = setup_with(opts(), 4096);
    let n = nexus(1);
    let r = ex(&lu, &n, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[]);
    good(&r);
    assert_eq!(
        r.data_in,
        [(BLOCKS as u32 - 1).to_be_bytes(), 4096u32.to_be_bytes()].concat()
    );
    sense(
        &ex(&lu, &n, &[0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0], &[]),
        5,
        0x24,
        0,
    );
    let r = ex(&lu, &n, &rw16(0x9e, 0x10, 0, 32), &[]);
    good(&r);
    assert_eq!(r.data_in.len(), 32);
    assert_eq!(
        u64::from_be_bytes(r.data_in[..8].try_into().unwrap()),
        BLOCKS - 1
    );
    assert_eq!(r.data_in[14], 0xc0); // LBPME, LBPRZ
    assert_eq!(ex(&lu, &n, &rw16(0x9e, 0x10, 0, 12), &[]).data_in.len(), 12);
    let (lu, _) = setup_with(
        LuOptions {
            thin_provisioning: false,
            ..opts()
        },
        512,
    );
    assert_eq!(ex(&lu, &n, &rw16(0x9e, 0x10, 0, 32), &[]).data_in[14], 0);
}

#[test]
fn test_read_write_all_sizes() {
    let (lu, disk) = setup();
    let n = nexus(1);
    let data = pattern(4 * 512, 7);
    // WRITE(6)/READ(6)
    good(&ex(&lu, &n, &[0x0a, 0, 0, 10, 4, 0], &data));
    assert_eq!(ex(&lu, &n, &[0x08, 0, 0, 10, 4, 0], &[]).data_in, data);
    // 10
    good(&ex(&lu, &n, &rw10(0x2a, 0, 20, 4), &data));
    assert_eq!(ex(&lu, &n, &rw10(0x28, 0, 20, 4), &[]).data_in, data);
    // 12
    good(&ex(&lu, &n, &rw12(0xaa, 30, 4), &data));
    assert_eq!(ex(&lu, &n, &rw12(0xa8, 30, 4), &[]).data_in, data);
    // 16, with FUA
    good(&ex(&lu, &n, &rw16(0x8a, 0x08, BLOCKS - 4, 4), &data));
    assert_eq!(
        ex(&lu, &n, &rw16(0x88, 0x08, BLOCKS - 4, 4), &[]).data_in,
        data
    );
    assert_eq!(&disk.contents()[20 * 512..24 * 512], &data[..]);
    // READ(6) with length 0 means 256 blocks.
    assert_eq!(
        ex(&lu, &n, &[0x08, 0, 0, 0, 0, 0], &[]).data_in.len(),
        256 * 512
    );
    // The transport's allocation length truncates.
    assert_eq!(
        lu.execute(&n, &rw10(0x28, 0, 20, 4), &[], 100).data_in,
        &data[..100]
    );
}

#[test]
fn test_read_write_ranges() {
    let (lu, _) = setup();
    let n = nexus(1);
    let r = ex(&lu, &n, &rw10(0x28, 0, 0, 0), &[]);
    good(&r);
    assert!(r.data_in.is_empty());
    good(&ex(&lu, &n, &rw10(0x28, 0, BLOCKS as u32, 0), &[]));
    for lba in [BLOCKS as u32 + 1, 0x8000_0000, u32::MAX] {
        sense(&ex(&lu, &n, &rw10(0x28, 0, lba, 0), &[]), 5, 0x21, 0);
        sense(&ex(&lu, &n, &rw10(0x2a, 0, lba, 0), &[]), 5, 0x21, 0);
    }
    sense(
        &ex(&lu, &n, &rw10(0x28, 0, BLOCKS as u32 - 1, 2), &[]),
        5,
        0x21,
        0,
    );
    sense(&ex(&lu, &n, &rw16(0x88, 0, u64::MAX, 2), &[]), 5, 0x21, 0);
    sense(
        &ex(&lu, &n, &rw16(0x8a, 0, u64::MAX - 1, 2), &[0; 1024]),
        5,
        0x21,
        0,
    );
    // RDPROTECT / WRPROTECT.
    sense(&ex(&lu, &n, &rw10(0x28, 0x20, 0, 1), &[]), 5, 0x24, 0);
    sense(&ex(&lu, &n, &rw16(0x8a, 0x20, 0, 1), &[0; 512]), 5, 0x24, 0);
    // Too little Data-Out.
    sense(&ex(&lu, &n, &rw10(0x2a, 0, 0, 2), &[0; 600]), 0xb, 0x4b, 0);
    // Beyond the maximum transfer length.
    let (small, _) = setup_with(
        LuOptions {
            max_transfer_bytes: 4096,
            ..opts()
        },
        512,
    );
    sense(&ex(&small, &n, &rw12(0xa8, 0, 9), &[]), 5, 0x24, 0);
    good(&ex(&small, &n, &rw12(0xa8, 0, 8), &[]));
    // Short CDB, unknown opcode, NACA.
    sense(&ex(&lu, &n, &[0x28, 0, 0], &[]), 5, 0x24, 0);
    sense(&ex(&lu, &n, &[0xc5, 0, 0, 0, 0, 0], &[]), 5, 0x20, 0);
    sense(&ex(&lu, &n, &[0x00, 0, 0, 0, 0, 0x04], &[]), 5, 0x24, 0);
    sense(&ex(&lu, &n, &[], &[]), 5, 0x20, 0);
}

#[test]
fn test_write_protected() {
    let disk = Arc::new(MemDisk::new(1 << 20, 512).read_only(true));
    let lu = LogicalUnit::new(disk, Identity::new("ro"), opts()).unwrap();
    let n = nexus(1);
    sense(&ex(&lu, &n, &rw10(0x2a, 0, 0, 1), &[0; 512]), 7, 0x27, 0);
    sense(&ex(&lu, &n, &rw16(0x93, 0, 0, 1), &[0; 512]), 7, 0x27, 0);
    good(&ex(&lu, &n, &rw10(0x28, 0, 0, 1), &[]));
    // WP in the mode parameter header.
    assert_eq!(
        ex(&lu, &n, &[0x1a, 0, 0x3f, 0, 255, 0], &[]).data_in[2] & 0x80,
        0x80
    );
}

#[test]
fn test_verify_and_write_verify() {
    let (lu, _) = setup();
    let n = nexus(1);
    let data = pattern(2 * 512, 3);
    good(&ex(&lu, &n, &rw10(0x2e, 0x02, 5, 2), &data));
    good(&ex(&lu, &n, &rw16(0x8e, 0x02, 7, 2), &data));
    good(&ex(&lu, &n, &rw12(0xae, 9, 2), &data));
    // BYTCHK 0: medium check only.
    good(&ex(&lu, &n, &rw10(0x2f, 0, 0, 100), &[]));
    good(&ex(&lu, &n, &rw16(0x8f, 0, 0, BLOCKS as u32), &[]));
    sense(
        &ex(&lu, &n, &rw10(0x2f, 0, BLOCKS as u32, 1), &[]),
        5,
        0x21,
        0,
    );
    // BYTCHK 1.
    good(&ex(&lu, &n, &rw10(0x2f, 0x02, 5, 2), &data));
    good(&ex(&lu, &n, &rw16(0x8f, 0x02, 7, 2), &data));
    let mut bad = data.clone();
    bad[700] ^= 1;
    let r = ex(&lu, &n, &rw10(0x2f, 0x02, 5, 2), &bad);
    sense(&r, 0xe, 0x1d, 0);
    let s = r.sense.unwrap();
    assert_eq!(s[0], 0xf0);
    assert_eq!(u32::from_be_bytes(s[3..7].try_into().unwrap()), 700);
    // BYTCHK 3: one block against every block.
    good(&ex(&lu, &n, &rw10(0x2f, 0x06, 100, 10), &[0; 512]));
    let r = ex(&lu, &n, &rw10(0x2f, 0x06, 4, 2), &[0; 512]);
    sense(&r, 0xe, 0x1d, 0);
    assert_eq!(&r.sense.unwrap()[3..7], &512u32.to_be_bytes());
    // BYTCHK 2 is reserved; VRPROTECT unsupported.
    sense(&ex(&lu, &n, &rw10(0x2f, 0x04, 5, 2), &data), 5, 0x24, 0);
    sense(&ex(&lu, &n, &rw10(0x2f, 0x20, 5, 2), &data), 5, 0x24, 0);
    good(&ex(&lu, &n, &rw10(0x2f, 0x02, 5, 0), &[]));
}

#[test]
fn test_file_disk_flush_and_discard() {
    use netboot_blockdev::{FileDisk, OpenOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    std::fs::write(&path, vec![0u8; 1 << 20]).unwrap();
    let disk = Arc::new(FileDisk::open(&path, &OpenOptions::default()).unwrap());
    let lu = LogicalUnit::new(
        disk,
        Identity::new("file"),
        LuOptions {
            write_cache: false,
            ..opts()
        },
    )
    .unwrap();
    let n = nexus(1);
    let data = pattern(8 * 512, 9);
    good(&ex(&lu, &n, &rw10(0x2a, 0x08, 8, 8), &data));
    good(&ex(&lu, &n, &rw10(0x35, 0, 0, 0), &[]));
    good(&ex(&lu, &n, &rw16(0x91, 0, 0, 0), &[]));
    sense(&ex(&lu, &n, &rw10(0x35, 0, 4096, 1), &[]), 5, 0x21, 0);
    assert_eq!(&std::fs::read(&path).unwrap()[8 * 512..16 * 512], &data[..]);
    // UNMAP the first half: reads as zeros, the rest stays.
    let mut p = vec![0, 22, 0, 16, 0, 0, 0, 0];
    p.extend_from_slice(&8u64.to_be_bytes());
    p.extend_from_slice(&4u32.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    good(&ex(&lu, &n, &[0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], &p));
    let r = ex(&lu, &n, &rw10(0x28, 0, 8, 8), &[]);
    assert_eq!(&r.data_in[..2048], &[0u8; 2048][..]);
    assert_eq!(&r.data_in[2048..], &data[2048..]);
}

fn unmap_list(descs: &[(u64, u32)]) -> (Vec<u8>, Vec<u8>) {
    let mut p = vec![0u8; 8];
    for &(lba, n) in descs {
        p.extend_from_slice(&lba.to_be_bytes());
        p.extend_from_slice(&n.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
    }
    let len = p.len() as u16;
    p[0..2].copy_from_slice(&(len - 2).to_be_bytes());
    p[2..4].copy_from_slice(&(len - 8).to_be_bytes());
    let mut c = vec![0x42, 0, 0, 0, 0, 0, 0];
    c.extend_from_slice(&len.to_be_bytes());
    c.push(0);
    (c, p)
}

#[test]
fn test_unmap() {
    let (lu, disk) = setup();
    let n = nexus(1);
    good(&ex(&lu, &n, &rw10(0x2a, 0, 0, 16), &[0xff; 16 * 512]));
    let (c, p) = unmap_list(&[(1, 2), (10, 1), (BLOCKS, 0)]);
    good(&ex(&lu, &n, &c, &p));
    let d = disk.contents();
    assert!(d[512..1536].iter().all(|&b| b == 0));
    assert!(d[10 * 512..11 * 512].iter().all(|&b| b == 0));
    assert!(d[..512].iter().all(|&b| b == 0xff));
    assert!(d[1536..10 * 512].iter().all(|&b| b == 0xff));
    // Empty parameter list, header-only list.
    good(&ex(&lu, &n, &[0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[]));
    let (c, p) = unmap_list(&[]);
    good(&ex(&lu, &n, &c, &p));
    // Out of range: nothing is unmapped.
    good(&ex(&lu, &n, &rw10(0x2a, 0, 0, 1), &[0xff; 512]));
    let (c, p) = unmap_list(&[(0, 1), (BLOCKS, 1)]);
    sense(&ex(&lu, &n, &c, &p), 5, 0x21, 0);
    assert_eq!(disk.contents()[0], 0xff);
    // Strict parameter list checks.
    sense(
        &ex(&lu, &n, &[0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0], &[0; 4]),
        5,
        0x1a,
        0,
    );
    let (c, mut p) = unmap_list(&[(0, 1)]);
    p[3] = 15;
    sense(&ex(&lu, &n, &c, &p), 5, 0x26, 0);
    p[3] = 32;
    sense(&ex(&lu, &n, &c, &p), 5, 0x1a, 0);
    let (c, p) = unmap_list(&[(0, 1)]);
    sense(&ex(&lu, &n, &c, &p[..20]), 5, 0x1a, 0);
    let (c, p) = unmap_list(&vec![(0, 1); 257]);
    sense(&ex(&lu, &n, &c, &p), 5, 0x26, 0);
    let (c, p) = unmap_list(&[(0, (1 << 20) + 1)]);
    sense(&ex(&lu, &n, &c, &p), 5, 0x26, 0);
    // ANCHOR.
    let (mut c, p) = unmap_list(&[(0, 1)]);
    c[1] = 1;
    sense(&ex(&lu, &n, &c, &p), 5, 0x24, 0);
    // Not supported without thin provisioning.
    let (lu, _) = setup_with(
        LuOptions {
            thin_provisioning: false,
            ..opts()
        },
        512,
    );
    let (c, p) = unmap_list(&[(0, 1)]);
    sense(&ex(&lu, &n, &c, &p), 5, 0x20, 0);
}

#[test]
fn test_write_same() {
    let (lu, disk) = setup();
    let n = nexus(1);
    let block = pattern(512, 1);
    good(&ex(&lu, &n, &rw10(0x41, 0, 3, 5), &block));
    let d = disk.contents();
    for i in 3..8 {
        assert_eq!(&d[i * 512..(i + 1) * 512], &block[..]);
    }
    assert!(d[8 * 512..9 * 512].iter().all(|&b| b == 0));
    // UNMAP bit with zeros deallocates; NDOB needs no data.
    good(&ex(&lu, &n, &rw10(0x41, 0x08, 3, 2), &[0; 512]));
    good(&ex(&lu, &n, &rw16(0x93, 0x09, 5, 1), &[]));
    let d = disk.contents();
    assert!(d[3 * 512..6 * 512].iter().all(|&b| b == 0));
    assert_eq!(&d[6 * 512..7 * 512], &block[..]);
    // UNMAP bit with non-zero data deallocates too (LBPRZ: zeros).
    good(&ex(&lu, &n, &rw10(0x2a, 0, 100, 2), &[7; 1024]));
    good(&ex(&lu, &n, &rw16(0x93, 0x08, 100, 2), &block));
    assert!(disk.contents()[100 * 512..102 * 512]
        .iter()
        .all(|&b| b == 0));
    // 0 blocks: to the end of the medium (WSNZ 0).
    good(&ex(&lu, &n, &rw10(0x41, 0, BLOCKS as u32 - 3, 0), &block));
    assert_eq!(&disk.contents()[(BLOCKS as usize - 1) * 512..], &block[..]);
    good(&ex(&lu, &n, &rw10(0x41, 0, BLOCKS as u32, 0), &block));
    sense(
        &ex(&lu, &n, &rw10(0x41, 0, BLOCKS as u32 + 1, 0), &block),
        5,
        0x21,
        0,
    );
    sense(
        &ex(&lu, &n, &rw10(0x41, 0, u32::MAX, 0), &block),
        5,
        0x21,
        0,
    );
    sense(
        &ex(&lu, &n, &rw10(0x41, 0, BLOCKS as u32 - 1, 2), &block),
        5,
        0x21,
        0,
    );
    // ANCHOR, WRPROTECT, too long, missing data.
    sense(&ex(&lu, &n, &rw10(0x41, 0x10, 0, 1), &block), 5, 0x24, 0);
    sense(&ex(&lu, &n, &rw10(0x41, 0x20, 0, 1), &block), 5, 0x24, 0);
    let (lu2, _) = setup_with(
        LuOptions {
            max_write_same_blocks: 4,
            ..opts()
        },
        512,
    );
    sense(&ex(&lu2, &n, &rw10(0x41, 0, 0, 5), &block), 5, 0x24, 0);
    sense(&ex(&lu2, &n, &rw10(0x41, 0, 0, 0), &block), 5, 0x24, 0);
    // Data-Out of other than one block: ILLEGAL REQUEST.
    sense(
        &ex(&lu, &n, &rw10(0x41, 0x08, 0, 1), &block[..100]),
        5,
        0x24,
        0,
    );
    sense(
        &ex(&lu, &n, &rw10(0x41, 0x08, 0, 1), &[0; 1024]),
        5,
        0x24,
        0,
    );
}

fn caw(lba: u64, n: u8) -> Vec<u8> {
    let mut c = vec![0x89, 0];
    c.extend_from_slice(&lba.to_be_bytes());
    c.extend_from_slice(&[0, 0, 0, n, 0, 0]);
    c
}

#[test]
fn test_compare_and_write() {
    let (lu, disk) = setup();
    let n = nexus(1);
    let old = pattern(1024, 1);
    let new = pattern(1024, 2);
    good(&ex(&lu, &n, &rw10(0x2a, 0, 4, 2), &old));
    good(&ex(
        &lu,
        &n,
        &caw(4, 2),
        &[old.clone(), new.clone()].concat(),
    ));
    assert_eq!(&disk.contents()[4 * 512..6 * 512], &new[..]);
    // Miscompare: offset of the first difference, nothing written.
    let mut wrong = new.clone();
    wrong[600] ^= 0xff;
    let r = ex(&lu, &n, &caw(4, 2), &[wrong, old.clone()].concat());
    sense(&r, 0xe, 0x1d, 0);
    assert_eq!(&r.sense.unwrap()[3..7], &600u32.to_be_bytes());
    assert_eq!(&disk.contents()[4 * 512..6 * 512], &new[..]);
    // Length errors and limits.
    sense(&ex(&lu, &n, &caw(4, 2), &new), 5, 0x24, 0);
    sense(
        &ex(&lu, &n, &caw(4, 1), &[new.clone(), new.clone()].concat()),
        5,
        0x24,
        0,
    );
    sense(&ex(&lu, &n, &caw(0, 129), &[]), 5, 0x24, 0);
    sense(&ex(&lu, &n, &caw(BLOCKS, 1), &[0; 1024]), 5, 0x21, 0);
    good(&ex(&lu, &n, &caw(4, 0), &[]));
}

#[test]
fn test_compare_and_write_is_atomic() {
    // Threads increment a counter in block 0 with COMPARE AND WRITE;
    // every successful increment must be counted exactly once.
    let (lu, disk) = setup();
    let lu = Arc::new(lu);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let lu = lu.clone();
            std::thread::spawn(move || {
                let n = nexus(t);
                let mut ok = 0u64;
                for _ in 0..200 {
                    let cur = ex(&lu, &n, &rw10(0x28, 0, 0, 1), &[]).data_in;
                    let v = u64::from_be_bytes(cur[..8].try_into().unwrap());
                    let mut next = cur.clone();
                    next[..8].copy_from_slice(&(v + 1).to_be_bytes());
                    if ex(&lu, &n, &caw(0, 1), &[cur, next].concat()).status == Status::Good {
                        ok += 1;
                    }
                    // Plain writes to a neighbouring range interleave.
                    ex(&lu, &n, &rw10(0x2a, 0, 1, 1), &[t as u8; 512]);
                }
                ok
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let d = disk.contents();
    assert_eq!(u64::from_be_bytes(d[..8].try_into().unwrap()), total);
}

#[test]
fn test_get_lba_status() {
    let (lu, _) = setup();
    let n = nexus(1);
    good(&ex(&lu, &n, &rw10(0x2a, 0, 10, 2), &[1; 1024]));
    let st = |lba: u64| {
        let r = ex(&lu, &n, &rw16(0x9e, 0x12, lba, 24), &[]);
        good(&r);
        let d = r.data_in;
        assert_eq!(u32::from_be_bytes(d[..4].try_into().unwrap()), 20);
        assert_eq!(u64::from_be_bytes(d[8..16].try_into().unwrap()), lba);
        (u32::from_be_bytes(d[16..20].try_into().unwrap()), d[20])
    };
    assert_eq!(st(0), (10, 1));
    assert_eq!(st(10), (2, 0));
    assert_eq!(st(BLOCKS - 1), (1, 1));
    sense(&ex(&lu, &n, &rw16(0x9e, 0x12, BLOCKS, 24), &[]), 5, 0x21, 0);
}

/// A disk that counts the bytes read from it.
#[derive(Debug)]
struct Counting(netboot_blockdev::FileDisk, std::sync::atomic::AtomicU64);

impl BlockDevice for Counting {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn block_size(&self) -> u32 {
        self.0.block_size()
    }
    fn read_only(&self) -> bool {
        false
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> netboot_blockdev::Result<()> {
        self.1
            .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> netboot_blockdev::Result<()> {
        self.0.write_at(buf, offset)
    }
    fn flush(&self) -> netboot_blockdev::Result<()> {
        self.0.flush()
    }
    fn discard(&self, offset: u64, len: u64) -> netboot_blockdev::Result<()> {
        self.0.discard(offset, len)
    }
    fn write_zeroes(&self, offset: u64, len: u64) -> netboot_blockdev::Result<()> {
        self.0.write_zeroes(offset, len)
    }
    fn allocation(
        &self,
        offset: u64,
        len: u64,
    ) -> netboot_blockdev::Result<(netboot_blockdev::Allocation, u64)> {
        self.0.allocation(offset, len)
    }
}

/// GET LBA STATUS answers from the file's holes: a 64 GiB sparse disk's
/// deallocated run is reported whole, and no command reads more than
/// 1,024 blocks (it used to read and zero-scan up to 256 MiB per command,
/// which any initiator could repeat at will).
#[test]
fn test_get_lba_status_reads_metadata_not_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = netboot_blockdev::FileDisk::open(
        dir.path().join("d.img"),
        &netboot_blockdev::OpenOptions {
            create_size: Some(64 << 30),
            ..netboot_blockdev::OpenOptions::default()
        },
    )
    .unwrap();
    let disk = Arc::new(Counting(file, Default::default()));
    let lu = LogicalUnit::new(disk.clone(), Identity::new("SN0002"), opts()).unwrap();
    let n = nexus(1);
    let blocks: u64 = (64 << 30) / 512;
    let st = |lba: u64| {
        let d = ex(&lu, &n, &rw16(0x9e, 0x12, lba, 24), &[]).data_in;
        (u32::from_be_bytes(d[16..20].try_into().unwrap()), d[20])
    };
    assert_eq!(st(0), (u32::try_from(blocks).unwrap(), 1));
    assert_eq!(disk.1.load(std::sync::atomic::Ordering::Relaxed), 0);
    // 8 MiB of data at 1 GiB, then a hole again.
    let at = (1u64 << 30) / 512;
    for i in 0..8u64 {
        good(&ex(
            &lu,
            &n,
            &rw16(0x8a, 0, at + i * 2048, 2048),
            &[7; 1 << 20],
        ));
    }
    assert_eq!(st(0), (u32::try_from(at).unwrap(), 1));
    assert_eq!(st(at), (8 * 2048, 0));
    assert_eq!(st(at + 8 * 2048).1, 1);
    let read = disk.1.load(std::sync::atomic::Ordering::Relaxed);
    assert!(read <= 1024 * 512, "{read} bytes read");
}

fn mode_select6(pages: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut p = vec![0, 0, 0, 0];
    p.extend_from_slice(pages);
    (vec![0x15, 0x10, 0, 0, p.len() as u8, 0], p)
}

#[test]
fn test_mode_sense() {
    let (lu, _) = setup();
    let n = nexus(1);
    let r = ex(&lu, &n, &[0x1a, 0, 0x3f, 0, 255, 0], &[]);
    good(&r);
    let d = &r.data_in;
    assert_eq!(usize::from(d[0]) + 1, d.len());
    assert_eq!(d[2], 0x10); // DPOFUA, not WP
    assert_eq!(d[3], 8);
    assert_eq!(
        u32::from_be_bytes(d[4..8].try_into().unwrap()),
        BLOCKS as u32
    );
    assert_eq!(&d[9..12], &[0, 2, 0]);
    let codes: Vec<u8> = {
        let mut v = Vec::new();
        let mut i = 12;
        while i < d.len() {
            v.push(d[i] & 0x3f);
            i += 2 + usize::from(d[i + 1]);
        }
        v
    };
    assert_eq!(codes, [0x01, 0x08, 0x0a, 0x1c]);
    // One page, DBD; caching page has WCE.
    let d = ex(&lu, &n, &[0x1a, 0x08, 0x08, 0, 255, 0], &[]).data_in;
    assert_eq!(d.len(), 4 + 20);
    assert_eq!((d[3], d[4], d[5], d[6]), (0, 0x88, 18, 0x04));
    // Changeable values.
    let d = ex(&lu, &n, &[0x1a, 0x08, 0x4a, 0, 255, 0], &[]).data_in;
    assert_eq!((d[4] & 0x3f, d[6], d[8]), (0x0a, 0x04, 0x08));
    // Saved and default values.
    good(&ex(&lu, &n, &[0x1a, 0x08, 0xc8, 0, 255, 0], &[]));
    good(&ex(&lu, &n, &[0x1a, 0x08, 0x88, 0, 255, 0], &[]));
    // MODE SENSE(10) with long LBA block descriptor.
    let d = ex(&lu, &n, &[0x5a, 0x10, 0x08, 0, 0, 0, 0, 1, 0, 0], &[]).data_in;
    assert_eq!(usize::from(u16::from_be_bytes([d[0], d[1]])) + 2, d.len());
    assert_eq!((d[4], d[7]), (1, 16));
    assert_eq!(u64::from_be_bytes(d[8..16].try_into().unwrap()), BLOCKS);
    // Unknown page, subpage.
    sense(&ex(&lu, &n, &[0x1a, 0, 0x05, 0, 255, 0], &[]), 5, 0x24, 0);
    sense(&ex(&lu, &n, &[0x1a, 0, 0x08, 1, 255, 0], &[]), 5, 0x24, 0);
    // Allocation length.
    assert_eq!(ex(&lu, &n, &[0x1a, 0, 0x3f, 0, 4, 0], &[]).data_in.len(), 4);
}

#[test]
fn test_mode_select() {
    let (lu, _) = setup_with(LuOptions::default(), 512);
    let (a, b) = (nexus(1), nexus(2));
    for n in [&a, &b] {
        ex(&lu, n, &[0; 6], &[]);
    }
    // Clear WCE.
    let mut caching = ex(&lu, &a, &[0x1a, 0x08, 0x08, 0, 255, 0], &[]).data_in[4..].to_vec();
    caching[0] &= 0x3f;
    caching[2] &= !0x04;
    let (c, p) = mode_select6(&caching);
    good(&ex(&lu, &a, &c, &p));
    assert!(!lu.wce.load(Ordering::Relaxed));
    assert_eq!(
        ex(&lu, &a, &[0x1a, 0x08, 0x08, 0, 255, 0], &[]).data_in[6] & 0x04,
        0
    );
    // The other nexus hears about it.
    sense(&ex(&lu, &b, &[0; 6], &[]), 6, 0x2a, 0x01);
    good(&ex(&lu, &a, &[0; 6], &[]));
    // Writes still work (write-through).
    good(&ex(&lu, &a, &rw10(0x2a, 0, 0, 1), &[1; 512]));
    // Changing a bit that is not changeable.
    let mut bad = caching.clone();
    bad[3] = 0xff;
    let (c, p) = mode_select6(&bad);
    sense(&ex(&lu, &a, &c, &p), 5, 0x26, 0);
    // Wrong page length, unknown page, truncated list, PF=0.
    let mut bad = caching.clone();
    bad[1] = 10;
    let (c, p) = mode_select6(&bad[..12]);
    sense(&ex(&lu, &a, &c, &p), 5, 0x26, 0);
    let (c, p) = mode_select6(&[0x05, 2, 0, 0]);
    sense(&ex(&lu, &a, &c, &p), 5, 0x26, 0);
    let (c, p) = mode_select6(&caching);
    sense(&ex(&lu, &a, &c, &p[..10]), 5, 0x1a, 0);
    sense(
        &ex(&lu, &a, &[0x15, 0, 0, 0, p.len() as u8, 0], &p),
        5,
        0x24,
        0,
    );
    // Block descriptor with the right block length is accepted.
    let mut p = vec![0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 2, 0];
    p.extend_from_slice(&caching);
    good(&ex(&lu, &a, &[0x15, 0x10, 0, 0, p.len() as u8, 0], &p));
    p[10] = 4;
    sense(
        &ex(&lu, &a, &[0x15, 0x10, 0, 0, p.len() as u8, 0], &p),
        5,
        0x26,
        0,
    );
    // MODE SELECT(10).
    let mut p = vec![0u8; 8];
    p.extend_from_slice(&caching);
    good(&ex(
        &lu,
        &a,
        &[0x55, 0x11, 0, 0, 0, 0, 0, 0, p.len() as u8, 0],
        &p,
    ));
    good(&ex(&lu, &a, &[0x15, 0x10, 0, 0, 0, 0], &[]));
}

fn control_page(lu: &LogicalUnit, n: &Nexus) -> Vec<u8> {
    let mut page = ex(lu, n, &[0x1a, 0x08, 0x0a, 0, 255, 0], &[]).data_in[4..].to_vec();
    page[0] &= 0x3f;
    page
}

#[test]
fn test_d_sense_and_swp() {
    let (lu, _) = setup();
    let n = nexus(1);
    let mut page = control_page(&lu, &n);
    page[2] |= 0x04;
    let (c, p) = mode_select6(&page);
    good(&ex(&lu, &n, &c, &p));
    let r = ex(&lu, &n, &rw10(0x28, 0, BLOCKS as u32, 1), &[]);
    sense(&r, 5, 0x21, 0);
    assert_eq!(r.sense.as_ref().unwrap()[0], 0x72);
    // Descriptor sense with information and field pointer.
    let r = ex(&lu, &n, &rw10(0x2f, 0x20, 0, 1), &[]);
    let s = r.sense.unwrap();
    assert_eq!(&s[8..12], &[0x02, 0x06, 0, 0]);
    assert_eq!(s[12] & 0xc0, 0xc0);
    // SWP: writes are refused, reads are not.
    page[2] &= !0x04;
    page[4] |= 0x08;
    let (c, p) = mode_select6(&page);
    good(&ex(&lu, &n, &c, &p));
    let r = ex(&lu, &n, &rw10(0x2a, 0, 0, 1), &[0; 512]);
    sense(&r, 7, 0x27, 0x02);
    assert_eq!(r.sense.unwrap()[0], 0x70);
    good(&ex(&lu, &n, &rw10(0x28, 0, 0, 1), &[]));
    assert_eq!(
        ex(&lu, &n, &[0x1a, 0, 0x3f, 0, 255, 0], &[]).data_in[2] & 0x80,
        0x80
    );
    page[4] &= !0x08;
    let (c, p) = mode_select6(&page);
    good(&ex(&lu, &n, &c, &p));
    good(&ex(&lu, &n, &rw10(0x2a, 0, 0, 1), &[0; 512]));
}

#[test]
fn test_report_supported_opcodes() {
    let (lu, _) = setup();
    let n = nexus(1);
    let rsoc = |opts: u8, opc: u8, sa: u16| {
        let mut c = vec![0xa3, 0x0c, opts, opc];
        c.extend_from_slice(&sa.to_be_bytes());
        c.extend_from_slice(&65535u32.to_be_bytes());
        c.extend_from_slice(&[0, 0]);
        ex(&lu, &n, &c, &[])
    };
    let r = rsoc(0, 0, 0);
    good(&r);
    let d = r.data_in;
    let len = u32::from_be_bytes(d[..4].try_into().unwrap()) as usize;
    assert_eq!(len + 4, d.len());
    assert_eq!(len % 8, 0);
    let descs: Vec<&[u8]> = d[4..].chunks(8).collect();
    assert!(descs
        .iter()
        .any(|x| x[0] == 0x28 && x[5] == 0 && x[7] == 10));
    assert!(descs
        .iter()
        .any(|x| x[0] == 0x9e && x[3] == 0x10 && x[5] == 1));
    // With timeouts.
    let d = rsoc(0x80, 0, 0).data_in;
    assert_eq!(d[4 + 5] & 0x02, 0x02);
    assert_eq!(&d[12..14], &[0, 0x0a]);
    // One command.
    let d = rsoc(1, 0x28, 0).data_in;
    assert_eq!((d[1] & 7, u16::from_be_bytes([d[2], d[3]])), (3, 10));
    assert_eq!(&d[4..8], &[0x28, 0xf8, 0xff, 0xff]);
    let d = rsoc(2, 0x9e, 0x10).data_in;
    assert_eq!((d[1] & 7, d[4], d[5]), (3, 0x9e, 0x1f));
    let d = rsoc(3, 0x5f, 6).data_in;
    assert_eq!(d[1] & 7, 3);
    assert_eq!(rsoc(1, 0xc1, 0).data_in[1] & 7, 1);
    sense(&rsoc(1, 0x9e, 0x10), 5, 0x24, 0);
    sense(&rsoc(2, 0x28, 0), 5, 0x24, 0);
    sense(&rsoc(5, 0x28, 0), 5, 0x24, 0);
    let d = rsoc(0x81, 0x28, 0).data_in;
    assert_eq!(d[1] & 0x80, 0x80);
    assert_eq!(d.len(), 4 + 10 + 12);
}

#[test]
fn test_start_stop_prevent() {
    let (lu, _) = setup();
    let n = nexus(1);
    // Not removable: STOP is accepted and the unit stays ready.
    good(&ex(&lu, &n, &[0x1b, 0, 0, 0, 0x02, 0], &[]));
    good(&ex(&lu, &n, &[0; 6], &[]));
    sense(&ex(&lu, &n, &[0x1b, 0, 0, 0, 0x50, 0], &[]), 5, 0x24, 0);
    let (lu, _) = setup_with(
        LuOptions {
            removable: true,
            ..opts()
        },
        512,
    );
    assert_eq!(ex(&lu, &n, &[0x12, 0, 0, 0, 36, 0], &[]).data_in[1], 0x80);
    good(&ex(&lu, &n, &[0x1e, 0, 0, 0, 1, 0], &[]));
    sense(&ex(&lu, &n, &[0x1b, 0, 0, 0, 0x02, 0], &[]), 5, 0x53, 0x02);
    good(&ex(&lu, &n, &[0x1e, 0, 0, 0, 0, 0], &[]));
    good(&ex(&lu, &n, &[0x1b, 0, 0, 0, 0x02, 0], &[]));
    sense(&ex(&lu, &n, &[0; 6], &[]), 2, 0x3a, 0);
    sense(&ex(&lu, &n, &rw10(0x28, 0, 0, 1), &[]), 2, 0x3a, 0);
    good(&ex(&lu, &n, &[0x1b, 0, 0, 0, 0x03, 0], &[]));
    good(&ex(&lu, &n, &[0; 6], &[]));
    sense(&ex(&lu, &n, &[0x1e, 0, 0, 0, 2, 0], &[]), 5, 0x24, 0);
    // A LUN reset releases PREVENT.
    good(&ex(&lu, &n, &[0x1e, 0, 0, 0, 1, 0], &[]));
    lu.reset();
    ex(&lu, &n, &[0; 6], &[]);
    good(&ex(&lu, &n, &[0x1b, 0, 0, 0, 0x02, 0], &[]));
}

// ---- Reservations ----

fn prout(sa: u8, typ: u8, key: u64, sa_key: u64, aptpl: bool) -> (Vec<u8>, Vec<u8>) {
    let c = vec![0x5f, sa, typ, 0, 0, 0, 0, 0, 24, 0];
    let mut p = key.to_be_bytes().to_vec();
    p.extend_from_slice(&sa_key.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&[u8::from(aptpl), 0, 0, 0]);
    (c, p)
}

fn pro(lu: &LogicalUnit, n: &Nexus, sa: u8, typ: u8, key: u64, sa_key: u64) -> Response {
    let (c, p) = prout(sa, typ, key, sa_key, false);
    ex(lu, n, &c, &p)
}

fn prin(lu: &LogicalUnit, n: &Nexus, sa: u8) -> Vec<u8> {
    let r = ex(lu, n, &[0x5e, sa, 0, 0, 0, 0, 0, 0x10, 0, 0], &[]);
    good(&r);
    r.data_in
}

fn keys(lu: &LogicalUnit, n: &Nexus) -> Vec<u64> {
    prin(lu, n, 0)[8..]
        .chunks(8)
        .map(|k| u64::from_be_bytes(k.try_into().unwrap()))
        .collect()
}

fn can_read(lu: &LogicalUnit, n: &Nexus) -> bool {
    ex(lu, n, &rw10(0x28, 0, 1, 1), &[]).status == Status::Good
}

fn can_write(lu: &LogicalUnit, n: &Nexus) -> bool {
    ex(lu, n, &rw10(0x2a, 0, 1, 1), &[0; 512]).status == Status::Good
}

#[test]
fn test_pr_access_matrix() {
    // (type, registered can read, write, unregistered can read, write)
    let table = [
        (1u8, true, false, true, false),
        (3, false, false, false, false),
        (5, true, true, true, false),
        (6, true, true, false, false),
        (7, true, true, true, false),
        (8, true, true, false, false),
    ];
    for (typ, rr, rw, ur, uw) in table {
        let (lu, _) = setup();
        let (a, b, c) = (nexus(1), nexus(2), nexus(3));
        good(&pro(&lu, &a, 6, 0, 0, 0xa));
        good(&pro(&lu, &b, 6, 0, 0, 0xb));
        good(&pro(&lu, &a, 1, typ, 0xa, 0));
        let d = prin(&lu, &a, 1);
        assert_eq!(u32::from_be_bytes(d[4..8].try_into().unwrap()), 16);
        let expect_key = if typ >= 7 { 0 } else { 0xa };
        assert_eq!(u64::from_be_bytes(d[8..16].try_into().unwrap()), expect_key);
        assert_eq!(d[21], typ);
        assert!(
            can_read(&lu, &a) && can_write(&lu, &a),
            "holder, type {typ}"
        );
        assert_eq!(
            (can_read(&lu, &b), can_write(&lu, &b)),
            (rr, rw),
            "registered, type {typ}"
        );
        assert_eq!(
            (can_read(&lu, &c), can_write(&lu, &c)),
            (ur, uw),
            "unregistered, type {typ}"
        );
        // Always allowed.
        good(&ex(&lu, &c, &[0x12, 0, 0, 0, 36, 0], &[]));
        good(&ex(&lu, &c, &[0; 6], &[]));
        good(&ex(&lu, &c, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[]));
        // RESERVE(6) conflicts with a persistent reservation.
        conflict(&ex(&lu, &a, &[0x16, 0, 0, 0, 0, 0], &[]));
        // Another RESERVE of a different type conflicts.
        conflict(&pro(&lu, &b, 1, if typ == 1 { 3 } else { 1 }, 0xb, 0));
        // Release with the wrong type.
        let wrong = if typ == 1 { 3 } else { 1 };
        sense(&pro(&lu, &a, 2, wrong, 0xa, 0), 5, 0x26, 0x04);
        good(&pro(&lu, &a, 2, typ, 0xa, 0));
        if typ >= 5 {
            sense(&ex(&lu, &b, &[0; 6], &[]), 6, 0x2a, 0x04);
        }
        assert!(can_write(&lu, &c));
        good(&pro(&lu, &a, 0, 0, 0xa, 0));
        good(&pro(&lu, &b, 0, 0, 0xb, 0));
        assert!(keys(&lu, &a).is_empty());
    }
}

#[test]
fn test_pr_register_rules() {
    let (lu, _) = setup();
    let (a, b) = (nexus(1), nexus(2));
    // REGISTER of an unregistered nexus with a non-zero key conflicts.
    conflict(&pro(&lu, &a, 0, 0, 5, 6));
    good(&pro(&lu, &a, 0, 0, 0, 0x11));
    conflict(&pro(&lu, &a, 0, 0, 0x12, 0x13));
    good(&pro(&lu, &a, 0, 0, 0x11, 0x12));
    good(&pro(&lu, &b, 6, 0, 0x999, 0x22));
    assert_eq!(keys(&lu, &a), [0x12, 0x22]);
    assert_eq!(
        u32::from_be_bytes(prin(&lu, &a, 0)[..4].try_into().unwrap()),
        3
    );
    // RESERVE needs a registration and the right key.
    conflict(&pro(&lu, &nexus(3), 1, 1, 0, 0));
    conflict(&pro(&lu, &a, 1, 1, 0x99, 0));
    sense(&pro(&lu, &a, 1, 2, 0x12, 0), 5, 0x24, 0);
    good(&pro(&lu, &a, 1, 1, 0x12, 0));
    good(&pro(&lu, &a, 1, 1, 0x12, 0));
    // RELEASE by a non-holder is a no-op.
    good(&pro(&lu, &b, 2, 1, 0x22, 0));
    assert_eq!(prin(&lu, &a, 1)[21], 1);
    // Unregistering the holder releases the reservation.
    good(&pro(&lu, &a, 0, 0, 0x12, 0));
    assert_eq!(prin(&lu, &a, 1)[4..8], [0, 0, 0, 0]);
    // Bad parameter list length, scope, service action, SPEC_I_PT.
    let (mut c, p) = prout(0, 0, 0, 1, false);
    c[8] = 20;
    sense(&ex(&lu, &a, &c, &p), 5, 0x1a, 0);
    sense(&pro(&lu, &a, 1, 0x21, 0x22, 0), 5, 0x24, 0);
    sense(&pro(&lu, &a, 7, 0, 0, 0), 5, 0x24, 0);
    let (c, mut p) = prout(0, 0, 0, 1, false);
    p[20] = 0x08;
    sense(&ex(&lu, &a, &c, &p), 5, 0x26, 0);
    sense(
        &ex(&lu, &a, &[0x5e, 4, 0, 0, 0, 0, 0, 0x10, 0, 0], &[]),
        5,
        0x24,
        0,
    );
}

#[test]
fn test_pr_in_reports() {
    let (lu, _) = setup_with(opts(), 512);
    let (a, b) = (nexus(1), nexus(2));
    let d = prin(&lu, &a, 2);
    assert_eq!(&d[..2], &[0, 8]);
    assert_eq!(d[3] & 0x80, 0x80);
    assert_eq!((d[4], d[5]), (0xea, 0x01));
    good(&pro(&lu, &a, 6, 0, 0, 0xa));
    good(&pro(&lu, &b, 6, 0, 0, 0xb));
    good(&pro(&lu, &a, 1, 5, 0xa, 0));
    let d = prin(&lu, &a, 3);
    let len = u32::from_be_bytes(d[4..8].try_into().unwrap()) as usize;
    assert_eq!(len + 8, d.len());
    // First descriptor: holder a.
    assert_eq!(u64::from_be_bytes(d[8..16].try_into().unwrap()), 0xa);
    assert_eq!((d[20], d[21]), (1, 5));
    assert_eq!(&d[26..28], &[0, 1]);
    let tid_len = u32::from_be_bytes(d[28..32].try_into().unwrap()) as usize;
    assert_eq!(d[32], 0x45);
    assert!(d[36..32 + tid_len].starts_with(b"iqn.2024-01.test:init1,i,0x"));
    let second = 32 + tid_len;
    assert_eq!(
        u64::from_be_bytes(d[second..second + 8].try_into().unwrap()),
        0xb
    );
    assert_eq!(d[second + 12], 0);
    // Allocation length.
    let r = ex(&lu, &a, &[0x5e, 0, 0, 0, 0, 0, 0, 0, 8, 0], &[]);
    assert_eq!(r.data_in.len(), 8);
}

#[test]
fn test_pr_preempt_and_clear() {
    let (lu, _) = setup();
    let (a, b, c) = (nexus(1), nexus(2), nexus(3));
    for n in [&a, &b, &c] {
        ex(&lu, n, &[0; 6], &[]);
    }
    good(&pro(&lu, &a, 6, 0, 0, 0xa));
    good(&pro(&lu, &b, 6, 0, 0, 0xb));
    good(&pro(&lu, &c, 6, 0, 0, 0xc));
    good(&pro(&lu, &a, 1, 3, 0xa, 0));
    conflict(&ex(&lu, &b, &rw10(0x28, 0, 0, 1), &[]));
    // b preempts a's reservation: a loses its registration.
    good(&pro(&lu, &b, 4, 1, 0xb, 0xa));
    assert_eq!(keys(&lu, &b), [0xb, 0xc]);
    let d = prin(&lu, &b, 1);
    assert_eq!(
        (u64::from_be_bytes(d[8..16].try_into().unwrap()), d[21]),
        (0xb, 1)
    );
    sense(&ex(&lu, &a, &[0; 6], &[]), 6, 0x2a, 0x05);
    // c was not preempted but the type changed: RESERVATIONS RELEASED.
    sense(&ex(&lu, &c, &[0; 6], &[]), 6, 0x2a, 0x04);
    // Preempting a key nobody has conflicts; key 0 without an
    // all-registrants reservation is invalid.
    conflict(&pro(&lu, &b, 4, 1, 0xb, 0x77));
    sense(&pro(&lu, &b, 5, 1, 0xb, 0), 5, 0x26, 0);
    // PREEMPT AND ABORT of a registrant only.
    good(&pro(&lu, &b, 5, 1, 0xb, 0xc));
    assert_eq!(keys(&lu, &b), [0xb]);
    sense(&ex(&lu, &c, &[0; 6], &[]), 6, 0x2a, 0x05);
    // All-registrants: PREEMPT with key 0 removes everyone else.
    good(&pro(&lu, &b, 2, 1, 0xb, 0));
    good(&pro(&lu, &a, 6, 0, 0, 0xa));
    good(&pro(&lu, &b, 1, 8, 0xb, 0));
    good(&pro(&lu, &a, 4, 3, 0xa, 0));
    assert_eq!(keys(&lu, &a), [0xa]);
    assert_eq!(prin(&lu, &a, 1)[21], 3);
    // CLEAR.
    good(&pro(&lu, &c, 6, 0, 0, 0xc));
    conflict(&pro(&lu, &c, 3, 0, 0xd, 0));
    good(&pro(&lu, &c, 3, 0, 0xc, 0));
    assert!(keys(&lu, &c).is_empty());
    assert_eq!(prin(&lu, &c, 1)[4..8], [0, 0, 0, 0]);
    sense(&ex(&lu, &a, &[0; 6], &[]), 6, 0x2a, 0x03);
    // b was preempted by a's all-registrants PREEMPT, and was not
    // registered at CLEAR time.
    sense(&ex(&lu, &b, &[0; 6], &[]), 6, 0x2a, 0x05);
    good(&ex(&lu, &b, &[0; 6], &[]));
}

#[test]
fn test_pr_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lun0.pr");
    let disk = Arc::new(MemDisk::new(1 << 20, 512));
    let o = LuOptions {
        pr_path: Some(path.clone()),
        ..opts()
    };
    let (a, b) = (nexus(1), nexus(2));
    {
        let lu = LogicalUnit::new(disk.clone(), Identity::new("p"), o.clone()).unwrap();
        good(&pro(&lu, &a, 6, 0, 0, 0xa));
        good(&pro(&lu, &b, 6, 0, 0, 0xb));
        good(&pro(&lu, &a, 1, 6, 0xa, 0));
        assert!(path.exists());
        assert_eq!(prin(&lu, &a, 2)[2] & 0x01, 1);
    }
    let lu = LogicalUnit::new(disk.clone(), Identity::new("p"), o.clone()).unwrap();
    assert_eq!(keys(&lu, &a), [0xa, 0xb]);
    assert_eq!(prin(&lu, &a, 1)[21], 6);
    assert!(!can_read(&lu, &nexus(3)));
    assert!(can_write(&lu, &b));
    good(&pro(&lu, &a, 3, 0, 0xa, 0));
    let lu = LogicalUnit::new(disk.clone(), Identity::new("p"), o.clone()).unwrap();
    assert!(keys(&lu, &a).is_empty());
    // A corrupt file is an error, not an empty state.
    std::fs::write(&path, "nonsense").unwrap();
    assert!(LogicalUnit::new(disk, Identity::new("p"), o).is_err());
}

/// A gate a save hook waits at until the test opens it (20 s at most).
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let g = lock(&self.open);
        let (g, _) = self
            .cv
            .wait_timeout_while(g, Duration::from_secs(20), |open| !*open)
            .unwrap();
        assert!(*g, "the test never opened the gate");
    }

    fn open(&self) {
        *lock(&self.open) = true;
        self.cv.notify_all();
    }
}

/// Reports every save stage reached (with the snapshot's version) and
/// holds the first save that reaches `stage` there until the returned
/// gate opens.
fn hold_saves(lu: &LogicalUnit, stage: SaveStage) -> (Arc<Gate>, mpsc::Receiver<(SaveStage, u64)>) {
    let gate = Arc::new(Gate::default());
    let (tx, rx) = mpsc::channel();
    let g = gate.clone();
    let held = std::sync::atomic::AtomicBool::new(false);
    let hook = move |at: SaveStage, version: u64| {
        // Claimed before the report, so that the save it reports is held.
        let hold = at == stage && !held.swap(true, Ordering::SeqCst);
        let _ = tx.send((at, version));
        if hold {
            g.wait();
        }
    };
    *lock(&lu.pr_save.hook) = Some(SaveHook(Arc::new(hook)));
    (gate, rx)
}

/// Waits for a save to reach `stage`; returns its snapshot's version.
#[track_caller]
fn reached(rx: &mpsc::Receiver<(SaveStage, u64)>, stage: SaveStage) -> u64 {
    loop {
        let (at, version) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        if at == stage {
            return version;
        }
    }
}

fn pr_generation(lu: &LogicalUnit, n: &Nexus) -> u32 {
    u32::from_be_bytes(prin(lu, n, 0)[..4].try_into().unwrap())
}

fn pr_file_lu(path: &std::path::Path) -> LogicalUnit {
    let o = LuOptions {
        pr_path: Some(path.to_owned()),
        ..opts()
    };
    setup_with(o, 512).0
}

/// A temporary directory, the state file `state/lun0.pr` in it (the
/// `state` directory made) and an LU saving its reservations there.
fn pr_file_setup() -> (tempfile::TempDir, std::path::PathBuf, LogicalUnit) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let path = dir.path().join("state").join("lun0.pr");
    let lu = pr_file_lu(&path);
    (dir, path, lu)
}

#[test]
fn test_pr_save_does_not_block_io() {
    let (_dir, path, lu) = pr_file_setup();
    let (a, b) = (nexus(1), nexus(2));
    let (gate, rx) = hold_saves(&lu, SaveStage::Writing);
    std::thread::scope(|s| {
        let saving = s.spawn(|| pro(&lu, &a, 6, 0, 0, 0xa));
        reached(&rx, SaveStage::Writing);
        // The save is held before its write and fsyncs: the LU's other
        // commands do not wait for it.
        good(&ex(&lu, &b, &rw10(0x2a, 0, 3, 1), &[0x5a; 512]));
        let r = ex(&lu, &b, &rw10(0x28, 0, 3, 1), &[]);
        good(&r);
        assert_eq!(r.data_in, [0x5a; 512]);
        good(&ex(&lu, &b, &[0; 6], &[]));
        // They see the change already; its PR OUT is not answered yet.
        assert_eq!(keys(&lu, &b), [0xa]);
        assert!(!path.exists());
        assert!(!saving.is_finished());
        gate.open();
        good(&saving.join().unwrap());
    });
    assert!(path.exists());
    assert_eq!(keys(&pr_file_lu(&path), &a), [0xa]);
}

#[test]
fn test_pr_later_save_wins() {
    let (_dir, path, lu) = pr_file_setup();
    let (a, b) = (nexus(1), nexus(2));
    let (gate, rx) = hold_saves(&lu, SaveStage::Queued);
    let first = std::thread::scope(|s| {
        let first = s.spawn(|| pro(&lu, &a, 6, 0, 0, 0xa));
        assert_eq!(reached(&rx, SaveStage::Queued), 1);
        // A second PR OUT, made on top of the first, overtakes its save...
        good(&pro(&lu, &b, 6, 0, 0, 0xb));
        assert!(!first.is_finished());
        gate.open();
        first.join().unwrap()
    });
    // ...and the first, older than what is on disk, is not written: the
    // second's snapshot holds its change.
    good(&first);
    let writes: Vec<(SaveStage, u64)> = rx.try_iter().collect();
    assert_eq!(writes, [(SaveStage::Queued, 2), (SaveStage::Writing, 2)]);
    let lu = pr_file_lu(&path);
    assert_eq!(keys(&lu, &a), [0xa, 0xb]);
    assert_eq!(pr_generation(&lu, &a), 2);
}

#[test]
fn test_pr_save_failure_rolls_back() {
    let (_dir, path, lu) = pr_file_setup();
    let sub = path.parent().unwrap();
    let (a, b, c) = (nexus(1), nexus(2), nexus(3));
    good(&pro(&lu, &a, 6, 0, 0, 0xa));
    // The save fails (no directory): HARDWARE ERROR, and the LU is back at
    // the state last saved.
    std::fs::remove_dir_all(sub).unwrap();
    sense(&pro(&lu, &b, 6, 0, 0, 0xb), 4, 0x44, 0);
    assert_eq!(keys(&lu, &a), [0xa]);
    assert_eq!(pr_generation(&lu, &a), 1);
    // A change queued behind a failing save was made on top of it: it
    // fails too, without being written.
    let (gate, rx) = hold_saves(&lu, SaveStage::Writing);
    std::thread::scope(|s| {
        let first = s.spawn(|| pro(&lu, &b, 6, 0, 0, 0xb));
        reached(&rx, SaveStage::Writing);
        let second = s.spawn(|| pro(&lu, &c, 6, 0, 0, 0xc));
        reached(&rx, SaveStage::Queued);
        assert_eq!(keys(&lu, &a), [0xa, 0xb, 0xc]);
        gate.open();
        sense(&first.join().unwrap(), 4, 0x44, 0);
        sense(&second.join().unwrap(), 4, 0x44, 0);
    });
    assert!(rx.try_iter().all(|(at, _)| at != SaveStage::Writing));
    assert_eq!(keys(&lu, &a), [0xa]);
    // Once the directory is back, the next PR OUT rewrites the file, even
    // one that changes nothing.
    std::fs::create_dir(sub).unwrap();
    good(&pro(&lu, &nexus(4), 6, 0, 0, 0));
    assert_eq!(keys(&pr_file_lu(&path), &a), [0xa]);
    good(&pro(&lu, &b, 6, 0, 0, 0xb));
    let lu = pr_file_lu(&path);
    assert_eq!(keys(&lu, &a), [0xa, 0xb]);
    assert_eq!(pr_generation(&lu, &a), 2);
}

#[test]
fn test_reserve6() {
    let (lu, _) = setup();
    let (a, b) = (nexus(1), nexus(2));
    good(&ex(&lu, &a, &[0x16, 0, 0, 0, 0, 0], &[]));
    good(&ex(&lu, &a, &[0x16, 0, 0, 0, 0, 0], &[]));
    conflict(&ex(&lu, &b, &[0x16, 0, 0, 0, 0, 0], &[]));
    conflict(&ex(&lu, &b, &rw10(0x28, 0, 0, 1), &[]));
    conflict(&pro(&lu, &b, 6, 0, 0, 1));
    good(&ex(&lu, &b, &[0x12, 0, 0, 0, 36, 0], &[]));
    // RELEASE by the other nexus does nothing.
    good(&ex(&lu, &b, &[0x17, 0, 0, 0, 0, 0], &[]));
    conflict(&ex(&lu, &b, &[0; 6], &[]));
    good(&ex(&lu, &a, &[0x17, 0, 0, 0, 0, 0], &[]));
    good(&ex(&lu, &b, &rw10(0x28, 0, 0, 1), &[]));
    // Released by a LUN reset and by nexus loss.
    good(&ex(&lu, &a, &[0x16, 0, 0, 0, 0, 0], &[]));
    lu.reset();
    ex(&lu, &b, &[0; 6], &[]);
    good(&ex(&lu, &b, &[0x16, 0, 0, 0, 0, 0], &[]));
    lu.nexus_lost(&b);
    ex(&lu, &a, &[0; 6], &[]);
    good(&ex(&lu, &a, &[0x16, 0, 0, 0, 0, 0], &[]));
}

#[test]
fn test_target_luns() {
    let t = Target::new();
    let (lu0, _) = setup();
    let (lu5, _) = setup();
    t.add_lun(0, Arc::new(lu0)).unwrap();
    t.add_lun(300, Arc::new(lu5)).unwrap();
    assert!(t.add_lun(1 << 20, Arc::new(setup().0)).is_err());
    let n = nexus(1);
    let r = t.execute(&n, 9, &[0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], &[], 4096);
    good(&r);
    assert_eq!(r.data_in.len(), 24);
    assert_eq!(&r.data_in[..4], &[0, 0, 0, 16]);
    assert_eq!(&r.data_in[16..18], &[0x41, 0x2c]);
    sense(
        &t.execute(&n, 0, &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], &[], 4096),
        5,
        0x24,
        0,
    );
    sense(
        &t.execute(&n, 0, &[0xa0, 0, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0], &[], 4096),
        5,
        0x24,
        0,
    );
    // Missing LUN.
    let r = t.execute(&n, 1, &[0x12, 0, 0, 0, 255, 0], &[], 255);
    good(&r);
    assert_eq!(r.data_in[0], 0x7f);
    let r = t.execute(&n, 1, &[0x12, 1, 0x80, 0, 255, 0], &[], 255);
    assert_eq!(r.data_in[0], 0x7f);
    sense(
        &t.execute(&n, 1, &rw10(0x28, 0, 0, 1), &[], 512),
        5,
        0x25,
        0,
    );
    let r = t.execute(&n, 1, &[0x03, 0, 0, 0, 18, 0], &[], 18);
    assert_eq!(Sense::parse_key_asc(&r.data_in), Some((5, 0x25, 0)));
    assert_eq!(
        t.cdb_info(0, &rw10(0x2a, 0, 0, 2)).unwrap().transfer_len,
        1024
    );
    // Resets reach the LUs.
    good(&t.execute(&n, 0, &[0; 6], &[], 0));
    good(&t.execute(&n, 300, &[0; 6], &[], 0));
    assert!(t.lun_reset(0));
    assert!(!t.lun_reset(1));
    sense(&t.execute(&n, 0, &[0; 6], &[], 0), 6, 0x29, 0x03);
    t.reset();
    sense(&t.execute(&n, 300, &[0; 6], &[], 0), 6, 0x29, 0x03);
    t.nexus_lost(&n);
    assert_eq!(t.luns(), [0, 300]);
    assert!(t.remove_lun(300).is_some());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn prop_execute_never_panics(
        opcode in prop::sample::select(crate::wire::cdb::COMMANDS.iter().map(|d| d.op).chain([0xff, 0x7f, 0xc0]).collect::<Vec<_>>()),
        rest in prop::collection::vec(any::<u8>(), 0..20),
        data in prop::collection::vec(any::<u8>(), 0..2048),
        alloc in any::<u32>(),
        bs in prop::sample::select(vec![512u32, 4096]),
    ) {
        let disk = Arc::new(MemDisk::new(64 * u64::from(bs), bs));
        let lu = LogicalUnit::new(disk, Identity::new("fuzz"), LuOptions::default()).unwrap();
        let t = Target::new();
        t.add_lun(0, Arc::new(lu)).unwrap();
        let mut cdb = vec![opcode];
        cdb.extend_from_slice(&rest);
        let n = nexus(1);
        for lun in [0, 1] {
            let r = t.execute(&n, lun, &cdb, &data, alloc);
            prop_assert!(r.data_in.len() <= alloc as usize);
            prop_assert_eq!(r.sense.is_some(), r.status == Status::CheckCondition);
            let _ = crate::cdb_info(&cdb, bs);
        }
    }

    #[test]
    fn prop_write_then_read(
        lba in 0u64..BLOCKS,
        n in 1u32..16,
        seed in any::<u8>(),
        sixteen in any::<bool>(),
    ) {
        let (lu, _) = setup();
        let nx = nexus(1);
        let data = pattern(n as usize * 512, seed);
        let (w, r) = if sixteen {
            (rw16(0x8a, 0, lba, n), rw16(0x88, 0, lba, n))
        } else {
            (rw10(0x2a, 0, lba as u32, n as u16), rw10(0x28, 0, lba as u32, n as u16))
        };
        let wr = ex(&lu, &nx, &w, &data);
        if lba + u64::from(n) <= BLOCKS {
            prop_assert_eq!(wr.status, Status::Good);
            prop_assert_eq!(ex(&lu, &nx, &r, &[]).data_in, data);
        } else {
            prop_assert_eq!(wr.sense_key_asc(), Some((5, 0x21, 0)));
        }
    }
}

#[test]
fn block_device_trait_used() {
    // Keeps the BlockDevice import meaningful for size checks.
    let (lu, disk) = setup();
    assert_eq!(lu.blocks(), disk.blocks());
    assert_eq!(lu.block_size(), 512);
}

#[test]
fn test_orwrite() {
    let (lu, disk) = setup();
    let n = nexus(1);
    good(&ex(&lu, &n, &rw10(0x2a, 0, 4, 2), &[0x0f; 1024]));
    good(&ex(&lu, &n, &rw16(0x8b, 0, 4, 2), &[0xa0; 1024]));
    assert!(disk.contents()[4 * 512..6 * 512].iter().all(|&b| b == 0xaf));
    // FUA and DPO accepted; zero blocks; bounds; ORPROTECT.
    good(&ex(&lu, &n, &rw16(0x8b, 0x18, 0, 1), &[1; 512]));
    good(&ex(&lu, &n, &rw16(0x8b, 0, BLOCKS, 0), &[]));
    sense(&ex(&lu, &n, &rw16(0x8b, 0, BLOCKS + 1, 0), &[]), 5, 0x21, 0);
    sense(
        &ex(&lu, &n, &rw16(0x8b, 0, BLOCKS - 1, 2), &[0; 1024]),
        5,
        0x21,
        0,
    );
    sense(&ex(&lu, &n, &rw16(0x8b, 0x20, 0, 1), &[0; 512]), 5, 0x24, 0);
    sense(&ex(&lu, &n, &rw16(0x8b, 0, 0, 2), &[0; 512]), 0xb, 0x4b, 0);
    let info = crate::cdb_info(&rw16(0x8b, 0, 0, 3), 512).unwrap();
    assert_eq!(info.transfer_len, 1536);
    // Advertised, with DPO/FUA in the usage data.
    let r = ex(&lu, &n, &[0xa3, 0x0c, 1, 0x8b, 0, 0, 0, 0, 1, 0, 0, 0], &[]);
    good(&r);
    assert_eq!(r.data_in[1] & 7, 3);
    assert_eq!(r.data_in[5] & 0x18, 0x18);
    let (ro, _) = setup_with(
        LuOptions {
            read_only: true,
            ..opts()
        },
        512,
    );
    sense(&ex(&ro, &n, &rw16(0x8b, 0, 0, 1), &[0; 512]), 7, 0x27, 0);
}

#[test]
fn test_write_atomic() {
    let (lu, disk) = setup();
    let n = nexus(1);
    good(&ex(&lu, &n, &rw16(0x9c, 0x08, 7, 3), &[0x5a; 1536]));
    assert!(disk.contents()[7 * 512..10 * 512]
        .iter()
        .all(|&b| b == 0x5a));
    good(&ex(&lu, &n, &rw16(0x9c, 0, BLOCKS, 0), &[]));
    sense(
        &ex(&lu, &n, &rw16(0x9c, 0, BLOCKS, 1), &[0; 512]),
        5,
        0x21,
        0,
    );
    sense(&ex(&lu, &n, &rw16(0x9c, 0x40, 0, 1), &[0; 512]), 5, 0x24, 0);
    // ATOMIC BOUNDARY is not supported.
    let mut c = rw16(0x9c, 0, 0, 1);
    c[10] = 1;
    sense(&ex(&lu, &n, &c, &[0; 512]), 5, 0x24, 0);
    let max = (8 << 20) / 512;
    // Longer than the maximum atomic transfer length.
    let (small, _) = setup_with(
        LuOptions {
            max_transfer_bytes: 4096,
            ..opts()
        },
        512,
    );
    sense(
        &ex(&small, &n, &rw16(0x9c, 0, 0, 9), &[0; 4608]),
        5,
        0x24,
        0,
    );
    good(&ex(&small, &n, &rw16(0x9c, 0, 0, 8), &[0; 4096]));
    let info = crate::cdb_info(&rw16(0x9c, 0, 0, 2), 512).unwrap();
    assert_eq!(info.transfer_len, 1024);
    // Block Limits: maximum atomic transfer length, no alignment or
    // granularity constraints.
    let d = ex(&lu, &n, &[0x12, 1, 0xb0, 0, 255, 0], &[]).data_in;
    assert_eq!(u32::from_be_bytes(d[44..48].try_into().unwrap()), max);
    assert!(d[48..56].iter().all(|&b| b == 0));
    // Unmap granularity alignment valid, 0.
    assert_eq!(&d[32..36], &[0x80, 0, 0, 0]);
}

#[test]
fn test_lbppb() {
    let n = nexus(1);
    let (lu, _) = setup();
    let d = ex(&lu, &n, &rw16(0x9e, 0x10, 0, 32), &[]).data_in;
    assert_eq!(d[13], 0, "off by default");
    let (lu, _) = setup_with(
        LuOptions {
            physical_4k: true,
            ..opts()
        },
        512,
    );
    let d = ex(&lu, &n, &rw16(0x9e, 0x10, 0, 32), &[]).data_in;
    assert_eq!(d[13], 3);
    assert_eq!(d[14], 0xc0);
    assert_eq!(d[15], 0);
    let (lu, _) = setup_with(opts(), 4096);
    let d = ex(&lu, &n, &rw16(0x9e, 0x10, 0, 32), &[]).data_in;
    assert_eq!(d[13], 0);
}

#[test]
fn test_read_defect_data() {
    let (lu, _) = setup();
    let n = nexus(1);
    let r = ex(&lu, &n, &[0x37, 0, 0x18, 0, 0, 0, 0, 0, 32, 0], &[]);
    good(&r);
    assert_eq!(r.data_in, [0, 0x18, 0, 0]);
    let r = ex(&lu, &n, &[0xb7, 0x0b, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], &[]);
    good(&r);
    assert_eq!(r.data_in, [0, 0x0b, 0, 0, 0, 0, 0, 0]);
    let r = ex(&lu, &n, &[0xb7, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0], &[]);
    assert_eq!(r.data_in.len(), 2);
    let info = crate::cdb_info(&[0x37, 0, 0, 0, 0, 0, 0, 0, 32, 0], 512).unwrap();
    assert_eq!(info.transfer_len, 32);
}

fn sanitize(sa: u8, plen: u16) -> Vec<u8> {
    let mut c = vec![0x48, sa, 0, 0, 0, 0, 0];
    c.extend_from_slice(&plen.to_be_bytes());
    c.push(0);
    c
}

fn overwrite_params(count: u8, pattern: &[u8]) -> Vec<u8> {
    let mut p = vec![count, 0];
    p.extend_from_slice(&(pattern.len() as u16).to_be_bytes());
    p.extend_from_slice(pattern);
    p
}

#[test]
fn test_sanitize() {
    let (lu, disk) = setup();
    let n = nexus(1);
    good(&ex(&lu, &n, &rw10(0x2a, 0, 0, 2), &[b'a'; 1024]));
    // OVERWRITE with a full block, then with a 4-byte pattern.
    let p = overwrite_params(1, &[0xaa; 512]);
    good(&ex(&lu, &n, &sanitize(1, p.len() as u16), &p));
    assert!(disk.contents().iter().all(|&b| b == 0xaa));
    let p = overwrite_params(1, &[1, 2, 3, 4]);
    good(&ex(&lu, &n, &sanitize(1, 8), &p));
    assert_eq!(&disk.contents()[508..516], &[1, 2, 3, 4, 1, 2, 3, 4]);
    // INVERT with an even count leaves the inverted pattern.
    let mut p = overwrite_params(2, &[0x0f]);
    p[0] |= 0x80;
    good(&ex(&lu, &n, &sanitize(1, 5), &p));
    assert!(disk.contents().iter().all(|&b| b == 0xf0));
    // Bad parameter lists.
    for plen in 0..5 {
        sense(&ex(&lu, &n, &sanitize(1, plen), &p), 5, 0x24, 0);
    }
    sense(&ex(&lu, &n, &sanitize(1, 517), &[0; 517]), 5, 0x24, 0);
    let p = overwrite_params(0, &[0xaa; 512]);
    sense(&ex(&lu, &n, &sanitize(1, 516), &p), 5, 0x24, 0);
    let p = overwrite_params(1, &[]);
    sense(&ex(&lu, &n, &sanitize(1, 4), &p), 5, 0x24, 0);
    // BLOCK ERASE and CRYPTOGRAPHIC ERASE deallocate everything.
    good(&ex(&lu, &n, &sanitize(2, 0), &[]));
    assert!(disk.contents().iter().all(|&b| b == 0));
    let r = ex(&lu, &n, &rw16(0x9e, 0x12, 0, 24), &[]);
    assert_eq!(
        u32::from_be_bytes(r.data_in[16..20].try_into().unwrap()),
        BLOCKS as u32
    );
    assert_eq!(r.data_in[20], 1);
    good(&ex(&lu, &n, &rw10(0x2a, 0, 9, 1), &[1; 512]));
    good(&ex(&lu, &n, &sanitize(3, 0), &[]));
    assert!(disk.contents().iter().all(|&b| b == 0));
    sense(&ex(&lu, &n, &sanitize(2, 8), &[0; 8]), 5, 0x24, 0);
    sense(&ex(&lu, &n, &sanitize(3, 8), &[0; 8]), 5, 0x24, 0);
    // EXIT FAILURE MODE.
    good(&ex(&lu, &n, &sanitize(0x1f, 0), &[]));
    sense(&ex(&lu, &n, &sanitize(0x1f, 8), &[0; 8]), 5, 0x24, 0);
    // Unknown service actions, reserved bits and bytes.
    for sa in [0, 4, 0x10, 0x1e] {
        sense(&ex(&lu, &n, &sanitize(sa, 0), &[]), 5, 0x24, 0);
    }
    sense(&ex(&lu, &n, &sanitize(0x42, 0), &[]), 5, 0x24, 0);
    for i in 2..7 {
        let mut c = sanitize(2, 0);
        c[i] = 1;
        sense(&ex(&lu, &n, &c, &[]), 5, 0x24, 0);
    }
    // Reservations and write protection.
    let other = nexus(2);
    good(&ex(&lu, &other, &[0x16, 0, 0, 0, 0, 0], &[]));
    conflict(&ex(&lu, &n, &sanitize(2, 0), &[]));
    good(&ex(&lu, &other, &[0x17, 0, 0, 0, 0, 0], &[]));
    let (ro, _) = setup_with(
        LuOptions {
            read_only: true,
            ..opts()
        },
        512,
    );
    sense(&ex(&ro, &n, &sanitize(2, 0), &[]), 7, 0x27, 0);
    // Advertised per service action, with the Block Device
    // Characteristics WABEREQ/WACEREQ.
    for sa in [1u8, 2, 3, 0x1f] {
        let r = ex(
            &lu,
            &n,
            &[0xa3, 0x0c, 2, 0x48, 0, sa, 0, 0, 1, 0, 0, 0],
            &[],
        );
        assert_eq!(r.data_in[1] & 7, 3, "sa {sa}");
    }
    let d = ex(&lu, &n, &[0x12, 1, 0xb1, 0, 255, 0], &[]).data_in;
    assert_eq!(d[7], 0x50);
}
