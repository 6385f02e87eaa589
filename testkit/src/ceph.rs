//! A single-node Ceph cluster for the tests, from Debian's packages
//! (`ceph-mon`, `ceph-osd`, `ceph-common`; scripts/install-peers): one
//! monitor and one OSD on 127.0.0.1 (ports of its own, so tests run side by
//! side), memstore (RAM), no authentication, pools of one replica, no
//! systemd. Usable in about 6 s; stopped (its daemons killed by their pid
//! files) and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{need, run};

/// A running cluster with an `rbd` pool.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    /// Its `ceph.conf` (what clients are given).
    pub conf: PathBuf,
    /// The network namespace it runs in (None: this process's).
    netns: Option<String>,
}

/// Two free TCP ports on 127.0.0.1 (for the monitor's v2 and v1).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn uuid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .expect("a uuid")
        .trim()
        .to_owned()
}

impl Cluster {
    /// Starts one (memstore of `osd_bytes` bytes).
    pub fn start(osd_bytes: u64) -> Cluster {
        Cluster::start_in(osd_bytes, None)
    }

    /// Starts one in the network namespace `netns` (its 127.0.0.1 is that
    /// namespace's: the clients run there too).
    pub fn start_in(osd_bytes: u64, netns: Option<&str>) -> Cluster {
        for p in [
            "ceph-mon",
            "ceph-osd",
            "ceph",
            "rbd",
            "monmaptool",
            "ceph-authtool",
        ] {
            need(p);
        }
        let dir = tempfile::Builder::new().prefix("ceph").tempdir().unwrap();
        let d = dir.path().to_owned();
        let d = d.as_path();
        for s in ["run", "log", "mon", "osd"] {
            std::fs::create_dir_all(d.join(s)).unwrap();
        }
        let fsid = uuid();
        let (p2, p1) = free_ports();
        let mon = format!("[v2:127.0.0.1:{p2},v1:127.0.0.1:{p1}]");
        let conf = d.join("ceph.conf");
        let dd = d.display();
        std::fs::write(
            &conf,
            format!(
                "[global]
fsid = {fsid}
mon host = {mon}
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
mon data avail warn = 5
osd objectstore = memstore
memstore device bytes = {osd_bytes}
run dir = {dd}/run
log file = {dd}/log/$name.log
pid file = {dd}/run/$name.pid
[mon]
mon data = {dd}/mon/$cluster-$id
admin socket = {dd}/run/$name.asok
[osd]
osd data = {dd}/osd/$cluster-$id
admin socket = {dd}/run/$name.asok
[client]
admin socket =
log file = {dd}/log/client.log
"
            ),
        )
        .unwrap();
        let c = Cluster {
            dir,
            conf,
            netns: netns.map(str::to_owned),
        };
        let keyring = d.join("keyring");
        c.cmd(
            "ceph-authtool",
            &[
                "--create-keyring",
                keyring.to_str().unwrap(),
                "--gen-key",
                "-n",
                "mon.",
                "--cap",
                "mon",
                "allow *",
            ],
            false,
        );
        c.cmd(
            "ceph-authtool",
            &[
                keyring.to_str().unwrap(),
                "--gen-key",
                "-n",
                "client.admin",
                "--cap",
                "mon",
                "allow *",
                "--cap",
                "osd",
                "allow *",
                "--cap",
                "mgr",
                "allow *",
            ],
            false,
        );
        let monmap = d.join("monmap");
        c.cmd(
            "monmaptool",
            &[
                "--create",
                "--fsid",
                &fsid,
                "--addv",
                "a",
                &mon,
                monmap.to_str().unwrap(),
            ],
            false,
        );
        c.cmd(
            "ceph-mon",
            &[
                "--mkfs",
                "-i",
                "a",
                "--monmap",
                monmap.to_str().unwrap(),
                "--keyring",
                keyring.to_str().unwrap(),
            ],
            true,
        );
        c.cmd("ceph-mon", &["-i", "a"], true);
        let osd = uuid();
        let id = c.cmd("ceph", &["osd", "new", &osd], true).trim().to_owned();
        std::fs::create_dir_all(d.join(format!("osd/ceph-{id}"))).unwrap();
        c.cmd("ceph-osd", &["-i", &id, "--mkfs", "--osd-uuid", &osd], true);
        c.start_osd();
        c.cmd("ceph", &["osd", "pool", "create", "rbd", "8", "8"], true);
        c.cmd("rbd", &["pool", "init", "rbd"], true);
        c
    }

    /// Runs `prog` with `args` (and `-c CONF` when `conf`); its stdout.
    fn cmd(&self, prog: &str, args: &[&str], conf: bool) -> String {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, prog]);
                c
            }
            None => Command::new(prog),
        };
        if conf {
            c.arg("-c").arg(&self.conf);
        }
        c.args(args);
        let o = run(&mut c, Duration::from_secs(60));
        assert!(
            o.status.success(),
            "{prog} {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs the `rbd` tool on this cluster; its stdout.
    pub fn rbd(&self, args: &[&str]) -> String {
        self.cmd("rbd", args, true)
    }

    /// Runs the `ceph` tool on this cluster; its stdout.
    pub fn ceph(&self, args: &[&str]) -> String {
        self.cmd("ceph", args, true)
    }

    /// `rbd:POOL/IMAGE:conf=CONF`, as qemu and our daemons name the image.
    pub fn spec(&self, pool_image: &str) -> String {
        format!("rbd:{pool_image}:conf={}", self.conf.display())
    }

    /// The pid of daemon `name` (`mon.a`, `osd.0`).
    fn pid(&self, name: &str) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join(format!("run/{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Starts the OSD (again).
    pub fn start_osd(&self) {
        self.cmd("ceph-osd", &["-i", "0"], true);
        // Up when the monitor says so.
        let until = Instant::now() + Duration::from_secs(60);
        while !self.ceph(&["osd", "stat"]).contains("1 up") {
            assert!(Instant::now() < until, "osd.0 does not come up");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the OSD (SIGTERM; memstore keeps nothing: use
    /// [`Cluster::pause_osd`] to stop it without losing the data).
    pub fn stop_osd(&self) {
        if let Some(p) = self.pid("osd.0") {
            kill(p, "TERM");
            wait_gone(p);
        }
    }

    /// Freezes the OSD (SIGSTOP) for `d`, then lets it go on (SIGCONT):
    /// the cluster's disk gone for a while, its data kept.
    pub fn pause_osd(&self, d: Duration) {
        let p = self.pid("osd.0").expect("osd.0 runs");
        kill(p, "STOP");
        std::thread::sleep(d);
        kill(p, "CONT");
    }

    /// Its directory (logs under `log/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn kill(pid: i32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

fn wait_gone(pid: i32) {
    let until = Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    if Path::new(&format!("/proc/{pid}")).exists() {
        kill(pid, "KILL");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for name in ["osd.0", "mon.a"] {
            if let Some(p) = self.pid(name) {
                kill(p, "CONT");
                kill(p, "TERM");
                wait_gone(p);
            }
        }
    }
}
