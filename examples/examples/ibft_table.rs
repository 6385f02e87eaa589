//! An iBFT built from a model, as firmware or a VMM would hand it to the
//! OS, then found in a copy of base memory and read back, as an OS would.
//!
//! `cargo run -p netboot-examples --example ibft_table`

use std::net::{IpAddr, Ipv4Addr};

use netboot_ibft::{find_in_memory, flags, parse, Initiator, Layout, Nic, Origin, Table, Target};

fn main() {
    let valid = flags::BLOCK_VALID | flags::FIRMWARE_BOOT_SELECTED;
    let table = Table {
        initiator: Some(Initiator {
            flags: valid,
            name: "iqn.2026-11.org.example:pc042".into(),
            ..Default::default()
        }),
        nics: [
            Some(Nic {
                flags: valid | flags::NIC_GLOBAL,
                ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 42))),
                prefix_len: 24,
                origin: Origin::DHCP,
                gateway: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
                mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
                pci_bdf: 0x0018, // 00:03.0
                ..Default::default()
            }),
            None,
        ],
        targets: [
            Some(Target {
                flags: valid,
                ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
                port: 3260,
                name: "iqn.2026-11.org.example:images.pc042".into(),
                ..Default::default()
            }),
            None,
        ],
        ..Default::default()
    };
    let bytes = table.build_with(Layout::IPXE).expect("the model fits");
    println!(
        "built {} bytes, checksum byte {:#04x}",
        bytes.len(),
        bytes[9]
    );

    // Where BIOS firmware leaves it: somewhere in 0x80000-0xFFFFF.
    let base = 0x80000;
    let mut memory = vec![0u8; 0x80000];
    memory[0x1e620..0x1e620 + bytes.len()].copy_from_slice(&bytes);
    let (addr, found) = find_in_memory(&memory, base).expect("the scan finds it");
    let back = parse(found).expect("strictly valid");
    assert_eq!(back, table);
    let t = back.targets[0].as_ref().expect("target 0");
    println!(
        "found at {addr:#x}: boot from {}:{} {}",
        t.ip.expect("address"),
        t.port,
        t.name
    );
}
