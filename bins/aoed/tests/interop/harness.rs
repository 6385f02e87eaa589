//! Test harness: network namespaces with a veth pair, `aoed`, `aoectl` and
//! peers (vblade, aoeping, tshark) as real processes. Raw Ethernet only ever
//! flows inside the namespaces the tests create (and remove on drop).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub use netboot_testkit::{content, need, run, sha256};

/// The `aoectl` binary: built with this package's tests by
/// `cargo test -p netboot-aoed -p netboot-aoectl` (same target directory).
pub fn aoectl_bin() -> PathBuf {
    let aoed = PathBuf::from(env!("CARGO_BIN_EXE_aoed"));
    let p = aoed.with_file_name("aoectl");
    assert!(
        p.exists(),
        "{} is missing: run `cargo test -p netboot-aoed -p netboot-aoectl` (or build netboot-aoectl first)",
        p.display()
    );
    p
}

/// A network namespace with `lo` up and a veth pair `va` (target side) /
/// `vb` (client side), removed on drop; `exec` and `sh` come from
/// [`netboot_testkit::Netns`].
pub struct Netns {
    inner: netboot_testkit::Netns,
}

impl std::ops::Deref for Netns {
    type Target = netboot_testkit::Netns;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        Netns {
            inner: netboot_testkit::Netns::with_veth(&format!("aoe-{tag}"), "va", "vb"),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn mac(&self, dev: &str) -> String {
        let out = self
            .exec("cat")
            .arg(format!("/sys/class/net/{dev}/address"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Runs `aoectl ARGS` on `vb` (with a time limit).
    pub fn aoectl(&self, args: &[&str]) -> Output {
        let mut c = self.exec(aoectl_bin());
        c.args(args).args(["--interface", "vb"]);
        run(&mut c, Duration::from_secs(120))
    }

    /// Like [`Netns::aoectl`] but panics unless it succeeds; returns stdout.
    pub fn aoectl_ok(&self, args: &[&str]) -> String {
        let o = self.aoectl(args);
        assert!(
            o.status.success(),
            "aoectl {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// A bridge `br0` joining `vb` and a new tap `tap0` (for a qemu guest's
    /// NIC), so that the guest reaches a daemon on `va`. All of it lives in
    /// the namespace and goes with it.
    pub fn bridge_tap(&self) {
        self.sh("ip link add br0 type bridge forward_delay 0 stp_state 0 \
             && ip link set vb master br0 \
             && ip tuntap add dev tap0 mode tap \
             && ip link set tap0 master br0 \
             && ip link set tap0 up && ip link set br0 up");
    }

    /// Sends a hand-made frame from `vb` and returns the hex replies.
    pub fn raw(&self, hex: &str, wait: &str) -> Vec<String> {
        let out = self.aoectl_ok(&["raw", "--frame", hex, "--wait", wait]);
        out.lines().map(str::to_owned).collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // A persistent tap is deleted explicitly (no-op when there is
        // none); the namespace goes when `inner` is dropped.
        let _ = Command::new("ip")
            .args(["-n", &self.name, "link", "del", "tap0"])
            .stderr(Stdio::null())
            .status();
    }
}

/// A running daemon (aoed or vblade) with its log: a
/// [`netboot_testkit::Daemon`] with aoed's statistics line read.
pub struct Daemon {
    inner: netboot_testkit::Daemon,
}

impl Daemon {
    /// aoed on `va` with extra flags.
    pub fn aoed(ns: &Netns, args: &[&str]) -> Daemon {
        let mut c = ns.exec(env!("CARGO_BIN_EXE_aoed"));
        c.args(["--interface", "va", "--log-level", "debug"])
            .args(args);
        Daemon {
            inner: netboot_testkit::Daemon::start(c, Some("listening")).0,
        }
    }

    /// vblade on `va` (it prints nothing when ready: give it a moment).
    pub fn vblade(ns: &Netns, shelf: u16, slot: u8, file: &Path) -> Daemon {
        let mut c = ns.exec("vblade");
        c.args([&shelf.to_string(), &slot.to_string(), "va"])
            .arg(file);
        let d = Daemon {
            inner: netboot_testkit::Daemon::start(c, None).0,
        };
        std::thread::sleep(Duration::from_millis(500));
        d
    }

    pub fn log_text(&self) -> String {
        self.inner.log_text()
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.inner.log_contains(needle)
    }

    /// A counter from aoed's `statistics` line at shutdown (`name=N`).
    pub fn stat(log: &str, name: &str) -> u64 {
        let line = log
            .lines()
            .find(|l| l.contains("statistics"))
            .unwrap_or_else(|| panic!("no statistics line in the log:\n{log}"));
        let key = format!("{name}=");
        let at = line
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            + key.len();
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad {name} in {line}"))
    }

    pub fn pid(&self) -> u32 {
        self.inner.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.inner.is_running()
    }

    /// SIGTERM, then the exit status and the whole log (aoed writes its
    /// `statistics` line before it exits).
    pub fn terminate_log(self) -> (std::process::ExitStatus, String) {
        self.inner.terminate()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.inner.terminate().0
    }
}

/// A disk image with deterministic content in a temporary directory.
pub struct Image {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub data: Vec<u8>,
}

impl Image {
    pub fn new(len: usize, seed: u64) -> Image {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let data = content(len, seed);
        std::fs::write(&path, &data).unwrap();
        Image { dir, path, data }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    pub fn on_disk(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
}

/// Hex of an AoE request frame from `src` to `dst`.
#[allow(clippy::too_many_arguments)]
pub fn frame_hex(
    dst: &str,
    src: &str,
    ver_flags: u8,
    shelf: u16,
    slot: u8,
    cmd: u8,
    tag: u32,
    args: &[u8],
) -> String {
    let mut s = format!(
        "{}{}88a2{ver_flags:02x}00{shelf:04x}{slot:02x}{cmd:02x}{tag:08x}",
        dst.replace(':', ""),
        src.replace(':', "")
    );
    for b in args {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// ATA arguments: aflags, feature, count, command, 48-bit LBA, reserved.
pub fn ata_args(aflags: u8, count: u8, cmd: u8, lba: u64) -> Vec<u8> {
    let mut v = vec![aflags, 0, count, cmd];
    v.extend_from_slice(&lba.to_le_bytes()[..6]);
    v.extend_from_slice(&[0, 0]);
    v
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
