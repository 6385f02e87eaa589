//! The table iPXE 1.0.0+git-20190125 (Debian's ipxe-qemu) left in base
//! memory after `sanboot`ing a disk from iscsid; see tests/data/README.md
//! for how it was obtained (bins/iscsid's `ipxe_leaves_the_ibft_of_the_fixture`
//! test makes it again).

use netboot_ibft::wire::{self, control, nic, target};
use netboot_ibft::{flags, parse, parse_lenient, ChapType, Layout, Origin};
use std::net::{IpAddr, Ipv4Addr};

const IPXE: &[u8] = include_bytes!("data/ipxe-1.0.0-git20190125-iscsi.bin");

fn v4(a: u8, b: u8, c: u8, d: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
}

#[test]
fn ipxe_table_parses_strictly_with_the_values_ipxe_used() {
    let t = parse(IPXE).unwrap();
    assert_eq!(&t.acpi.signature, b"iBFT");
    assert_eq!(t.acpi.revision, 1);
    assert_eq!(&t.acpi.oem_id, b"FENSYS");
    assert_eq!(&t.acpi.oem_table_id, b"iPXE\0\0\0\0");
    assert_eq!(t.control.flags, 0);
    let valid = flags::BLOCK_VALID | flags::FIRMWARE_BOOT_SELECTED;

    let ini = t.initiator.as_ref().unwrap();
    assert_eq!(ini.flags, valid);
    assert_eq!(
        ini.name,
        "iqn.2010-04.org.ipxe:00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(ini.isns_server, None);

    let n = t.nics[0].as_ref().unwrap();
    assert_eq!(n.flags, valid);
    assert_eq!(n.ip, v4(10, 0, 2, 15)); // qemu user-mode networking
    assert_eq!(n.prefix_len, 24);
    assert_eq!(n.origin, Origin::DHCP);
    assert_eq!(n.gateway, v4(10, 0, 2, 2));
    assert_eq!(n.dns, [v4(10, 0, 2, 3), None]);
    assert_eq!(n.dhcp_server, v4(10, 0, 2, 2));
    assert_eq!(n.vlan, 0);
    assert_eq!(n.mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    assert_eq!(n.pci_bdf, 0x0010); // 00:02.0
    assert_eq!(n.hostname, "");
    assert!(t.nics[1].is_none());

    let tg = t.targets[0].as_ref().unwrap();
    assert_eq!(tg.flags, valid);
    assert_eq!(tg.ip, v4(10, 0, 2, 2));
    assert_eq!(tg.port, 3299);
    assert_eq!(tg.lun, [0; 8]);
    assert_eq!(tg.chap_type, ChapType::NONE);
    assert_eq!(tg.nic_association, 0);
    assert_eq!(tg.name, "iqn.2026-11.org.netboot:test");
    assert_eq!(tg.chap_name, "");
    assert!(t.targets[1].is_none());

    let l = parse_lenient(IPXE).unwrap();
    assert!(l.problems.is_empty(), "{:?}", l.problems);
    assert_eq!(l.table, t);
}

#[test]
fn ipxe_table_rebuilds_byte_for_byte_with_the_ipxe_layout() {
    let t = parse(IPXE).unwrap();
    let again = t.build_with(Layout::IPXE).unwrap();
    assert_eq!(again.len(), IPXE.len());
    assert_eq!(again, IPXE);
    // The compact spec layout carries the same content in fewer bytes.
    let compact = t.build().unwrap();
    assert!(compact.len() < IPXE.len());
    assert_eq!(parse(&compact).unwrap(), t);
}

/// Field offsets as the Linux kernel's reader (`struct ibft_*` in
/// drivers/firmware/iscsi_ibft.c, packed) and iPXE's writer define them,
/// read from the real table.
#[test]
fn field_offsets_match_the_linux_and_ipxe_structs() {
    let b = IPXE;
    let u16_at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    // struct acpi_table_ibft: 36-byte ACPI header + 12 reserved bytes.
    assert_eq!(wire::CONTROL_OFFSET, 36 + 12);
    // Header lengths Linux insists on (ibft_verify_hdr with sizeof).
    let c = wire::CONTROL_OFFSET;
    assert_eq!(b[c], 1);
    assert_eq!(u16_at(c + 2), wire::CONTROL_LEN);
    let ini = u16_at(c + control::INITIATOR);
    let nic0 = u16_at(c + control::NIC0);
    let tgt0 = u16_at(c + control::TARGET0);
    assert_eq!((ini, nic0, tgt0), (0x50, 0xa0, 0x180));
    assert_eq!(u16_at(c + control::NIC1), 0);
    assert_eq!(u16_at(c + control::TARGET1), 0);
    assert_eq!((b[ini], u16_at(ini + 2)), (2, wire::INITIATOR_LEN));
    assert_eq!((b[nic0], u16_at(nic0 + 2)), (3, wire::NIC_LEN));
    assert_eq!((b[tgt0], u16_at(tgt0 + 2)), (4, wire::TARGET_LEN));
    // Sizes from the C structs: initiator 6+4*16+2+2, NIC
    // 6+16+1+1+4*16+2+6+2+2+2, target 6+16+2+8+1+1+5*(2+2).
    assert_eq!(wire::INITIATOR_LEN, 74);
    assert_eq!(wire::NIC_LEN, 102);
    assert_eq!(wire::TARGET_LEN, 54);
    // A few fields at their offsets.
    assert_eq!(
        &b[nic0 + nic::IP..nic0 + nic::IP + 16][10..],
        &[0xff, 0xff, 10, 0, 2, 15]
    );
    assert_eq!(b[nic0 + nic::PREFIX], 24);
    assert_eq!(
        &b[nic0 + nic::MAC..nic0 + nic::MAC + 6],
        &[0x52, 0x54, 0, 0x12, 0x34, 0x56]
    );
    assert_eq!(u16_at(tgt0 + target::PORT), 3299);
    let name_len = u16_at(tgt0 + target::NAME);
    let name_off = u16_at(tgt0 + target::NAME + 2);
    assert_eq!(
        &b[name_off..name_off + name_len],
        b"iqn.2026-11.org.netboot:test"
    );
    assert_eq!(b[name_off + name_len], 0);
}

#[test]
fn found_in_a_copy_of_base_memory_where_ipxe_left_it() {
    // iPXE put it at 0x9e620; decoys before it: a signature without a valid
    // checksum and one off the 16-byte grid.
    let base = wire::BIOS_SCAN_RANGE.start;
    let mut mem = vec![0u8; wire::BIOS_SCAN_RANGE.len()];
    let at = 0x9e620 - base;
    mem[at..at + IPXE.len()].copy_from_slice(IPXE);
    mem[0x100..0x100 + 64].copy_from_slice(&IPXE[..64]);
    mem[0x208..0x208 + IPXE.len()].copy_from_slice(IPXE);
    let (addr, table) = netboot_ibft::find_in_memory(&mem, base).unwrap();
    assert_eq!(addr, 0x9e620);
    assert_eq!(table, IPXE);
    // The same with a base that is not 16-byte aligned.
    let (addr, _) = netboot_ibft::find_in_memory(&mem[8..], base + 8).unwrap();
    assert_eq!(addr, 0x9e620);
    assert!(netboot_ibft::find_in_memory(&mem[..at], base).is_none());
}

/// The same iPXE, UEFI build (ipxe.efi from Debian's `ipxe`), after
/// `sanhook` on OVMF: the table as the Linux kernel shows it in
/// /sys/firmware/acpi/tables/iBFT (see tests/data/README.md).
const IPXE_EFI: &[u8] = include_bytes!("data/ipxe-1.0.0-git20190125-efi-iscsi.bin");

#[test]
fn ipxe_efi_table_from_the_acpi_tables_parses_and_rebuilds() {
    let t = parse(IPXE_EFI).unwrap();
    assert_eq!(&t.acpi.oem_id, b"FENSYS");
    let n = t.nics[0].as_ref().unwrap();
    assert_eq!(n.mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x79]);
    assert_eq!(n.origin, Origin::DHCP);
    assert_eq!(n.dhcp_server, v4(10, 77, 0, 1));
    assert_eq!(n.gateway, v4(10, 77, 0, 1));
    let tg = t.targets[0].as_ref().unwrap();
    assert_eq!(tg.ip, v4(10, 77, 0, 2));
    assert_eq!(tg.port, 3260);
    assert_eq!(tg.name, "iqn.2026-11.org.netboot:uefi-pc");
    // Same layout as the BIOS build: rebuilding gives the same bytes.
    assert_eq!(t.build_with(Layout::IPXE).unwrap(), IPXE_EFI);
}
