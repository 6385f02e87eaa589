//! The `ibft` command line: dump, check and build.

use std::process::{Command, Output};

const IPXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/ibft/tests/data/ipxe-1.0.0-git20190125-iscsi.bin"
);
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ibft.example.toml");

fn ibft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ibft"))
        .args(args)
        .output()
        .expect("run ibft")
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn dump_prints_the_ipxe_table() {
    let o = ibft(&["dump", IPXE]);
    assert!(o.status.success(), "{}", out(&o));
    let s = out(&o);
    for want in [
        "iBFT  length 599  revision 1  checksum ok",
        "iqn.2010-04.org.ipxe:00000000-0000-0000-0000-000000000000",
        "10.0.2.15/24 (255.255.255.0)  origin dhcp",
        "mac 52:54:00:12:34:56  vlan 0  pci 00:02.0",
        "portal 10.0.2.2:3299  lun 0  nic 0  chap none",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    let o = ibft(&["dump", "--json", IPXE]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["targets"][0]["port"], 3299);
    assert_eq!(v["targets"][0]["name"], "iqn.2026-11.org.netboot:test");
    assert_eq!(v["nics"][0]["ip"], "10.0.2.15");
    assert_eq!(v["checksum_ok"], true);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn check_accepts_good_and_lists_what_is_wrong() {
    let o = ibft(&["check", IPXE]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("ok: valid iBFT, 599 bytes"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.bin");
    let mut b = std::fs::read(IPXE).unwrap();
    b[0x200 + 57] = b'X'; // the initiator name's NUL
    b[0x180 + 1] = 7; // target 0's version
    std::fs::write(&bad, &b).unwrap();
    let o = ibft(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let s = out(&o);
    assert!(s.contains("checksum"), "{s}");
    assert!(s.contains("target0 has version 7"), "{s}");
    assert!(
        s.contains("initiator.name at offset 0x200 with length 57 is not NUL-terminated"),
        "{s}"
    );
    // dump still reads it, with warnings.
    let o = ibft(&["dump", bad.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning: checksum"));
    // Not a table at all.
    std::fs::write(&bad, b"hello").unwrap();
    let o = ibft(&["dump", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    // Missing file.
    let o = ibft(&["check", "/nonexistent/iBFT"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("/nonexistent/iBFT"));
}

#[test]
fn build_from_the_example_config_and_secrets_stay_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("ibft.bin");
    let o = ibft(&["build", "--config", EXAMPLE, "-o", bin.to_str().unwrap()]);
    assert!(o.status.success(), "{}", out(&o));
    let t = netboot_ibft::parse(&std::fs::read(&bin).unwrap()).unwrap();
    let g = t.targets[0].as_ref().unwrap();
    assert_eq!(g.name, "iqn.2026-11.org.example:images.pc042");
    assert_eq!(g.chap_secret, "correct horse battery");
    assert_eq!(g.chap_type, netboot_ibft::ChapType::ONE_WAY);
    assert_eq!(t.nics[0].as_ref().unwrap().pci_bdf, 0x0018);
    let o = ibft(&["dump", bin.to_str().unwrap()]);
    let s = out(&o);
    assert!(!s.contains("correct horse"), "{s}");
    assert!(s.contains("secret <hidden>"), "{s}");
    let o = ibft(&["dump", "--show-secrets", bin.to_str().unwrap()]);
    assert!(out(&o).contains("correct horse battery"));
    // The iPXE layout.
    let o = ibft(&[
        "build",
        "-c",
        EXAMPLE,
        "-o",
        bin.to_str().unwrap(),
        "--layout",
        "ipxe",
    ]);
    assert!(o.status.success());
    let b = std::fs::read(&bin).unwrap();
    assert_eq!(u16::from_le_bytes([b[48 + 8], b[48 + 9]]), 0x50);
    assert_eq!(netboot_ibft::parse(&b).unwrap(), t);
}

#[test]
fn build_rejects_bad_configs_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let bin = dir.path().join("o.bin");
    for (text, want) in [
        ("[[nic]]\nmac = \"52:54:00\"\n", "mac \"52:54:00\""),
        ("[[target]]\nip = \"10.0.0.1\"\n", "missing field `name`"),
        ("[acpi]\noem_id = \"TOOLONGID\"\n", "acpi.oem_id"),
        ("colour = \"blue\"\n", "unknown field `colour`"),
        (
            "[initiator]\nname = \"a\\u0000b\"\n",
            "initiator.name contains a NUL byte",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let o = ibft(&[
            "build",
            "-c",
            cfg.to_str().unwrap(),
            "-o",
            bin.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{text}: {}", out(&o));
        assert!(out(&o).contains(want), "{text}: {}", out(&o));
    }
}

#[test]
fn help_names_the_subcommands() {
    let o = ibft(&["--help"]);
    assert!(o.status.success());
    let s = out(&o);
    for sub in ["dump", "check", "build"] {
        assert!(s.contains(sub), "{s}");
    }
    assert!(!ibft(&["frobnicate"]).status.success());
}

#[test]
fn scan_finds_the_table_in_a_memory_image() {
    let dir = tempfile::tempdir().unwrap();
    let mem = dir.path().join("mem");
    let mut m = vec![0u8; 0x100000];
    let table = std::fs::read(IPXE).unwrap();
    m[0x9e620..0x9e620 + table.len()].copy_from_slice(&table);
    std::fs::write(&mem, &m).unwrap();
    let o = ibft(&["dump", "--scan", mem.to_str().unwrap()]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("found a table at 0x9e620"), "{}", out(&o));
    assert!(out(&o).contains("portal 10.0.2.2:3299"));
    let o = ibft(&["check", "--scan", mem.to_str().unwrap()]);
    assert!(o.status.success(), "{}", out(&o));
    std::fs::write(&mem, vec![0u8; 0x100000]).unwrap();
    let o = ibft(&["dump", "--scan", mem.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("no iBFT"), "{}", out(&o));
}

/// An endless input (`/dev/zero`, as a file and as stdin, and as the TOML
/// of `build`) ends promptly with an error naming the 1 MiB bound, within
/// a 256 MiB address-space limit (unbounded, `dump /dev/zero` grew by some
/// 500 MB a second); exactly 1 MiB is still read.
#[test]
fn endless_input_is_refused_at_one_mebibyte() {
    let bin = env!("CARGO_BIN_EXE_ibft");
    for script in [
        "exec \"$0\" dump /dev/zero",
        "exec \"$0\" check /dev/zero",
        "exec \"$0\" dump - < /dev/zero",
        "exec \"$0\" build -c /dev/zero -o /dev/null",
    ] {
        let limited = format!("ulimit -v 262144 && {script}");
        let started = std::time::Instant::now();
        let o = netboot_testkit::run(
            Command::new("sh").args(["-c", &limited, bin]),
            std::time::Duration::from_secs(10),
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{script}"
        );
        assert_eq!(o.status.code(), Some(2), "{script}: {}", out(&o));
        assert!(
            out(&o).contains("is larger than 1 MiB (1048576 bytes), the most ibft reads"),
            "{script}: {}",
            out(&o)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mib = dir.path().join("mib");
    std::fs::write(&mib, vec![0u8; 1 << 20]).unwrap();
    let o = ibft(&["dump", mib.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("signature"), "{}", out(&o));
    let o = ibft(&["--help"]);
    assert!(out(&o).contains("read up to 1 MiB"), "{}", out(&o));
}
