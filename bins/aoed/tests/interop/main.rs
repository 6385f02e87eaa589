//! `aoed` and `aoectl` against real AoE peers (vblade, aoetools' aoeping,
//! tshark's dissector) and hostile input, each test inside its own network
//! namespace with a veth pair (`va`: target, `vb`: client).
//!
//! Peers are required: a missing one fails the test (see `harness::need`).

mod guest;
mod harness;
// iscsid's iPXE sanboot disk (shared, not copied); not all of it is used here.
#[path = "../../../iscsid/tests/interop/sanboot.rs"]
#[allow(dead_code)]
mod sanboot;

use std::time::Duration;

use harness::*;

const MIB: usize = 1 << 20;

fn sha_of(out: &str) -> String {
    out.trim().to_owned()
}

/// `o` exited with `code` and its stderr says `want` (`what` names the
/// case in the panic).
fn assert_fails(o: &std::process::Output, code: i32, want: &str, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{what}: {err}");
    assert!(err.contains(want), "{what}: missing {want:?} in {err}");
}

/// Discover, identify, read everything (checksum), write, read back and
/// check the image file: the client against one target.
fn read_write_verify(ns: &Netns, img: &Image, target: &str, buffers: &str) {
    let d = ns.aoectl_ok(&["discover", "--target", target]);
    assert!(d.contains(&format!("{target} ")), "{d}");
    assert!(d.contains(&format!("buffers={buffers} ")), "{d}");
    let id = ns.aoectl_ok(&["identify", "--target", target]);
    assert!(
        id.contains(&format!("sectors: {}", img.data.len() / 512)),
        "{id}"
    );
    assert!(id.contains("lba48: yes"), "{id}");
    let sum = ns.aoectl_ok(&["read", "--target", target, "--sha256"]);
    assert_eq!(sha_of(&sum), sha256(&img.data), "{target}: full read");
    // Write 1 MiB + 1 sector at an odd LBA, then verify on disk and by reading.
    let new = content(MIB + 512, 99);
    let input = img.dir.path().join("input.bin");
    std::fs::write(&input, &new).unwrap();
    ns.aoectl_ok(&[
        "write",
        "--target",
        target,
        "--lba",
        "777",
        "--input",
        input.to_str().unwrap(),
    ]);
    let disk = img.on_disk();
    assert_eq!(
        sha256(&disk[777 * 512..777 * 512 + new.len()]),
        sha256(&new),
        "{target}: written data on disk"
    );
    assert_eq!(
        sha256(&disk[..777 * 512]),
        sha256(&img.data[..777 * 512]),
        "{target}: data before untouched"
    );
    let back = ns.aoectl_ok(&[
        "read",
        "--target",
        target,
        "--lba",
        "777",
        "--count",
        &(new.len() / 512).to_string(),
        "--sha256",
    ]);
    assert_eq!(sha_of(&back), sha256(&new));
    // Past the end (and across it): the target's IDNF, said in words.
    let sectors = img.data.len() / 512;
    for (lba, count) in [(sectors + 10, 1), (sectors - 1, 2)] {
        let o = ns.aoectl(&[
            "read",
            "--target",
            target,
            "--lba",
            &lba.to_string(),
            "--count",
            &count.to_string(),
            "--sha256",
        ]);
        assert_fails(
            &o,
            1,
            "ATA command failed: LBA out of range (IDNF); status 0x41, error register 0x10",
            &format!("{target} {lba}+{count}"),
        );
    }
    // Without --count, aoectl sees it first (it asked for the size).
    let o = ns.aoectl(&["read", "--target", target, "--lba", &sectors.to_string()]);
    assert_fails(
        &o,
        1,
        &format!(
            "--lba {sectors} is past the end of {target} ({sectors} sectors: 0-{})",
            sectors - 1
        ),
        "read without --count",
    );
}

#[test]
fn aoectl_against_aoed() {
    let ns = Netns::new("ours");
    let img = Image::new(16 * MIB, 1);
    let d = Daemon::aoed(
        &ns,
        &["--shelf", "1", "--slot", "2", "--disk", img.path_str()],
    );
    read_write_verify(&ns, &img, "e1.2", "64");
    assert_eq!(d.terminate().code(), Some(0));
}

/// aoed in a new namespace `ns`, serving as e3.`slot` a qcow2 overlay
/// (made by qemu-img) over a golden image of `size` bytes.
fn serve_overlay(
    ns: &str,
    size: usize,
    slot: u8,
    extra: &[&str],
) -> (Netns, Image, std::path::PathBuf, Daemon) {
    need("qemu-img");
    let ns = Netns::new(ns);
    let img = Image::new(size, u64::from(slot) + 3);
    let overlay = netboot_testkit::qemu_overlay(img.dir.path(), "pc.qcow2", "disk.img", "raw");
    let slot = slot.to_string();
    let mut args = vec![
        "--shelf",
        "3",
        "--slot",
        &slot,
        "--disk",
        overlay.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let d = Daemon::aoed(&ns, &args);
    (ns, img, overlay, d)
}

/// `qemu-img check` finds the qcow2 file at `overlay` clean.
fn qemu_img_check(overlay: &std::path::Path) {
    let o = run(
        std::process::Command::new("qemu-img")
            .args(["check", "-f", "qcow2"])
            .arg(overlay),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// `--overlay-max`: a write that would grow the overlay past its limit
/// fails with an ATA error that aoectl reports, the log names the disk, and
/// the target goes on serving: earlier data reads back, a rewrite of its
/// clusters succeeds, qemu-img check finds the overlay clean.
#[test]
fn an_overlay_past_its_size_limit_fails_writes_with_an_ata_error() {
    let (ns, img, overlay, d) = serve_overlay("qcowmax", 16 * MIB, 2, &["--overlay-max", "2M"]);
    let small = content(MIB, 7);
    let input = img.dir.path().join("small.bin");
    std::fs::write(&input, &small).unwrap();
    let write = |lba: &str, file: &std::path::Path| {
        ns.aoectl(&[
            "write",
            "--target",
            "e3.2",
            "--lba",
            lba,
            "--input",
            file.to_str().unwrap(),
        ])
    };
    let o = write("0", &input);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let big = img.dir.path().join("big.bin");
    std::fs::write(&big, content(4 * MIB, 8)).unwrap();
    let o = write("8192", &big);
    assert_fails(&o, 1, "ABRT", "a write past the overlay's limit");
    assert!(
        d.log_contains("write refused: the overlay is full"),
        "{}",
        d.log_text()
    );
    let back = ns.aoectl_ok(&[
        "read", "--target", "e3.2", "--lba", "0", "--count", "2048", "--sha256",
    ]);
    assert_eq!(sha_of(&back), sha256(&small), "earlier data");
    let o = write("0", &input);
    assert!(
        o.status.success(),
        "a rewrite: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(d.terminate().code(), Some(0));
    qemu_img_check(&overlay);
}

/// A qcow2 overlay made by `qemu-img create -b disk.img -F raw`, exported
/// by aoed: aoectl reads the golden data through it and writes its own;
/// after SIGTERM `qemu-img check` finds it clean, qemu's view of it (`qemu-img
/// convert`) is the golden image with the write, and the golden file is
/// unchanged.
#[test]
fn aoed_exports_a_qcow2_overlay_over_its_golden_image() {
    let (ns, img, overlay, d) = serve_overlay("qcow2", 8 * MIB, 1, &[]);
    assert!(d.log_contains("format=qcow2"), "{}", d.log_text());
    let sum = ns.aoectl_ok(&["read", "--target", "e3.1", "--sha256"]);
    assert_eq!(
        sha_of(&sum),
        sha256(&img.data),
        "the golden data through the overlay"
    );
    let new = content(MIB + 512, 5);
    let input = img.dir.path().join("input.bin");
    std::fs::write(&input, &new).unwrap();
    ns.aoectl_ok(&[
        "write",
        "--target",
        "e3.1",
        "--lba",
        "333",
        "--input",
        input.to_str().unwrap(),
    ]);
    let back = ns.aoectl_ok(&[
        "read",
        "--target",
        "e3.1",
        "--lba",
        "333",
        "--count",
        &(new.len() / 512).to_string(),
        "--sha256",
    ]);
    assert_eq!(sha_of(&back), sha256(&new));
    assert_eq!(d.terminate().code(), Some(0));
    qemu_img_check(&overlay);
    let flat = img.dir.path().join("flat.raw");
    let o = run(
        std::process::Command::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(&overlay)
            .arg(&flat),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{o:?}");
    let mut want = img.data.clone();
    want[333 * 512..333 * 512 + new.len()].copy_from_slice(&new);
    assert!(
        std::fs::read(&flat).unwrap() == want,
        "qemu reads another disk"
    );
    assert_eq!(
        sha256(&img.on_disk()),
        sha256(&img.data),
        "golden image unchanged"
    );
}

#[test]
fn aoectl_against_vblade() {
    if !need("vblade") {
        return;
    }
    let ns = Netns::new("vblade");
    let img = Image::new(16 * MIB, 2);
    let _v = Daemon::vblade(&ns, 3, 4, &img.path);
    read_write_verify(&ns, &img, "e3.4", "16");
}

/// aoetools' `aoecfg` (query config, without the kernel driver) reads,
/// sets (only when empty), tests, prefix-tests and force-sets aoed's
/// config string; a set over a non-empty string gets the AoE error that
/// aoecfg shows as `*badcfg*`.
#[test]
fn aoecfg_reads_and_sets_the_config_string() {
    if !need("aoecfg") {
        return;
    }
    let ns = Netns::new("aoecfg");
    let img = Image::new(MIB, 4);
    let d = Daemon::aoed(
        &ns,
        &["--shelf", "1", "--slot", "1", "--disk", img.path_str()],
    );
    let cfg = |args: &[&str]| -> String {
        let o = run(
            ns.exec("aoecfg")
                .args(args)
                .args(["-t", "1", "1", "1", "vb"]),
            Duration::from_secs(20),
        );
        assert!(o.status.success(), "aoecfg {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(cfg(&["-c", "read"]), "");
    assert_eq!(cfg(&["-c", "set", "-s", "pc042"]), "pc042");
    assert_eq!(cfg(&["-c", "read"]), "pc042");
    assert_eq!(cfg(&["-c", "set", "-s", "other"]), "*badcfg*");
    assert_eq!(cfg(&["-c", "test", "-s", "pc042"]), "pc042");
    assert_eq!(cfg(&["-c", "test", "-s", "nope"]), "");
    assert_eq!(cfg(&["-c", "prefix", "-s", "pc"]), "pc042");
    assert_eq!(cfg(&["-c", "fset", "-s", "new"]), "new");
    assert_eq!(cfg(&["-c", "read"]), "new");
    let (status, log) = d.terminate_log();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn aoeping_against_aoed() {
    if !need("aoeping") {
        return;
    }
    let ns = Netns::new("aoeping");
    let img = Image::new(4 * MIB, 3);
    let _d = Daemon::aoed(
        &ns,
        &["--shelf", "5", "--slot", "6", "--disk", img.path_str()],
    );
    let o = run(
        ns.exec("aoeping").args(["-s", "5", "-v", "5", "6", "vb"]),
        Duration::from_secs(20),
    );
    assert!(
        o.status.success(),
        "aoeping: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(
        ns.exec("aoeping").args(["-s", "5", "-I", "5", "6", "vb"]),
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "aoeping -I: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("model: netboot aoed"), "{text}");
    assert!(text.contains("serial_number: e5.6:"), "{text}");
    let o = run(
        ns.exec("aoeping").args(["-s", "5", "-i", "5", "6", "vb"]),
        Duration::from_secs(20),
    );
    assert!(
        o.status.success(),
        "aoeping -i: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.stdout.is_empty());
    // Another slot: aoeping times out (no answer), aoed keeps running.
    let o = run(
        ns.exec("aoeping").args(["-s", "1", "5", "7", "vb"]),
        Duration::from_secs(20),
    );
    assert!(!o.status.success());
}

#[test]
fn tshark_decodes_our_frames_without_warnings() {
    if !need("tshark") {
        return;
    }
    let ns = Netns::new("tshark");
    let img = Image::new(4 * MIB, 4);
    let cap = img.dir.path().join("cap.pcapng");
    let mut ts = ns.exec("tshark");
    ts.args(["-q", "-i", "vb", "-f", "ether proto 0x88a2", "-w"])
        .arg(&cap);
    ts.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut tshark = ts.spawn().unwrap();
    // It captures once it says so on stderr (its start takes seconds on
    // a loaded machine: a fixed sleep lost the first frames).
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = tshark.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("Capturing on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("tshark says it is capturing");
    let _d = Daemon::aoed(
        &ns,
        &["--shelf", "1", "--slot", "1", "--disk", img.path_str()],
    );
    ns.aoectl_ok(&["identify", "--target", "e1.1"]);
    ns.aoectl_ok(&["read", "--target", "e1.1", "--count", "64", "--sha256"]);
    let input = img.dir.path().join("w.bin");
    std::fs::write(&input, content(8192, 5)).unwrap();
    ns.aoectl_ok(&[
        "write",
        "--target",
        "e1.1",
        "--lba",
        "9",
        "--input",
        input.to_str().unwrap(),
    ]);
    // An error reply too: read past the end.
    let (va, vb) = (ns.mac("va"), ns.mac("vb"));
    ns.raw(
        &frame_hex(
            &va,
            &vb,
            0x10,
            1,
            1,
            0,
            77,
            &ata_args(0x40, 1, 0x24, 1 << 40),
        ),
        "0.3",
    );
    std::thread::sleep(Duration::from_secs(1));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &tshark.id().to_string()])
        .status();
    let _ = tshark.wait();
    let count = |filter: &str| -> usize {
        let o = run(
            std::process::Command::new("tshark")
                .arg("-r")
                .arg(&cap)
                .args(["-Y", filter]),
            Duration::from_secs(60),
        );
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    assert!(count("aoe") > 60, "frames decoded as AoE");
    assert!(count("aoe.response == 1") > 30, "responses decoded");
    assert_eq!(count("_ws.malformed"), 0, "malformed frames");
    assert_eq!(
        count("_ws.expert.severity >= 6291456"),
        0,
        "expert warnings or errors"
    );
}

#[test]
fn lost_replies_are_retransmitted() {
    let ns = Netns::new("drop");
    let img = Image::new(8 * MIB, 6);
    let _d = Daemon::aoed(
        &ns,
        &["--shelf", "1", "--slot", "1", "--disk", img.path_str()],
    );
    // The client drops every 7th frame it receives: every loss costs a
    // retransmission, the data must still be exact. (More retransmissions
    // than the default ten: with qemu guests of other tests on both cores,
    // ten backed-off time-outs, some 5 s, were once not enough.)
    let sum = ns.aoectl_ok(&[
        "read",
        "--target",
        "e1.1",
        "--sha256",
        "--drop-every",
        "7",
        "--max-retries",
        "16",
    ]);
    assert_eq!(sha_of(&sum), sha256(&img.data));
    let new = content(MIB, 7);
    let input = img.dir.path().join("w.bin");
    std::fs::write(&input, &new).unwrap();
    ns.aoectl_ok(&[
        "write",
        "--target",
        "e1.1",
        "--lba",
        "100",
        "--input",
        input.to_str().unwrap(),
        "--drop-every",
        "5",
        "--max-retries",
        "16",
    ]);
    assert_eq!(
        sha256(&img.on_disk()[100 * 512..100 * 512 + MIB]),
        sha256(&new)
    );
}

/// Real frame loss on the wire, both ways: nftables (netdev ingress, which
/// sees raw Ethernet, unlike iptables) drops 10% of all AoE frames that
/// reach aoed's veth (lost requests and queries) and of those that reach
/// the client's (lost replies). aoectl asks a lost query config again (up
/// to eight times, backing off) and retransmits lost commands; the data
/// must be exact on the wire and on disk, and aoed keeps serving.
#[test]
fn real_frame_loss_both_ways() {
    if !need("nft") {
        return;
    }
    let ns = Netns::new("nftloss");
    let img = Image::new(8 * MIB, 23);
    let d = Daemon::aoed(
        &ns,
        &["--shelf", "1", "--slot", "1", "--disk", img.path_str()],
    );
    for dev in ["va", "vb"] {
        ns.sh(&format!(
            "nft add table netdev loss_{dev} \
             && nft add chain netdev loss_{dev} in '{{ type filter hook ingress device {dev} priority 0; }}' \
             && nft add rule netdev loss_{dev} in ether type 0x88a2 numgen random mod 100 '<' 10 counter drop"
        ));
    }
    let sum = ns.aoectl_ok(&["read", "--target", "e1.1", "--sha256"]);
    assert_eq!(sha_of(&sum), sha256(&img.data), "read under loss");
    let new = content(2 * MIB, 24);
    let input = img.dir.path().join("w.bin");
    std::fs::write(&input, &new).unwrap();
    ns.aoectl_ok(&[
        "write",
        "--target",
        "e1.1",
        "--lba",
        "333",
        "--input",
        input.to_str().unwrap(),
    ]);
    let disk = img.on_disk();
    let at = 333 * 512;
    assert_eq!(
        sha256(&disk[at..at + new.len()]),
        sha256(&new),
        "write under loss"
    );
    assert_eq!(sha256(&disk[..at]), sha256(&img.data[..at]));
    assert_eq!(
        sha256(&disk[at + new.len()..]),
        sha256(&img.data[at + new.len()..])
    );
    let back = ns.aoectl_ok(&[
        "read",
        "--target",
        "e1.1",
        "--lba",
        "333",
        "--count",
        &(new.len() / 512).to_string(),
        "--sha256",
    ]);
    assert_eq!(sha_of(&back), sha256(&new), "read back under loss");
    // Both rules really dropped frames.
    for dev in ["va", "vb"] {
        let o = run(
            ns.exec("nft")
                .args(["list", "chain", "netdev", &format!("loss_{dev}"), "in"]),
            Duration::from_secs(10),
        );
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let dropped: u64 = text
            .split("counter packets ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no counter in {text}"));
        assert!(
            dropped > 50,
            "{dev}: only {dropped} frames dropped:\n{text}"
        );
        ns.sh(&format!("nft delete table netdev loss_{dev}"));
    }
    // Without loss, the whole disk again: aoed is still serving.
    let sum = ns.aoectl_ok(&["read", "--target", "e1.1", "--sha256"]);
    let mut expect = img.data.clone();
    expect[at..at + new.len()].copy_from_slice(&new);
    assert_eq!(sha_of(&sum), sha256(&expect));
    let (status, log) = d.terminate_log();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn hostile_frames_get_no_answer_or_the_right_error() {
    let ns = Netns::new("hostile");
    let img = Image::new(MIB, 8);
    let (va, vb) = (ns.mac("va"), ns.mac("vb"));
    let mut d = Daemon::aoed(
        &ns,
        &[
            "--shelf",
            "2",
            "--slot",
            "3",
            "--disk",
            img.path_str(),
            "--allow-mac",
            &vb,
        ],
    );
    let read = ata_args(0, 1, 0x20, 0xe000_0000);
    // Other shelf / slot: silence.
    assert!(ns
        .raw(&frame_hex(&va, &vb, 0x10, 9, 3, 0, 1, &read), "0.3")
        .is_empty());
    assert!(ns
        .raw(&frame_hex(&va, &vb, 0x10, 2, 9, 0, 2, &read), "0.3")
        .is_empty());
    // Truncated ATA header: silence.
    assert!(ns
        .raw(&frame_hex(&va, &vb, 0x10, 2, 3, 0, 3, &read[..5]), "0.3")
        .is_empty());
    // Source MAC not in the list: silence.
    assert!(ns
        .raw(
            &frame_hex(&va, "02:66:66:66:66:66", 0x10, 2, 3, 0, 4, &read),
            "0.3"
        )
        .is_empty());
    // The allowed MAC, broadcast address: answered.
    let r = ns.raw(
        &frame_hex("ff:ff:ff:ff:ff:ff", &vb, 0x10, 0xffff, 0xff, 0, 5, &read),
        "0.3",
    );
    assert_eq!(r.len(), 1, "{r:?}");
    let f = unhex(&r[0]);
    assert_eq!(f.len(), 36 + 512);
    assert_eq!(&f[36..], &img.data[..512]);
    // LBA past the end: ATA ERR with IDNF.
    let r = ns.raw(
        &frame_hex(&va, &vb, 0x10, 2, 3, 0, 6, &ata_args(0x40, 1, 0x24, 2048)),
        "0.3",
    );
    let f = unhex(&r[0]);
    assert_eq!((f[27], f[25]), (0x41, 0x10), "status ERR|DRDY, error IDNF");
    // Too many sectors for a frame: AoE error 2.
    let r = ns.raw(
        &frame_hex(&va, &vb, 0x10, 2, 3, 0, 7, &ata_args(0x40, 9, 0x24, 0)),
        "0.3",
    );
    let f = unhex(&r[0]);
    assert_eq!((f[14] & 0x0c, f[15]), (0x0c, 2));
    // Unknown command: AoE error 1. Version 2: AoE error 5.
    let f = unhex(&ns.raw(&frame_hex(&va, &vb, 0x10, 2, 3, 0x42, 8, &[]), "0.3")[0]);
    assert_eq!((f[14] & 0x0c, f[15]), (0x0c, 1));
    let f = unhex(&ns.raw(&frame_hex(&va, &vb, 0x20, 2, 3, 0, 9, &read), "0.3")[0]);
    assert_eq!(f[15], 5);
    // Unsupported ATA command: ABRT.
    let f = unhex(
        &ns.raw(
            &frame_hex(&va, &vb, 0x10, 2, 3, 0, 10, &ata_args(0, 1, 0xb0, 0)),
            "0.3",
        )[0],
    );
    assert_eq!((f[27], f[25]), (0x41, 0x04));
    // Still alive, and the allowed client is still served.
    assert!(d.is_running());
    let sum = ns.aoectl_ok(&["read", "--target", "e2.3", "--sha256"]);
    assert_eq!(sha_of(&sum), sha256(&img.data));
    assert!(d.log_contains("MacNotAllowed"), "{}", d.log_text());
}

#[test]
fn reserve_list_blocks_other_writers() {
    let ns = Netns::new("reserve");
    let img = Image::new(MIB, 9);
    let (va, vb) = (ns.mac("va"), ns.mac("vb"));
    let _d = Daemon::aoed(
        &ns,
        &["--shelf", "1", "--slot", "1", "--disk", img.path_str()],
    );
    let other = "02:77:77:77:77:77";
    // Reserve for another host (from that host's MAC).
    let mut args = vec![1u8, 1];
    args.extend_from_slice(&unhex(&other.replace(':', "")));
    // The reply goes to that MAC; the veth peer still sees it.
    let r = ns.raw(&frame_hex(&va, other, 0x10, 1, 1, 3, 1, &args), "0.3");
    let f = unhex(&r[0]);
    assert_eq!(&f[..6], &unhex(&other.replace(':', ""))[..]);
    assert_eq!(
        (f[14] & 0x0c, f[24], f[25]),
        (0x08, 1, 1),
        "reserve list set"
    );
    let input = img.dir.path().join("w.bin");
    std::fs::write(&input, content(4096, 1)).unwrap();
    let o = ns.aoectl(&[
        "write",
        "--target",
        "e1.1",
        "--lba",
        "0",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("target is reserved"), "{err}");
    // Reads are still served; a plain set from us is refused; force set (empty) releases.
    ns.aoectl_ok(&["read", "--target", "e1.1", "--count", "8", "--sha256"]);
    let mut set = vec![1u8, 1];
    set.extend_from_slice(&unhex(&vb.replace(':', "")));
    let f = unhex(&ns.raw(&frame_hex(&va, &vb, 0x10, 1, 1, 3, 2, &set), "0.3")[0]);
    assert_eq!(f[15], 6);
    let f = unhex(&ns.raw(&frame_hex(&va, &vb, 0x10, 1, 1, 3, 3, &[2, 0]), "0.3")[0]);
    assert_eq!((f[14] & 0x04, f[24], f[25]), (0, 2, 0));
    ns.aoectl_ok(&[
        "write",
        "--target",
        "e1.1",
        "--lba",
        "0",
        "--input",
        input.to_str().unwrap(),
    ]);
}

#[test]
fn config_file_several_disks_read_only_and_clean_shutdown() {
    let ns = Netns::new("config");
    let a = Image::new(MIB, 10);
    let b = Image::new(2 * MIB, 11);
    let toml = a.dir.path().join("aoed.toml");
    std::fs::write(
        &toml,
        format!(
            "buffer_count = 8\n[[disk]]\nshelf = 4\nslot = 0\ndisk = {:?}\nconfig_string = \"first\"\n\n[[disk]]\nshelf = 4\nslot = 1\ndisk = {:?}\nread_only = true\n",
            a.path, b.path
        ),
    )
    .unwrap();
    let d = Daemon::aoed(&ns, &["--config", toml.to_str().unwrap()]);
    let out = ns.aoectl_ok(&["discover"]);
    assert!(out.contains("e4.0 ") && out.contains("e4.1 "), "{out}");
    assert!(
        out.contains("buffers=8 ") && out.contains("config=\"first\""),
        "{out}"
    );
    let sum = ns.aoectl_ok(&["read", "--target", "e4.1", "--sha256"]);
    assert_eq!(sha_of(&sum), sha256(&b.data));
    let input = a.dir.path().join("w.bin");
    std::fs::write(&input, content(512, 1)).unwrap();
    let o = ns.aoectl(&[
        "write",
        "--target",
        "e4.1",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "write to a read-only disk");
    assert_fails(
        &o,
        1,
        "command aborted (ABRT: not supported or not allowed, e.g. a write to a read-only \
         disk); status 0x41, error register 0x04",
        "write to a read-only disk",
    );
    assert_eq!(b.on_disk(), b.data);
    let status = d.terminate();
    assert_eq!(status.code(), Some(0));

    // Unknown keys are refused with exit code 2.
    std::fs::write(&toml, "bogus = 1\n").unwrap();
    let o = run(
        ns.exec(env!("CARGO_BIN_EXE_aoed")).args([
            "--interface",
            "va",
            "--config",
            toml.to_str().unwrap(),
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown field"));
}

#[test]
fn sigint_stops_cleanly_and_logs() {
    let ns = Netns::new("sigint");
    let img = Image::new(MIB, 12);
    let d = Daemon::aoed(
        &ns,
        &["--shelf", "1", "--slot", "1", "--disk", img.path_str()],
    );
    ns.aoectl_ok(&["identify", "--target", "e1.1"]);
    // `ip netns exec` execs the daemon: the child's pid is aoed's.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &d.pid().to_string()])
        .status();
    assert!(d.log_contains("SIGINT: shutting down"));
    assert!(d.log_contains("stopped"));
    assert!(d.log_contains("statistics"));
}

#[test]
fn jumbo_frames_carry_more_sectors() {
    let ns = Netns::new("jumbo");
    ns.sh("ip link set va mtu 9000 && ip link set vb mtu 9000");
    let img = Image::new(8 * MIB, 13);
    let _d = Daemon::aoed(
        &ns,
        &["--shelf", "1", "--slot", "1", "--disk", img.path_str()],
    );
    let out = ns.aoectl_ok(&["discover"]);
    assert!(out.contains("sectors_per_frame=17 "), "{out}");
    let sum = ns.aoectl_ok(&["read", "--target", "e1.1", "--sha256"]);
    assert_eq!(sha_of(&sum), sha256(&img.data));
    let new = content(MIB, 14);
    let input = img.dir.path().join("w.bin");
    std::fs::write(&input, &new).unwrap();
    ns.aoectl_ok(&[
        "write",
        "--target",
        "e1.1",
        "--lba",
        "3",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(sha256(&img.on_disk()[3 * 512..3 * 512 + MIB]), sha256(&new));
}

#[test]
fn help_and_bad_arguments() {
    let o = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_aoed")).arg("--help"),
        Duration::from_secs(10),
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("--allow-mac"));
    let o = run(
        std::process::Command::new(aoectl_bin()).arg("--help"),
        Duration::from_secs(10),
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("discover"));
    // Usage errors exit 2, as clap's own do, naming what is wrong.
    for (args, want) in [
        (&["discover"][..], "--interface (-i) is required"),
        (
            &["-i", "nonexistent0", "discover"][..],
            "--interface \"nonexistent0\": no such interface",
        ),
        (
            &["-i", "lo", "bench", "--mode", "fast"][..],
            "invalid value 'fast'",
        ),
        (
            &["-i", "lo", "bench", "--io-size", "100"][..],
            "100 is not a positive multiple of 512",
        ),
        (&["-i", "lo", "raw", "--frame", "zz"][..], "--frame <FRAME>"),
    ] {
        let o = run(
            std::process::Command::new(aoectl_bin()).args(args),
            Duration::from_secs(10),
        );
        assert_fails(&o, 2, want, &format!("aoectl {args:?}"));
    }
    // aoed's bad settings exit 2 and name the flag; a MAC that is not one
    // is named with its value.
    let disk = ["--interface", "lo", "--slot", "1", "--disk", "/nonexistent"];
    for (args, want) in [
        (&disk[..4], "--shelf, --slot and --disk go together"),
        (
            &["--shelf", "65535"][..],
            "e65535.1: 65535 and 255 are broadcast addresses",
        ),
        (
            &["--shelf", "1", "--allow-mac", "zz:zz"][..],
            "invalid value 'zz:zz' for '--allow-mac <MAC>': \"zz:zz\" is not a MAC address",
        ),
    ] {
        let all: Vec<&str> = if args[0] == "--interface" {
            args.to_vec()
        } else {
            disk.iter().chain(args).copied().collect()
        };
        let o = run(
            std::process::Command::new(env!("CARGO_BIN_EXE_aoed")).args(&all),
            Duration::from_secs(10),
        );
        assert_fails(&o, 2, want, &format!("aoed {all:?}"));
    }
}

/// The iPXE ROMs qemu loads for its e1000 NIC (package ipxe-qemu).
fn need_ipxe_rom() {
    assert!(
        std::path::Path::new("/usr/lib/ipxe/qemu/efi-e1000.rom").exists()
            || std::path::Path::new("/usr/share/qemu/efi-e1000.rom").exists(),
        "iPXE ROMs missing: install ipxe-qemu"
    );
}

/// iPXE (qemu's e1000 ROM, `-accel tcg`) `sanboot`s a disk from aoed: the
/// boot script comes over a first, user-mode NIC; the second NIC is a tap
/// bridged to aoed's veth inside the namespace. The disk's boot sector reads
/// 512 sectors through INT 13h (AoE frames from iPXE, 32-byte requests),
/// checks them, prints a marker on COM1 and exits through isa-debug-exit.
#[test]
fn ipxe_sanboots_from_aoed() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("boot.img");
    std::fs::write(&disk, sanboot::disk_image()).unwrap();
    ipxe_sanboot_aoe(&disk);
}

/// The same boot from a qcow2 overlay over the golden boot disk.
#[test]
fn ipxe_sanboots_a_qcow2_overlay_from_aoed() {
    need("qemu-img");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("golden.raw"), sanboot::disk_image()).unwrap();
    ipxe_sanboot_aoe(&netboot_testkit::qemu_overlay(
        dir.path(),
        "pc.qcow2",
        "golden.raw",
        "raw",
    ));
}

/// iPXE in qemu (in a namespace bridged to aoed's) sanboots `disk` from
/// aoed as e0.0; its boot sector checks 512 sectors.
fn ipxe_sanboot_aoe(disk: &std::path::Path) {
    need("qemu-system-x86_64");
    need_ipxe_rom();
    let ns = Netns::new("ipxe");
    ns.bridge_tap();
    let dir = tempfile::tempdir().unwrap();
    let tftp = dir.path().join("tftp");
    std::fs::create_dir(&tftp).unwrap();
    std::fs::write(
        tftp.join("boot.ipxe"),
        "#!ipxe\nifopen net1\nsanboot aoe:e0.0\n",
    )
    .unwrap();
    let d = Daemon::aoed(
        &ns,
        &[
            "--shelf",
            "0",
            "--slot",
            "0",
            "--disk",
            disk.to_str().unwrap(),
        ],
    );
    let serial = dir.path().join("serial.log");
    let mut qemu = ns.exec("qemu-system-x86_64");
    qemu.args(["-accel", "tcg", "-machine", "pc,graphics=off", "-m", "256"])
        .args(["-display", "none", "-nodefaults", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-netdev")
        .arg(format!(
            "user,id=n0,tftp={},bootfile=boot.ipxe",
            tftp.display()
        ))
        .args(["-device", "e1000,netdev=n0", "-boot", "n"])
        .args(["-netdev", "tap,id=n1,ifname=tap0,script=no,downscript=no"])
        // No ROM on the second NIC: the first NIC's iPXE drives both.
        .args(["-device", "e1000,netdev=n1,romfile="])
        .args(["-device", "isa-debug-exit,iobase=0x501,iosize=1"]);
    let o = run(&mut qemu, Duration::from_secs(240));
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    let (status, aoed_log) = d.terminate_log();
    assert_ne!(
        o.status.code(),
        Some(sanboot::EXIT_FAIL),
        "the boot sector read wrong data or a read failed:\n{log}\naoed:\n{aoed_log}"
    );
    assert!(
        log.contains(sanboot::MARKER_OK),
        "serial console:\n{log}\nqemu: {}\naoed:\n{aoed_log}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(sanboot::EXIT_OK), "{log}");
    assert_eq!(status.code(), Some(0), "{aoed_log}");
    // The boot sector (read by iPXE) and the 512 sectors it checked.
    let read = Daemon::stat(&aoed_log, "sectors_read");
    assert!(read >= 513, "sectors_read={read}:\n{aoed_log}");
    assert_eq!(Daemon::stat(&aoed_log, "errors"), 0, "{aoed_log}");
}

/// The guest's /init for [`linux_aoe_driver_reads_and_writes_through_aoed`]:
/// finds e0.0 with the kernel's aoe driver, hashes the whole device, writes
/// /pattern.bin at 5 MiB with fsync, drops the page cache, reads it back.
const AOE_GUEST_INIT: &str = r#"
/bin/busybox mount -t proc proc /proc
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
insmod /e1000.ko
ip link set eth0 up
i=0
while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i+1))
done
insmod /aoe.ko aoe_iflist=eth0
i=0
while [ ! -b /dev/etherd/e0.0 ] && [ $i -lt 100 ]; do
    [ -e /dev/etherd/discover ] && echo > /dev/etherd/discover
    sleep 0.3; i=$((i+1))
done
# No more kernel messages on the console, between our lines.
dmesg -n 1
echo "NETBOOT-AOE-SECTORS $(cat '/sys/block/etherd!e0.0/size')"
echo "NETBOOT-AOE-READ $(sha256sum < /dev/etherd/e0.0)"
dd if=/pattern.bin of=/dev/etherd/e0.0 bs=64k seek=80 conv=fsync
echo "NETBOOT-AOE-WROTE $?"
sync
echo 3 > /proc/sys/vm/drop_caches
echo "NETBOOT-AOE-REREAD $(dd if=/dev/etherd/e0.0 bs=64k skip=80 count=32 | sha256sum)"
echo NETBOOT-AOE-DONE
poweroff -f
"#;

/// The first word after `key ` on the guest's console.
fn console_value<'a>(log: &'a str, key: &str) -> Option<&'a str> {
    log.lines()
        .find_map(|l| l.trim_end().strip_prefix(&format!("{key} ")))
        .and_then(|v| v.split_whitespace().next())
}

/// The Linux kernel's own `aoe` driver (Debian's kernel in qemu `-accel tcg`,
/// busybox initramfs) against aoed over a tap bridged to aoed's veth: it
/// discovers e0.0, reads the whole disk (same SHA-256 as the image), writes
/// 2 MiB with fsync (on the image file afterwards: nothing acknowledged is
/// lost) and reads it back after dropping its page cache.
#[test]
fn linux_aoe_driver_reads_and_writes_through_aoed() {
    need("qemu-system-x86_64");
    let (vmlinuz, aoe_ko, e1000_ko) = guest::kernel_files();
    let ns = Netns::new("linux");
    ns.bridge_tap();
    let img = Image::new(16 * MIB, 21);
    let pattern = content(2 * MIB, 22);
    let initrd = img.dir.path().join("initrd.cpio");
    std::fs::write(
        &initrd,
        guest::initramfs(
            AOE_GUEST_INIT,
            &[&aoe_ko, &e1000_ko],
            &[("/pattern.bin", &pattern)],
        ),
    )
    .unwrap();
    let d = Daemon::aoed(
        &ns,
        &["--shelf", "0", "--slot", "0", "--disk", img.path_str()],
    );
    let serial = img.dir.path().join("serial.log");
    let mut qemu = ns.exec("qemu-system-x86_64");
    qemu.args(["-accel", "tcg", "-machine", "pc,graphics=off", "-m", "256"])
        .args(["-display", "none", "-nodefaults", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-kernel")
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 panic=-1 loglevel=7"])
        .args(["-netdev", "tap,id=n1,ifname=tap0,script=no,downscript=no"])
        .args(["-device", "e1000,netdev=n1,romfile="]);
    let o = run(&mut qemu, Duration::from_secs(300));
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    // The image as the guest left it, before aoed's shutdown (which flushes):
    // what aoed acknowledged is already in the file.
    let disk = img.on_disk();
    let (status, aoed_log) = d.terminate_log();
    let ctx = || {
        format!(
            "serial console:\n{log}\nqemu: {}\naoed:\n{aoed_log}",
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(log.contains("NETBOOT-AOE-DONE"), "{}", ctx());
    // The driver's own discovery message (IDENTIFY answered).
    assert!(
        log.contains(&format!("has {} sectors", img.data.len() / 512)),
        "{}",
        ctx()
    );
    assert_eq!(
        console_value(&log, "NETBOOT-AOE-SECTORS"),
        Some(&*(img.data.len() / 512).to_string()),
        "{}",
        ctx()
    );
    assert_eq!(
        console_value(&log, "NETBOOT-AOE-READ"),
        Some(&*sha256(&img.data)),
        "whole-disk read:\n{}",
        ctx()
    );
    assert_eq!(
        console_value(&log, "NETBOOT-AOE-WROTE"),
        Some("0"),
        "{}",
        ctx()
    );
    assert_eq!(
        console_value(&log, "NETBOOT-AOE-REREAD"),
        Some(&*sha256(&pattern)),
        "read back:\n{}",
        ctx()
    );
    // On the image: the pattern at 5 MiB, everything else as it was.
    let at = 5 * MIB;
    assert_eq!(sha256(&disk[at..at + pattern.len()]), sha256(&pattern));
    assert_eq!(sha256(&disk[..at]), sha256(&img.data[..at]));
    assert_eq!(
        sha256(&disk[at + pattern.len()..]),
        sha256(&img.data[at + pattern.len()..])
    );
    assert_eq!(status.code(), Some(0), "{aoed_log}");
    assert!(
        Daemon::stat(&aoed_log, "sectors_written") >= 4096,
        "{aoed_log}"
    );
    assert!(
        Daemon::stat(&aoed_log, "sectors_read") >= (img.data.len() / 512) as u64,
        "{aoed_log}"
    );
}

/// aoed serving an RBD image of a real (single-node) Ceph cluster
/// (`--disk rbd:rbd/aoe:conf=...`): aoectl reads the image `rbd import`
/// put there, and what aoectl writes `rbd export` reads back.
#[cfg(feature = "rbd")]
#[test]
fn aoectl_against_aoed_on_an_rbd_image() {
    let ns = Netns::new("rbd");
    // In aoed's namespace: its 127.0.0.1.
    let ceph = netboot_testkit::ceph::Cluster::start_in(1 << 30, Some(ns.name()));
    let img = Image::new(16 * MIB, 5);
    ceph.rbd(&["import", img.path_str(), "rbd/aoe"]);
    let spec = ceph.spec("rbd/aoe");
    let d = Daemon::aoed(&ns, &["--shelf", "4", "--slot", "1", "--disk", &spec]);
    let sum = ns.aoectl_ok(&["read", "--target", "e4.1", "--sha256"]);
    assert_eq!(sha_of(&sum), sha256(&img.data), "the imported image");
    let new = content(MIB + 512, 98);
    let input = img.dir.path().join("input.bin");
    std::fs::write(&input, &new).unwrap();
    ns.aoectl_ok(&[
        "write",
        "--target",
        "e4.1",
        "--lba",
        "777",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(d.terminate().code(), Some(0));
    let out = img.dir.path().join("export.img");
    ceph.rbd(&["export", "rbd/aoe", out.to_str().unwrap()]);
    let disk = std::fs::read(&out).unwrap();
    assert_eq!(
        sha256(&disk[777 * 512..777 * 512 + new.len()]),
        sha256(&new),
        "what aoectl wrote is in the cluster"
    );
}
