//! `netbootctl` as an administrator runs it: the commands of the contract,
//! tables and JSON, exit codes, and a store that survives kill -9 in the
//! middle of its changes. Every disk it makes is checked by qemu-img.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn ctl(store: &Path, args: &[&str]) -> Output {
    netboot_testkit::run(
        Command::new(env!("CARGO_BIN_EXE_netbootctl"))
            .arg("--store")
            .arg(store)
            .args(args),
        Duration::from_secs(60),
    )
}

fn ok(store: &Path, args: &[&str]) -> String {
    let o = ctl(store, args);
    assert!(
        o.status.success(),
        "netbootctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(store: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(store, &a)).unwrap()
}

fn qemu_img_check(p: &str) {
    netboot_testkit::need("qemu-img");
    let o = netboot_testkit::run(
        Command::new("qemu-img").args(["check", "-f", "qcow2", p]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

fn qemu_io(args: &[&str]) -> String {
    netboot_testkit::need("qemu-io");
    let o = netboot_testkit::run(Command::new("qemu-io").args(args), Duration::from_secs(60));
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success() && !t.contains("fail"), "{t}");
    t
}

#[test]
fn the_commands_of_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let golden = tmp.path().join("golden.raw");
    std::fs::write(&golden, netboot_testkit::content(4 << 20, 5)).unwrap();
    let out = ok(
        &store,
        &[
            "image",
            "create",
            "office",
            "--from",
            golden.to_str().unwrap(),
        ],
    );
    assert!(out.contains("version 1"), "{out}");
    // Edit through qemu-io (a maintenance PC), commit.
    let edit = ok(&store, &["image", "edit", "office"]);
    let edit = edit.trim();
    qemu_io(&["-f", "qcow2", "-c", "write -P 0x77 0 64k", edit]);
    let out = ok(&store, &["image", "commit", "office"]);
    assert!(out.contains("version 2 is current"), "{out}");
    let v = json(&store, &["image", "ls", "office"]);
    assert_eq!(v[0]["current"], 2);
    assert_eq!(v[0]["version"].as_array().unwrap().len(), 2);
    // Clients.
    ok(
        &store,
        &[
            "client",
            "add",
            "pc1",
            "--mac",
            "52:54:00:aa:bb:01",
            "--image",
            "office",
        ],
    );
    ok(
        &store,
        &[
            "client",
            "add",
            "pc2",
            "--mac",
            "52:54:00:aa:bb:02",
            "--image",
            "office",
            "--mode",
            "volatile",
        ],
    );
    let d1 = ok(&store, &["client", "disk", "pc1"]);
    let d1 = d1.trim().to_owned();
    qemu_io(&["-f", "qcow2", "-r", "-c", "read -P 0x77 0 64k", &d1]);
    qemu_img_check(&d1);
    ok(&store, &["image", "rollback", "office"]);
    let table = ok(&store, &["client", "ls"]);
    let pc1 = table.lines().find(|l| l.starts_with("pc1")).unwrap();
    assert!(pc1.contains("behind"), "{table}");
    let table = ok(&store, &["image", "ls"]);
    assert!(table.starts_with("IMAGE"), "{table}");
    let v1 = table.lines().find(|l| l.starts_with("office  1")).unwrap();
    assert!(v1.contains('*'), "version 1 is current: {table}");
    let v2 = table.lines().find(|l| l.starts_with("office  2")).unwrap();
    assert!(v2.contains("pc1"), "pc1 uses version 2: {table}");
    let d1 = ok(&store, &["client", "reset", "pc1"]);
    // Reset onto version 1: the edit of version 2 is not there.
    let o = netboot_testkit::run(
        Command::new("qemu-io").args(["-f", "qcow2", "-r", "-c", "read -P 0x77 0 64k", d1.trim()]),
        Duration::from_secs(60),
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Pattern verification failed"));
    // Export both ways; gc.
    let out = tmp.path().join("v2.qcow2");
    ok(
        &store,
        &["image", "export", "office@2", "-o", out.to_str().unwrap()],
    );
    qemu_img_check(out.to_str().unwrap());
    qemu_io(&[
        "-f",
        "qcow2",
        "-r",
        "-c",
        "read -P 0x77 0 64k",
        out.to_str().unwrap(),
    ]);
    let gone = json(&store, &["image", "gc", "office"]);
    assert_eq!(gone["removed"], serde_json::json!([2]));
    // Errors name what is wrong and exit 1; usage errors exit 2.
    let o = ctl(&store, &["image", "commit", "office"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"office\" has no edit open"));
    let o = ctl(&store, &["client", "disk", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no client \"nobody\""));
    let o = ctl(
        &store,
        &["client", "add", "pc3", "--mac", "zz", "--image", "office"],
    );
    assert_eq!(o.status.code(), Some(1));
    let o = ctl(&store, &["image", "export", "office@x", "-o", "/tmp/x"]);
    assert_eq!(o.status.code(), Some(1));
    let o = ctl(&store, &["image", "frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = ctl(
        &store,
        &[
            "client",
            "add",
            "pc3",
            "--mac",
            "02:00:00:00:00:03",
            "--image",
            "office",
            "--mode",
            "sometimes",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
}

/// kill -9 at random moments of edit + commit, rollback and client reset:
/// the store is always either before or after each change: its TOML files
/// parse, every version and disk they name exists and passes qemu-img
/// check, and the commands go on working.
#[test]
fn the_store_survives_kill_9_in_any_change() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let golden = tmp.path().join("g.raw");
    std::fs::write(&golden, netboot_testkit::content(2 << 20, 6)).unwrap();
    ok(
        &store,
        &["image", "create", "g", "--from", golden.to_str().unwrap()],
    );
    ok(
        &store,
        &[
            "client",
            "add",
            "pc",
            "--mac",
            "02:00:00:00:00:09",
            "--image",
            "g",
        ],
    );
    for round in 0..40u64 {
        let cmds: [&[&str]; 4] = [
            &["image", "edit", "g"],
            &["image", "commit", "g"],
            &["client", "reset", "pc"],
            &["image", "rollback", "g"],
        ];
        let args = cmds[(round % 4) as usize];
        let mut child = Command::new(env!("CARGO_BIN_EXE_netbootctl"))
            .arg("--store")
            .arg(&store)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(300 * (round % 9)));
        let _ = child.kill();
        let _ = child.wait();
        // Consistent: everything the metadata names is there and sound.
        let images = json(&store, &["image", "ls"]);
        for v in images[0]["version"].as_array().unwrap() {
            let f = store.join("images/g").join(v["file"].as_str().unwrap());
            assert!(f.exists(), "round {round}: {f:?} missing");
            if v["format"] == "qcow2" {
                qemu_img_check(f.to_str().unwrap());
            }
        }
        let clients = json(&store, &["client", "ls"]);
        if let Some(d) = clients[0]["disk"].as_str() {
            assert!(Path::new(d).exists(), "round {round}: {d} missing");
            qemu_img_check(d);
        }
        // And the next change works, leaving nothing the metadata does
        // not name.
        let _ = ctl(&store, &["image", "edit", "g"]);
        let named: Vec<String> = json(&store, &["image", "ls"])[0]["version"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["file"].as_str().unwrap().to_owned())
            .collect();
        for e in std::fs::read_dir(store.join("images/g")).unwrap() {
            let f = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                f == "image.toml" || f == "edit.qcow2" || named.contains(&f),
                "round {round}: stray {f}"
            );
        }
    }
    ok(&store, &["image", "commit", "g"]);
    let d = ok(&store, &["client", "reset", "pc"]);
    qemu_img_check(d.trim());
}

/// A closed stdout (`| head`) or stderr ends netbootctl quietly, never in
/// a panic.
#[test]
fn closed_pipes_are_no_panic() {
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    for args in [
        &["image", "ls"][..],
        &["client", "disk", "nobody"],
        &["--help"],
    ] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_netbootctl"))
            .arg("--store")
            .arg(&store)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(c.stdout.take());
        drop(c.stderr.take());
        let status = c.wait().unwrap();
        assert_ne!(status.code(), Some(101), "{args:?}: panicked");
    }
}
