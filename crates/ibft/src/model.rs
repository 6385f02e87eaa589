//! The typed model of a table: what [`Table::build`](crate::Table::build)
//! takes and [`parse`](crate::parse) returns.

use alloc::string::String;
use core::fmt;
use core::net::IpAddr;

/// Flag bits of the structure headers (iBFT 1.03, section 3).
pub mod flags {
    /// Control: log in to the boot-selected target only.
    pub const CONTROL_SINGLE_LOGIN_ONLY: u8 = 0x01;
    /// Initiator, NIC, target: the structure is valid.
    pub const BLOCK_VALID: u8 = 0x01;
    /// Initiator, NIC, target: the firmware booted from this one.
    pub const FIRMWARE_BOOT_SELECTED: u8 = 0x02;
    /// NIC: the IP address is global (not link-local).
    pub const NIC_GLOBAL: u8 = 0x04;
    /// Target: CHAP through RADIUS.
    pub const TARGET_USE_RADIUS_CHAP: u8 = 0x04;
    /// Target: reverse CHAP through RADIUS.
    pub const TARGET_USE_RADIUS_RCHAP: u8 = 0x08;
}

/// A whole iSCSI Boot Firmware Table.
///
/// NIC and target structures sit in two slots each (the control structure
/// has room for two pairs of offsets); an empty slot has offset 0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// The ACPI header fields a producer chooses.
    pub acpi: AcpiHeader,
    /// The control structure's flags and extensions field.
    pub control: Control,
    /// The initiator structure.
    pub initiator: Option<Initiator>,
    /// NIC structures 0 and 1.
    pub nics: [Option<Nic>; 2],
    /// Target structures 0 and 1.
    pub targets: [Option<Target>; 2],
}

/// The producer-chosen fields of the ACPI header. Length and checksum are
/// computed when building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiHeader {
    /// Signature: `iBFT` (the lenient parser also accepts `IBFT`, the
    /// spelling of an older spec, and Broadcom's `BIFT`).
    pub signature: [u8; 4],
    /// ACPI table revision: 1.
    pub revision: u8,
    /// OEM ID (6 bytes, NUL- or space-padded).
    pub oem_id: [u8; 6],
    /// OEM table ID (8 bytes).
    pub oem_table_id: [u8; 8],
    /// OEM revision.
    pub oem_revision: u32,
    /// Creator (ASL compiler) ID.
    pub creator_id: [u8; 4],
    /// Creator revision.
    pub creator_revision: u32,
}

impl Default for AcpiHeader {
    fn default() -> Self {
        AcpiHeader {
            signature: *b"iBFT",
            revision: 1,
            oem_id: *b"NETBT\0",
            oem_table_id: *b"NETBOOT\0",
            oem_revision: 0,
            creator_id: [0; 4],
            creator_revision: 0,
        }
    }
}

/// The control structure's own fields (the offsets are layout, computed
/// when building).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Control {
    /// Flags, see [`flags::CONTROL_SINGLE_LOGIN_ONLY`].
    pub flags: u8,
    /// The extensions field (0: none).
    pub extensions: u16,
}

/// The initiator structure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Initiator {
    /// Flags, see [`flags`].
    pub flags: u8,
    /// iSNS server.
    pub isns_server: Option<IpAddr>,
    /// SLP server.
    pub slp_server: Option<IpAddr>,
    /// Primary and secondary RADIUS servers.
    pub radius_servers: [Option<IpAddr>; 2],
    /// The initiator's iSCSI name.
    pub name: String,
}

/// How a NIC got its IP address (the `origin` field, values of the
/// `IpPrefixOrigin` enumeration the spec refers to).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Origin(pub u8);

impl Origin {
    /// Other.
    pub const OTHER: Origin = Origin(0);
    /// Set by hand.
    pub const MANUAL: Origin = Origin(1);
    /// Well-known.
    pub const WELL_KNOWN: Origin = Origin(2);
    /// From DHCP.
    pub const DHCP: Origin = Origin(3);
    /// From a router advertisement.
    pub const ROUTER_ADVERTISEMENT: Origin = Origin(4);
    /// Unchanged.
    pub const UNCHANGED: Origin = Origin(15);

    /// The name of a known value.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "other",
            1 => "manual",
            2 => "well-known",
            3 => "dhcp",
            4 => "router-advertisement",
            15 => "unchanged",
            _ => return None,
        })
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "Origin({n})"),
            None => write!(f, "Origin({})", self.0),
        }
    }
}

/// A NIC structure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nic {
    /// Flags, see [`flags`].
    pub flags: u8,
    /// The NIC's IP address.
    pub ip: Option<IpAddr>,
    /// Subnet mask as a prefix length (24 for 255.255.255.0).
    pub prefix_len: u8,
    /// Where the address came from.
    pub origin: Origin,
    /// Default gateway.
    pub gateway: Option<IpAddr>,
    /// Primary and secondary DNS servers.
    pub dns: [Option<IpAddr>; 2],
    /// DHCP server.
    pub dhcp_server: Option<IpAddr>,
    /// VLAN tag (0: none).
    pub vlan: u16,
    /// MAC address.
    pub mac: [u8; 6],
    /// PCI bus (high byte), device (bits 7..3) and function (bits 2..0).
    pub pci_bdf: u16,
    /// Host name.
    pub hostname: String,
}

/// CHAP type of a target.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChapType(pub u8);

impl ChapType {
    /// No CHAP.
    pub const NONE: ChapType = ChapType(0);
    /// One-way CHAP (the target authenticates the initiator).
    pub const ONE_WAY: ChapType = ChapType(1);
    /// Mutual CHAP.
    pub const MUTUAL: ChapType = ChapType(2);

    /// The name of a known value.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "none",
            1 => "one-way",
            2 => "mutual",
            _ => return None,
        })
    }
}

impl fmt::Debug for ChapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "ChapType({n})"),
            None => write!(f, "ChapType({})", self.0),
        }
    }
}

/// A target structure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// Flags, see [`flags`].
    pub flags: u8,
    /// The target portal's IP address.
    pub ip: Option<IpAddr>,
    /// The target portal's TCP port.
    pub port: u16,
    /// The boot LUN in SAM format (8 bytes; LUN 0 is all zeros).
    pub lun: [u8; 8],
    /// CHAP type.
    pub chap_type: ChapType,
    /// Index of the NIC this target is reached through.
    pub nic_association: u8,
    /// The target's iSCSI name.
    pub name: String,
    /// CHAP user name.
    pub chap_name: String,
    /// CHAP secret.
    pub chap_secret: String,
    /// Reverse (mutual) CHAP user name.
    pub reverse_chap_name: String,
    /// Reverse CHAP secret.
    pub reverse_chap_secret: String,
}

/// A LUN number in the 8-byte form a target structure stores: peripheral
/// addressing for LUNs below 256, flat space addressing up to 16383 (SAM-5).
///
/// Returns `None` for numbers that need an extended format.
pub fn lun_from_number(n: u64) -> Option<[u8; 8]> {
    let mut lun = [0u8; 8];
    if n < 256 {
        lun[1] = n as u8;
    } else if n < 0x4000 {
        lun[0] = 0x40 | (n >> 8) as u8;
        lun[1] = n as u8;
    } else {
        return None;
    }
    Some(lun)
}
