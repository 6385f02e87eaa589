//! The Linux kernel's own iBFT reader (iscsi_ibft.ko, Debian's kernel in
//! qemu, `-accel tcg`) reads a table that `ibft build` made and qemu
//! installed with `-acpitable file=`; `ibft check` and `ibft dump` run in
//! the guest on `/sys/firmware/acpi/tables/iBFT`, their default path.
//! The kernel files come from scripts/install-peers (see
//! bins/aoed/tests/interop/guest.rs, whose initramfs builder this uses).

use netboot_testkit::guest;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ibft.example.toml");

#[test]
fn linux_reads_the_table_ibft_built() {
    let cache = Path::new(guest::LINUX_CACHE);
    let files = ["vmlinuz", "iscsi_boot_sysfs.ko", "iscsi_ibft.ko"].map(|f| cache.join(f));
    for f in &files {
        assert!(
            f.exists(),
            "{} is missing: run scripts/install-peers (it unpacks Debian's kernel package)",
            f.display()
        );
    }
    assert!(
        Command::new("sh")
            .args(["-c", "command -v qemu-system-x86_64"])
            .output()
            .unwrap()
            .status
            .success(),
        "qemu-system-x86_64 is missing: run scripts/install-peers"
    );
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("ibft.bin");
    let o = Command::new(env!("CARGO_BIN_EXE_ibft"))
        .args(["build", "-c", EXAMPLE, "-o"])
        .arg(&table)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");

    let mut c = guest::Cpio::new();
    for d in ["/dev", "/proc", "/sys", "/tmp", "/bin"] {
        c.dir(d);
    }
    c.char_dev("/dev/console", 5, 1);
    guest::add_busybox(&mut c);
    guest::add_program(&mut c, env!("CARGO_BIN_EXE_ibft"), "/ibft");
    for m in &files[1..] {
        let name = m.file_name().unwrap().to_str().unwrap();
        c.file(&format!("/{name}"), 0o644, &std::fs::read(m).unwrap());
    }
    let init = "#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox insmod /iscsi_boot_sysfs.ko
/bin/busybox insmod /iscsi_ibft.ko
echo NETBOOT-TABLE-BEGIN
/bin/busybox od -An -tx1 -v /sys/firmware/acpi/tables/iBFT
echo NETBOOT-TABLE-END
for f in $(/bin/busybox find /sys/firmware/ibft -type f | /bin/busybox sort); do
  echo \"SYSFS $f=$(/bin/busybox cat $f)\"
done
/ibft check; echo \"CHECK-STATUS $?\"
/ibft dump --show-secrets
echo NETBOOT-GUEST-DONE
/bin/busybox poweroff -f
";
    c.file("/init", 0o755, init.as_bytes());
    let initrd = dir.path().join("initrd.cpio");
    std::fs::write(&initrd, c.finish()).unwrap();
    let serial = dir.path().join("serial.log");
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-machine", "pc", "-m", "256"])
        .args(["-display", "none", "-nodefaults", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-kernel")
        .arg(&files[0])
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 quiet panic=-1"])
        .arg("-acpitable")
        .arg(format!("file={}", table.display()))
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!(
                "guest did not finish:\n{}",
                std::fs::read_to_string(&serial).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(&serial).unwrap();
    assert!(log.contains("NETBOOT-GUEST-DONE"), "{log}");

    // The table the kernel sees is the file, byte for byte.
    let hex: String = log
        .split("NETBOOT-TABLE-BEGIN")
        .nth(1)
        .and_then(|r| r.split("NETBOOT-TABLE-END").next())
        .unwrap()
        .split_whitespace()
        .collect();
    let seen: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(seen, std::fs::read(&table).unwrap(), "{log}");

    // The kernel's reader accepted every structure and reads our values.
    for want in [
        "/sys/firmware/ibft/acpi_header/signature=iBFT",
        "/sys/firmware/ibft/acpi_header/oem_table_id=NETBOOT",
        "/sys/firmware/ibft/initiator/initiator-name=iqn.2026-11.org.example:pc042",
        "/sys/firmware/ibft/ethernet0/ip-addr=10.0.2.15",
        "/sys/firmware/ibft/ethernet0/prefix-len=24",
        "/sys/firmware/ibft/ethernet0/subnet-mask=255.255.255.0",
        "/sys/firmware/ibft/ethernet0/gateway=10.0.2.2",
        "/sys/firmware/ibft/ethernet0/primary-dns=10.0.2.3",
        "/sys/firmware/ibft/ethernet0/mac=52:54:00:12:34:56",
        "/sys/firmware/ibft/ethernet0/hostname=pc042",
        "/sys/firmware/ibft/ethernet0/origin=3",
        "/sys/firmware/ibft/target0/ip-addr=10.0.2.2",
        "/sys/firmware/ibft/target0/port=3260",
        "/sys/firmware/ibft/target0/target-name=iqn.2026-11.org.example:images.pc042",
        "/sys/firmware/ibft/target0/chap-type=1",
        "/sys/firmware/ibft/target0/chap-name=pc042",
        "/sys/firmware/ibft/target0/chap-secret=correct horse battery",
        "/sys/firmware/ibft/target0/nic-assoc=0",
    ] {
        assert!(
            log.contains(&format!("SYSFS {want}")),
            "missing {want}:\n{log}"
        );
    }
    assert!(!log.contains("iBFT error"), "{log}");
    // Our tool on the guest's own table.
    assert!(log.contains("ok: valid iBFT, "), "{log}");
    assert!(log.contains("CHECK-STATUS 0"), "{log}");
    assert!(
        log.contains("portal 10.0.2.2:3260  lun 0  nic 0  chap one-way"),
        "{log}"
    );
}
