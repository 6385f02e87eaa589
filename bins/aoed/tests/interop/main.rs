//! `aoed` and `aoectl` against real AoE peers (vblade, aoetools' aoeping,
//! tshark's dissector) and hostile input, each test inside its own network
//! namespace with a veth pair (`va`: target, `vb`: client).
//!
//! Peers are required: a missing one fails the test (see `harness::need`).

mod harness;

use std::time::Duration;

use harness::*;

const MIB: usize = 1 << 20;

fn sha_of(out: &str) -> String {
    out.trim().to_owned()
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
    std::thread::sleep(Duration::from_secs(2));
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
    // retransmission, the data must still be exact.
    let sum = ns.aoectl_ok(&["read", "--target", "e1.1", "--sha256", "--drop-every", "7"]);
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
    ]);
    assert_eq!(
        sha256(&img.on_disk()[100 * 512..100 * 512 + MIB]),
        sha256(&new)
    );
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("error register 0x04"));
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
    let o = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_aoed")).args([
            "--interface",
            "lo",
            "--shelf",
            "1",
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(2));
    let o = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_aoed")).args([
            "--interface",
            "lo",
            "--shelf",
            "65535",
            "--slot",
            "1",
            "--disk",
            "/nonexistent",
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(2));
}
