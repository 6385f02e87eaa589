//! parse(build(x)) == x for arbitrary models, in every layout.

use netboot_ibft::{
    parse, AcpiHeader, ChapType, Control, Initiator, Layout, Nic, Origin, Table, Target,
};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn addr() -> impl Strategy<Value = Option<IpAddr>> {
    prop_oneof![
        Just(None),
        any::<u32>().prop_map(|a| Some(IpAddr::V4(Ipv4Addr::from(a)))),
        // IPv6, but neither `::` (that is "no address") nor IPv4-mapped
        // (that reads back as IPv4).
        any::<u128>()
            .prop_filter("not :: or ::ffff:0:0/96", |a| *a != 0
                && (a >> 32) != 0xffff)
            .prop_map(|a| Some(IpAddr::V6(Ipv6Addr::from(a)))),
    ]
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

fn initiator() -> impl Strategy<Value = Initiator> {
    (any::<u8>(), addr(), addr(), addr(), addr(), text()).prop_map(|(flags, i, s, r0, r1, name)| {
        Initiator {
            flags,
            isns_server: i,
            slp_server: s,
            radius_servers: [r0, r1],
            name,
        }
    })
}

fn nic() -> impl Strategy<Value = Nic> {
    (
        (any::<u8>(), addr(), any::<u8>(), any::<u8>(), addr()),
        (
            addr(),
            addr(),
            addr(),
            any::<u16>(),
            any::<[u8; 6]>(),
            any::<u16>(),
            text(),
        ),
    )
        .prop_map(
            |((flags, ip, prefix_len, origin, gateway), (d0, d1, dhcp, vlan, mac, pci, host))| {
                Nic {
                    flags,
                    ip,
                    prefix_len,
                    origin: Origin(origin),
                    gateway,
                    dns: [d0, d1],
                    dhcp_server: dhcp,
                    vlan,
                    mac,
                    pci_bdf: pci,
                    hostname: host,
                }
            },
        )
}

fn target() -> impl Strategy<Value = Target> {
    (
        (
            any::<u8>(),
            addr(),
            any::<u16>(),
            any::<[u8; 8]>(),
            any::<u8>(),
            any::<u8>(),
        ),
        (text(), text(), text(), text(), text()),
    )
        .prop_map(
            |((flags, ip, port, lun, chap, nic), (n, cn, cs, rn, rs))| Target {
                flags,
                ip,
                port,
                lun,
                chap_type: ChapType(chap),
                nic_association: nic,
                name: n,
                chap_name: cn,
                chap_secret: cs,
                reverse_chap_name: rn,
                reverse_chap_secret: rs,
            },
        )
}

fn table() -> impl Strategy<Value = Table> {
    (
        (
            any::<[u8; 6]>(),
            any::<[u8; 8]>(),
            any::<u32>(),
            any::<[u8; 4]>(),
            any::<u32>(),
        ),
        (any::<u8>(), any::<u16>()),
        proptest::option::of(initiator()),
        [proptest::option::of(nic()), proptest::option::of(nic())],
        [
            proptest::option::of(target()),
            proptest::option::of(target()),
        ],
    )
        .prop_map(
            |((oem_id, oem_table_id, oem_rev, creator, creator_rev), (cf, ext), i, n, t)| Table {
                acpi: AcpiHeader {
                    signature: *b"iBFT",
                    revision: 1,
                    oem_id,
                    oem_table_id,
                    oem_revision: oem_rev,
                    creator_id: creator,
                    creator_revision: creator_rev,
                },
                control: Control {
                    flags: cf,
                    extensions: ext,
                },
                initiator: i,
                nics: n,
                targets: t,
            },
        )
}

proptest! {
    #[test]
    fn build_then_parse_gives_the_model_back(t in table(), align_log in 0u32..6, reserve in any::<bool>()) {
        let layout = Layout { align: 1 << align_log, reserve_slots: reserve };
        let bytes = t.build_with(layout).unwrap();
        prop_assert_eq!(bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);
        prop_assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize, bytes.len());
        let back = parse(&bytes).unwrap();
        prop_assert_eq!(&back, &t);
        // And building again is stable.
        prop_assert_eq!(back.build_with(layout).unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = parse(&bytes);
        let _ = netboot_ibft::parse_lenient(&bytes);
    }
}
