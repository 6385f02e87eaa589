//! Linux guests for qemu: Debian's kernel and modules (unpacked by
//! scripts/install-peers into [`LINUX_CACHE`]) and initramfs archives built
//! here (newc cpio, not compressed) around the host's busybox and other
//! host programs with the shared libraries they need.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where scripts/install-peers leaves the kernel files (`vmlinuz` and
/// modules such as `aoe.ko`, `e1000.ko`, `iscsi_ibft.ko`).
pub const LINUX_CACHE: &str = "/var/cache/netboot-peers/linux";

/// A file of [`LINUX_CACHE`], or a panic that says how to get it.
pub fn kernel_file(name: &str) -> PathBuf {
    let p = Path::new(LINUX_CACHE).join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-peers (it unpacks Debian's kernel image \
         package into {LINUX_CACHE})",
        p.display()
    );
    p
}

/// A newc cpio archive.
#[derive(Debug)]
pub struct Cpio {
    buf: Vec<u8>,
    ino: u32,
    dirs: std::collections::HashSet<String>,
}

impl Default for Cpio {
    fn default() -> Self {
        Cpio::new()
    }
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Cpio {
        Cpio {
            buf: Vec::new(),
            ino: 1,
            dirs: Default::default(),
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        let name = name.trim_start_matches('/');
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.ino += 1;
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        if !self.dirs.insert(name.to_owned()) {
            return;
        }
        self.entry(name, 0o040755, (0, 0), &[]);
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, 0o100000 | mode, (0, 0), data);
    }

    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020600, (major, minor), &[]);
    }

    /// Adds a host file at the same path (following symlinks), with its
    /// parent directories.
    pub fn host_file(&mut self, path: &str) {
        let mut parent = String::new();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for p in &parts[..parts.len() - 1] {
            parent.push('/');
            parent.push_str(p);
            self.dir(&parent);
        }
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        self.file(path, 0o755, &data);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        // Round up to 512 bytes, as cpio does.
        while self.buf.len() % 512 != 0 {
            self.buf.push(0);
        }
        self.buf
    }
}

/// The shared libraries `ldd` lists for `host`, at their host paths.
fn libraries(host: &str) -> Vec<String> {
    let o = Command::new("ldd").arg(host).output().expect("ldd");
    let text = String::from_utf8_lossy(&o.stdout);
    text.lines()
        .filter_map(|line| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
            // "/lib64/ld-linux-x86-64.so.2 (0x...)"; not linux-vdso.
            match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            }
        })
        .filter(|p| p.starts_with('/'))
        .map(str::to_owned)
        .collect()
}

/// A host executable at `name` in the archive, with the shared libraries
/// `ldd` lists for it at their host paths.
pub fn add_program(cpio: &mut Cpio, host: &str, name: &str) {
    for p in libraries(host) {
        cpio.host_file(&p);
    }
    let data = std::fs::read(host).unwrap_or_else(|e| panic!("{host}: {e}"));
    cpio.file(name, 0o755, &data);
}

/// busybox and the shared libraries it needs (Debian's busybox package is
/// dynamically linked; busybox-static would replace it), at /bin/busybox.
pub fn add_busybox(cpio: &mut Cpio) {
    let bb = "/usr/bin/busybox";
    assert!(
        Path::new(bb).exists(),
        "{bb} is missing: run scripts/install-peers (busybox)"
    );
    cpio.dir("/bin");
    add_program(cpio, bb, "/bin/busybox");
}

/// The modules of a Linux that runs its root file system (ext4) from the
/// iSCSI disk the firmware left in the iBFT, in load order (the kernel
/// package has no modules.dep: each one after what it needs).
/// `crc32c_generic` is not among ext4's dependencies, but mounting a file
/// system of mke2fs 1.47 (metadata_csum) needs it; crc32c-intel does not
/// load under TCG.
pub const ISCSI_ROOT_MODULES: &[&str] = &[
    "scsi_common",
    "scsi_mod",
    "crc64",
    "crc64-rocksoft",
    "crct10dif_common",
    "crc-t10dif",
    "t10-pi",
    "sd_mod",
    "scsi_transport_iscsi",
    "libiscsi",
    "libiscsi_tcp",
    "iscsi_tcp",
    "iscsi_boot_sysfs",
    "iscsi_ibft",
    "e1000",
    "crc32c_generic",
    "crc16",
    "mbcache",
    "jbd2",
    "ext4",
];

/// virtio-net and what it needs, in load order: the NIC of a UEFI PC
/// (OVMF's own PXE client drives it; iPXE's ROMs are for the e1000).
pub const VIRTIO_NET_MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
];

/// Kernel modules of [`LINUX_CACHE`] at `/lib/modules/NAME.ko`, and
/// `/lib/modules/order` naming them one per line in the order given (an
/// init loads them with `insmod`).
pub fn add_modules(cpio: &mut Cpio, names: &[&str]) {
    cpio.dir("/lib");
    cpio.dir("/lib/modules");
    for n in names {
        let data = std::fs::read(kernel_file(&format!("{n}.ko"))).expect("module");
        cpio.file(&format!("/lib/modules/{n}.ko"), 0o644, &data);
    }
    cpio.file("/lib/modules/order", 0o644, names.join("\n").as_bytes());
}

/// Copies a host executable to `name` under the directory `root`, with
/// the shared libraries `ldd` lists for it at their host paths (for a file
/// system made with `mkfs.ext4 -d root`).
pub fn tree_program(root: &Path, host: &str, name: &str) {
    let copy = |from: &str, to: &str| {
        let dest = root.join(to.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(from, &dest).unwrap_or_else(|e| panic!("{from}: {e}"));
    };
    for p in libraries(host) {
        copy(&p, &p);
    }
    copy(host, name);
}

/// An ext4 file system of `size_mib` MiB at `out` holding the tree under
/// `root` (`mkfs.ext4 -d`), as a raw disk without partition table.
pub fn ext4_image(root: &Path, out: &Path, size_mib: u64) {
    let o = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "root", "-d"])
        .arg(root)
        .arg(out)
        .arg(format!("{size_mib}M"))
        .output()
        .expect("mkfs.ext4 runs (e2fsprogs: scripts/install-peers)");
    assert!(
        o.status.success(),
        "mkfs.ext4: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
