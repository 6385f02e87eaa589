//! The systemd units of `contrib/systemd/` as systemd itself reads them:
//! `systemd-analyze verify` (with each ExecStart= pointed at a program that
//! exists here) finds no unknown key, bad value or missing program.
//!
//! Peers are required: a missing one fails the test.

use std::path::Path;
use std::process::Command;

use netboot_testkit::need;

#[test]
fn the_units_pass_systemd_analyze_verify() {
    need("systemd-analyze");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/systemd");
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".service") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{name}: ExecStart="));
        let program = start.split_whitespace().next().unwrap();
        assert!(program.starts_with("/usr/local/sbin/"), "{name}: {program}");
        let here = if name == "netbootd.service" {
            env!("CARGO_BIN_EXE_netbootd")
        } else {
            "/bin/true"
        };
        std::fs::write(dir.path().join(&name), text.replace(program, here)).unwrap();
        units.push(dir.path().join(&name));
    }
    assert_eq!(units.len(), 5, "{units:?}");
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("systemd-analyze runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // Unknown keys and bad values are warnings on stderr.
    assert!(err.trim().is_empty(), "{err}");
}
