//! The byte layout of the table: offsets and sizes (iBFT 1.03, checked
//! against the Linux kernel's reader `drivers/firmware/iscsi_ibft.c` and
//! iPXE's writer `src/include/ipxe/ibft.h`), the strict and lenient parser
//! and the builder. All multi-byte fields are little-endian.
//!
//! (One file of ~860 lines on purpose: the strict parser, the lenient one
//! and the builder read and write the same offsets, so they stay side by
//! side.)

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{EmitError, ParseError, StringField, Structure};
use crate::model::{AcpiHeader, ChapType, Control, Initiator, Nic, Origin, Table, Target};

/// Size of the ACPI header.
pub const ACPI_HEADER_LEN: usize = 36;
/// Offset of the control structure: the ACPI header and 12 reserved bytes.
pub const CONTROL_OFFSET: usize = 48;
/// Size of a structure header (id, version, length, index, flags).
pub const STRUCT_HEADER_LEN: usize = 6;
/// Size of the control structure.
pub const CONTROL_LEN: usize = 18;
/// Size of the initiator structure.
pub const INITIATOR_LEN: usize = 74;
/// Size of a NIC structure.
pub const NIC_LEN: usize = 102;
/// Size of a target structure.
pub const TARGET_LEN: usize = 54;
/// The smallest table: header, reserved bytes and control structure.
pub const MIN_TABLE_LEN: usize = CONTROL_OFFSET + CONTROL_LEN;

/// Structure ids.
pub mod id {
    /// Control structure.
    pub const CONTROL: u8 = 1;
    /// Initiator structure.
    pub const INITIATOR: u8 = 2;
    /// NIC structure.
    pub const NIC: u8 = 3;
    /// Target structure.
    pub const TARGET: u8 = 4;
}

/// Field offsets inside the ACPI header.
pub mod acpi {
    /// Signature (4 bytes).
    pub const SIGNATURE: usize = 0;
    /// Length (u32).
    pub const LENGTH: usize = 4;
    /// Revision (u8).
    pub const REVISION: usize = 8;
    /// Checksum (u8).
    pub const CHECKSUM: usize = 9;
    /// OEM ID (6 bytes).
    pub const OEM_ID: usize = 10;
    /// OEM table ID (8 bytes).
    pub const OEM_TABLE_ID: usize = 16;
    /// OEM revision (u32).
    pub const OEM_REVISION: usize = 24;
    /// Creator ID (4 bytes).
    pub const CREATOR_ID: usize = 28;
    /// Creator revision (u32).
    pub const CREATOR_REVISION: usize = 32;
}

/// Field offsets inside the control structure.
pub mod control {
    /// Extensions (u16).
    pub const EXTENSIONS: usize = 6;
    /// Offset of the initiator structure (u16).
    pub const INITIATOR: usize = 8;
    /// Offset of NIC 0 (u16).
    pub const NIC0: usize = 10;
    /// Offset of target 0 (u16).
    pub const TARGET0: usize = 12;
    /// Offset of NIC 1 (u16).
    pub const NIC1: usize = 14;
    /// Offset of target 1 (u16).
    pub const TARGET1: usize = 16;
}

/// Field offsets inside the initiator structure.
pub mod initiator {
    /// iSNS server (16-byte address).
    pub const ISNS: usize = 6;
    /// SLP server.
    pub const SLP: usize = 22;
    /// Primary RADIUS server.
    pub const RADIUS0: usize = 38;
    /// Secondary RADIUS server.
    pub const RADIUS1: usize = 54;
    /// Initiator name (length u16, offset u16).
    pub const NAME: usize = 70;
}

/// Field offsets inside a NIC structure.
pub mod nic {
    /// IP address (16-byte address).
    pub const IP: usize = 6;
    /// Subnet mask prefix length (u8).
    pub const PREFIX: usize = 22;
    /// Origin (u8).
    pub const ORIGIN: usize = 23;
    /// Gateway.
    pub const GATEWAY: usize = 24;
    /// Primary DNS.
    pub const DNS0: usize = 40;
    /// Secondary DNS.
    pub const DNS1: usize = 56;
    /// DHCP server.
    pub const DHCP: usize = 72;
    /// VLAN (u16).
    pub const VLAN: usize = 88;
    /// MAC address (6 bytes).
    pub const MAC: usize = 90;
    /// PCI bus/device/function (u16).
    pub const PCI_BDF: usize = 96;
    /// Host name (length u16, offset u16).
    pub const HOSTNAME: usize = 98;
}

/// Field offsets inside a target structure.
pub mod target {
    /// IP address (16-byte address).
    pub const IP: usize = 6;
    /// TCP port (u16).
    pub const PORT: usize = 22;
    /// Boot LUN (8 bytes).
    pub const LUN: usize = 24;
    /// CHAP type (u8).
    pub const CHAP_TYPE: usize = 32;
    /// NIC association (u8).
    pub const NIC_ASSOCIATION: usize = 33;
    /// Target name (length u16, offset u16).
    pub const NAME: usize = 34;
    /// CHAP name.
    pub const CHAP_NAME: usize = 38;
    /// CHAP secret.
    pub const CHAP_SECRET: usize = 42;
    /// Reverse CHAP name.
    pub const REVERSE_CHAP_NAME: usize = 46;
    /// Reverse CHAP secret.
    pub const REVERSE_CHAP_SECRET: usize = 50;
}

/// The result of [`parse_lenient`]: the table as far as it could be read,
/// and every problem that a strict parse would have rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lenient {
    /// The table.
    pub table: Table,
    /// Problems tolerated, in the order found.
    pub problems: Vec<ParseError>,
}

/// Parses a table strictly: every rule of the spec, and every check the
/// Linux kernel's reader makes, must hold.
///
/// `bytes` may be longer than the table (a memory dump); the ACPI header's
/// length decides where it ends.
pub fn parse(bytes: &[u8]) -> Result<Table, ParseError> {
    Parser::new(bytes, true).run()
}

/// Parses a table from firmware that gets details wrong: a bad checksum or
/// revision, structure lengths longer than needed, wrong indexes or
/// versions, unterminated or non-UTF-8 strings (decoded lossily), strings
/// inside structures, a length past the end of the bytes given (clamped).
///
/// Fails only when the table cannot be read at all: too short for the
/// header, a wrong signature, a structure past the end or with the wrong id.
pub fn parse_lenient(bytes: &[u8]) -> Result<Lenient, ParseError> {
    let mut p = Parser::new(bytes, false);
    let table = p.run()?;
    Ok(Lenient {
        table,
        problems: p.problems,
    })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// Reads a 16-byte address field: all zeros is "none", `::ffff:a.b.c.d` an
/// IPv4 address, anything else an IPv6 address.
pub fn read_addr(field: [u8; 16]) -> Option<IpAddr> {
    if field == [0u8; 16] {
        return None;
    }
    let v6 = Ipv6Addr::from(field);
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    })
}

/// Writes a 16-byte address field, the inverse of [`read_addr`].
pub fn write_addr(addr: Option<IpAddr>) -> [u8; 16] {
    match addr {
        None => [0u8; 16],
        Some(IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets(),
        Some(IpAddr::V6(v6)) => v6.octets(),
    }
}

struct Parser<'a> {
    /// The table's bytes (cut to its length).
    b: &'a [u8],
    strict: bool,
    problems: Vec<ParseError>,
    /// Regions taken by structures, for overlap checks.
    regions: Vec<(usize, usize, Structure)>,
}

impl<'a> Parser<'a> {
    fn new(b: &'a [u8], strict: bool) -> Self {
        Parser {
            b,
            strict,
            problems: Vec::new(),
            regions: Vec::new(),
        }
    }

    /// A problem that the lenient mode tolerates.
    fn tolerate(&mut self, e: ParseError) -> Result<(), ParseError> {
        if self.strict {
            Err(e)
        } else {
            self.problems.push(e);
            Ok(())
        }
    }

    fn run(&mut self) -> Result<Table, ParseError> {
        let all = self.b;
        if all.len() < MIN_TABLE_LEN {
            return Err(ParseError::Truncated {
                what: "ACPI header and control structure",
                len: all.len(),
                needed: MIN_TABLE_LEN,
            });
        }
        let signature: [u8; 4] = array(all, acpi::SIGNATURE);
        match &signature {
            b"iBFT" => {}
            b"IBFT" | b"BIFT" => self.tolerate(ParseError::Signature { found: signature })?,
            _ => return Err(ParseError::Signature { found: signature }),
        }
        let declared = u32_at(all, acpi::LENGTH);
        let len = declared as usize;
        if len < MIN_TABLE_LEN {
            return Err(ParseError::Length {
                declared,
                available: all.len(),
                min: MIN_TABLE_LEN,
            });
        }
        if len > all.len() {
            self.tolerate(ParseError::Length {
                declared,
                available: all.len(),
                min: MIN_TABLE_LEN,
            })?;
            // Lenient: read what is there.
        } else {
            self.b = &all[..len];
        }
        let b = self.b;
        let revision = b[acpi::REVISION];
        if revision != 1 {
            self.tolerate(ParseError::Revision { found: revision })?;
        }
        let sum = b.iter().fold(0u8, |s, &x| s.wrapping_add(x));
        if sum != 0 && len <= all.len() {
            self.tolerate(ParseError::Checksum {
                stored: b[acpi::CHECKSUM],
                sum,
            })?;
        }
        let acpi_header = AcpiHeader {
            signature,
            revision,
            oem_id: array(b, acpi::OEM_ID),
            oem_table_id: array(b, acpi::OEM_TABLE_ID),
            oem_revision: u32_at(b, acpi::OEM_REVISION),
            creator_id: array(b, acpi::CREATOR_ID),
            creator_revision: u32_at(b, acpi::CREATOR_REVISION),
        };

        // Control structure.
        let c = CONTROL_OFFSET;
        let control_len = self.header(Structure::Control, c, id::CONTROL, CONTROL_LEN, 0)?;
        let control_end = (c + control_len).min(b.len());
        self.regions.push((0, control_end, Structure::Header));
        let control = Control {
            flags: b[c + 5],
            extensions: u16_at(b, c + control::EXTENSIONS),
        };
        let off = |field: usize| u16_at(b, c + field) as usize;
        let (ini_off, nic_offs, tgt_offs) = (
            off(control::INITIATOR),
            [off(control::NIC0), off(control::NIC1)],
            [off(control::TARGET0), off(control::TARGET1)],
        );

        // Structure headers and fixed fields first, strings after, so that
        // string checks see every structure's region.
        let mut table = Table {
            acpi: acpi_header,
            control,
            ..Table::default()
        };
        let mut strings: Vec<(StringField, usize)> = Vec::new();
        if ini_off != 0 {
            let s = Structure::Initiator;
            self.place(s, ini_off, id::INITIATOR, INITIATOR_LEN, 0)?;
            let at = ini_off;
            table.initiator = Some(Initiator {
                flags: b[at + 5],
                isns_server: read_addr(array(b, at + initiator::ISNS)),
                slp_server: read_addr(array(b, at + initiator::SLP)),
                radius_servers: [
                    read_addr(array(b, at + initiator::RADIUS0)),
                    read_addr(array(b, at + initiator::RADIUS1)),
                ],
                name: String::new(),
            });
            strings.push((field(s, "name"), at + initiator::NAME));
        }
        for (i, &at) in nic_offs.iter().enumerate() {
            if at == 0 {
                continue;
            }
            let s = Structure::Nic(i as u8);
            self.place(s, at, id::NIC, NIC_LEN, i as u8)?;
            table.nics[i] = Some(Nic {
                flags: b[at + 5],
                ip: read_addr(array(b, at + nic::IP)),
                prefix_len: b[at + nic::PREFIX],
                origin: Origin(b[at + nic::ORIGIN]),
                gateway: read_addr(array(b, at + nic::GATEWAY)),
                dns: [
                    read_addr(array(b, at + nic::DNS0)),
                    read_addr(array(b, at + nic::DNS1)),
                ],
                dhcp_server: read_addr(array(b, at + nic::DHCP)),
                vlan: u16_at(b, at + nic::VLAN),
                mac: array(b, at + nic::MAC),
                pci_bdf: u16_at(b, at + nic::PCI_BDF),
                hostname: String::new(),
            });
            strings.push((field(s, "hostname"), at + nic::HOSTNAME));
        }
        for (i, &at) in tgt_offs.iter().enumerate() {
            if at == 0 {
                continue;
            }
            let s = Structure::Target(i as u8);
            self.place(s, at, id::TARGET, TARGET_LEN, i as u8)?;
            table.targets[i] = Some(Target {
                flags: b[at + 5],
                ip: read_addr(array(b, at + target::IP)),
                port: u16_at(b, at + target::PORT),
                lun: array(b, at + target::LUN),
                chap_type: ChapType(b[at + target::CHAP_TYPE]),
                nic_association: b[at + target::NIC_ASSOCIATION],
                ..Target::default()
            });
            for (name, f) in [
                ("name", target::NAME),
                ("chap_name", target::CHAP_NAME),
                ("chap_secret", target::CHAP_SECRET),
                ("reverse_chap_name", target::REVERSE_CHAP_NAME),
                ("reverse_chap_secret", target::REVERSE_CHAP_SECRET),
            ] {
                strings.push((field(s, name), at + f));
            }
        }
        self.check_overlaps()?;

        for (f, at) in strings {
            let value = self.string(f, u16_at(b, at) as usize, u16_at(b, at + 2) as usize)?;
            let slot = match (f.structure, f.name) {
                (Structure::Initiator, _) => table.initiator.as_mut().map(|x| &mut x.name),
                (Structure::Nic(i), _) => table.nics[i as usize].as_mut().map(|x| &mut x.hostname),
                (Structure::Target(i), name) => {
                    table.targets[i as usize].as_mut().map(|t| match name {
                        "name" => &mut t.name,
                        "chap_name" => &mut t.chap_name,
                        "chap_secret" => &mut t.chap_secret,
                        "reverse_chap_name" => &mut t.reverse_chap_name,
                        _ => &mut t.reverse_chap_secret,
                    })
                }
                _ => None,
            };
            if let Some(slot) = slot {
                *slot = value;
            }
        }
        Ok(table)
    }

    /// Checks a structure header at `at` and returns the structure's length.
    fn header(
        &mut self,
        s: Structure,
        at: usize,
        want_id: u8,
        size: usize,
        index: u8,
    ) -> Result<usize, ParseError> {
        let b = self.b;
        // The fields are read at their fixed offsets: the whole fixed size
        // must be in the table.
        let end = at.saturating_add(size);
        if end > b.len() {
            return Err(ParseError::OffsetPastEnd {
                structure: s,
                offset: at,
                end,
                table_len: b.len(),
            });
        }
        if b[at] != want_id {
            return Err(ParseError::StructureId {
                structure: s,
                offset: at,
                found: b[at],
                expected: want_id,
            });
        }
        if b[at + 1] != 1 {
            self.tolerate(ParseError::StructureVersion {
                structure: s,
                found: b[at + 1],
            })?;
        }
        let found = u16_at(b, at + 2);
        let mut len = found as usize;
        if len != size {
            let e = ParseError::StructureLength {
                structure: s,
                offset: at,
                found,
                expected: size as u16,
            };
            if len < size {
                // Too short to hold the fields: read the fixed size anyway
                // in lenient mode (some firmware fills the length wrongly).
                self.tolerate(e)?;
                len = size;
            } else {
                self.tolerate(e)?;
            }
        }
        if b[at + 4] != index {
            self.tolerate(ParseError::StructureIndex {
                structure: s,
                found: b[at + 4],
                expected: index,
            })?;
        }
        Ok(len)
    }

    /// Checks a structure at `at` and records its region.
    fn place(
        &mut self,
        s: Structure,
        at: usize,
        want_id: u8,
        size: usize,
        index: u8,
    ) -> Result<(), ParseError> {
        let len = self.header(s, at, want_id, size, index)?;
        // A longer structure (tolerated) may end past the table.
        let end = (at + len).min(self.b.len());
        self.regions.push((at, end, s));
        Ok(())
    }

    fn check_overlaps(&mut self) -> Result<(), ParseError> {
        let mut r = self.regions.clone();
        r.sort_by_key(|x| x.0);
        for w in r.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b.0 < a.1 {
                let e = ParseError::Overlap {
                    first: a.2,
                    first_start: a.0,
                    first_end: a.1,
                    second: b.2,
                    second_start: b.0,
                };
                // Two structures at one offset cannot be told apart; a
                // partial overlap can be read in lenient mode.
                if a.0 == b.0 {
                    return Err(e);
                }
                self.tolerate(e)?;
            }
        }
        Ok(())
    }

    fn string(&mut self, f: StringField, len: usize, at: usize) -> Result<String, ParseError> {
        if len == 0 {
            return Ok(String::new());
        }
        let b = self.b;
        if at == 0 {
            self.tolerate(ParseError::StringOffsetZero { field: f, len })?;
            return Ok(String::new());
        }
        let end = at + len;
        if end > b.len() {
            return Err(ParseError::StringPastEnd {
                field: f,
                offset: at,
                len,
                table_len: b.len(),
            });
        }
        if let Some(&(_, _, s)) = self
            .regions
            .iter()
            .find(|(start, stop, _)| at < *stop && *start < end)
        {
            self.tolerate(ParseError::StringOverlaps {
                field: f,
                offset: at,
                structure: s,
            })?;
        }
        match b.get(end) {
            Some(0) => {}
            other => {
                let e = match other {
                    Some(&found) => ParseError::StringUnterminated {
                        field: f,
                        offset: at,
                        len,
                        found,
                    },
                    None => ParseError::StringPastEnd {
                        field: f,
                        offset: at,
                        len: len + 1,
                        table_len: b.len(),
                    },
                };
                self.tolerate(e)?;
            }
        }
        if let Some(position) = b[at..end].iter().position(|&x| x == 0) {
            self.tolerate(ParseError::StringHasNul { field: f, position })?;
        }
        let bytes = &b[at..end];
        match core::str::from_utf8(bytes) {
            Ok(s) => Ok(String::from(s)),
            Err(_) => {
                self.tolerate(ParseError::StringNotUtf8 {
                    field: f,
                    offset: at,
                })?;
                Ok(String::from_utf8_lossy(bytes).into_owned())
            }
        }
    }
}

fn field(structure: Structure, name: &'static str) -> StringField {
    StringField { structure, name }
}

/// Where the builder puts structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Alignment of each structure and of the string area (a power of two).
    /// The spec asks for 8; iPXE uses 16.
    pub align: usize,
    /// Reserve space for both NIC slots and both target slots even when a
    /// slot is empty, as iPXE does: NIC slots follow the initiator, target
    /// slots follow the NIC slots, strings come last.
    pub reserve_slots: bool,
}

impl Layout {
    /// Compact, 8-byte aligned (the spec's rule).
    pub const SPEC: Layout = Layout {
        align: 8,
        reserve_slots: false,
    };
    /// iPXE's layout: 16-byte aligned, two slots of each kind reserved.
    /// A table that iPXE built, parsed and built again with this layout,
    /// comes out byte for byte the same.
    pub const IPXE: Layout = Layout {
        align: 16,
        reserve_slots: true,
    };
}

impl Default for Layout {
    fn default() -> Self {
        Layout::SPEC
    }
}

fn align_up(x: usize, a: usize) -> usize {
    (x + a - 1) & !(a - 1)
}

impl Table {
    /// Builds the table with the [`Layout::SPEC`] layout.
    pub fn build(&self) -> Result<Vec<u8>, EmitError> {
        self.build_with(Layout::SPEC)
    }

    /// Builds the table: structures in the order initiator, NICs, targets,
    /// then the strings (each NUL-terminated, in the same order; empty
    /// strings get length and offset 0), then the checksum.
    pub fn build_with(&self, layout: Layout) -> Result<Vec<u8>, EmitError> {
        let a = layout.align;
        if a == 0 || !a.is_power_of_two() || a > 4096 {
            return Err(EmitError::Alignment(a));
        }
        // Offsets of the structures.
        let mut pos = CONTROL_OFFSET + CONTROL_LEN;
        let mut take = |present: bool, size: usize| -> usize {
            if present || layout.reserve_slots {
                pos = align_up(pos, a);
                let at = pos;
                pos += size;
                if present {
                    at
                } else {
                    0
                }
            } else {
                0
            }
        };
        let ini_off = if self.initiator.is_some() {
            take(true, INITIATOR_LEN)
        } else {
            0
        };
        let nic_offs = [
            take(self.nics[0].is_some(), NIC_LEN),
            take(self.nics[1].is_some(), NIC_LEN),
        ];
        let tgt_offs = [
            take(self.targets[0].is_some(), TARGET_LEN),
            take(self.targets[1].is_some(), TARGET_LEN),
        ];
        let strings_at = align_up(pos, a);

        let mut b = vec![0u8; strings_at];
        let mut strings: Vec<u8> = Vec::new();
        let mut put =
            |b: &mut Vec<u8>, f: StringField, at: usize, s: &str| -> Result<(), EmitError> {
                if let Some(position) = s.bytes().position(|x| x == 0) {
                    return Err(EmitError::StringHasNul { field: f, position });
                }
                let (len, off) = if s.is_empty() {
                    (0, 0)
                } else {
                    let off = strings_at + strings.len();
                    strings.extend_from_slice(s.as_bytes());
                    strings.push(0);
                    (s.len(), off)
                };
                if off > u16::MAX as usize || len > u16::MAX as usize {
                    return Err(EmitError::TooLarge {
                        len: strings_at + strings.len(),
                    });
                }
                b[at..at + 2].copy_from_slice(&(len as u16).to_le_bytes());
                b[at + 2..at + 4].copy_from_slice(&(off as u16).to_le_bytes());
                Ok(())
            };

        // ACPI header.
        let h = &self.acpi;
        b[acpi::SIGNATURE..acpi::SIGNATURE + 4].copy_from_slice(&h.signature);
        b[acpi::REVISION] = h.revision;
        b[acpi::OEM_ID..acpi::OEM_ID + 6].copy_from_slice(&h.oem_id);
        b[acpi::OEM_TABLE_ID..acpi::OEM_TABLE_ID + 8].copy_from_slice(&h.oem_table_id);
        b[acpi::OEM_REVISION..acpi::OEM_REVISION + 4]
            .copy_from_slice(&h.oem_revision.to_le_bytes());
        b[acpi::CREATOR_ID..acpi::CREATOR_ID + 4].copy_from_slice(&h.creator_id);
        b[acpi::CREATOR_REVISION..acpi::CREATOR_REVISION + 4]
            .copy_from_slice(&h.creator_revision.to_le_bytes());

        // Control.
        let c = CONTROL_OFFSET;
        write_header(&mut b, c, id::CONTROL, CONTROL_LEN, 0, self.control.flags);
        b[c + control::EXTENSIONS..c + control::EXTENSIONS + 2]
            .copy_from_slice(&self.control.extensions.to_le_bytes());
        for (f, v) in [
            (control::INITIATOR, ini_off),
            (control::NIC0, nic_offs[0]),
            (control::TARGET0, tgt_offs[0]),
            (control::NIC1, nic_offs[1]),
            (control::TARGET1, tgt_offs[1]),
        ] {
            b[c + f..c + f + 2].copy_from_slice(&(v as u16).to_le_bytes());
        }

        if let Some(ini) = &self.initiator {
            let at = ini_off;
            write_header(&mut b, at, id::INITIATOR, INITIATOR_LEN, 0, ini.flags);
            put_addr(&mut b, at + initiator::ISNS, ini.isns_server);
            put_addr(&mut b, at + initiator::SLP, ini.slp_server);
            put_addr(&mut b, at + initiator::RADIUS0, ini.radius_servers[0]);
            put_addr(&mut b, at + initiator::RADIUS1, ini.radius_servers[1]);
            put(
                &mut b,
                field(Structure::Initiator, "name"),
                at + initiator::NAME,
                &ini.name,
            )?;
        }
        for (i, n) in self.nics.iter().enumerate() {
            let Some(n) = n else { continue };
            let at = nic_offs[i];
            write_header(&mut b, at, id::NIC, NIC_LEN, i as u8, n.flags);
            put_addr(&mut b, at + nic::IP, n.ip);
            b[at + nic::PREFIX] = n.prefix_len;
            b[at + nic::ORIGIN] = n.origin.0;
            put_addr(&mut b, at + nic::GATEWAY, n.gateway);
            put_addr(&mut b, at + nic::DNS0, n.dns[0]);
            put_addr(&mut b, at + nic::DNS1, n.dns[1]);
            put_addr(&mut b, at + nic::DHCP, n.dhcp_server);
            b[at + nic::VLAN..at + nic::VLAN + 2].copy_from_slice(&n.vlan.to_le_bytes());
            b[at + nic::MAC..at + nic::MAC + 6].copy_from_slice(&n.mac);
            b[at + nic::PCI_BDF..at + nic::PCI_BDF + 2].copy_from_slice(&n.pci_bdf.to_le_bytes());
            put(
                &mut b,
                field(Structure::Nic(i as u8), "hostname"),
                at + nic::HOSTNAME,
                &n.hostname,
            )?;
        }
        for (i, t) in self.targets.iter().enumerate() {
            let Some(t) = t else { continue };
            let at = tgt_offs[i];
            let s = Structure::Target(i as u8);
            write_header(&mut b, at, id::TARGET, TARGET_LEN, i as u8, t.flags);
            put_addr(&mut b, at + target::IP, t.ip);
            b[at + target::PORT..at + target::PORT + 2].copy_from_slice(&t.port.to_le_bytes());
            b[at + target::LUN..at + target::LUN + 8].copy_from_slice(&t.lun);
            b[at + target::CHAP_TYPE] = t.chap_type.0;
            b[at + target::NIC_ASSOCIATION] = t.nic_association;
            put(&mut b, field(s, "name"), at + target::NAME, &t.name)?;
            put(
                &mut b,
                field(s, "chap_name"),
                at + target::CHAP_NAME,
                &t.chap_name,
            )?;
            put(
                &mut b,
                field(s, "chap_secret"),
                at + target::CHAP_SECRET,
                &t.chap_secret,
            )?;
            put(
                &mut b,
                field(s, "reverse_chap_name"),
                at + target::REVERSE_CHAP_NAME,
                &t.reverse_chap_name,
            )?;
            put(
                &mut b,
                field(s, "reverse_chap_secret"),
                at + target::REVERSE_CHAP_SECRET,
                &t.reverse_chap_secret,
            )?;
        }
        b.extend_from_slice(&strings);
        let len = b.len();
        if len > u16::MAX as usize {
            return Err(EmitError::TooLarge { len });
        }
        b[acpi::LENGTH..acpi::LENGTH + 4].copy_from_slice(&(len as u32).to_le_bytes());
        fix_checksum(&mut b);
        Ok(b)
    }
}

/// Sets the ACPI checksum byte so that the table's bytes sum to zero.
pub fn fix_checksum(table: &mut [u8]) {
    if table.len() <= acpi::CHECKSUM {
        return;
    }
    table[acpi::CHECKSUM] = 0;
    let sum = table.iter().fold(0u8, |s, &x| s.wrapping_add(x));
    table[acpi::CHECKSUM] = 0u8.wrapping_sub(sum);
}

fn write_header(b: &mut [u8], at: usize, id: u8, len: usize, index: u8, flags: u8) {
    b[at] = id;
    b[at + 1] = 1;
    b[at + 2..at + 4].copy_from_slice(&(len as u16).to_le_bytes());
    b[at + 4] = index;
    b[at + 5] = flags;
}

fn put_addr(b: &mut [u8], at: usize, addr: Option<IpAddr>) {
    b[at..at + 16].copy_from_slice(&write_addr(addr));
}

/// The IPv4 address a prefix length stands for (24 -> 255.255.255.0).
pub fn prefix_to_netmask(prefix: u8) -> Ipv4Addr {
    let p = u32::from(prefix.min(32));
    Ipv4Addr::from(if p == 0 { 0 } else { u32::MAX << (32 - p) })
}

/// Where BIOS firmware leaves the table when it is not among the ACPI
/// tables: in base memory between these physical addresses, on a 16-byte
/// boundary (iBFT 1.03 section 1.4.3.1; the Linux kernel scans the same
/// range).
pub const BIOS_SCAN_RANGE: core::ops::Range<usize> = 0x80000..0x100000;

/// Finds a table in a copy of memory: the first 16-byte aligned position
/// (counting from physical address `base`, the address of `mem[0]`) with
/// the signature `iBFT` (or `IBFT`, `BIFT`), a length that fits, and bytes
/// that sum to zero. Returns the table's physical address and bytes.
pub fn find_in_memory(mem: &[u8], base: usize) -> Option<(usize, &[u8])> {
    let first = (16 - base % 16) % 16;
    (first..mem.len()).step_by(16).find_map(|at| {
        let rest = &mem[at..];
        if rest.len() < MIN_TABLE_LEN || !matches!(&rest[..4], b"iBFT" | b"IBFT" | b"BIFT") {
            return None;
        }
        let len = u32_at(rest, acpi::LENGTH) as usize;
        if len < MIN_TABLE_LEN || len > rest.len() || len > u16::MAX as usize {
            return None;
        }
        let table = &rest[..len];
        let sum = table.iter().fold(0u8, |s, &x| s.wrapping_add(x));
        (sum == 0).then_some((base + at, table))
    })
}
