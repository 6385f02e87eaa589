//! The Linux guest of aoed's test, which uses the kernel's own `aoe`
//! driver: Debian's kernel, aoe.ko and e1000.ko, and an initramfs (see
//! `netboot_testkit::guest`).

use std::path::{Path, PathBuf};

use netboot_testkit::guest::{add_busybox, kernel_file, Cpio};

/// The kernel files, or a panic that says how to get them.
pub fn kernel_files() -> (PathBuf, PathBuf, PathBuf) {
    (
        kernel_file("vmlinuz"),
        kernel_file("aoe.ko"),
        kernel_file("e1000.ko"),
    )
}

/// An initramfs with busybox, the two modules, `/init` (the given shell
/// script, run by busybox sh) and extra files.
pub fn initramfs(init: &str, modules: &[&Path], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut c = Cpio::new();
    for d in ["/dev", "/proc", "/sys", "/tmp"] {
        c.dir(d);
    }
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    c.char_dev("/dev/console", 5, 1);
    add_busybox(&mut c);
    for m in modules {
        let name = m.file_name().unwrap().to_str().unwrap();
        c.file(&format!("/{name}"), 0o644, &std::fs::read(m).unwrap());
    }
    for (name, data) in extra {
        c.file(name, 0o644, data);
    }
    c.file(
        "/init",
        0o755,
        format!("#!/bin/busybox sh\n{init}").as_bytes(),
    );
    c.finish()
}
