//! qcow2 chains checked against qemu's own tools: overlays made by
//! `qemu-img create -b` are served, what we write is read back by
//! `qemu-io` and passes `qemu-img check`, and every hostile backing file
//! qemu-img can be made to write is refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use netboot_blockdev::{Allocation, BlockDevice};
use netboot_image::{Error, Format, Images, OpenOptions};

const MIB: u64 = 1 << 20;

fn run(cmd: &mut Command) -> String {
    let o = netboot_testkit::run(cmd, Duration::from_secs(60));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{cmd:?}: {text}");
    text
}

fn qemu_img(args: &[&str], dir: &Path) -> String {
    netboot_testkit::need("qemu-img");
    run(Command::new("qemu-img").args(args).current_dir(dir))
}

/// A golden raw image of `size` bytes of pseudo-random content.
fn golden(dir: &Path, name: &str, size: u64) -> Vec<u8> {
    let data = netboot_testkit::content(size as usize, 42);
    std::fs::write(dir.join(name), &data).unwrap();
    data
}

fn overlay(dir: &Path, name: &str, backing: &str, fmt: &str) -> PathBuf {
    netboot_testkit::qemu_overlay(dir, name, backing, fmt)
}

fn qcow2() -> OpenOptions {
    OpenOptions {
        format: Format::Qcow2,
        ..OpenOptions::default()
    }
}

fn read(d: &dyn BlockDevice, off: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    d.read_at(&mut b, off).unwrap();
    b
}

fn check(path: &Path) {
    let out = qemu_img(
        &["check", "-f", "qcow2", path.to_str().unwrap()],
        Path::new("/"),
    );
    assert!(out.contains("No errors were found"), "{out}");
}

/// Reads through qemu's qcow2 driver: `read -P PATTERN OFF LEN` must match.
fn qemu_io_reads(path: &Path, pattern: u8, off: u64, len: u64) {
    netboot_testkit::need("qemu-io");
    let out = run(Command::new("qemu-io").args([
        "-f",
        "qcow2",
        "-r",
        "-c",
        &format!("read -P {pattern} {off} {len}"),
        path.to_str().unwrap(),
    ]));
    assert!(!out.contains("Pattern verification failed"), "{out}");
}

#[test]
fn an_overlay_made_by_qemu_img_reads_its_base_and_keeps_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden(dir.path(), "golden.raw", 8 * MIB);
    let before = netboot_testkit::sha256(&base);
    let pc = overlay(dir.path(), "pc1.qcow2", "golden.raw", "raw");
    let images = Images::default();
    let d = images.open(&pc, &qcow2()).unwrap();
    assert_eq!(d.size(), 8 * MIB);
    assert_eq!(read(&*d, 0, 64 * 1024), base[..64 * 1024]);
    assert_eq!(
        read(&*d, 5 * MIB + 512, 4096),
        base[(5 * MIB + 512) as usize..][..4096]
    );
    assert_eq!(
        d.allocation(0, 8 * MIB).unwrap(),
        (Allocation::Backing, 8 * MIB)
    );
    // Writes: a partial cluster (copy-on-write keeps the rest of the base)
    // and a run across clusters.
    d.write_at(&[0xab; 512], 1024).unwrap();
    d.write_at(&vec![0xcd; 3 * 65536], 2 * MIB).unwrap();
    d.flush().unwrap();
    let got = read(&*d, 0, 4096);
    assert_eq!(got[..1024], base[..1024]);
    assert_eq!(got[1024..1536], [0xab; 512]);
    assert_eq!(got[1536..], base[1536..4096]);
    let (kind, run) = d.allocation(2 * MIB, 6 * MIB).unwrap();
    assert_eq!((kind, run), (Allocation::Data, 3 * 65536));
    drop(d);
    check(&pc);
    qemu_io_reads(&pc, 0xab, 1024, 512);
    qemu_io_reads(&pc, 0xcd, 2 * MIB, 3 * 65536);
    let after = netboot_testkit::sha256(&std::fs::read(dir.path().join("golden.raw")).unwrap());
    assert_eq!(before, after, "the golden image never changes");
}

#[test]
fn a_discarded_range_reads_zeros_not_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden(dir.path(), "golden.raw", 4 * MIB);
    let pc = overlay(dir.path(), "pc.qcow2", "golden.raw", "raw");
    let d = Images::default().open(&pc, &qcow2()).unwrap();
    d.write_at(&vec![7u8; MIB as usize], MIB).unwrap();
    d.discard(MIB, MIB).unwrap();
    d.discard(3 * MIB, 65536).unwrap();
    d.write_zeroes(0, 65536).unwrap();
    assert_eq!(read(&*d, MIB, MIB as usize), vec![0u8; MIB as usize]);
    assert_eq!(read(&*d, 3 * MIB, 65536), vec![0u8; 65536]);
    assert_eq!(read(&*d, 0, 65536), vec![0u8; 65536]);
    assert_eq!(read(&*d, 2 * MIB, 4096), base[2 * MIB as usize..][..4096]);
    assert_eq!(d.allocation(MIB, MIB).unwrap().0, Allocation::Zero);
    d.flush().unwrap();
    drop(d);
    check(&pc);
    qemu_io_reads(&pc, 0, MIB, MIB);
    qemu_io_reads(&pc, 0, 3 * MIB, 65536);
}

#[test]
fn overlays_over_one_base_share_it_and_see_only_their_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden(dir.path(), "golden.raw", 2 * MIB);
    let v2 = overlay(dir.path(), "v2.qcow2", "golden.raw", "raw");
    let a = overlay(dir.path(), "a.qcow2", "v2.qcow2", "qcow2");
    let b = overlay(dir.path(), "b.qcow2", "v2.qcow2", "qcow2");
    let images = Images::default();
    let da: Arc<dyn BlockDevice> = images.open(&a, &qcow2()).unwrap();
    let db: Arc<dyn BlockDevice> = images.open(&b, &qcow2()).unwrap();
    assert_eq!(images.open_backing_images(), 2, "v2 and golden, once each");
    da.write_at(&[1u8; 4096], 0).unwrap();
    db.write_at(&[2u8; 4096], 0).unwrap();
    assert_eq!(read(&*da, 0, 4096), vec![1u8; 4096]);
    assert_eq!(read(&*db, 0, 4096), vec![2u8; 4096]);
    assert_eq!(read(&*da, 4096, 4096), base[4096..8192]);
    drop((da, db));
    assert_eq!(images.open_backing_images(), 0);
    check(&a);
    check(&b);
    check(&v2);
}

/// Every hostile backing reference qemu-img can be made to write, each
/// refused with its own error before anything outside is opened.
#[test]
fn hostile_backing_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    golden(dir.path(), "outside.raw", MIB);
    golden(&store, "golden.raw", MIB);
    let unsafe_overlay = |name: &str, backing: &str| {
        qemu_img(
            &[
                "create", "-q", "-u", "-f", "qcow2", "-b", backing, "-F", "raw", name, "1M",
            ],
            &store,
        );
        store.join(name)
    };
    let images = Images::default();
    let open = |p: &Path| images.open(p, &qcow2()).map(|_| ()).unwrap_err();
    let e = open(&unsafe_overlay("abs.qcow2", "/etc/passwd"));
    assert!(matches!(e, Error::BackingOutside { .. }), "{e}");
    let e = open(&unsafe_overlay("up.qcow2", "../outside.raw"));
    assert!(matches!(e, Error::BackingOutside { .. }), "{e}");
    assert!(e.to_string().contains("is outside"), "{e}");
    std::os::unix::fs::symlink("/etc/passwd", store.join("link.raw")).unwrap();
    let e = open(&unsafe_overlay("link.qcow2", "link.raw"));
    assert!(matches!(e, Error::BackingOutside { .. }), "{e}");
    let e = open(&unsafe_overlay("nbd.qcow2", "nbd:localhost:10809"));
    assert!(matches!(e, Error::BackingProtocol { .. }), "{e}");
    let e = open(&unsafe_overlay(
        "json.qcow2",
        "json:{\"file.filename\":\"/etc/shadow\"}",
    ));
    assert!(matches!(e, Error::BackingProtocol { .. }), "{e}");
    // Inside the store, but its format not recorded: the backing format
    // header extension is renamed to an unknown one.
    let nofmt = overlay(&store, "nofmt.qcow2", "golden.raw", "raw");
    let mut bytes = std::fs::read(&nofmt).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == [0xe2, 0x79, 0x2a, 0xca])
        .expect("backing format extension");
    bytes[at..at + 4].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    std::fs::write(&nofmt, bytes).unwrap();
    let e = open(&nofmt);
    assert!(matches!(e, Error::BackingFormatMissing { .. }), "{e}");
    // External data file.
    qemu_img(
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "data_file=data.raw",
            "ext.qcow2",
            "1M",
        ],
        &store,
    );
    let e = open(&store.join("ext.qcow2"));
    assert!(matches!(e, Error::ExternalDataFile { .. }), "{e}");
    // A loop: x over y over x.
    overlay(&store, "x.qcow2", "golden.raw", "raw");
    overlay(&store, "y.qcow2", "x.qcow2", "qcow2");
    qemu_img(
        &[
            "rebase", "-q", "-u", "-b", "y.qcow2", "-F", "qcow2", "x.qcow2",
        ],
        &store,
    );
    let e = open(&store.join("y.qcow2"));
    assert!(matches!(e, Error::BackingLoop { .. }), "{e}");
    // 16 images in a chain open; 17 do not.
    let mut below = "golden.raw".to_string();
    let mut fmt = "raw";
    for i in 1..=16 {
        let name = format!("l{i}.qcow2");
        overlay(&store, &name, &below, fmt);
        below = name;
        fmt = "qcow2";
    }
    assert!(
        images.open(store.join("l15.qcow2"), &qcow2()).is_ok(),
        "15 overlays + base"
    );
    let e = open(&store.join("l16.qcow2"));
    assert!(matches!(e, Error::TooDeep { .. }), "{e}");
    // An explicit root wider than the image's directory admits the file
    // outside it.
    let wide = OpenOptions {
        root: Some(dir.path().to_owned()),
        ..qcow2()
    };
    assert!(images.open(store.join("up.qcow2"), &wide).is_ok());
}

/// A raw disk a PC wrote a qcow2 header into (naming /etc/shadow as its
/// backing file) is still served as raw: the header is just data.
#[test]
fn a_raw_disk_with_a_qcow2_header_stays_raw() {
    let dir = tempfile::tempdir().unwrap();
    qemu_img(
        &[
            "create",
            "-q",
            "-u",
            "-f",
            "qcow2",
            "-b",
            "/etc/shadow",
            "-F",
            "raw",
            "evil.qcow2",
            "1M",
        ],
        dir.path(),
    );
    let evil = dir.path().join("evil.qcow2");
    let mut header = std::fs::read(&evil).unwrap();
    header.resize(MIB as usize, 0);
    let raw = dir.path().join("pc.img");
    std::fs::write(&raw, &header).unwrap();
    let d = Images::default()
        .open(&raw, &OpenOptions::default())
        .unwrap();
    assert_eq!(d.size(), MIB);
    assert_eq!(read(&*d, 0, 4), b"QFI\xfb");
    assert_eq!(read(&*d, 0, 4096), header[..4096]);
}

#[derive(Debug, Clone)]
enum Op {
    Write { block: u64, blocks: u64, byte: u8 },
    Discard { block: u64, blocks: u64 },
    Zeroes { block: u64, blocks: u64 },
    Flush,
}

fn op(disk_blocks: u64) -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let range = (0..disk_blocks).prop_flat_map(move |b| (Just(b), 1..=(disk_blocks - b).min(300)));
    prop_oneof![
        4 => (range.clone(), any::<u8>()).prop_map(|((block, blocks), byte)| Op::Write { block, blocks, byte }),
        2 => range.clone().prop_map(|(block, blocks)| Op::Discard { block, blocks }),
        1 => range.prop_map(|(block, blocks)| Op::Zeroes { block, blocks }),
        1 => Just(Op::Flush),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Random writes, discards, write-zeroes and flushes on an overlay
    /// match a model in memory, and qemu reads the same disk from the file
    /// (`qemu-img convert` to raw) after `qemu-img check` finds it clean.
    #[test]
    fn an_overlay_behaves_like_its_model(ops in proptest::collection::vec(op(2048), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut model = golden(dir.path(), "golden.raw", MIB);
        let pc = overlay(dir.path(), "pc.qcow2", "golden.raw", "raw");
        let d = Images::default().open(&pc, &qcow2()).unwrap();
        for o in &ops {
            match *o {
                Op::Write { block, blocks, byte } => {
                    let (off, len) = (block * 512, (blocks * 512) as usize);
                    d.write_at(&vec![byte; len], off).unwrap();
                    model[off as usize..][..len].fill(byte);
                }
                Op::Discard { block, blocks } => {
                    d.discard(block * 512, blocks * 512).unwrap();
                    model[(block * 512) as usize..][..(blocks * 512) as usize].fill(0);
                }
                Op::Zeroes { block, blocks } => {
                    d.write_zeroes(block * 512, blocks * 512).unwrap();
                    model[(block * 512) as usize..][..(blocks * 512) as usize].fill(0);
                }
                Op::Flush => d.flush().unwrap(),
            }
        }
        proptest::prop_assert!(read(&*d, 0, MIB as usize) == model, "read back differs");
        d.flush().unwrap();
        drop(d);
        check(&pc);
        qemu_img(&["convert", "-f", "qcow2", "-O", "raw", "pc.qcow2", "flat.raw"], dir.path());
        let flat = std::fs::read(dir.path().join("flat.raw")).unwrap();
        proptest::prop_assert!(flat == model, "qemu reads another disk");
    }
}

/// Bytes a file takes on disk.
fn allocated(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().blocks() * 512
}

/// UNMAP (discard) gives the overlay's space back to the file system: the
/// file's allocated size shrinks, and qemu-img check stays clean.
#[test]
fn discard_returns_the_space_of_the_overlay() {
    let dir = tempfile::tempdir().unwrap();
    golden(dir.path(), "golden.raw", 32 * MIB);
    let pc = overlay(dir.path(), "pc.qcow2", "golden.raw", "raw");
    let d = Images::default().open(&pc, &qcow2()).unwrap();
    d.write_at(&vec![3u8; 16 * MIB as usize], 8 * MIB).unwrap();
    d.flush().unwrap();
    let full = allocated(&pc);
    assert!(full >= 16 * MIB, "{full}");
    d.discard(8 * MIB, 16 * MIB).unwrap();
    d.flush().unwrap();
    let after = allocated(&pc);
    assert!(after < full / 4, "allocated {full} -> {after} bytes");
    drop(d);
    check(&pc);
    qemu_io_reads(&pc, 0, 8 * MIB, 16 * MIB);
}

/// An overlay with a size limit: a write that would pass it fails cleanly
/// with NoSpace; what was written before, rewrites in place and the file's
/// consistency are unaffected.
#[test]
fn an_overlay_stops_at_its_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    golden(dir.path(), "golden.raw", 32 * MIB);
    let pc = overlay(dir.path(), "pc.qcow2", "golden.raw", "raw");
    let opts = OpenOptions {
        overlay_max: Some(2 * MIB),
        ..qcow2()
    };
    let d = Images::default().open(&pc, &opts).unwrap();
    d.write_at(&vec![1u8; MIB as usize], 0).unwrap();
    let e = d
        .write_at(&vec![2u8; 4 * MIB as usize], 8 * MIB)
        .unwrap_err();
    assert!(matches!(e, netboot_blockdev::Error::NoSpace { .. }), "{e}");
    assert!(e.to_string().contains("size limit of 2097152 bytes"), "{e}");
    // Rewriting its own clusters still works; reads are unaffected.
    d.write_at(&vec![3u8; MIB as usize], 0).unwrap();
    assert_eq!(read(&*d, 0, 4096), vec![3u8; 4096]);
    assert!(allocated(&pc) <= 2 * MIB + 65536, "{}", allocated(&pc));
    // Space given back makes room again.
    d.discard(0, MIB).unwrap();
    d.write_at(&vec![4u8; MIB as usize], 16 * MIB).unwrap();
    d.flush().unwrap();
    drop(d);
    check(&pc);
    qemu_io_reads(&pc, 4, 16 * MIB, MIB);
}

/// What an AoE target relies on (Linux's AoE driver never flushes): after
/// `write_back`, without a flush, qemu reads the writes from the file
/// while our disk is still open, and the image passes `qemu-img check`.
#[test]
fn written_back_writes_are_in_the_file_before_any_flush() {
    let dir = tempfile::tempdir().unwrap();
    golden(dir.path(), "base.raw", 4 * MIB);
    let path = overlay(dir.path(), "pc.qcow2", "base.raw", "raw");
    let images = Images::default();
    let d = images.open(&path, &qcow2()).unwrap();
    d.write_at(&[0x5a; 65536], 2 * MIB).unwrap();
    d.write_back().unwrap();
    qemu_io_reads(&path, 0x5a, 2 * MIB, 65536);
    check(&path);
    drop(d);
}
