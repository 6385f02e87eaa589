//! Support for interop tests that run the real daemons against real peers.
//!
//! * [`need`]: a peer program must be installed; a missing one fails the
//!   test (it never skips in CI).
//! * [`run`]: a command with a time limit.
//! * [`Netns`]: one private network namespace (optionally with a veth
//!   pair), removed on drop.
//! * [`Lan`]: a private Ethernet segment: a bridge in its own network
//!   namespace, and hosts (each in its own namespace) plugged into it by
//!   veth pairs, plus taps for qemu guests. Everything is removed on drop;
//!   no packet ever leaves the namespaces.
//! * [`Daemon`]: a process whose stdout and stderr are collected line by
//!   line, started when a "ready" line appears.
//! * [`guest`]: Linux guests for qemu (Debian's kernel, initramfs archives).

pub mod ceph;
pub mod guest;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Fails the test when `program` is not on the PATH. Outside CI, a user may
/// opt out with `NETBOOT_SKIP_INTEROP=1`; then this returns `false` and the
/// test should return early.
pub fn need(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var("NETBOOT_SKIP_INTEROP").as_deref() == Ok("1") && std::env::var("CI").is_err() {
        eprintln!("SKIPPED: {program} is not installed (NETBOOT_SKIP_INTEROP=1)");
        return false;
    }
    panic!(
        "peer `{program}` is not installed: run scripts/install-peers \
         (or set NETBOOT_SKIP_INTEROP=1 outside CI)"
    );
}

/// SHA-256 of `data`, in hex.
pub fn sha256(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `len` bytes of deterministic pseudo-random content (xorshift from
/// `seed`): test data that compresses badly and differs per seed.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Makes the qcow2 overlay `name` in `dir` over `backing` (a name in
/// `dir`, of format `format`) with `qemu-img create -f qcow2 -b BACKING -F
/// FORMAT`, and returns its path. qemu-img is required.
pub fn qemu_overlay(
    dir: &std::path::Path,
    name: &str,
    backing: &str,
    format: &str,
) -> std::path::PathBuf {
    need("qemu-img");
    let o = run(
        Command::new("qemu-img")
            .args([
                "create", "-q", "-f", "qcow2", "-b", backing, "-F", format, name,
            ])
            .current_dir(dir),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "qemu-img create {name} over {backing}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    dir.join(name)
}

/// Runs `cmd` to completion within `limit` (panics when it takes longer);
/// stdout and stderr are collected.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let so = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let se = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let until = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish in {limit:?}; stderr: {}",
                String::from_utf8_lossy(&se.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: so.join().unwrap_or_default(),
        stderr: se.join().unwrap_or_default(),
    }
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        o.status.success(),
        "ip {} failed (root needed): {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// One private network namespace with `lo` up, removed (with everything
/// in it) on drop. For tests that need a single host with its own
/// loopback, firewall rules or veth pairs; [`Lan`] makes a segment of
/// several hosts.
#[derive(Debug)]
pub struct Netns {
    /// The namespace's name.
    pub name: String,
}

impl Netns {
    /// A new namespace named after `tag` and this process.
    pub fn new(tag: &str) -> Netns {
        let name = format!("nbt-{tag}-{}", tag_suffix());
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// A new namespace with a veth pair `a` / `b` inside it, both up.
    pub fn with_veth(tag: &str, a: &str, b: &str) -> Netns {
        let ns = Netns::new(tag);
        ip(&[
            "-n", &ns.name, "link", "add", a, "type", "veth", "peer", "name", b,
        ]);
        ip(&["-n", &ns.name, "link", "set", a, "up"]);
        ip(&["-n", &ns.name, "link", "set", b, "up"]);
        ns
    }

    /// A command run inside the namespace.
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs a shell script in the namespace; panics if it fails; returns
    /// its stdout.
    pub fn sh(&self, script: &str) -> String {
        let o = self.exec("sh").args(["-c", script]).output().expect("sh");
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn tag_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique short tag for names (interfaces have 15 characters at most).
fn tag() -> String {
    format!(
        "{:x}{:x}",
        std::process::id() % 0x10000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A host on a [`Lan`]: a network namespace whose interface `eth0` is
/// plugged into the LAN's bridge.
#[derive(Debug)]
pub struct Host {
    /// The namespace's name.
    pub ns: String,
    /// The interface's name inside the namespace.
    pub iface: String,
    /// The address given to it, if any.
    pub addr: Option<Ipv4Addr>,
}

impl Host {
    /// A command run inside the host's namespace.
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// Runs a shell script in the namespace; panics if it fails.
    pub fn sh(&self, script: &str) -> String {
        let o = self.exec("sh").args(["-c", script]).output().expect("sh");
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs `f` on a thread that has entered the host's network namespace:
    /// sockets it makes live there (the test process itself stays where it
    /// is).
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.ns);
        std::thread::scope(|s| {
            s.spawn(|| {
                let fd = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> String {
        self.sh(&format!("cat /sys/class/net/{}/address", self.iface))
            .trim()
            .to_owned()
    }
}

/// dnsmasq on `host`'s eth0 (a site's DHCP server, or its proxy mode, by
/// `extra` arguments), its lease and pid files in `dir`; ready once it
/// logs "started".
pub fn dnsmasq(host: &Host, dir: &std::path::Path, extra: &[&str]) -> Daemon {
    let mut c = host.exec("dnsmasq");
    c.args([
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--log-dhcp",
    ])
    .args([
        "--user=root",
        "--group=root",
        "--interface=eth0",
        "--bind-interfaces",
    ])
    .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
    .arg(format!("--pid-file={}", dir.join("pid").display()))
    .args(extra);
    Daemon::start(c, Some("started")).0
}

/// A private Ethernet segment: bridge `br0` in namespace `lan`, hosts in
/// namespaces of their own, taps for qemu in the `lan` namespace.
#[derive(Debug)]
pub struct Lan {
    /// The namespace holding the bridge (and taps).
    pub ns: String,
    hosts: Vec<String>,
    taps: Vec<String>,
}

impl Lan {
    /// A new, empty segment.
    pub fn new() -> Lan {
        let ns = format!("nbt-lan-{}", tag());
        ip(&["netns", "add", &ns]);
        let lan = Lan {
            ns,
            hosts: Vec::new(),
            taps: Vec::new(),
        };
        ip(&["-n", &lan.ns, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &lan.ns,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        ]);
        ip(&["-n", &lan.ns, "link", "set", "br0", "up"]);
        lan
    }

    /// A host with `eth0` on the segment, with `addr/prefix` if given.
    pub fn host(&mut self, addr: Option<(Ipv4Addr, u8)>) -> Host {
        let t = tag();
        let ns = format!("nbt-h-{t}");
        ip(&["netns", "add", &ns]);
        self.hosts.push(ns.clone());
        let port = format!("nbp{t}");
        // Made in the host namespace, the bridge end moved to the LAN.
        ip(&[
            "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
            &self.ns,
        ]);
        ip(&["-n", &self.ns, "link", "set", &port, "master", "br0"]);
        ip(&["-n", &self.ns, "link", "set", &port, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        if let Some((a, p)) = addr {
            ip(&["-n", &ns, "addr", "add", &format!("{a}/{p}"), "dev", "eth0"]);
        }
        Host {
            ns,
            iface: "eth0".into(),
            addr: addr.map(|(a, _)| a),
        }
    }

    /// A tap on the bridge for a qemu guest started in [`Lan::ns`]
    /// (`-netdev tap,ifname=NAME,script=no,downscript=no`).
    pub fn tap(&mut self) -> String {
        let name = format!("nbt{}", tag());
        ip(&["-n", &self.ns, "tuntap", "add", "dev", &name, "mode", "tap"]);
        ip(&["-n", &self.ns, "link", "set", &name, "master", "br0"]);
        ip(&["-n", &self.ns, "link", "set", &name, "up"]);
        self.taps.push(name.clone());
        name
    }

    /// A BIOS PC on the segment: qemu (TCG, 256 MiB) with an e1000 NIC of
    /// `mac` on a new tap, booting from the network with the NIC's iPXE
    /// ROM, COM1 written to `serial`, and `isa-debug-exit` at 0x501 for the
    /// guest's verdict; `-no-reboot`, so it ends when the guest does.
    pub fn bios_pc(&mut self, mac: &str, serial: &std::path::Path) -> Command {
        let tap = self.tap();
        let mut qemu = self.exec("qemu-system-x86_64");
        qemu.args(["-accel", "tcg", "-machine", "pc,graphics=off", "-m", "256"])
            .args(["-display", "none", "-nodefaults", "-no-reboot"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .arg("-netdev")
            .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"))
            .arg("-device")
            .arg(format!("e1000,netdev=n0,mac={mac}"))
            .args(["-boot", "n"])
            .args(["-device", "isa-debug-exit,iobase=0x501,iosize=1"]);
        qemu
    }

    /// A UEFI PC on the segment: qemu (TCG, 512 MiB) with OVMF and a
    /// virtio-net NIC of `mac` on a new tap, without an option ROM, so the
    /// firmware's own PXE client boots (it must be given `ipxe.efi`);
    /// COM1 written to `serial`, `-no-reboot`.
    pub fn uefi_pc(&mut self, mac: &str, serial: &std::path::Path) -> Command {
        const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
        assert!(
            std::path::Path::new(OVMF).exists(),
            "{OVMF} is missing: run scripts/install-peers (ovmf)"
        );
        let tap = self.tap();
        let mut qemu = self.exec("qemu-system-x86_64");
        qemu.args(["-accel", "tcg", "-machine", "pc", "-m", "512"])
            .args(["-bios", OVMF])
            .args(["-display", "none", "-nodefaults", "-no-reboot"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .arg("-netdev")
            .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"))
            .arg("-device")
            .arg(format!("virtio-net-pci,netdev=n0,mac={mac},romfile="));
        qemu
    }

    /// A command run in the LAN's namespace (where the taps are).
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }
}

impl Default for Lan {
    fn default() -> Self {
        Lan::new()
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for t in &self.taps {
            let _ = Command::new("ip")
                .args(["-n", &self.ns, "link", "del", t])
                .stderr(Stdio::null())
                .status();
        }
        for ns in self.hosts.iter().chain(std::iter::once(&self.ns)) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A running process with its output collected line by line.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `cmd`; with `ready`, waits (up to 20 s) until a line contains
    /// it, and returns that line too.
    pub fn start(mut cmd: Command, ready: Option<&str>) -> (Daemon, String) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stderr.take().expect("piped stderr")),
            Box::new(child.stdout.take().expect("piped stdout")),
        ];
        for pipe in pipes {
            let log = log.clone();
            let tx = tx.clone();
            let ready = ready.map(str::to_owned);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if ready.as_deref().is_some_and(|r| line.contains(r)) {
                        let _ = tx.send(line.clone());
                    }
                    log.lock().expect("log lock").push(line);
                }
            });
        }
        let mut d = Daemon { child, log };
        let line = match ready {
            Some(_) => match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(l) => l,
                Err(_) => {
                    let _ = d.child.kill();
                    panic!("{cmd:?} did not start:\n{}", d.log_text());
                }
            },
            None => String::new(),
        };
        if let Some(s) = d.child.try_wait().expect("wait") {
            panic!("{cmd:?} exited at once ({s}):\n{}", d.log_text());
        }
        (d, line)
    }

    /// Everything logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Waits up to `limit` for a line containing `needle`.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Option<String> {
        let until = Instant::now() + limit;
        loop {
            if let Some(l) = self
                .log
                .lock()
                .expect("log lock")
                .iter()
                .find(|l| l.contains(needle))
            {
                return Some(l.clone());
            }
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether a line contains `needle` (waiting up to 5 s for it).
    pub fn log_contains(&self, needle: &str) -> bool {
        self.wait_for(needle, Duration::from_secs(5)).is_some()
    }

    /// The process id (of `ip netns exec`, which execs the program).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process (SIGKILL: no chance to clean up) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The address after `local=` in a line (the daemons log
    /// `listening local=ADDR`).
    pub fn local_addr(line: &str) -> Option<std::net::SocketAddr> {
        line.split("local=")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// Sends SIGTERM and waits (up to 15 s) for the exit status.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                Instant::now() < until,
                "ignored SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the reader threads take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.log_text())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
