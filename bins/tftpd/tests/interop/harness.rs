//! Test harness: runs `tftpd` (and peers) as real processes.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use netboot_testkit::{content, need, run, sha256, Daemon, Netns};

/// A running `tftpd` with its own temporary root.
pub struct Tftpd {
    daemon: Daemon,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
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
            .args(extra);
        let (daemon, line) = Daemon::start(cmd, Some("listening"));
        let addr = Daemon::local_addr(&line).expect("tftpd reports its address");
        Tftpd { daemon, addr, dir }
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
        self.daemon.log_contains(needle)
    }

    /// The first log line containing `needle` (waiting up to 5 s for it).
    pub fn daemon_line(&self, needle: &str) -> Option<String> {
        self.daemon.wait_for(needle, Duration::from_secs(5))
    }

    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }

    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.daemon.is_running()
    }

    pub fn url(&self, name: &str) -> String {
        format!("tftp://{}/{}", self.addr, name)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.daemon.terminate().0
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
