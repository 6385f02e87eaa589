//! Each rule of the strict parser, broken on purpose, gives the error that
//! names it; the lenient parser reads what it can and lists the problem.

use netboot_ibft::wire::{self, control, fix_checksum, target};
use netboot_ibft::{parse, parse_lenient, EmitError, Layout, ParseError, StringField, Structure};

const IPXE: &[u8] = include_bytes!("data/ipxe-1.0.0-git20190125-iscsi.bin");
const NIC0: usize = 0xa0;
const TGT0: usize = 0x180;

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// The fixture with `f` applied and the checksum made right again.
fn broken(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = IPXE.to_vec();
    f(&mut b);
    fix_checksum(&mut b);
    b
}

#[test]
fn bad_checksum() {
    let mut b = IPXE.to_vec();
    b[0x100] ^= 0x40;
    let e = parse(&b).unwrap_err();
    assert!(matches!(e, ParseError::Checksum { sum: 0x40, .. }), "{e}");
    assert!(e.to_string().contains("checksum"), "{e}");
    let l = parse_lenient(&b).unwrap();
    assert_eq!(l.problems, vec![e]);
}

#[test]
fn wrong_signature_and_spellings() {
    let b = broken(|b| b[..4].copy_from_slice(b"RSDT"));
    assert!(matches!(parse(&b), Err(ParseError::Signature { found }) if &found == b"RSDT"));
    assert!(parse_lenient(&b).is_err());
    let b = broken(|b| b[..4].copy_from_slice(b"IBFT"));
    assert!(parse(&b).is_err());
    let l = parse_lenient(&b).unwrap();
    assert_eq!(l.problems.len(), 1);
    assert_eq!(&l.table.acpi.signature, b"IBFT");
}

#[test]
fn truncated_and_lengths() {
    for n in [0, 10, 47, 65] {
        assert!(
            matches!(parse(&IPXE[..n]), Err(ParseError::Truncated { .. })),
            "{n}"
        );
        assert!(parse_lenient(&IPXE[..n]).is_err());
    }
    // Declared length shorter than the fixed part.
    let b = broken(|b| b[4..8].copy_from_slice(&40u32.to_le_bytes()));
    assert!(matches!(
        parse(&b),
        Err(ParseError::Length { declared: 40, .. })
    ));
    // Declared length longer than the bytes: the strings at the end are cut.
    let e = parse(&IPXE[..0x220]).unwrap_err();
    assert!(
        matches!(
            e,
            ParseError::Length {
                declared: 599,
                available: 0x220,
                ..
            }
        ),
        "{e}"
    );
    let e = parse_lenient(&IPXE[..0x220]).unwrap_err();
    assert!(matches!(e, ParseError::StringPastEnd { .. }), "{e}");
    // A memory dump longer than the table is fine.
    let mut b = IPXE.to_vec();
    b.extend_from_slice(&[0xee; 100]);
    assert_eq!(parse(&b).unwrap(), parse(IPXE).unwrap());
}

#[test]
fn offset_past_the_end() {
    let b = broken(|b| put16(b, wire::CONTROL_OFFSET + control::TARGET1, 0x250));
    let e = parse(&b).unwrap_err();
    assert_eq!(
        e,
        ParseError::OffsetPastEnd {
            structure: Structure::Target(1),
            offset: 0x250,
            end: 0x250 + wire::TARGET_LEN,
            table_len: 599
        }
    );
    assert!(e.to_string().contains("target1"), "{e}");
    assert!(parse_lenient(&b).is_err());
    let b = broken(|b| put16(b, wire::CONTROL_OFFSET + control::NIC1, 0xffff));
    assert!(matches!(parse(&b), Err(ParseError::OffsetPastEnd { .. })));
}

#[test]
fn wrong_structure_id() {
    // NIC 1 pointing at the target structure.
    let b = broken(|b| put16(b, wire::CONTROL_OFFSET + control::NIC1, TGT0 as u16));
    let e = parse(&b).unwrap_err();
    assert_eq!(
        e,
        ParseError::StructureId {
            structure: Structure::Nic(1),
            offset: TGT0,
            found: 4,
            expected: 3
        }
    );
}

#[test]
fn overlapping_structures() {
    // A copy of target 0 as target 1 at 0x104, where its header covers
    // the last two bytes of NIC 0 (the host name's offset, unused).
    let at = NIC0 + wire::NIC_LEN - 2;
    let b = broken(|b| {
        let t: Vec<u8> = b[TGT0..TGT0 + wire::TARGET_LEN].to_vec();
        b[at..at + wire::TARGET_LEN].copy_from_slice(&t);
        b[at + 4] = 1; // index 1
        put16(b, wire::CONTROL_OFFSET + control::TARGET1, at as u16);
    });
    let e = parse(&b).unwrap_err();
    assert_eq!(
        e,
        ParseError::Overlap {
            first: Structure::Nic(0),
            first_start: NIC0,
            first_end: NIC0 + wire::NIC_LEN,
            second: Structure::Target(1),
            second_start: at,
        }
    );
    let l = parse_lenient(&b).unwrap();
    assert_eq!(l.problems, vec![e]);
    assert_eq!(l.table.targets[1], l.table.targets[0]);
    // Two structures at one offset cannot be read even leniently.
    let b = broken(|b| put16(b, wire::CONTROL_OFFSET + control::TARGET1, TGT0 as u16));
    assert!(matches!(parse_lenient(&b), Err(ParseError::Overlap { .. })));
}

#[test]
fn unterminated_string() {
    // The initiator name's NUL replaced.
    let name_end = 0x200 + 57;
    let b = broken(|b| b[name_end] = b'X');
    let e = parse(&b).unwrap_err();
    assert_eq!(
        e,
        ParseError::StringUnterminated {
            field: StringField {
                structure: Structure::Initiator,
                name: "name"
            },
            offset: 0x200,
            len: 57,
            found: b'X'
        }
    );
    assert!(e.to_string().contains("initiator.name"), "{e}");
    let l = parse_lenient(&b).unwrap();
    assert_eq!(l.problems, vec![e]);
    assert!(l.table.initiator.unwrap().name.starts_with("iqn.2010-04"));
}

#[test]
fn string_offsets_and_contents() {
    // Length with offset 0.
    let b = broken(|b| put16(b, TGT0 + target::CHAP_NAME, 5));
    assert!(matches!(
        parse(&b),
        Err(ParseError::StringOffsetZero { len: 5, .. })
    ));
    // A string inside a structure.
    let b = broken(|b| {
        put16(b, TGT0 + target::CHAP_NAME, 4);
        put16(b, TGT0 + target::CHAP_NAME + 2, (NIC0 + 0x10) as u16);
    });
    let e = parse(&b).unwrap_err();
    assert!(
        matches!(
            e,
            ParseError::StringOverlaps {
                structure: Structure::Nic(0),
                ..
            }
        ),
        "{e}"
    );
    // A string in the ACPI header.
    let b = broken(|b| {
        put16(b, TGT0 + target::CHAP_NAME, 4);
        put16(b, TGT0 + target::CHAP_NAME + 2, 10);
    });
    assert!(matches!(
        parse(&b),
        Err(ParseError::StringOverlaps {
            structure: Structure::Header,
            ..
        })
    ));
    // Not UTF-8.
    let b = broken(|b| b[0x23a] = 0xff);
    assert!(matches!(parse(&b), Err(ParseError::StringNotUtf8 { .. })));
    let l = parse_lenient(&b).unwrap();
    assert!(l.table.targets[0]
        .as_ref()
        .unwrap()
        .name
        .starts_with('\u{fffd}'));
    // Past the end.
    let b = broken(|b| put16(b, TGT0 + target::NAME, 0x1000));
    assert!(matches!(parse(&b), Err(ParseError::StringPastEnd { .. })));
}

#[test]
fn header_fields_lenient() {
    // Revision 2, a NIC with version 2, index 1 in slot 0 and a longer
    // length: all tolerated, all listed.
    let b = broken(|b| {
        b[8] = 2;
        b[NIC0 + 1] = 2;
        b[NIC0 + 4] = 1;
        put16(b, NIC0 + 2, wire::NIC_LEN as u16 + 2);
    });
    assert!(matches!(parse(&b), Err(ParseError::Revision { found: 2 })));
    let l = parse_lenient(&b).unwrap();
    assert_eq!(l.problems.len(), 4, "{:?}", l.problems);
    assert_eq!(l.table.nics[0], parse(IPXE).unwrap().nics[0]);
    // Linux rejects a control structure of another length, and so does
    // the strict parser.
    let b = broken(|b| put16(b, wire::CONTROL_OFFSET + 2, 20));
    assert!(matches!(
        parse(&b),
        Err(ParseError::StructureLength {
            structure: Structure::Control,
            found: 20,
            ..
        })
    ));
}

#[test]
fn building_rejects_what_cannot_be_stored() {
    let mut t = parse(IPXE).unwrap();
    t.targets[0].as_mut().unwrap().chap_secret = "a\0b".into();
    assert_eq!(
        t.build().unwrap_err(),
        EmitError::StringHasNul {
            field: StringField {
                structure: Structure::Target(0),
                name: "chap_secret"
            },
            position: 1
        }
    );
    let mut t = parse(IPXE).unwrap();
    t.initiator.as_mut().unwrap().name = "x".repeat(70_000);
    assert!(matches!(t.build(), Err(EmitError::TooLarge { .. })));
    let t = parse(IPXE).unwrap();
    for align in [0, 3, 8192] {
        assert_eq!(
            t.build_with(Layout {
                align,
                reserve_slots: false
            })
            .unwrap_err(),
            EmitError::Alignment(align)
        );
    }
}

/// Every prefix and every single-byte corruption of the real table: no
/// panic, and anything the strict parser accepts builds back.
#[test]
fn corruptions_never_panic() {
    for n in 0..IPXE.len() {
        let _ = parse(&IPXE[..n]);
        let _ = parse_lenient(&IPXE[..n]);
    }
    for at in 0..IPXE.len() {
        for x in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut b = IPXE.to_vec();
            b[at] = x;
            for b in [b.clone(), {
                fix_checksum(&mut b);
                b
            }] {
                if let Ok(t) = parse(&b) {
                    let again = t.build_with(Layout::IPXE).unwrap();
                    assert_eq!(parse(&again).unwrap(), t);
                }
                let _ = parse_lenient(&b);
            }
        }
    }
}
