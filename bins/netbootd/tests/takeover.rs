//! The operating system takes its disk over: Debian's kernel, unmodified,
//! in qemu (TCG) runs its root file system from a PC's overlay of a golden
//! image served by netbootd. iPXE (the NIC's ROM) gets the PC's script,
//! `sanhook`s the disk (which leaves the iBFT), loads kernel and initramfs
//! over HTTP and boots; the initramfs loads the iSCSI modules, logs in from
//! the iBFT with open-iscsi's `iscsistart -b` (as distributions do),
//! mounts the disk and switches to it. The golden image (ext4, made here
//! with `mkfs.ext4 -d`) holds busybox, our `ibft` tool and an init that
//! reports on the serial console: the image's version, the files other
//! boots left, then writes and `sync`s a file of its own, checks the iBFT
//! and powers off.
//!
//! Peers are required (qemu, iPXE ROMs, Debian's kernel and modules from
//! scripts/install-peers, open-iscsi, e2fsprogs, busybox): a missing one
//! fails the test.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netboot_testkit::guest::{self, Cpio};
use netboot_testkit::{need, run, Daemon, Host, Lan};

const SRV: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const PC1_MAC: &str = "52:54:00:12:35:01";
const PC2_MAC: &str = "52:54:00:12:35:02";

/// The initramfs's init: modules, network and login from the iBFT, the
/// disk mounted, then the disk's own init.
const INITRAMFS_INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /root /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /etc/iscsi /var/lock/iscsi /run/lock/iscsi
for m in $(cat /lib/modules/order); do
    insmod /lib/modules/$m.ko || echo "NBT insmod $m failed"
done
echo "NBT initramfs"
if grep -q netboot=aoe /proc/cmdline; then
    # AoE: the aoe driver finds the disk at e0.0 on the NIC (no address,
    # no login); a discovery is asked for until it shows.
    root=/dev/etherd/e0.0
    ip link set eth0 up
    i=0
    while [ ! -b $root ] && [ $i -lt 60 ]; do
        [ -e /dev/etherd/discover ] && echo > /dev/etherd/discover
        sleep 1; i=$((i+1))
    done
else
    root=/dev/sda
    iscsistart -N || echo "NBT iscsistart -N failed"
    iscsistart -b || echo "NBT iscsistart -b failed"
    i=0
    while [ ! -b $root ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done
fi
[ -b $root ] || { echo "NBT no disk"; poweroff -f; }
mount -t ext4 $root /root || { echo "NBT mount failed"; poweroff -f; }
echo "NBT root mounted"
mount --move /dev /root/dev
mount --move /sys /root/sys
mount --move /proc /root/proc
exec switch_root /root /sbin/init
"#;

/// open-iscsi's settings for a root disk (its README's advice): I/O waits
/// for the connection as long as it takes, pings find a dead connection
/// in seconds, iscsid tries to log in again without end.
const ISCSID_CONF: &str = "node.startup = manual
node.session.timeo.replacement_timeout = 86400
node.conn[0].timeo.noop_out_interval = 5
node.conn[0].timeo.noop_out_timeout = 10
node.conn[0].timeo.login_timeout = 15
node.session.reopen_max = 0
";

/// The golden image's init: runs from the network disk. Booted from the
/// maintenance target (the image's edit), it makes the next version: the
/// marker counts up.
const ROOT_INIT: &str = r#"#!/bin/sh
export PATH=/bin
if [ -e /sys/firmware/ibft/initiator/initiator-name ]; then
    me=$(cat /sys/firmware/ibft/initiator/initiator-name)
    me=${me##*:}
    me=${me%.initiator}
else
    # AoE leaves no iBFT: the PC's name is on its command line.
    me=$(sed -n 's/.* pc=\([^ ]*\).*/\1/p' /proc/cmdline)
fi
case "$(cat /sys/firmware/ibft/target0/target-name)" in
*:maintenance)
    v=$(cat /version)
    echo "NBT maintenance of version=$v"
    echo $((v + 1)) > /version
    sync
    echo "NBT maintenance wrote version=$(cat /version)"
    umount /proc
    mount -o remount,ro / 2>/dev/null
    echo "NBT done"
    poweroff -f
    ;;
esac
echo "NBT running $me version=$(cat /version)"
echo "NBT found [$(ls /pcs | tr '\n' ' ')]"
echo "$me" > /pcs/$me
sync
echo "NBT wrote $me"
# A write load (load=N on the command line): N files of 256 KiB, each
# fsync'd and synced before its line says so. Over iSCSI open-iscsi's
# iscsid runs first, as on an installed system: it adopts the session
# iscsistart made and recovers it when the connection breaks. newip=A
# re-addresses the NIC after the fifth file (firstip=A gives it one first).
arg() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" /proc/cmdline; }
load=$(arg load)
if [ -n "$load" ]; then
    mount -t tmpfs tmpfs /run
    mkdir -p /run/lock/iscsi /load
    firstip=$(arg firstip)
    newip=$(arg newip)
    [ -n "$firstip" ] && ip addr add $firstip/24 dev eth0
    if [ -e /sys/firmware/ibft/initiator/initiator-name ]; then
        echo "InitiatorName=$(cat /sys/firmware/ibft/initiator/initiator-name)" > /etc/iscsi/initiatorname.iscsi
        /sbin/iscsid -f &
        echo 120 > /sys/block/sda/device/timeout
    fi
    i=1
    while [ $i -le $load ]; do
        if dd if=/dev/urandom of=/load/$i bs=64k count=4 conv=fsync 2>/dev/null && sync; then
            echo "NBT synced $i $(sha256sum /load/$i | cut -d' ' -f1)"
        else
            echo "NBT write $i failed"
        fi
        if [ $i = 5 ] && [ -n "$newip" ]; then
            ip addr flush dev eth0
            ip addr add $newip/24 dev eth0
            echo "NBT readdressed $newip"
        fi
        i=$((i+1))
        sleep 1
    done
    echo "NBT load done"
    sleep 5
fi
if [ -e /sys/firmware/acpi/tables/iBFT ]; then
    ibft check > /tmp/check 2>&1 && echo "NBT ibft ok" || echo "NBT ibft bad"
else
    ibft check --scan /dev/mem > /tmp/check 2>&1 && echo "NBT ibft ok" || echo "NBT ibft bad"
fi
sed 's/^/NBT check: /' /tmp/check
ibft dump --scan /dev/mem 2>/dev/null | grep -i "iqn" | sed 's/^/NBT table: /'
[ -e /sys/firmware/acpi/tables/iBFT ] && ibft dump | grep -i "iqn" | sed 's/^/NBT table: /'
umount /proc
mount -o remount,ro / 2>/dev/null
echo "NBT done"
poweroff -f
"#;

fn need_guest() {
    for p in [
        "qemu-system-x86_64",
        "busybox",
        "iscsistart",
        "mkfs.ext4",
        "curl",
    ] {
        need(p);
    }
    assert!(
        Path::new("/usr/lib/ipxe/qemu/pxe-e1000.rom").exists()
            || Path::new("/usr/share/qemu/pxe-e1000.rom").exists(),
        "iPXE ROMs missing: run scripts/install-peers (ipxe-qemu)"
    );
}

/// The `ibft` tool beside netbootd.
fn ibft_tool() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_netbootd")).with_file_name("ibft");
    assert!(
        bin.exists(),
        "{}: build it first (cargo build -p netboot-ibft-tool)",
        bin.display()
    );
    bin
}

/// A golden image (raw ext4, 96 MiB) with `version` in /version.
fn golden(dir: &Path, version: &str) -> PathBuf {
    let tree = dir.join(format!("tree-{version}"));
    guest::tree_program(&tree, "/usr/bin/busybox", "/bin/busybox");
    guest::tree_program(&tree, ibft_tool().to_str().unwrap(), "/bin/ibft");
    // open-iscsi's daemon, for the tests that break the connection.
    guest::tree_program(&tree, "/sbin/iscsid", "/sbin/iscsid");
    std::fs::create_dir_all(tree.join("etc/iscsi")).unwrap();
    std::fs::write(tree.join("etc/iscsi/iscsid.conf"), ISCSID_CONF).unwrap();
    // iscsid answers its own tools only if it can name their user.
    std::fs::write(tree.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    std::fs::write(tree.join("etc/group"), "root:x:0:\n").unwrap();
    for applet in [
        "sh",
        "cat",
        "ls",
        "tr",
        "echo",
        "sync",
        "sed",
        "grep",
        "mount",
        "umount",
        "poweroff",
        "sleep",
        "dd",
        "sha256sum",
        "cut",
        "ip",
        "mkdir",
    ] {
        std::os::unix::fs::symlink("busybox", tree.join("bin").join(applet)).unwrap();
    }
    for d in ["sbin", "proc", "sys", "dev", "tmp", "pcs", "run"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::write(tree.join("sbin/init"), ROOT_INIT).unwrap();
    std::fs::write(tree.join("version"), version).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        tree.join("sbin/init"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = dir.join(format!("golden-{version}.raw"));
    guest::ext4_image(&tree, &out, 96);
    out
}

/// `files/` for netbootd's HTTP: Debian's kernel and the initramfs.
fn boot_files(dir: &Path) -> PathBuf {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::copy(guest::kernel_file("vmlinuz"), files.join("vmlinuz")).unwrap();
    let mut cpio = Cpio::new();
    guest::add_busybox(&mut cpio);
    cpio.dir("/usr");
    cpio.dir("/usr/sbin");
    guest::add_program(&mut cpio, "/usr/sbin/iscsistart", "/usr/sbin/iscsistart");
    let modules: Vec<&str> = guest::ISCSI_ROOT_MODULES
        .iter()
        .chain(guest::VIRTIO_NET_MODULES)
        .chain(&["aoe"])
        .copied()
        .collect();
    guest::add_modules(&mut cpio, &modules);
    cpio.file("/init", 0o755, INITRAMFS_INIT.as_bytes());
    std::fs::write(files.join("initrd.img"), cpio.finish()).unwrap();
    files
}

/// netboot.toml: DHCP for 10.79.0.100-150, PCs boot the kernel with their
/// disk hooked; `clients` are TOML lines of `[[client]]` tables.
fn config(dir: &Path, store: &Path, files: &Path, clients: &str) -> PathBuf {
    let config = dir.join("netboot.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
interface = "eth0"
http_port = 80
files_dir = "{}"
[dhcp]
mode = "authoritative"
range = "10.79.0.100-10.79.0.150"
[store]
path = "{}"
[defaults]
mode = "volatile"
enrol = false
kernel = "vmlinuz"
initrd = "initrd.img"
cmdline = "console=ttyS0 panic=-1"
{clients}"#,
            files.display(),
            store.display()
        ),
    )
    .unwrap();
    config
}

fn netbootd(host: &Host, config: &Path) -> Daemon {
    let mut c = host.exec(env!("CARGO_BIN_EXE_netbootd"));
    c.arg("--config").arg(config).arg("-v");
    Daemon::start(c, Some("netbootd serving")).0
}

/// What one boot of a PC printed with `NBT ` on its serial console, and the
/// whole console.
struct Boot {
    lines: Vec<String>,
    console: String,
}

impl Boot {
    fn has(&self, line: &str) -> bool {
        self.lines.iter().any(|l| l == line)
    }

    fn starting(&self, prefix: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| l.strip_prefix(prefix))
    }
}

/// The qemu of PC `mac`'s boot number `round` (its console to a file).
fn pc(lan: &mut Lan, dir: &Path, mac: &str, round: u32) -> Command {
    let serial = dir.join(format!("serial-{}-{round}.log", mac.replace(':', "")));
    let mut qemu = lan.bios_pc(mac, &serial);
    // The guest's kernel and initramfs need more than the default 256 MiB
    // for the modules; the last -m wins.
    qemu.args(["-m", "384"]);
    qemu
}

fn serial_of(dir: &Path, mac: &str, round: u32) -> Boot {
    let serial = dir.join(format!("serial-{}-{round}.log", mac.replace(':', "")));
    let console = std::fs::read_to_string(&serial).unwrap_or_default();
    let lines = console
        .lines()
        .filter_map(|l| {
            l.trim_end_matches('\r')
                .strip_prefix("NBT ")
                .map(str::to_owned)
        })
        .collect();
    Boot { lines, console }
}

/// Boots PC `mac` (round `round`) and returns its console.
fn boot_one(lan: &mut Lan, dir: &Path, d: &Daemon, mac: &str, round: u32) -> Boot {
    let o = run(&mut pc(lan, dir, mac, round), Duration::from_secs(300));
    let b = serial_of(dir, mac, round);
    assert!(
        o.status.success() && b.has("done"),
        "{mac} round {round}: {:?}\nconsole:\n{}\nnetbootd:\n{}",
        o.status,
        b.console,
        d.log_text()
    );
    b
}

/// Boots both PCs at once (round `round`) and returns their consoles.
fn boot_both(lan: &mut Lan, dir: &Path, d: &Daemon, round: u32) -> (Boot, Boot) {
    let mut q1 = pc(lan, dir, PC1_MAC, round);
    let mut q2 = pc(lan, dir, PC2_MAC, round);
    let (o1, o2) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&mut q1, Duration::from_secs(300)));
        let b = s.spawn(|| run(&mut q2, Duration::from_secs(300)));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (b1, b2) = (
        serial_of(dir, PC1_MAC, round),
        serial_of(dir, PC2_MAC, round),
    );
    for (o, b) in [(&o1, &b1), (&o2, &b2)] {
        assert!(
            o.status.success() && b.has("done"),
            "round {round}: {:?}\nconsole:\n{}\nnetbootd:\n{}",
            o.status,
            b.console,
            d.log_text()
        );
    }
    (b1, b2)
}

/// Kernel lines about iSCSI that tell of trouble.
fn iscsi_trouble(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            (l.contains("iscsi") || l.contains("connection1:") || l.contains("session1:"))
                && [
                    "error",
                    "fail",
                    "warn",
                    "timed out",
                    "reset",
                    "detected conn",
                ]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect()
}

/// Two PCs on one golden image, Linux on each: each sees its own file only,
/// the golden image is unchanged; at the next boot the volatile PC's file
/// is gone and the persistent PC's is there. The iBFT iPXE left passes
/// `ibft check` in the guest and names the PC's target; the kernel logs no
/// iSCSI trouble.
#[test]
fn linux_runs_from_its_overlay_and_reboots_keep_only_persistent_writes() {
    need_guest();
    let dir = tempfile::tempdir().unwrap();
    let golden = golden(dir.path(), "1");
    let golden_sum = netboot_testkit::sha256(&std::fs::read(&golden).unwrap());
    let root = dir.path().join("store");
    let store = netboot_image::Store::open(&root).unwrap();
    store.image_create("golden", &golden, None).unwrap();
    let files = boot_files(dir.path());
    let config = config(
        dir.path(),
        &root,
        &files,
        &format!(
            "[[client]]\nname = \"pc1\"\nmac = \"{PC1_MAC}\"\n\
             [[client]]\nname = \"pc2\"\nmac = \"{PC2_MAC}\"\nmode = \"persistent\"\n"
        ),
    );
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    let d = netbootd(&srv, &config);

    let (a, b) = boot_both(&mut lan, dir.path(), &d, 1);
    for (boot, me) in [(&a, "pc1"), (&b, "pc2")] {
        assert!(
            boot.has(&format!("running {me} version=1")),
            "{}",
            boot.console
        );
        assert!(boot.has("found []"), "a new overlay: {}", boot.console);
        assert!(boot.has(&format!("wrote {me}")), "{}", boot.console);
        assert!(boot.has("ibft ok"), "{}", boot.console);
        let target = format!("iqn.2026-12.org.netboot:{me}");
        assert!(
            boot.lines
                .iter()
                .any(|l| l.starts_with("table: ") && l.contains(&target)),
            "the table names {target}: {}",
            boot.console
        );
        assert!(
            iscsi_trouble(&boot.console).is_empty(),
            "{me}: {:?}",
            iscsi_trouble(&boot.console)
        );
    }

    let (a, b) = boot_both(&mut lan, dir.path(), &d, 2);
    assert!(
        a.has("found []"),
        "volatile: its file is gone: {}\nnetbootd:\n{}",
        a.console,
        d.log_text()
    );
    assert!(
        b.has("found [pc2 ]"),
        "persistent: its own file only: {}",
        b.console
    );
    assert!(a.starting("running pc1").is_some() && b.has("wrote pc2"));

    let (status, log) = d.terminate();
    assert!(status.success(), "{log}");
    let version = store.version_path("golden", 1).unwrap();
    assert_eq!(
        netboot_testkit::sha256(&std::fs::read(version).unwrap()),
        golden_sum,
        "the golden image is unchanged"
    );
}

/// netbootctl (built beside netbootd) on `host` with `store`: its output,
/// after it succeeded.
fn netbootctl(host: &Host, store: &Path, args: &[&str]) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_netbootd")).with_file_name("netbootctl");
    assert!(bin.exists(), "{}: build it first", bin.display());
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
    assert!(o.status.success(), "netbootctl {args:?}: {out}");
    out
}

/// An image update as an administrator makes it: `image edit`, the
/// maintenance PC boots the edit (its iPXE menu's default) and changes the
/// marker, `image commit` while netbootd runs (through its API), and the
/// other PC runs the new version at its next boot; `image rollback` brings
/// the old one back at the boot after. The golden version 1 is unchanged.
#[test]
fn an_image_update_made_on_the_maintenance_pc_reaches_the_others_and_rolls_back() {
    need_guest();
    let dir = tempfile::tempdir().unwrap();
    let golden = golden(dir.path(), "1");
    let golden_sum = netboot_testkit::sha256(&std::fs::read(&golden).unwrap());
    let root = dir.path().join("store");
    let store = netboot_image::Store::open(&root).unwrap();
    store.image_create("golden", &golden, None).unwrap();
    let files = boot_files(dir.path());
    let config = config(
        dir.path(),
        &root,
        &files,
        &format!(
            "menu_timeout = 1\n\
             [[client]]\nname = \"pc1\"\nmac = \"{PC1_MAC}\"\n\
             [[client]]\nname = \"admin\"\nmac = \"{PC2_MAC}\"\nmaintenance = true\n"
        ),
    );
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    let d = netbootd(&srv, &config);

    let out = netbootctl(&srv, &root, &["image", "edit", "golden"]);
    assert!(out.contains("edit.qcow2"), "{out}");
    let m = boot_one(&mut lan, dir.path(), &d, PC2_MAC, 1);
    assert!(m.has("maintenance of version=1"), "{}", m.console);
    assert!(m.has("maintenance wrote version=2"), "{}", m.console);
    assert!(
        m.console.contains("Maintenance of golden"),
        "the menu was shown: {}",
        m.console
    );
    let out = commit_when_off(&srv, &root, &d);
    assert!(out.contains("version 2 is current"), "{out}");
    let b = boot_one(&mut lan, dir.path(), &d, PC1_MAC, 2);
    assert!(b.has("running pc1 version=2"), "{}", b.console);
    let out = netbootctl(&srv, &root, &["image", "rollback", "golden"]);
    assert!(out.contains("version 1 is current"), "{out}");
    let b = boot_one(&mut lan, dir.path(), &d, PC1_MAC, 3);
    assert!(b.has("running pc1 version=1"), "{}", b.console);

    let (status, log) = d.terminate();
    assert!(status.success(), "{log}");
    let version = store.version_path("golden", 1).unwrap();
    assert_eq!(
        netboot_testkit::sha256(&std::fs::read(version).unwrap()),
        golden_sum,
        "version 1 is unchanged"
    );
}

/// `netbootctl image commit golden` once netbootd lets it: while a
/// session of the edit lives (the maintenance PC's, until netbootd's probe
/// or ping time-out finds it gone) it is refused with 409.
fn commit_when_off(host: &Host, store: &Path, d: &Daemon) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_netbootd")).with_file_name("netbootctl");
    let until = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let o = host
            .exec(&bin)
            .arg("--store")
            .arg(store)
            .args(["image", "commit", "golden"])
            .output()
            .expect("netbootctl runs");
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        if o.status.success() {
            return out;
        }
        assert!(
            out.contains("409") && std::time::Instant::now() < until,
            "{out}\nnetbootd:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

const UEFI_MAC: &str = "52:54:00:12:35:03";
const AOE_MAC: &str = "52:54:00:12:35:04";

/// The names in /pcs of the ext4 file system on the qcow2 overlay `disk`,
/// read by qemu's and e2fsprogs' tools (qemu-img convert, debugfs), not by
/// ours.
fn pcs_in_overlay(disk: &Path, dir: &Path) -> Vec<String> {
    need("qemu-img");
    need("debugfs");
    let raw = dir.join(format!(
        "{}.raw",
        disk.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    ));
    let o = run(
        Command::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(disk)
            .arg(&raw),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(
        Command::new("debugfs")
            .arg("-R")
            .arg("ls -p /pcs")
            .arg(&raw),
        Duration::from_secs(30),
    );
    // `ls -p`: /inode/mode/uid/gid/name/size/ per entry.
    let mut names: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split('/').nth(5).map(str::to_owned))
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .collect();
    names.sort();
    names
}

/// The whole office from netbootd alone (DHCP with a range, TFTP, HTTP,
/// iSCSI and AoE), on one golden image: a BIOS PC (its NIC's iPXE ROM) and
/// a UEFI PC (OVMF's own PXE client, given ipxe.efi) over iSCSI, and a
/// BIOS PC over AoE, at once. Each runs Linux from its own overlay (the
/// iSCSI ones log in again from the iBFT, the AoE one's driver finds e0.0,
/// where only its MAC is answered), writes a file of its own, and qemu's
/// and e2fsprogs' tools find each file in that PC's overlay only. The API
/// shows each PC's stages (DHCP, script, the SAN login of iPXE, the OS's
/// own), `/metrics` the bytes each read and wrote.
#[test]
fn the_office_boots_one_golden_image_bios_and_uefi_over_iscsi_and_aoe() {
    need_guest();
    for f in ["/usr/share/ovmf/OVMF.fd", "/usr/lib/ipxe/ipxe.efi"] {
        assert!(Path::new(f).exists(), "{f}: run scripts/install-peers");
    }
    let dir = tempfile::tempdir().unwrap();
    let golden = golden(dir.path(), "1");
    let root = dir.path().join("store");
    let store = netboot_image::Store::open(&root).unwrap();
    store.image_create("golden", &golden, None).unwrap();
    let files = boot_files(dir.path());
    let config = config(
        dir.path(),
        &root,
        &files,
        &format!(
            "[[client]]\nname = \"pc1\"\nmac = \"{PC1_MAC}\"\n\
             [[client]]\nname = \"pc2\"\nmac = \"{UEFI_MAC}\"\n\
             [[client]]\nname = \"pc3\"\nmac = \"{AOE_MAC}\"\nprotocol = \"aoe\"\n\
             cmdline = \"console=ttyS0 panic=-1 netboot=aoe pc=pc3\"\n"
        ),
    );
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    let d = netbootd(&srv, &config);

    let serial = |mac: &str| {
        dir.path()
            .join(format!("serial-{}-1.log", mac.replace(':', "")))
    };
    let mut q1 = pc(&mut lan, dir.path(), PC1_MAC, 1);
    let mut q2 = lan.uefi_pc(UEFI_MAC, &serial(UEFI_MAC));
    let mut q3 = pc(&mut lan, dir.path(), AOE_MAC, 1);
    let outs = std::thread::scope(|s| {
        let h: Vec<_> = [&mut q1, &mut q2, &mut q3]
            .into_iter()
            .map(|q| s.spawn(move || run(q, Duration::from_secs(300))))
            .collect();
        h.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    for ((o, mac), me) in outs
        .iter()
        .zip([PC1_MAC, UEFI_MAC, AOE_MAC])
        .zip(["pc1", "pc2", "pc3"])
    {
        let b = serial_of(dir.path(), mac, 1);
        assert!(
            o.status.success() && b.has("done"),
            "{me}: {:?}\nconsole:\n{}\nnetbootd:\n{}",
            o.status,
            b.console,
            d.log_text()
        );
        assert!(b.has(&format!("running {me} version=1")), "{}", b.console);
        assert!(
            b.has("found []") && b.has(&format!("wrote {me}")),
            "{}",
            b.console
        );
        if me != "pc3" {
            assert!(b.has("ibft ok"), "{me}: {}", b.console);
            let target = format!("iqn.2026-12.org.netboot:{me}");
            assert!(
                b.lines
                    .iter()
                    .any(|l| l.starts_with("table: ") && l.contains(&target)),
                "{me}: {}",
                b.console
            );
        }
    }
    // The firmware of pc2 was UEFI's, given ipxe.efi.
    assert!(
        d.log_text()
            .lines()
            .any(|l| l.contains(UEFI_MAC) && l.contains("ipxe=false") && l.contains("ipxe.efi")),
        "{}",
        d.log_text()
    );
    // The API: every stage of every PC; /metrics: their bytes.
    let clients = curl_json(&srv, "http://127.0.0.1:8067/api/v1/clients");
    for me in ["pc1", "pc2", "pc3"] {
        let pc = clients
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == me))
            .unwrap_or_else(|| panic!("{me} in {clients}"));
        for stage in ["dhcp", "script", "san_login", "os_login", "last_io"] {
            assert!(pc["stages"][stage].is_u64(), "{me}: {stage}: {pc}");
        }
        assert!(pc["io"]["read_bytes"].as_u64() > Some(1 << 20), "{pc}");
        assert!(pc["io"]["written_bytes"].as_u64() > Some(0), "{pc}");
    }
    assert_eq!(clients[2]["protocol"], "aoe", "{clients}");
    let metrics = curl_text(&srv, "http://127.0.0.1:8067/metrics");
    for me in ["pc1", "pc2", "pc3"] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("netboot_written_bytes_total{{pc=\"{me}\"}}")))
            .unwrap_or_else(|| panic!("{me} in {metrics}"));
        let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n > 0, "{line}");
    }
    // Each PC's file is in its own overlay only.
    for me in ["pc1", "pc2", "pc3"] {
        let m = store.client_meta(me).unwrap();
        let disk = root.join("clients").join(me).join(m.disk_file().unwrap());
        assert_eq!(pcs_in_overlay(&disk, dir.path()), [me], "{me}");
    }
    let (status, log) = d.terminate();
    assert!(status.success(), "{log}");
}

fn curl_text(host: &Host, url: &str) -> String {
    let o = host
        .exec("curl")
        .args(["-s", "-f", "-m", "10", url])
        .output()
        .expect("curl runs");
    assert!(o.status.success(), "{url}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn curl_json(host: &Host, url: &str) -> serde_json::Value {
    serde_json::from_str(&curl_text(host, url)).expect("JSON")
}

/// Waits until PC `mac`'s console of `round` has an `NBT ` line starting
/// with `prefix` (its console so far, or a panic with `what` and the logs).
fn wait_line(dir: &Path, mac: &str, round: u32, prefix: &str, limit: Duration, d: &Daemon) -> Boot {
    let until = std::time::Instant::now() + limit;
    loop {
        let b = serial_of(dir, mac, round);
        if b.starting(prefix).is_some() {
            return b;
        }
        assert!(
            std::time::Instant::now() < until,
            "no {prefix:?} on the console in {limit:?}:\n{}\nnetbootd:\n{}",
            b.console,
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The files the guest's `synced N SHA256` lines say were written, and the
/// hash of each.
fn synced(b: &Boot) -> Vec<(u32, String)> {
    b.lines
        .iter()
        .filter_map(|l| l.strip_prefix("synced "))
        .filter_map(|l| {
            let (n, sum) = l.split_once(' ')?;
            Some((n.parse().ok()?, sum.to_owned()))
        })
        .collect()
}

/// Checks that every file of `files` is in the ext4 file system of the
/// qcow2 overlay `disk` with its hash, read by qemu-img and debugfs.
fn files_in_overlay(disk: &Path, dir: &Path, files: &[(u32, String)]) {
    let raw = dir.join(format!(
        "check-{}.raw",
        disk.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    ));
    let o = run(
        Command::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(disk)
            .arg(&raw),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("dumped");
    for (n, sum) in files {
        let _ = std::fs::remove_file(&out);
        let o = run(
            Command::new("debugfs")
                .arg("-R")
                .arg(format!("dump /load/{n} {}", out.display()))
                .arg(&raw),
            Duration::from_secs(30),
        );
        let data = std::fs::read(&out).unwrap_or_else(|e| {
            panic!(
                "/load/{n} is not in the overlay ({e}): {}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
        assert_eq!(data.len(), 256 * 1024, "/load/{n}");
        assert_eq!(&netboot_testkit::sha256(&data), sum, "/load/{n}");
    }
}

/// "Betrieb steht und fällt mit dem Netzwerk": Linux runs a write load on
/// its root disk over iSCSI (open-iscsi's iscsid adopts the boot session,
/// as on an installed system) while the network drops every packet of the
/// iSCSI port for 15 s, both ways, then while netbootd is stopped
/// (SIGTERM) and started again. The guest's writes wait and go on; its
/// initiator logs in again with the same ISID (ERL 0 session
/// reinstatement), the stale session is gone and no other is left over
/// (the EDD probe's iPXE login neither); every file whose fsync and sync
/// completed is in the overlay with its content.
#[test]
fn linux_keeps_every_synced_write_through_a_network_cut_and_a_target_restart() {
    need_guest();
    need("iptables");
    need("debugfs");
    let dir = tempfile::tempdir().unwrap();
    let golden = golden(dir.path(), "1");
    let root = dir.path().join("store");
    let store = netboot_image::Store::open(&root).unwrap();
    store.image_create("golden", &golden, None).unwrap();
    let files = boot_files(dir.path());
    let config = config(
        dir.path(),
        &root,
        &files,
        &format!(
            "[[client]]\nname = \"pc1\"\nmac = \"{PC1_MAC}\"\nmode = \"persistent\"\n\
             cmdline = \"console=ttyS0 panic=-1 load=30\"\n"
        ),
    );
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    let d = netbootd(&srv, &config);
    let (mut vm, _) = Daemon::start(pc(&mut lan, dir.path(), PC1_MAC, 1), None);

    wait_line(
        dir.path(),
        PC1_MAC,
        1,
        "synced 3 ",
        Duration::from_secs(240),
        &d,
    );
    let cut = "INPUT -p tcp --dport 3260 -j DROP && iptables -I OUTPUT -p tcp --sport 3260 -j DROP";
    let before_cut = d.log_text().len();
    srv.sh(&format!("iptables -I {cut}"));
    std::thread::sleep(Duration::from_secs(15));
    srv.sh(&format!(
        "iptables -D {}",
        cut.replace("-I OUTPUT", "-D OUTPUT")
    ));
    let during = synced(&serial_of(dir.path(), PC1_MAC, 1)).len();
    wait_line(
        dir.path(),
        PC1_MAC,
        1,
        &format!("synced {} ", during + 4),
        Duration::from_secs(120),
        &d,
    );
    // The initiator came back with the ISID of its session (ERL 0: a
    // reinstatement; the stale connection is replaced, or gone already
    // when the guest's reset of it got through first).
    let log = d.log_text();
    let isid_of = |l: &str| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("isid="))
            .map(str::to_owned)
    };
    let logins = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("logged in") && l.contains("pc1.initiator"))
            .filter_map(isid_of)
            .collect()
    };
    let before = logins(&log[..before_cut]);
    let after = logins(&log[before_cut..]);
    assert!(
        !after.is_empty() && before.last() == after.first(),
        "same ISID before ({before:?}) and after ({after:?}) the cut:\n{log}"
    );
    // One session of the PC: the stale one replaced, iPXE's (the EDD
    // probe's login, abandoned when Linux took the NIC) closed by its ping
    // time-out.
    let sessions = curl_json(&srv, "http://127.0.0.1:8067/api/v1/sessions");
    let of_pc1 = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pc"] == "pc1")
        .count();
    assert_eq!(of_pc1, 1, "{sessions}\n{}", d.log_text());

    let (status, first_log) = d.terminate();
    assert!(status.success(), "{first_log}");
    let before_restart = synced(&serial_of(dir.path(), PC1_MAC, 1)).len();
    std::thread::sleep(Duration::from_secs(3));
    let d = netbootd(&srv, &config);
    let b = wait_line(
        dir.path(),
        PC1_MAC,
        1,
        "load done",
        Duration::from_secs(240),
        &d,
    );
    let all = synced(&b);
    assert_eq!(all.len(), 30, "{}", b.console);
    assert!(
        before_restart < 30,
        "the restart came during the load ({before_restart} files before it)"
    );
    assert!(
        !b.lines.iter().any(|l| l.contains("failed")),
        "{}",
        b.console
    );
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while vm.is_running() {
        assert!(
            std::time::Instant::now() < until,
            "the guest did not power off"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, log) = d.terminate();
    assert!(status.success(), "{log}");
    let m = store.client_meta("pc1").unwrap();
    let disk = root.join("clients/pc1").join(m.disk_file().unwrap());
    files_in_overlay(&disk, dir.path(), &all);
}

/// The seed's claim for AoE: the OS flushes its NIC's addresses and takes
/// a new one in the middle of a write load, and its AoE root carries on
/// (AoE is Ethernet, no address in it). The same over iSCSI: the TCP
/// connection of the old address is dead, the initiator (iscsid) logs in
/// again from the new one (a session reinstatement) and the writes go on.
/// No synced write is lost on either.
#[test]
fn a_readdressed_nic_leaves_aoe_alone_and_iscsi_recovers() {
    need_guest();
    need("debugfs");
    let dir = tempfile::tempdir().unwrap();
    let golden = golden(dir.path(), "1");
    let root = dir.path().join("store");
    let store = netboot_image::Store::open(&root).unwrap();
    store.image_create("golden", &golden, None).unwrap();
    let files = boot_files(dir.path());
    let config = config(
        dir.path(),
        &root,
        &files,
        &format!(
            "[[client]]\nname = \"pc1\"\nmac = \"{PC1_MAC}\"\nmode = \"persistent\"\n\
             cmdline = \"console=ttyS0 panic=-1 load=12 newip=10.79.0.211\"\n\
             [[client]]\nname = \"pc3\"\nmac = \"{AOE_MAC}\"\nmode = \"persistent\"\nprotocol = \"aoe\"\n\
             cmdline = \"console=ttyS0 panic=-1 netboot=aoe pc=pc3 load=12 firstip=10.79.0.212 newip=10.79.0.213\"\n"
        ),
    );
    let mut lan = Lan::new();
    let srv = lan.host(Some((SRV, 24)));
    let d = netbootd(&srv, &config);
    let mut q1 = pc(&mut lan, dir.path(), PC1_MAC, 1);
    let mut q3 = pc(&mut lan, dir.path(), AOE_MAC, 1);
    let (o1, o3) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&mut q1, Duration::from_secs(400)));
        let b = s.spawn(|| run(&mut q3, Duration::from_secs(400)));
        (a.join().unwrap(), b.join().unwrap())
    });
    for (o, mac, me, ip) in [
        (&o1, PC1_MAC, "pc1", "10.79.0.211"),
        (&o3, AOE_MAC, "pc3", "10.79.0.213"),
    ] {
        let b = serial_of(dir.path(), mac, 1);
        assert!(
            o.status.success() && b.has("load done") && b.has("done"),
            "{me}: {:?}\n{}\nnetbootd:\n{}",
            o.status,
            b.console,
            d.log_text()
        );
        assert!(b.has(&format!("readdressed {ip}")), "{}", b.console);
        eprintln!("{me}'s console:\n{}", b.console);
        let all = synced(&b);
        assert_eq!(all.len(), 12, "{}", b.console);
        let m = store.client_meta(me).unwrap();
        let disk = root.join("clients").join(me).join(m.disk_file().unwrap());
        files_in_overlay(&disk, dir.path(), &all);
    }
    // iSCSI: the session of the old address was replaced by one from the
    // new address.
    let log = d.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("session reinstatement") && l.contains("10.79.0.211")),
        "{log}"
    );
    let (status, _) = d.terminate();
    assert!(status.success());
}
