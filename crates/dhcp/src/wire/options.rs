//! Option codes and typed accessors (RFC 2132, RFC 4578, RFC 3004, PXE 2.1,
//! iPXE, PXELINUX).
//!
//! Every accessor on [`Message`] returns `Ok(None)` when the option is
//! absent, `Ok(Some(..))` when it is well formed, and a [`ParseError`] naming
//! the option code and offset when its length or content is wrong. None of
//! them allocates for an option sent as one instance (as every client and
//! server we captured sends them); for an option a sender split into several
//! instances (RFC 3396), those that read more than a prefix join the pieces
//! into a buffer.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::encap::{BootItem, IpxeOptions, SubOptions};
use super::{Message, OptionValue};
use crate::{ParseError, PolicyError};

/// Option codes used by this crate.
pub mod code {
    /// Pad (no length byte).
    pub const PAD: u8 = 0;
    /// Subnet mask (RFC 2132 §3.3).
    pub const SUBNET_MASK: u8 = 1;
    /// Routers (RFC 2132 §3.5).
    pub const ROUTER: u8 = 3;
    /// DNS servers (RFC 2132 §3.8).
    pub const DOMAIN_NAME_SERVER: u8 = 6;
    /// Host name (RFC 2132 §3.14).
    pub const HOST_NAME: u8 = 12;
    /// Domain name (RFC 2132 §3.17).
    pub const DOMAIN_NAME: u8 = 15;
    /// Root path (RFC 2132 §3.19).
    pub const ROOT_PATH: u8 = 17;
    /// Broadcast address (RFC 2132 §5.3).
    pub const BROADCAST_ADDRESS: u8 = 28;
    /// Vendor-specific information; PXE sub-options (RFC 2132 §8.4, PXE 2.1).
    pub const VENDOR_SPECIFIC: u8 = 43;
    /// Requested IP address (RFC 2132 §9.1).
    pub const REQUESTED_IP: u8 = 50;
    /// IP address lease time (RFC 2132 §9.2).
    pub const LEASE_TIME: u8 = 51;
    /// Option overload (RFC 2132 §9.3).
    pub const OPTION_OVERLOAD: u8 = 52;
    /// DHCP message type (RFC 2132 §9.6).
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier (RFC 2132 §9.7).
    pub const SERVER_IDENTIFIER: u8 = 54;
    /// Parameter request list (RFC 2132 §9.8).
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Message: why a NAK or DECLINE (RFC 2132 §9.9).
    pub const MESSAGE: u8 = 56;
    /// Maximum DHCP message size (RFC 2132 §9.10).
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Vendor class identifier (RFC 2132 §9.13), `PXEClient:...`.
    pub const VENDOR_CLASS_ID: u8 = 60;
    /// Client identifier (RFC 2132 §9.14).
    pub const CLIENT_ID: u8 = 61;
    /// TFTP server name (RFC 2132 §9.4).
    pub const TFTP_SERVER_NAME: u8 = 66;
    /// Bootfile name (RFC 2132 §9.5).
    pub const BOOTFILE_NAME: u8 = 67;
    /// User class (RFC 3004); iPXE sends the bare string `iPXE`.
    pub const USER_CLASS: u8 = 77;
    /// Client system architecture (RFC 4578 §2.1).
    pub const CLIENT_ARCH: u8 = 93;
    /// Client network device interface (RFC 4578 §2.2).
    pub const CLIENT_NDI: u8 = 94;
    /// Client machine identifier, a UUID (RFC 4578 §2.3).
    pub const CLIENT_UUID: u8 = 97;
    /// iPXE ("Etherboot") encapsulated options.
    pub const IPXE_ENCAP: u8 = 175;
    /// PXELINUX magic (RFC 5071 §4).
    pub const PXELINUX_MAGIC: u8 = 208;
    /// PXELINUX configuration file (RFC 5071 §5).
    pub const PXELINUX_CONFIG_FILE: u8 = 209;
    /// PXELINUX path prefix (RFC 5071 §6).
    pub const PXELINUX_PATH_PREFIX: u8 = 210;
    /// PXELINUX reboot time (RFC 5071 §7).
    pub const PXELINUX_REBOOT_TIME: u8 = 211;
    /// End (no length byte).
    pub const END: u8 = 255;
}

/// Option 52 bit: `file` holds options.
pub const OVERLOAD_FILE: u8 = 1;
/// Option 52 bit: `sname` holds options.
pub const OVERLOAD_SNAME: u8 = 2;

/// DHCP message type, option 53 (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1
    Discover,
    /// 2
    Offer,
    /// 3
    Request,
    /// 4
    Decline,
    /// 5
    Ack,
    /// 6
    Nak,
    /// 7
    Release,
    /// 8
    Inform,
    /// Any other value, kept as sent.
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        use MessageType::*;
        match v {
            1 => Discover,
            2 => Offer,
            3 => Request,
            4 => Decline,
            5 => Ack,
            6 => Nak,
            7 => Release,
            8 => Inform,
            n => Unknown(n),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        use MessageType::*;
        match t {
            Discover => 1,
            Offer => 2,
            Request => 3,
            Decline => 4,
            Ack => 5,
            Nak => 6,
            Release => 7,
            Inform => 8,
            Unknown(n) => n,
        }
    }
}

/// Client system architecture, option 93 (RFC 4578 §2.1 and the IANA
/// "Processor Architecture Types" registry). A newtype: every value is
/// representable, the known ones have names.
///
/// Note on 7 and 9: RFC 4578 lists 7 as "EFI BC" and 9 as "EFI x86-64",
/// but its errata and the IANA registry swap them, and every x86-64 UEFI
/// firmware (EDK2/OVMF, iPXE's `ipxe.efi`) sends 7. The names here follow
/// IANA; [`ClientArch::is_efi_x64`] accepts both.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientArch(pub u16);

macro_rules! arch_consts {
    ($($name:ident = $v:expr, $s:expr, $doc:expr;)*) => {
        impl ClientArch {
            $(#[doc = $doc] pub const $name: ClientArch = ClientArch($v);)*

            /// The short name used in policies (`"bios"`, `"efi-x64"`, ...),
            /// if the value has one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some($s),)*
                    _ => None,
                }
            }

            fn from_name(s: &str) -> Option<ClientArch> {
                match s {
                    $($s => Some(ClientArch($v)),)*
                    _ => None,
                }
            }
        }
    };
}

arch_consts! {
    X86_BIOS = 0, "bios", "0: x86 BIOS (legacy PXE).";
    NEC_PC98 = 1, "pc98", "1: NEC/PC98.";
    EFI_ITANIUM = 2, "efi-ia64", "2: EFI Itanium.";
    DEC_ALPHA = 3, "alpha", "3: DEC Alpha.";
    ARC_X86 = 4, "arc-x86", "4: Arc x86.";
    INTEL_LEAN_CLIENT = 5, "lean-client", "5: Intel Lean Client.";
    EFI_IA32 = 6, "efi-ia32", "6: x86 (32-bit) UEFI.";
    EFI_X64 = 7, "efi-x64", "7: x86-64 UEFI (RFC 4578: \"EFI BC\"; what x64 firmware sends).";
    EFI_XSCALE = 8, "efi-xscale", "8: EFI Xscale.";
    EFI_BC = 9, "efi-bc", "9: EFI byte code (RFC 4578: \"EFI x86-64\").";
    EFI_ARM32 = 10, "efi-arm32", "10: ARM 32-bit UEFI.";
    EFI_ARM64 = 11, "efi-arm64", "11: ARM 64-bit UEFI.";
    PPC_OPEN_FIRMWARE = 12, "ppc-ofw", "12: PowerPC Open Firmware.";
    PPC_EPAPR = 13, "ppc-epapr", "13: PowerPC ePAPR.";
    POWER_OPAL = 14, "power-opal", "14: POWER OPAL v3.";
    EFI_IA32_HTTP = 15, "efi-ia32-http", "15: x86 UEFI HTTP boot.";
    EFI_X64_HTTP = 16, "efi-x64-http", "16: x86-64 UEFI HTTP boot.";
    EFI_BC_HTTP = 17, "efi-bc-http", "17: EBC UEFI HTTP boot.";
    EFI_ARM32_HTTP = 18, "efi-arm32-http", "18: ARM 32-bit UEFI HTTP boot.";
    EFI_ARM64_HTTP = 19, "efi-arm64-http", "19: ARM 64-bit UEFI HTTP boot.";
    BIOS_HTTP = 20, "bios-http", "20: x86 BIOS HTTP boot.";
    ARM32_UBOOT = 21, "uboot-arm32", "21: ARM 32-bit U-Boot.";
    ARM64_UBOOT = 22, "uboot-arm64", "22: ARM 64-bit U-Boot.";
    ARM32_UBOOT_HTTP = 23, "uboot-arm32-http", "23: ARM 32-bit U-Boot HTTP.";
    ARM64_UBOOT_HTTP = 24, "uboot-arm64-http", "24: ARM 64-bit U-Boot HTTP.";
    EFI_RISCV32 = 25, "efi-riscv32", "25: RISC-V 32-bit UEFI.";
    EFI_RISCV32_HTTP = 26, "efi-riscv32-http", "26: RISC-V 32-bit UEFI HTTP.";
    EFI_RISCV64 = 27, "efi-riscv64", "27: RISC-V 64-bit UEFI.";
    EFI_RISCV64_HTTP = 28, "efi-riscv64-http", "28: RISC-V 64-bit UEFI HTTP.";
}

impl ClientArch {
    /// Whether this is x86-64 UEFI (7 or 9, see the type docs).
    pub fn is_efi_x64(self) -> bool {
        self == Self::EFI_X64 || self == Self::EFI_BC
    }
    /// Whether the firmware is UEFI (any CPU, PXE or HTTP boot).
    pub fn is_efi(self) -> bool {
        matches!(self.0, 2 | 6..=11 | 15..=19 | 25..=28)
    }
}

impl fmt::Debug for ClientArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "ClientArch({} {n})", self.0),
            None => write!(f, "ClientArch({})", self.0),
        }
    }
}

impl fmt::Display for ClientArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for ClientArch {
    type Err = PolicyError;
    /// A name from the table (`bios`, `efi-x64`, `efi-arm64`, ...), or a
    /// number.
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        if let Some(a) = ClientArch::from_name(s) {
            return Ok(a);
        }
        s.parse::<u16>()
            .map(ClientArch)
            .map_err(|_| PolicyError::UnknownArch(s.to_string()))
    }
}

/// Client network device interface, option 94 (RFC 4578 §2.2): type 1
/// (UNDI) and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNdi {
    /// Interface type (1 = UNDI).
    pub kind: u8,
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

/// Client machine identifier, option 97 (RFC 4578 §2.3): type 0 and a
/// 16-byte UUID (as sent; PXE sends the SMBIOS UUID, mixed-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientUuid(pub [u8; 16]);

impl ClientUuid {
    /// The option value (type 0 + 16 bytes), as echoed in PXE replies.
    pub fn to_option_value(&self) -> [u8; 17] {
        let mut v = [0u8; 17];
        v[1..].copy_from_slice(&self.0);
        v
    }
}

/// What kind of client option 60 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VendorKind {
    /// `PXEClient...` (PXE 2.1 §2.2.1).
    PxeClient,
    /// `HTTPClient...` (UEFI HTTP boot).
    HttpClient,
}

/// A parsed PXE vendor class identifier, option 60:
/// `PXEClient:Arch:xxxxx:UNDI:yyyzzz` (PXE 2.1 §2.2.1) or just `PXEClient`
/// (which some ROMs and proxy servers send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorClass {
    /// `PXEClient` or `HTTPClient`.
    pub kind: VendorKind,
    /// The `Arch:xxxxx` field, if present and numeric.
    pub arch: Option<ClientArch>,
    /// The `UNDI:yyyzzz` field as (major yyy, minor zzz), if present.
    pub undi: Option<(u16, u16)>,
}

impl VendorClass {
    /// Parses an option 60 value; `None` if it does not start with
    /// `PXEClient` or `HTTPClient`. Fields after the prefix that do not
    /// parse are left `None` rather than rejected: the prefix alone is what
    /// makes a PXE client.
    pub fn parse(v: &[u8]) -> Option<VendorClass> {
        let (kind, rest) = if let Some(r) = v.strip_prefix(b"PXEClient") {
            (VendorKind::PxeClient, r)
        } else if let Some(r) = v.strip_prefix(b"HTTPClient") {
            (VendorKind::HttpClient, r)
        } else {
            return None;
        };
        let mut out = VendorClass {
            kind,
            arch: None,
            undi: None,
        };
        let mut parts = rest.split(|&c| c == b':');
        // `rest` is empty or starts with ':', so the first part is empty.
        parts.next();
        while let Some(key) = parts.next() {
            let Some(val) = parts.next() else { break };
            match key {
                b"Arch" => {
                    out.arch = digits(val)
                        .and_then(|n| u16::try_from(n).ok())
                        .map(ClientArch)
                }
                b"UNDI" if val.len() == 6 => {
                    out.undi = digits(&val[..3])
                        .zip(digits(&val[3..]))
                        .and_then(|(a, b)| Some((u16::try_from(a).ok()?, u16::try_from(b).ok()?)));
                }
                _ => {}
            }
        }
        Some(out)
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0')))
}

/// User classes, option 77: RFC 3004's list of length-prefixed classes, or
/// (as iPXE sends it) one bare string. A value is read as RFC 3004 only if
/// its length prefixes tile it exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserClasses<'a> {
    value: Cow<'a, [u8]>,
    rfc3004: bool,
}

impl<'a> UserClasses<'a> {
    /// Reads a user class option value.
    pub fn new(value: Cow<'a, [u8]>) -> Self {
        let rfc3004 = is_rfc3004(&value);
        UserClasses { value, rfc3004 }
    }
    /// Whether the value was in RFC 3004 (length-prefixed) form.
    pub fn is_rfc3004(&self) -> bool {
        self.rfc3004
    }
    /// The classes.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let v: &[u8] = &self.value;
        let rfc = self.rfc3004;
        let mut pos = 0usize;
        let mut bare = Some(v);
        std::iter::from_fn(move || {
            if !rfc {
                return bare.take();
            }
            let n = usize::from(*v.get(pos)?);
            let s = v.get(pos + 1..pos + 1 + n)?;
            pos += 1 + n;
            Some(s)
        })
    }
    /// Whether one of the classes is `name`.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.iter().any(|c| c == name)
    }
}

fn is_rfc3004(v: &[u8]) -> bool {
    let mut i = 0;
    while i < v.len() {
        let n = usize::from(v[i]);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    !v.is_empty() && i == v.len()
}

/// Iterator over the IPv4 addresses of a list option (3, 6, ...).
#[derive(Debug, Clone)]
pub struct Ipv4Addrs<'a> {
    bytes: std::vec::IntoIter<u8>,
    _value: std::marker::PhantomData<&'a ()>,
    direct: Option<std::slice::ChunksExact<'a, u8>>,
}

impl Iterator for Ipv4Addrs<'_> {
    type Item = Ipv4Addr;
    fn next(&mut self) -> Option<Ipv4Addr> {
        if let Some(d) = &mut self.direct {
            let c = d.next()?;
            return Some(Ipv4Addr::new(c[0], c[1], c[2], c[3]));
        }
        let a = self.bytes.next()?;
        let b = self.bytes.next()?;
        let c = self.bytes.next()?;
        let d = self.bytes.next()?;
        Some(Ipv4Addr::new(a, b, c, d))
    }
}

/// Iterator over the architectures of option 93.
#[derive(Debug, Clone)]
pub struct ClientArchs<'a> {
    value: Cow<'a, [u8]>,
    pos: usize,
}

impl Iterator for ClientArchs<'_> {
    type Item = ClientArch;
    fn next(&mut self) -> Option<ClientArch> {
        let b = self.value.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(ClientArch(u16::from_be_bytes([b[0], b[1]])))
    }
}

impl<'a> Message<'a> {
    fn ipv4_opt(&self, code: u8) -> Result<Option<Ipv4Addr>, ParseError> {
        match self.option(code) {
            None => Ok(None),
            Some(v) => Ok(Some(Ipv4Addr::from(v.fixed::<4>("4")?))),
        }
    }

    fn ipv4_list(&self, code: u8) -> Result<Option<Ipv4Addrs<'a>>, ParseError> {
        let Some(v) = self.option(code) else {
            return Ok(None);
        };
        if v.is_empty() || v.len() % 4 != 0 {
            return Err(v.bad_len("a non-zero multiple of 4"));
        }
        Ok(Some(match v.as_slice() {
            Some(s) => Ipv4Addrs {
                bytes: Vec::new().into_iter(),
                _value: std::marker::PhantomData,
                direct: Some(s.chunks_exact(4)),
            },
            None => Ipv4Addrs {
                bytes: v.bytes().collect::<Vec<u8>>().into_iter(),
                _value: std::marker::PhantomData,
                direct: None,
            },
        }))
    }

    /// Option 53, the DHCP message type (must be 1 byte).
    pub fn message_type(&self) -> Result<Option<MessageType>, ParseError> {
        match self.option(code::MESSAGE_TYPE) {
            None => Ok(None),
            Some(v) => Ok(Some(MessageType::from(v.fixed::<1>("1")?[0]))),
        }
    }
    /// Option 1, subnet mask.
    pub fn subnet_mask(&self) -> Result<Option<Ipv4Addr>, ParseError> {
        self.ipv4_opt(code::SUBNET_MASK)
    }
    /// Option 3, routers.
    pub fn routers(&self) -> Result<Option<Ipv4Addrs<'a>>, ParseError> {
        self.ipv4_list(code::ROUTER)
    }
    /// Option 6, DNS servers.
    pub fn dns_servers(&self) -> Result<Option<Ipv4Addrs<'a>>, ParseError> {
        self.ipv4_list(code::DOMAIN_NAME_SERVER)
    }
    /// Option 12, host name (bytes as sent).
    pub fn host_name(&self) -> Option<OptionValue<'a>> {
        self.option(code::HOST_NAME)
    }
    /// Option 15, domain name (bytes as sent).
    pub fn domain_name(&self) -> Option<OptionValue<'a>> {
        self.option(code::DOMAIN_NAME)
    }
    /// Option 28, broadcast address.
    pub fn broadcast_address(&self) -> Result<Option<Ipv4Addr>, ParseError> {
        self.ipv4_opt(code::BROADCAST_ADDRESS)
    }
    /// Option 43, vendor-specific information (PXE sub-options for PXE
    /// clients; parse with [`super::encap::PxeVendor::parse`] or
    /// [`super::encap::SubOptions`]).
    pub fn vendor_specific(&self) -> Option<OptionValue<'a>> {
        self.option(code::VENDOR_SPECIFIC)
    }
    /// Sub-option 43.71, the PXE boot item a client asks a boot server for
    /// (in its port-4011 REQUEST).
    pub fn pxe_boot_item(&self) -> Result<Option<BootItem>, ParseError> {
        let Some(v) = self.vendor_specific() else {
            return Ok(None);
        };
        let value = v.to_cow();
        for sub in SubOptions::new(code::VENDOR_SPECIFIC, &value) {
            let sub = sub?;
            if sub.code == super::encap::pxe::BOOT_ITEM {
                return BootItem::parse(sub.data)
                    .map(Some)
                    .ok_or_else(|| v.bad_value("sub-option 71 (boot item) is not 4 bytes"));
            }
        }
        Ok(None)
    }
    /// Option 50, requested IP address.
    pub fn requested_ip(&self) -> Result<Option<Ipv4Addr>, ParseError> {
        self.ipv4_opt(code::REQUESTED_IP)
    }
    /// Option 51, lease time in seconds.
    pub fn lease_time(&self) -> Result<Option<u32>, ParseError> {
        match self.option(code::LEASE_TIME) {
            None => Ok(None),
            Some(v) => Ok(Some(u32::from_be_bytes(v.fixed::<4>("4")?))),
        }
    }
    /// Option 54, server identifier.
    pub fn server_id(&self) -> Result<Option<Ipv4Addr>, ParseError> {
        self.ipv4_opt(code::SERVER_IDENTIFIER)
    }
    /// Option 55, the parameter request list (one code per byte).
    pub fn parameter_request_list(&self) -> Option<OptionValue<'a>> {
        self.option(code::PARAMETER_REQUEST_LIST)
    }
    /// Option 57, maximum DHCP message size.
    pub fn max_message_size(&self) -> Result<Option<u16>, ParseError> {
        match self.option(code::MAX_MESSAGE_SIZE) {
            None => Ok(None),
            Some(v) => Ok(Some(u16::from_be_bytes(v.fixed::<2>("2")?))),
        }
    }
    /// Option 60, the vendor class identifier, as sent.
    pub fn vendor_class(&self) -> Option<OptionValue<'a>> {
        self.option(code::VENDOR_CLASS_ID)
    }
    /// Option 60 parsed as a PXE/HTTP client class; `None` when absent or
    /// not `PXEClient...`/`HTTPClient...`.
    pub fn pxe_vendor_class(&self) -> Option<VendorClass> {
        let v = self.vendor_class()?;
        match v.as_slice() {
            Some(s) => VendorClass::parse(s),
            None => {
                // Split by RFC 3396: read it whole (at most 255 bytes
                // are looked at) through a stack buffer.
                let mut buf = [0u8; 255];
                let n = v.len().min(buf.len());
                for (d, s) in buf.iter_mut().zip(v.bytes()) {
                    *d = s;
                }
                VendorClass::parse(&buf[..n])
            }
        }
    }
    /// Option 61, client identifier (type byte + id), as sent.
    pub fn client_id(&self) -> Option<OptionValue<'a>> {
        self.option(code::CLIENT_ID)
    }
    /// Option 66, TFTP server name.
    pub fn tftp_server_name(&self) -> Option<OptionValue<'a>> {
        self.option(code::TFTP_SERVER_NAME)
    }
    /// Option 67, bootfile name.
    pub fn bootfile_name(&self) -> Option<OptionValue<'a>> {
        self.option(code::BOOTFILE_NAME)
    }
    /// The boot file: option 67 if present, else the `file` field.
    pub fn boot_file(&self) -> Option<Cow<'a, [u8]>> {
        match self.bootfile_name() {
            Some(v) => Some(v.to_cow()),
            None => self.file().map(Cow::Borrowed),
        }
    }
    /// Option 77, user classes.
    pub fn user_classes(&self) -> Option<UserClasses<'a>> {
        self.option(code::USER_CLASS)
            .map(|v| UserClasses::new(v.to_cow()))
    }
    /// Whether option 77 names `iPXE` (bare or RFC 3004 form).
    pub fn is_ipxe_user_class(&self) -> bool {
        self.user_classes().is_some_and(|u| u.contains(b"iPXE"))
    }
    /// Option 93, all client architectures (usually one).
    pub fn client_archs(&self) -> Result<Option<ClientArchs<'a>>, ParseError> {
        let Some(v) = self.option(code::CLIENT_ARCH) else {
            return Ok(None);
        };
        if v.is_empty() || v.len() % 2 != 0 {
            return Err(v.bad_len("a non-zero multiple of 2"));
        }
        Ok(Some(ClientArchs {
            value: v.to_cow(),
            pos: 0,
        }))
    }
    /// Option 93, the first client architecture.
    pub fn client_arch(&self) -> Result<Option<ClientArch>, ParseError> {
        Ok(self.client_archs()?.and_then(|mut a| a.next()))
    }
    /// Option 94, client network device interface.
    pub fn client_ndi(&self) -> Result<Option<ClientNdi>, ParseError> {
        match self.option(code::CLIENT_NDI) {
            None => Ok(None),
            Some(v) => {
                let [kind, major, minor] = v.fixed::<3>("3")?;
                Ok(Some(ClientNdi { kind, major, minor }))
            }
        }
    }
    /// Option 97, client machine UUID (type 0 + 16 bytes).
    pub fn client_uuid(&self) -> Result<Option<ClientUuid>, ParseError> {
        match self.option(code::CLIENT_UUID) {
            None => Ok(None),
            Some(v) => {
                let b = v.fixed::<17>("17")?;
                if b[0] != 0 {
                    return Err(v.bad_value("UUID type is not 0"));
                }
                let mut u = [0u8; 16];
                u.copy_from_slice(&b[1..]);
                Ok(Some(ClientUuid(u)))
            }
        }
    }
    /// Option 175, iPXE's encapsulated options, checked.
    pub fn ipxe_options(&self) -> Result<Option<IpxeOptions<'a>>, ParseError> {
        match self.option(code::IPXE_ENCAP) {
            None => Ok(None),
            Some(v) => IpxeOptions::parse(v.to_cow()).map(Some),
        }
    }
    /// Option 209, PXELINUX configuration file.
    pub fn pxelinux_config_file(&self) -> Option<OptionValue<'a>> {
        self.option(code::PXELINUX_CONFIG_FILE)
    }
    /// Option 210, PXELINUX path prefix.
    pub fn pxelinux_path_prefix(&self) -> Option<OptionValue<'a>> {
        self.option(code::PXELINUX_PATH_PREFIX)
    }
}
