//! netbootd against real clients: iPXE (qemu's NIC ROM) boots a PC from
//! netbootd alone on a private segment (DHCP with a range, TFTP, the PC's
//! script over HTTP, its own overlay over iSCSI); curl asks the API and
//! plays another machine asking for the PC's script; bad configurations are
//! refused with the file, line and key.
//!
//! Peers are required: a missing one fails the test.

#[path = "../../iscsid/tests/interop/sanboot.rs"]
#[allow(dead_code)]
mod sanboot;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use netboot_testkit::{need, run, Daemon, Host, Lan};

const SRV: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const PC_MAC: &str = "52:54:00:12:34:79";

fn store_with_golden(dir: &Path) -> std::path::PathBuf {
    let golden = dir.join("golden.raw");
    std::fs::write(&golden, sanboot::disk_image()).unwrap();
    let root = dir.join("store");
    let store = netboot_image::Store::open(&root).unwrap();
    store.image_create("golden", &golden, None).unwrap();
    root
}

/// netboot.toml in `dir`: netbootd on `eth0` with DHCP for 10.78.0.100-150,
/// volatile PCs, no enrolment, and the client `pc1` with `mac` (and `extra`
/// lines).
fn office_config(dir: &Path, store: &Path, mac: &str, extra: &str) -> std::path::PathBuf {
    let config = dir.join("netboot.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
interface = "eth0"
http_port = 80
[dhcp]
mode = "authoritative"
range = "10.78.0.100-10.78.0.150"
[store]
path = "{}"
[defaults]
mode = "volatile"
enrol = false
[[client]]
name = "pc1"
mac = "{mac}"
{extra}"#,
            store.display()
        ),
    )
    .unwrap();
    config
}

fn netbootd(host: &Host, config: &Path) -> Daemon {
    netbootd_with(host, config, None)
}

/// netbootd as systemd starts it with `Type=notify` and `WatchdogSec=`
/// when `notify` is given: `NOTIFY_SOCKET`, and `WATCHDOG_USEC` and
/// `WATCHDOG_PID` (its own, through a shell that execs it).
fn netbootd_with(host: &Host, config: &Path, notify: Option<(&Path, u64)>) -> Daemon {
    let mut c = host.exec("sh");
    c.args([
        "-c",
        "[ -n \"$WATCHDOG_USEC\" ] && export WATCHDOG_PID=$$; exec \"$0\" \"$@\"",
    ])
    .arg(env!("CARGO_BIN_EXE_netbootd"))
    .arg("--config")
    .arg(config)
    .args(["-v"]);
    if let Some((socket, usec)) = notify {
        c.env("NOTIFY_SOCKET", socket)
            .env("WATCHDOG_USEC", usec.to_string());
    }
    Daemon::start(c, Some("netbootd serving")).0
}

fn curl(host: &Host, args: &[&str]) -> (String, String) {
    let o = host
        .exec("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    (body.to_owned(), code.to_owned())
}

fn need_bios_pc() {
    need("qemu-system-x86_64");
    need("curl");
    assert!(
        Path::new("/usr/lib/ipxe/qemu/pxe-e1000.rom").exists()
            || Path::new("/usr/share/qemu/pxe-e1000.rom").exists(),
        "iPXE ROMs missing: run scripts/install-peers (ipxe-qemu)"
    );
}

/// Boots the BIOS PC with [`PC_MAC`] in qemu (its NIC's iPXE) until its
/// boot sector ends qemu: it must have read its disk as it should.
fn boot_bios_pc(lan: &mut Lan, dir: &Path, d: &Daemon) {
    let serial = dir.join("serial.log");
    let mut qemu = lan.bios_pc(PC_MAC, &serial);
    let o = run(&mut qemu, Duration::from_secs(240));
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    assert_eq!(
        o.status.code(),
        Some(sanboot::EXIT_OK),
        "serial:\n{log}\nnetbootd:\n{}",
        d.log_text()
    );
    assert!(d.log_contains("script sent"), "{}", d.log_text());
}

/// The site has its own DHCP server (dnsmasq with a range, on another
/// host): netbootd in its default proxy mode answers only the PXE part,
/// and the PC boots its overlay all the same.
#[test]
fn a_pc_boots_beside_the_sites_dhcp_server_in_proxy_mode() {
    need_bios_pc();
    need("dnsmasq");
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_golden(dir.path());
    let config = office_config(dir.path(), &store, PC_MAC, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "mode = \"authoritative\"\nrange = \"10.78.0.100-10.78.0.150\"",
        "mode = \"proxy\"",
    );
    assert!(text.contains("mode = \"proxy\""));
    std::fs::write(&config, text).unwrap();
    let mut lan = Lan::new();
    let site = lan.host(Some((Ipv4Addr::new(10, 78, 0, 1), 24)));
    let srv = lan.host(Some((SRV, 24)));
    let site_dhcp = netboot_testkit::dnsmasq(
        &site,
        dir.path(),
        &["--dhcp-range=10.78.0.100,10.78.0.150,255.255.255.0,1h"],
    );
    let d = netbootd(&srv, &config);
    boot_bios_pc(&mut lan, dir.path(), &d);
    // The site's server gave the address.
    assert!(
        site_dhcp
            .log_text()
            .lines()
            .any(|l| l.contains("DHCPACK(eth0) 10.78.0.1") && l.contains(PC_MAC)),
        "{}",
        site_dhcp.log_text()
    );
    assert!(d.log_contains("proxy offer"), "{}", d.log_text());
    assert!(!d.log_contains("authoritative mode"), "{}", d.log_text());
    let pc = api_pc(&srv, "pc1");
    for stage in ["dhcp", "script", "san_login"] {
        assert!(pc["stages"][stage].as_u64().is_some(), "{stage}: {pc}");
    }
    let (status, _) = d.terminate();
    assert!(status.success());
}

/// One PC, netbootd alone: the firmware's iPXE gets an address and its
/// script from netbootd, `sanboot`s its own overlay of the golden image
/// (the boot sector checks what it reads and ends qemu with EXIT_OK); the
/// API shows its stages; another machine asking for its script is refused;
/// resetting through the API needs the token.
#[test]
fn a_pc_boots_its_own_overlay_from_netbootd_alone() {
    need_bios_pc();
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_golden(dir.path());
    let config = office_config(dir.path(), &store, PC_MAC, "hostname = \"pc1.office\"\n");
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    let other = lan.host(Some((Ipv4Addr::new(10, 78, 0, 60), 24)));
    let d = netbootd(&srv, &config);
    // Another machine asks for the PC's script (it holds its secret).
    let (_, code) = curl(&other, &["http://10.78.0.2/boot/52-54-00-12-34-79.ipxe"]);
    assert_eq!(code, "403", "{}", d.log_text());
    assert!(d.log_contains("refused a PC's script to another machine"));
    // Boot files under /files/ (here the iPXE directory): whole, a range,
    // nothing outside.
    let want = std::fs::read("/usr/lib/ipxe/undionly.kpxe").expect("Debian's ipxe package");
    let got = dir.path().join("got");
    let url = format!("http://{SRV}/files/undionly.kpxe");
    let (_, code) = curl(&other, &["-o", got.to_str().unwrap(), &url]);
    assert_eq!(code, "200");
    assert!(std::fs::read(&got).unwrap() == want, "the whole file");
    let (_, code) = curl(
        &other,
        &["-r", "100-199", "-o", got.to_str().unwrap(), &url],
    );
    assert_eq!(code, "206");
    assert!(
        std::fs::read(&got).unwrap() == want[100..200],
        "bytes 100-199"
    );
    for escape in [
        "/files/../../../etc/passwd",
        "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let (body, code) = curl(&other, &["--path-as-is", &format!("http://{SRV}{escape}")]);
        assert!(code == "404" || code == "400", "{escape}: {code} {body}");
        assert!(!body.contains("root:"), "{escape}: {body}");
    }
    // The PC.
    boot_bios_pc(&mut lan, dir.path(), &d);
    // The API: the PC, its overlay over version 1, its stages.
    let api = "http://127.0.0.1:8067/api/v1";
    let deadline = Instant::now() + Duration::from_secs(30);
    let pc = loop {
        let (body, code) = curl(&srv, &[&format!("{api}/clients")]);
        assert_eq!(code, "200", "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let pc = v
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == "pc1"))
            .cloned()
            .unwrap_or_else(|| panic!("pc1 in {body}"));
        // qemu is gone: its session ends when netbootd sees the close.
        if pc["sessions"] == 0 || Instant::now() > deadline {
            break pc;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(pc["mac"], PC_MAC, "{pc}");
    assert_eq!(pc["image"], "golden", "{pc}");
    assert_eq!(pc["version"], 1, "{pc}");
    assert_eq!(pc["mode"], "volatile", "{pc}");
    assert_eq!(pc["target"], "iqn.2026-12.org.netboot:pc1", "{pc}");
    assert_eq!(pc["sessions"], 0, "{pc}\n{}", d.log_text());
    assert!(pc["io"]["read_bytes"].as_u64() > Some(0), "{pc}");
    assert!(pc["io"]["commands"].as_u64() > Some(0), "{pc}");
    for stage in ["dhcp", "script", "san_login", "last_io", "offline"] {
        assert!(pc["stages"][stage].as_u64().is_some(), "{stage}: {pc}");
    }
    // Prometheus metrics, on the API listener.
    let (text, code) = curl(&srv, &["http://127.0.0.1:8067/metrics"]);
    assert_eq!(code, "200", "{text}");
    for line in [
        "netboot_scripts_total{pc=\"pc1\"} 1",
        "netboot_script_refusals_total{reason=\"not_yours\"} 1",
        "netboot_sessions{pc=\"pc1\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("netboot_logins_total{pc=\"pc1\"} ") && !l.ends_with(" 0")),
        "{text}"
    );
    for metric in ["overlay_bytes", "commands_total", "read_bytes_total"] {
        assert!(
            text.lines().any(|l| l
                .strip_prefix(&format!("netboot_{metric}{{pc=\"pc1\"}} "))
                .is_some_and(|v| v != "0")),
            "{metric} in:\n{text}"
        );
    }
    // Changing state needs the token.
    let reset = format!("{api}/clients/pc1/reset");
    let (_, code) = curl(&srv, &["-X", "POST", &reset]);
    assert_eq!(code, "401");
    let (_, code) = curl(
        &srv,
        &["-X", "POST", "-H", "Authorization: Bearer wrong", &reset],
    );
    assert_eq!(code, "401");
    assert!(d.log_contains("missing or wrong API token"));
    let token = std::fs::read_to_string(store.join("netbootd/api-token")).unwrap();
    let (body, code) = curl(
        &srv,
        &[
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {}", token.trim()),
            &reset,
        ],
    );
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"client\":\"pc1\""), "{body}");
    // The secrets are the administrator's only.
    use std::os::unix::fs::PermissionsExt;
    for f in ["netbootd/api-token", "netbootd/chap/pc1"] {
        let mode = std::fs::metadata(store.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f}: {mode:o}");
    }
    let (status, _) = d.terminate();
    assert!(status.success());
}

/// Mistakes in netboot.toml: one line naming the file, the line and the
/// key; exit status 2.
#[test]
fn bad_configs_name_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_golden(dir.path());
    let head = format!(
        "[server]\ninterface = \"lo\"\n[store]\npath = \"{}\"\n",
        store.display()
    );
    let cases: &[(&str, &str, &str)] = &[
        ("[api]\nbogus = 1\n", "line 6", "bogus"),
        (
            "[[client]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\n[[client]]\nname = \"b\"\nmac = \"52:54:00:00:00:01\"\n",
            "line 10",
            "client.mac",
        ),
        (
            "[[client]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\n[[client]]\nname = \"a\"\nmac = \"52:54:00:00:00:02\"\n",
            "line 9",
            "client.name",
        ),
        (
            "[[client]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\nimage = \"nosuch\"\n",
            "line 8",
            "client.image",
        ),
        ("[[client]]\nname = \"a\"\nmac = \"not-a-mac\"\n", "line 7", "client.mac"),
        ("[dhcp]\nmode = \"sometimes\"\n", "line 6", "dhcp.mode"),
        (
            "[dhcp]\nmode = \"authoritative\"\nrange = \"10.0.0.9-10.0.0.1\"\n",
            "line 7",
            "dhcp.range",
        ),
        ("[defaults]\nprotocol = \"nfs\"\n", "line 6", "defaults.protocol"),
        (
            "[[client]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\nhostname = \"a b\\nchain x\"\n",
            "line 6",
            "client.hostname",
        ),
        // Boot files: under files_dir (here /usr/lib/ipxe), existing.
        ("[defaults]\nkernel = \"../etc/passwd\"\n", "line 6", "defaults.kernel"),
        ("[defaults]\nkernel = \"no-such-kernel\"\n", "line 6", "defaults.kernel"),
        (
            "[defaults]\nkernel = \"undionly.kpxe\"\ninitrd = [\"ipxe.efi\", \"/etc/passwd\"]\n",
            "line 7",
            "defaults.initrd",
        ),
        (
            "[defaults]\nkernel = \"undionly.kpxe\"\ncmdline = \"quiet\\nchain http://x/\"\n",
            "line 7",
            "defaults.cmdline",
        ),
        ("[defaults]\ncmdline = \"quiet\"\n", "line 6", "initrd and cmdline need a kernel"),
        (
            "[[client]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\nversion = 7\n",
            "line 8",
            "client.version",
        ),
        (
            "[[client]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\nmaintenance = true\n\
             [[client]]\nname = \"b\"\nmac = \"52:54:00:00:00:02\"\nmaintenance = true\n",
            "line 12",
            "client.maintenance",
        ),
        ("[defaults]\nmenu_timeout = 99999\n", "line 6", "defaults.menu_timeout"),
        (
            "[[client]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\nprotocol = \"aoe\"\nmaintenance = true\n",
            "line 9",
            "client.maintenance",
        ),
    ];
    for (i, (body, line, key)) in cases.iter().enumerate() {
        let f = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&f, format!("{head}{body}")).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_netbootd"))
            .arg("--config")
            .arg(&f)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(
            err.contains(&f.display().to_string()) && err.contains(line) && err.contains(key),
            "case {i}: want {line} and {key} in: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "case {i}: one line: {err}");
    }
    // A store without images.
    let empty = dir.path().join("empty");
    let o = Command::new(env!("CARGO_BIN_EXE_netbootd"))
        .args(["--interface", "lo", "--store"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no image"));
}

/// What the tests with busybox and qemu-io as the PCs need: a directory, a
/// store with `golden`, a LAN and netbootd's host on it.
fn lan_with_store() -> (tempfile::TempDir, std::path::PathBuf, Lan, Host) {
    need("busybox");
    need("qemu-io");
    need("curl");
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_golden(dir.path());
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    (dir, store, lan, srv)
}

/// The firmware's DHCP request of `pc`: DISCOVER and REQUEST with the PXE
/// vendor class (busybox udhcpc; its script leaves the address as it is).
fn firmware_dhcp(pc: &Host) {
    let o = pc
        .exec("busybox")
        .args([
            "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
        ])
        .args(["-s", "/bin/true", "-V", "PXEClient:Arch:00000:UNDI:002001"])
        .output()
        .expect("busybox udhcpc runs");
    assert!(
        o.status.success(),
        "udhcpc: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The script of the PC `pc` with `mac`, fetched as iPXE does.
fn pc_script(pc: &Host, mac: &str) -> String {
    let (script, code) = curl(
        pc,
        &[&format!("http://{SRV}/boot/{}.ipxe", mac.replace(':', "-"))],
    );
    assert_eq!(code, "200", "{script}");
    script
}

/// The value of `set KEY VALUE` in `script`.
fn setting(script: &str, key: &str) -> String {
    script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("set {key} ")))
        .unwrap_or_else(|| panic!("{key} in {script}"))
        .to_owned()
}

/// qemu-io (libiscsi) on `pc`, logging in to `target` with the initiator
/// name, user and secret of `script`.
fn qemu_io(pc: &Host, script: &str, target: &str) -> Command {
    let mut c = pc.exec("qemu-io");
    c.args([
        "--object",
        &format!("secret,id=pw,data={}", setting(script, "password")),
        "--image-opts",
        &format!(
            "driver=iscsi,transport=tcp,portal={SRV}:3260,target={target},lun=0,\
             user={},password-secret=pw,initiator-name={}",
            setting(script, "username"),
            setting(script, "initiator-iqn")
        ),
    ]);
    c
}

/// A qemu-io left running (an initiator that keeps its session), killed
/// when dropped: a failing test leaves none behind.
struct Initiator(std::process::Child);

impl Initiator {
    /// qemu-io on `pc` as [`qemu_io`], reading commands from a pipe.
    fn start(pc: &Host, script: &str, target: &str) -> Initiator {
        Initiator(
            qemu_io(pc, script, target)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("qemu-io runs"),
        )
    }

    /// Sends it `commands`, one per line.
    fn send(&mut self, commands: &str) {
        use std::io::Write;
        let stdin = self.0.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{commands}").unwrap();
        stdin.flush().unwrap();
    }

    /// Ends its input (it quits at the end of it); what it wrote to
    /// stdout.
    fn quit(mut self) -> String {
        drop(self.0.stdin.take());
        let mut out = String::new();
        use std::io::Read;
        let _ = self
            .0
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out);
        let _ = self.0.wait();
        out
    }

    /// Freezes it (SIGSTOP): a PC reset without a logout.
    fn freeze(&self) {
        let st = Command::new("kill")
            .args(["-STOP", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Initiator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs qemu-io `commands` on `target` with `script`'s credentials; its
/// output.
fn qemu_io_run(pc: &Host, script: &str, target: &str, commands: &[&str]) -> (bool, String) {
    let mut c = qemu_io(pc, script, target);
    for cmd in commands {
        c.args(["-c", cmd]);
    }
    let o = c.output().expect("qemu-io runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), out)
}

/// netbootctl (built beside netbootd: `scripts/test` builds every binary
/// first) on `host` with `store`: success, and stdout and stderr.
fn netbootctl(host: &Host, store: &Path, args: &[&str]) -> (bool, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_netbootd")).with_file_name("netbootctl");
    assert!(
        bin.exists(),
        "{}: build it first (cargo build -p netboot-netbootctl)",
        bin.display()
    );
    let o = host
        .exec(&bin)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("netbootctl runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), out)
}

/// PC `name` as `GET /api/v1/clients` shows it.
fn api_pc(srv: &Host, name: &str) -> serde_json::Value {
    let (body, code) = curl(srv, &["http://127.0.0.1:8067/api/v1/clients"]);
    assert_eq!(code, "200", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    v.as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} in {body}"))
}

/// Waits up to 15 s for `f`; panics with `what` if it never holds.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < until, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn generation(store: &Path, name: &str) -> u64 {
    netboot_image::Store::open(store)
        .unwrap()
        .client_meta(name)
        .unwrap()
        .generation
}

/// A PC that boots again sends its firmware's DHCP request first (busybox
/// udhcpc with the PXE vendor class plays the firmware): a volatile PC's
/// disk is made anew then. While a live initiator (qemu-io over libiscsi,
/// answering pings) has the disk, a new request changes nothing; once the
/// initiator is frozen (SIGSTOP: a PC reset without a logout), the request
/// probes its session, drops it within seconds and makes the disk anew.
#[test]
fn a_new_boot_drops_a_dead_session_but_not_a_live_one() {
    let (dir, store, mut lan, srv) = lan_with_store();
    let pc = lan.host(Some((Ipv4Addr::new(10, 78, 0, 70), 24)));
    let mac = pc.mac();
    let config = office_config(dir.path(), &store, &mac, "");
    // systemd's side of Type=notify and WatchdogSec= (200 ms pings).
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let notes = notes.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = notify.recv(&mut buf) {
                let note = String::from_utf8_lossy(&buf[..n]).into_owned();
                notes.lock().unwrap().push(note);
            }
        });
    }
    let noted = |what: &str| notes.lock().unwrap().iter().any(|n| n.contains(what));
    let d = netbootd_with(&srv, &config, Some((&notify_path, 400_000)));
    wait_until("READY=1 and WATCHDOG=1", || {
        noted("READY=1\nSTATUS=serving 1 PCs of the file on eth0") && noted("WATCHDOG=1")
    });
    let target = "iqn.2026-12.org.netboot:pc1";
    let g0 = generation(&store, "pc1");
    firmware_dhcp(&pc);
    wait_until("a new disk at the DHCP request", || {
        generation(&store, "pc1") == g0 + 1
    });
    let script = pc_script(&pc, &mac);
    assert_eq!(
        generation(&store, "pc1"),
        g0 + 1,
        "the script keeps this boot's disk"
    );
    // A live initiator with the PC's name and secret.
    let mut io = Initiator::start(&pc, &script, target);
    io.send("write -P 0x5a 0 4k");
    let sessions = || api_pc(&srv, "pc1")["sessions"].as_u64().unwrap();
    wait_until("its session", || sessions() == 1);
    // Its session answers the probe: the disk stays.
    firmware_dhcp(&pc);
    assert!(
        d.wait_for(
            "while a session of its disk lives on",
            Duration::from_secs(10)
        )
        .is_some(),
        "{}",
        d.log_text()
    );
    assert!(d.log_contains("probed: pinging the initiator now"));
    assert_eq!(generation(&store, "pc1"), g0 + 1);
    assert_eq!(sessions(), 1);
    assert!(io.running(), "qemu-io still runs");
    // Frozen once it has answered an idle ping (an initiator that never
    // did, as iPXE, is not given up on a probe): the probe goes
    // unanswered, the session is dropped.
    assert!(
        d.wait_for("the initiator answers pings", Duration::from_secs(30))
            .is_some(),
        "{}",
        d.log_text()
    );
    io.freeze();
    firmware_dhcp(&pc);
    assert!(
        d.wait_for("the last boot's session is gone", Duration::from_secs(10))
            .is_some(),
        "{}",
        d.log_text()
    );
    wait_until("a new disk after the dead session", || {
        generation(&store, "pc1") == g0 + 2
    });
    assert_eq!(sessions(), 0);
    assert!(d.log_contains("NOP-In ping unanswered"), "{}", d.log_text());
    drop(io);
    let (status, _) = d.terminate();
    assert!(status.success());
    assert!(noted("STOPPING=1"), "STOPPING=1 on SIGTERM");
}

/// Reboots (the DHCP request, then the disk): a volatile PC's writes are
/// gone, a persistent PC's stay. One PC's initiator name or a wrong secret
/// opens no other PC's disk. A SIGHUP that adds a PC while another has a
/// session leaves that session working.
#[test]
fn reboots_keep_only_persistent_writes_and_sighup_keeps_sessions() {
    let (dir, store, mut lan, srv) = lan_with_store();
    let pc1 = lan.host(Some((Ipv4Addr::new(10, 78, 0, 71), 24)));
    let pc2 = lan.host(Some((Ipv4Addr::new(10, 78, 0, 72), 24)));
    let (mac1, mac2) = (pc1.mac(), pc2.mac());
    let pc2_entry =
        format!("[[client]]\nname = \"pc2\"\nmac = \"{mac2}\"\nmode = \"persistent\"\n");
    let config = office_config(dir.path(), &store, &mac1, &pc2_entry);
    let d = netbootd(&srv, &config);
    let t1 = "iqn.2026-12.org.netboot:pc1";
    let t2 = "iqn.2026-12.org.netboot:pc2";
    // The volatile PC's new disk comes with the DHCP request (before the
    // script); the persistent one's stays.
    let boot = |pc: &Host, mac: &str| {
        let g = generation(&store, "pc1");
        firmware_dhcp(pc);
        if mac == mac1 {
            wait_until("pc1's new disk", || generation(&store, "pc1") == g + 1);
        } else {
            wait_until("the DHCP stage", || {
                api_pc(&srv, "pc2")["stages"]["dhcp"].as_u64().is_some()
            });
        }
        pc_script(pc, mac)
    };
    let s1 = boot(&pc1, &mac1);
    let s2 = boot(&pc2, &mac2);
    for (pc, s, t) in [(&pc1, &s1, t1), (&pc2, &s2, t2)] {
        let (ok, out) = qemu_io_run(pc, s, t, &["write -P 0x5a 0 4k"]);
        assert!(
            ok && out.contains("wrote 4096/4096"),
            "{out}\n{}",
            d.log_text()
        );
    }
    // pc2's name and secret, pc1's disk; pc1's name, a wrong secret.
    let (ok, out) = qemu_io_run(&pc2, &s2, t1, &["read 0 512"]);
    assert!(!ok, "{out}");
    let forged = s1.replace(&setting(&s1, "password"), "0123456789abcdef01234567");
    let (ok, out) = qemu_io_run(&pc2, &forged, t1, &["read 0 512"]);
    assert!(!ok, "{out}");
    assert!(d.log_contains("login refused"), "{}", d.log_text());
    for name in ["pc1", "pc2"] {
        wait_until("sessions ended", || api_pc(&srv, name)["sessions"] == 0);
        let io = &api_pc(&srv, name)["io"];
        assert!(io["written_bytes"].as_u64() >= Some(4096), "{name}: {io}");
    }
    // Reboot both.
    let s1 = boot(&pc1, &mac1);
    let s2 = boot(&pc2, &mac2);
    let (ok, out) = qemu_io_run(&pc2, &s2, t2, &["read -P 0x5a 0 4k"]);
    assert!(
        ok && out.contains("read 4096/4096") && !out.contains("verification failed"),
        "persistent: {out}"
    );
    let (_, out) = qemu_io_run(&pc1, &s1, t1, &["read -P 0x5a 0 4k"]);
    assert!(
        out.contains("Pattern verification failed"),
        "volatile: {out}"
    );
    // SIGHUP with pc1 logged in: pc3 comes, pc1's session goes on.
    let mut io = Initiator::start(&pc1, &s1, t1);
    wait_until("pc1's session", || api_pc(&srv, "pc1")["sessions"] == 1);
    let mut file = std::fs::read_to_string(&config).unwrap();
    file.push_str("[[client]]\nname = \"pc3\"\nmac = \"52:54:00:00:00:33\"\n");
    std::fs::write(&config, file).unwrap();
    let st = Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(d
        .wait_for("SIGHUP: client table reloaded", Duration::from_secs(10))
        .is_some());
    assert_eq!(api_pc(&srv, "pc3")["mode"], "volatile");
    assert_eq!(api_pc(&srv, "pc1")["sessions"], 1);
    // netbootctl through the API: the table, the sessions, a reset
    // refused under a session.
    let (ok, status) = netbootctl(&srv, &store, &["status"]);
    assert!(ok, "{status}");
    let row = status
        .lines()
        .find(|l| l.starts_with("pc1 "))
        .unwrap_or_else(|| panic!("pc1 in {status}"));
    assert!(
        row.contains(&mac1) && row.contains("golden@1") && row.contains("volatile"),
        "{status}"
    );
    assert!(status.lines().any(|l| l.starts_with("pc3 ")), "{status}");
    let (ok, sessions) = netbootctl(&srv, &store, &["sessions"]);
    assert!(ok, "{sessions}");
    assert!(
        sessions.lines().any(|l| l.starts_with("pc1 ")
            && l.contains("10.78.0.71:")
            && l.contains("pc1.initiator")),
        "{sessions}"
    );
    let (ok, out) = netbootctl(&srv, &store, &["client", "reset", "pc1"]);
    assert!(!ok && out.contains("open session"), "{out}");
    io.send("write -P 0x33 8k 4k\nread -P 0x33 8k 4k");
    let out = io.quit();
    assert!(
        out.contains("wrote 4096/4096") && out.contains("read 4096/4096"),
        "{out}\n{}",
        d.log_text()
    );
    assert!(!out.contains("verification failed"), "{out}");
    // No session: netbootd resets it.
    wait_until("pc1's session ended", || {
        api_pc(&srv, "pc1")["sessions"] == 0
    });
    let g = generation(&store, "pc1");
    let (ok, out) = netbootctl(&srv, &store, &["client", "reset", "pc1"]);
    assert!(ok && out.contains("made by netbootd"), "{out}");
    assert_eq!(generation(&store, "pc1"), g + 1);
    let (status, _) = d.terminate();
    assert!(status.success());
}

/// While netbootd serves a store it claims it: a second netbootd is
/// refused, and netbootctl's changes go through netbootd's API (found in
/// the claim, with the token from the store): an import, an edit, a commit
/// and a rollback, refusals with the API's reason; the API refuses them
/// without the token. Once netbootd stops, netbootctl changes the store
/// itself again.
#[test]
fn netbootctl_changes_the_store_through_the_running_netbootd() {
    need("curl");
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_golden(dir.path());
    let config = office_config(dir.path(), &store, PC_MAC, "");
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    let d = netbootd(&srv, &config);

    let mut second = srv.exec(env!("CARGO_BIN_EXE_netbootd"));
    second.arg("--config").arg(&config);
    let o = run(&mut second, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("in use by another process"),
        "{err}"
    );

    let raw = dir.path().join("second.raw");
    std::fs::write(&raw, vec![7u8; 1 << 20]).unwrap();
    let (ok, out) = netbootctl(
        &srv,
        &store,
        &["image", "create", "second", "--from", raw.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert!(
        d.log_contains("image second create: done through the API"),
        "{}",
        d.log_text()
    );
    let (ok, out) = netbootctl(&srv, &store, &["image", "edit", "golden"]);
    assert!(
        ok && out.trim().ends_with("images/golden/edit.qcow2"),
        "{out}"
    );
    let (ok, out) = netbootctl(&srv, &store, &["client", "disk", "pc1"]);
    assert!(!ok && out.contains("netbootd serves this store"), "{out}");
    // The API refuses changes without the token, and says why as JSON.
    let (body, code) = curl(
        &srv,
        &[
            "-X",
            "POST",
            "http://127.0.0.1:8067/api/v1/images/golden/commit",
        ],
    );
    assert_eq!(code, "401", "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (ok, out) = netbootctl(&srv, &store, &["image", "commit", "golden"]);
    assert!(ok && out.contains("version 2 is current"), "{out}");
    let (ok, out) = netbootctl(&srv, &store, &["image", "commit", "golden"]);
    assert!(
        !ok && out.contains("409") && out.contains("no edit open"),
        "{out}"
    );
    let (ok, out) = netbootctl(&srv, &store, &["image", "rollback", "golden", "--to", "1"]);
    assert!(ok && out.contains("version 1 is current"), "{out}");
    let (ok, out) = netbootctl(
        &srv,
        &store,
        &[
            "client",
            "add",
            "pc9",
            "--mac",
            "52:54:00:00:09:09",
            "--image",
            "second",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = netbootctl(&srv, &store, &["--json", "client", "reset", "pc9"]);
    assert!(ok && out.contains("disk-1.qcow2"), "{out}");
    let (ok, out) = netbootctl(&srv, &store, &["image", "gc", "golden"]);
    assert!(ok && out.contains("removed version 2"), "{out}");
    let (ok, out) = netbootctl(&srv, &store, &["image", "ls"]);
    assert!(
        ok && out.contains("second") && !out.contains("golden  2"),
        "{out}"
    );
    let (status, log) = d.terminate();
    assert!(status.success(), "{log}");
    // Nobody serves it: netbootctl changes it itself.
    let (ok, out) = netbootctl(&srv, &store, &["image", "edit", "second"]);
    assert!(ok, "{out}");
    let (ok, out) = netbootctl(&srv, &store, &["image", "discard", "second"]);
    assert!(ok && out.contains("thrown away"), "{out}");
}

/// `[server] scripts = "tftp"`, for iPXE builds without HTTP: the DHCP
/// answer names `tftp://SERVER/boot.ipxe`, which chains to the PC's own
/// script over TFTP (curl as iPXE), given only to the machine with that
/// MAC. `/metrics` counts the DHCP decisions, the TFTP transfers and the
/// HTTP answers of the boot side.
#[test]
fn scripts_over_tftp_and_the_servers_in_the_metrics() {
    let (dir, store, mut lan, srv) = lan_with_store();
    let pc = lan.host(Some((Ipv4Addr::new(10, 78, 0, 72), 24)));
    let other = lan.host(Some((Ipv4Addr::new(10, 78, 0, 73), 24)));
    let mac = pc.mac();
    let config = office_config(dir.path(), &store, &mac, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("http_port = 80\n", "http_port = 80\nscripts = \"tftp\"\n");
    std::fs::write(&config, text).unwrap();
    let d = netbootd(&srv, &config);
    // The DHCP server's rule for iPXE names the TFTP script.
    assert!(
        d.log_contains(&format!("\"tftp://{SRV}/boot.ipxe\"")),
        "{}",
        d.log_text()
    );
    firmware_dhcp(&pc);
    let tftp = |host: &Host, file: &str| {
        let o = host
            .exec("curl")
            .args(["-s", "-m", "10", &format!("tftp://{SRV}/{file}")])
            .output()
            .expect("curl runs");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, first) = tftp(&pc, "boot.ipxe");
    assert_eq!(code, Some(0), "{first}");
    assert!(
        first.contains(&format!("chain tftp://{SRV}/boot/${{mac:hexhyp}}.ipxe")),
        "{first}"
    );
    let file = format!("boot/{}.ipxe", mac.replace(':', "-"));
    let (code, script) = tftp(&pc, &file);
    assert_eq!(code, Some(0), "{script}");
    assert!(
        script.contains("set initiator-iqn iqn.2026-12.org.netboot:pc1.initiator")
            && script.contains("sanboot iscsi:10.78.0.2::3260:0:iqn.2026-12.org.netboot:pc1"),
        "{script}"
    );
    // Another machine asks for the PC's script: TFTP error 2 (curl: 68/69).
    let (code, body) = tftp(&other, &file);
    assert_ne!(code, Some(0), "{body}");
    assert!(body.is_empty(), "{body}");
    assert!(d.log_contains("refused a PC's script over TFTP to another machine"));
    // The HTTP boot side answers too, and is counted.
    let (_, code) = curl(&pc, &[&format!("http://{SRV}/boot.ipxe")]);
    assert_eq!(code, "200");
    let (_, code) = curl(&pc, &[&format!("http://{SRV}/ipxe/undionly.kpxe")]);
    assert_eq!(code, "200");
    let (metrics, code) = curl(&srv, &["http://127.0.0.1:8067/metrics"]);
    assert_eq!(code, "200");
    let value = |prefix: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix} in\n{metrics}"))
    };
    assert!(value("netboot_dhcp_decisions_total{decision=\"offer\"}") >= 1);
    assert!(value("netboot_dhcp_decisions_total{decision=\"ack\"}") >= 1);
    assert!(
        value("netboot_tftp_transfers_total{direction=\"read\",outcome=\"complete\"}") >= 2,
        "{metrics}"
    );
    assert!(value("netboot_tftp_bytes_total{direction=\"read\"}") > 0);
    assert_eq!(
        value("netboot_http_requests_total{route=\"script\",status=\"200\"}"),
        1
    );
    assert!(value("netboot_http_bytes_total{route=\"ipxe\"}") > 10_000);
    assert_eq!(
        value("netboot_script_refusals_total{reason=\"not_yours\"}"),
        1
    );
    let (status, _) = d.terminate();
    assert!(status.success());
}

/// Where the page test leaves its screenshots (the README shows one).
fn screenshot_dir() -> std::path::PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The administrator's page in a real browser: Debian's Chromium, headless,
/// driven through chromedriver (WebDriver, fantoccini), both in netbootd's
/// network namespace. Two PCs are on the LAN: pc1 got its script and logs
/// in as iPXE and then as its OS (qemu-io stays logged in: running), its
/// DHCP request named the host `<script>alert(1)</script>`; pc2 asked DHCP
/// and fetched its script (booting). The page refuses a wrong password,
/// shows both PCs with their states and the host name as text (no alert
/// runs), resets pc2 (a `confirm()` and the API), opens an edit of the
/// image and commits it (version 2 current: pc1 behind, pc2 on version 2
/// after another reset); an action with the session cookie but without
/// its CSRF token is refused. Screenshots of the main view, the images
/// and a phone-sized view are saved.
#[test]
fn the_administrators_page_in_chromium() {
    need("chromium");
    need("chromedriver");
    let (dir, store, mut lan, srv) = lan_with_store();
    let pc1 = lan.host(Some((Ipv4Addr::new(10, 78, 0, 74), 24)));
    let pc2 = lan.host(Some((Ipv4Addr::new(10, 78, 0, 75), 24)));
    let (mac1, mac2) = (pc1.mac(), pc2.mac());
    let config = office_config(
        dir.path(),
        &store,
        &mac1,
        &format!(
            "mode = \"persistent\"\n[[client]]\nname = \"pc2\"\nmac = \"{mac2}\"\n\
             [api]\npassword = \"correct horse battery\"\n"
        ),
    );
    let d = netbootd(&srv, &config);
    // pc1: DHCP with a hostile host name, its script, iPXE's login, then
    // its OS's login, which stays.
    let o = pc1
        .exec("busybox")
        .args([
            "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
        ])
        .args(["-s", "/bin/true", "-V", "PXEClient:Arch:00000:UNDI:002001"])
        .args(["-x", "hostname:<script>alert(1)</script>"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script1 = pc_script(&pc1, &mac1);
    let target1 = "iqn.2026-12.org.netboot:pc1";
    let (ok, out) = qemu_io_run(&pc1, &script1, target1, &["read 0 4k"]);
    assert!(ok, "{out}");
    let mut os = Initiator::start(&pc1, &script1, target1);
    os.send("read 0 64k");
    firmware_dhcp(&pc2);
    pc_script(&pc2, &mac2);
    wait_until("pc1 running", || api_pc(&srv, "pc1")["state"] == "running");

    let mut driver = srv.exec("chromedriver");
    driver.args(["--port=9515", "--allowed-ips=127.0.0.1"]);
    let (chromedriver, _) = Daemon::start(driver, Some("started successfully"));
    let shots = screenshot_dir();
    let cookie = srv.run_in(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(browse(&shots))
    });
    // The session cookie alone does not make a change: no CSRF token.
    let (body, code) = curl(
        &srv,
        &[
            "-X",
            "POST",
            "-H",
            &format!("Cookie: netboot_session={cookie}"),
            "http://127.0.0.1:8067/api/v1/images/golden/rollback",
        ],
    );
    assert_eq!(code, "401", "{body}");
    let (body, code) = curl(
        &srv,
        &[
            "-X",
            "POST",
            "-H",
            &format!("Cookie: netboot_session={cookie}"),
            "--data",
            "csrf=forged",
            "http://127.0.0.1:8067/api/v1/images/golden/rollback",
        ],
    );
    assert_eq!(code, "403", "{body}");
    assert_eq!(
        netboot_image::Store::open(&store)
            .unwrap()
            .image_meta("golden")
            .unwrap()
            .current,
        2,
        "no rollback without the CSRF token"
    );
    assert!(
        d.log_contains("page: wrong password or token"),
        "{}",
        d.log_text()
    );
    drop(os);
    drop(chromedriver);
    // The session outlives a restart of netbootd: the page goes on.
    let (status, _) = d.terminate();
    assert!(status.success());
    let d = netbootd(&srv, &config);
    let (body, code) = curl(
        &srv,
        &[
            "-H",
            &format!("Cookie: netboot_session={cookie}"),
            "http://127.0.0.1:8067/ui/fragments",
        ],
    );
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("data-pc=\\\"pc1\\\""), "{body}");
    // Without it, the page sends to the login.
    let (_, code) = curl(&srv, &["http://127.0.0.1:8067/"]);
    assert_eq!(code, "303");
    let (status, _) = d.terminate();
    assert!(status.success());
}

/// The browser's part of [`the_administrators_page_in_chromium`] (in the
/// server's namespace); the session cookie it ends with.
async fn browse(shots: &Path) -> String {
    use fantoccini::{ClientBuilder, Locator};
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1400,900"],
        }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect("http://127.0.0.1:9515")
        .await
        .expect("chromedriver answers");
    let page = "http://127.0.0.1:8067/";
    // Not logged in: the login page. A wrong password is refused.
    c.goto(page).await.unwrap();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/ui/login"));
    let login = |pw: &'static str| {
        let c = c.clone();
        async move {
            let f = c.find(Locator::Css("input[name=password]")).await.unwrap();
            f.send_keys(pw).await.unwrap();
            c.find(Locator::Css("form button"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
    };
    login("wrong password").await;
    // The answer to the form post (a new page: waited for, not assumed).
    let refusal = c
        .wait()
        .for_element(Locator::Css("p.msg.error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refusal.contains("Wrong password or token"), "{refusal}");
    login("correct horse battery").await;
    c.wait()
        .for_element(Locator::Css("tr[data-pc=pc1]"))
        .await
        .unwrap();
    // A row's text (the page swaps its table every 3 s: a row found just
    // before a swap is gone, so it is looked up again).
    let row = |name: &'static str| {
        let c = c.clone();
        async move {
            for _ in 0..20 {
                let css = format!("tr[data-pc={name}]");
                if let Ok(e) = c.find(Locator::Css(&css)).await {
                    if let Ok(t) = e.text().await {
                        return t;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("no row of {name}")
        }
    };
    let r1 = row("pc1").await;
    assert!(r1.contains("running") && r1.contains("golden@1"), "{r1}");
    assert!(row("pc2").await.contains("booting"), "{}", row("pc2").await);
    // The DHCP host name is text, and no script of it ran.
    assert!(r1.contains("DHCP: <script>alert(1)</script>"), "{r1}");
    assert!(c.get_alert_text().await.is_err(), "an alert ran");
    std::fs::write(shots.join("pcs.png"), c.screenshot().await.unwrap()).unwrap();
    // Reset pc2: the confirm() of the page, then the API.
    let click = |css: String| {
        let c = c.clone();
        async move {
            c.find(Locator::Css(&css))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let ask = c.get_alert_text().await.unwrap();
            c.accept_alert().await.unwrap();
            ask
        }
    };
    // A refusal shows the API's reason: pc1 has a session.
    click("tr[data-pc=pc1] a.action".into()).await;
    let refusal = c
        .wait()
        .for_element(Locator::Css("#msg p.error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refusal.contains("open session"), "{refusal}");
    let ask = click("tr[data-pc=pc2] a.action".into()).await;
    assert!(ask.contains("fresh overlay"), "{ask}");
    c.wait()
        .for_element(Locator::Css("#msg p.ok"))
        .await
        .unwrap();
    let msg = c
        .find(Locator::Css("#msg"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(msg.contains("Reset: done"), "{msg}");
    // Maintenance, then commit: version 2 is current.
    click("section[data-image=golden] a[href*='what=edit']".into()).await;
    c.wait()
        .for_element(Locator::Css(
            "section[data-image=golden] a[href*='what=commit']",
        ))
        .await
        .unwrap();
    click("section[data-image=golden] a[href*='what=commit']".into()).await;
    c.wait()
        .for_element(Locator::Css(
            "section[data-image=golden] tr[data-version='2']",
        ))
        .await
        .unwrap();
    // pc2 (volatile) gets version 2 with a reset; pc1 (persistent) is behind.
    click("tr[data-pc=pc2] a.action".into()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (r1, r2) = (row("pc1").await, row("pc2").await);
        if r2.contains("golden@2") && r1.contains("behind") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "pc1: {r1}\npc2: {r2}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let images = c.find(Locator::Css("#images")).await.unwrap();
    std::fs::write(shots.join("images.png"), images.screenshot().await.unwrap()).unwrap();
    c.set_window_size(390, 844).await.unwrap();
    std::fs::write(shots.join("phone.png"), c.screenshot().await.unwrap()).unwrap();
    let cookie = c
        .get_named_cookie("netboot_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    c.close().await.unwrap();
    cookie
}

/// The page and the API over netbootd's own TLS (`[api] tls_cert` and
/// `tls_key`, a certificate made here with openssl): curl checks the
/// certificate, the login's cookie is `Secure`, plain HTTP gets nowhere.
#[test]
fn the_page_and_the_api_over_tls() {
    need("openssl");
    need("curl");
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_golden(dir.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let o = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=netboot",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = office_config(
        dir.path(),
        &store,
        PC_MAC,
        &format!(
            "[api]\ntls_cert = \"{}\"\ntls_key = \"{}\"\npassword = \"correct horse battery\"\n\
             public_view = true\n",
            cert.display(),
            key.display()
        ),
    );
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    let d = netbootd(&srv, &config);
    let ca = cert.to_str().unwrap();
    let (body, code) = curl(&srv, &["--cacert", ca, "https://127.0.0.1:8067/ui/login"]);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("Password or API token"), "{body}");
    // public_view: the page reads without a login, and offers no action.
    let (page, code) = curl(&srv, &["--cacert", ca, "https://127.0.0.1:8067/"]);
    assert_eq!(code, "200", "{page}");
    assert!(
        page.contains("data-pc=\"pc1\"") && page.contains("Log in to act"),
        "{page}"
    );
    assert!(!page.contains("data-post"), "{page}");
    let (clients, code) = curl(
        &srv,
        &["--cacert", ca, "https://127.0.0.1:8067/api/v1/clients"],
    );
    assert_eq!(code, "200", "{clients}");
    let o = srv
        .exec("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--cacert", ca])
        .args(["--data", "password=correct+horse+battery"])
        .arg("https://127.0.0.1:8067/ui/login")
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&o.stdout);
    let set_cookie = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{headers}"));
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
            && set_cookie.contains("Secure"),
        "{set_cookie}"
    );
    let (_, code) = curl(&srv, &["http://127.0.0.1:8067/ui/login"]);
    assert_ne!(code, "200");
    let (status, _) = d.terminate();
    assert!(status.success());
}
