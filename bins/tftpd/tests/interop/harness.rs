//! Test harness: runs `tftpd` (and peers) as real processes.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use netboot_testkit::{content, need, run, sha256};

/// A running `tftpd` with its own temporary root.
pub struct Tftpd {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Tftpd {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Starts tftpd on `listen` (port 0 picks one) with extra flags; `netns`
    /// runs it inside a network namespace.
    pub fn start_in(netns: Option<&str>, listen: &str, extra: &[&str]) -> Tftpd {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let bin = env!("CARGO_BIN_EXE_tftpd");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.arg("--root")
            .arg(&root)
            .args(["--listen", listen, "--log-level", "debug"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tftpd");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    if let Some(a) = line.split("local=").nth(1) {
                        let _ = tx.send(a.split_whitespace().next().unwrap_or("").to_owned());
                    }
                }
                log2.lock().unwrap().push(line);
            }
        });
        let addr: SocketAddr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("tftpd did not report its address")
            .parse()
            .unwrap();
        Tftpd {
            child,
            addr,
            dir,
            log,
        }
    }

    pub fn start(extra: &[&str]) -> Tftpd {
        Self::start_in(None, "127.0.0.1:0", extra)
    }

    pub fn put_file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.root().join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, data).unwrap();
        p
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        // Give the log thread a moment to catch up.
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn url(&self, name: &str) -> String {
        format!("tftp://{}/{}", self.addr, name)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < until, "tftpd ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn assert_same_file(got: &Path, want: &[u8], what: &str) {
    let data = std::fs::read(got).unwrap_or_else(|e| panic!("{what}: no output file: {e}"));
    assert_eq!(data.len(), want.len(), "{what}: size");
    assert_eq!(sha256(&data), sha256(want), "{what}: sha256");
}

/// A raw UDP socket speaking TFTP by hand.
pub struct Raw {
    pub sock: UdpSocket,
}

impl Raw {
    pub fn new(server: SocketAddr) -> Raw {
        let bind = if server.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        };
        let sock = UdpSocket::bind(bind).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Raw { sock }
    }

    pub fn send(&self, to: SocketAddr, bytes: &[u8]) {
        self.sock.send_to(bytes, to).unwrap();
    }

    /// Next datagram, or None after the read time-out.
    pub fn recv(&self) -> Option<(Vec<u8>, SocketAddr)> {
        let mut b = vec![0u8; 70000];
        match self.sock.recv_from(&mut b) {
            Ok((n, from)) => {
                b.truncate(n);
                Some((b, from))
            }
            Err(_) => None,
        }
    }
}

/// A network namespace with only `lo` up plus a veth pair, removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("nbt-{tag}-{}", std::process::id());
        let ok = |args: &[&str]| {
            let s = Command::new("ip").args(args).status().unwrap();
            assert!(s.success(), "ip {args:?} failed (root needed)");
        };
        ok(&["netns", "add", &name]);
        let ns = Netns { name };
        ok(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    pub fn sh(&self, script: &str) {
        let out = self.exec("sh").args(["-c", script]).output().unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
