//! Encapsulated sub-options: PXE's option 43 (PXE 2.1 §2.2.5) and iPXE's
//! option 175 (iPXE `include/ipxe/dhcp.h` and `features.h`).
//!
//! Both are the same TLV format as the options area (code, length, value;
//! 0 is pad, 255 ends the list) inside one option's value.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::{EmitError, ParseError, PolicyError};

/// One sub-option inside an encapsulating option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOption<'a> {
    /// Sub-option code.
    pub code: u8,
    /// Its value.
    pub data: &'a [u8],
    /// Offset of its code byte inside the encapsulating value.
    pub offset: usize,
}

/// Iterator over the sub-options in an encapsulated value; stops at end
/// (255) or the end of the value, yields an error (once) for a sub-option
/// that runs past the end.
#[derive(Debug, Clone)]
pub struct SubOptions<'a> {
    outer: u8,
    value: &'a [u8],
    pos: usize,
}

impl<'a> SubOptions<'a> {
    /// Sub-options of `value`, the value of option `outer` (for errors).
    pub fn new(outer: u8, value: &'a [u8]) -> Self {
        SubOptions {
            outer,
            value,
            pos: 0,
        }
    }
}

impl<'a> Iterator for SubOptions<'a> {
    type Item = Result<SubOption<'a>, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let code = *self.value.get(self.pos)?;
            match code {
                0 => self.pos += 1,
                255 => {
                    self.pos = self.value.len();
                    return None;
                }
                _ => {
                    let offset = self.pos;
                    let data = self
                        .value
                        .get(offset + 1)
                        .and_then(|&n| self.value.get(offset + 2..offset + 2 + usize::from(n)));
                    let Some(data) = data else {
                        self.pos = self.value.len();
                        return Some(Err(ParseError::InvalidSubOption {
                            code: self.outer,
                            sub: code,
                            offset,
                        }));
                    };
                    self.pos = offset + 2 + data.len();
                    return Some(Ok(SubOption { code, data, offset }));
                }
            }
        }
    }
}

fn push_sub(
    out: &mut Vec<u8>,
    code: u8,
    data: &[u8],
    field: &'static str,
) -> Result<(), EmitError> {
    if data.len() > 255 {
        return Err(EmitError::TooLong {
            field,
            len: data.len(),
            max: 255,
        });
    }
    out.push(code);
    out.push(data.len() as u8);
    out.extend_from_slice(data);
    Ok(())
}

/// PXE option 43 sub-option codes (PXE 2.1 table 2-1).
pub mod pxe {
    /// PXE_DISCOVERY_CONTROL, bit field.
    pub const DISCOVERY_CONTROL: u8 = 6;
    /// PXE_BOOT_SERVERS: type, count, addresses.
    pub const BOOT_SERVERS: u8 = 8;
    /// PXE_BOOT_MENU: type, length, description.
    pub const BOOT_MENU: u8 = 9;
    /// PXE_MENU_PROMPT: timeout, prompt.
    pub const MENU_PROMPT: u8 = 10;
    /// PXE_BOOT_ITEM: type, layer.
    pub const BOOT_ITEM: u8 = 71;

    /// Discovery control bit: no broadcast discovery.
    pub const NO_BROADCAST: u8 = 1;
    /// Discovery control bit: no multicast discovery.
    pub const NO_MULTICAST: u8 = 2;
    /// Discovery control bit: only servers in the boot server list.
    pub const ONLY_LISTED_SERVERS: u8 = 4;
    /// Discovery control bit: skip discovery if a boot file is present.
    pub const SKIP_IF_FILE: u8 = 8;
}

/// A boot server entry of sub-option 43.8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootServer {
    /// Boot server type.
    pub kind: u16,
    /// Its addresses.
    pub addrs: Vec<Ipv4Addr>,
}

/// A menu entry of sub-option 43.9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    /// Boot server type this entry selects.
    pub kind: u16,
    /// Text shown.
    pub description: Vec<u8>,
}

/// Sub-option 43.10: the menu prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuPrompt {
    /// Seconds; 0 boots the first item at once, 255 waits forever.
    pub timeout: u8,
    /// Prompt text.
    pub prompt: Vec<u8>,
}

/// Sub-option 43.71: the boot item a client asks for, echoed in the ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootItem {
    /// Boot server type (0 = PXE bootstrap server).
    pub kind: u16,
    /// Layer (bit 15: credentials requested).
    pub layer: u16,
}

impl BootItem {
    /// Parses the 4-byte value.
    pub fn parse(v: &[u8]) -> Option<BootItem> {
        let b: [u8; 4] = v.try_into().ok()?;
        Some(BootItem {
            kind: u16::from_be_bytes([b[0], b[1]]),
            layer: u16::from_be_bytes([b[2], b[3]]),
        })
    }
    /// The 4-byte value.
    pub fn to_bytes(self) -> [u8; 4] {
        let k = self.kind.to_be_bytes();
        let l = self.layer.to_be_bytes();
        [k[0], k[1], l[0], l[1]]
    }
}

/// PXE vendor options (option 43 for `PXEClient`s), owned: parse and build.
/// Sub-options this type has no field for are kept in `other`, in order,
/// and emitted after the known ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PxeVendor {
    /// 43.6, discovery control bits ([`pxe::NO_BROADCAST`] ...).
    pub discovery_control: Option<u8>,
    /// 43.8, boot servers.
    pub boot_servers: Vec<BootServer>,
    /// 43.9, boot menu.
    pub menu: Vec<MenuItem>,
    /// 43.10, menu prompt.
    pub prompt: Option<MenuPrompt>,
    /// 43.71, boot item.
    pub boot_item: Option<BootItem>,
    /// Other sub-options, as (code, value).
    pub other: Vec<(u8, Vec<u8>)>,
}

impl PxeVendor {
    /// Parses an option 43 value.
    pub fn parse(value: &[u8]) -> Result<PxeVendor, ParseError> {
        use pxe::*;
        let mut out = PxeVendor::default();
        for sub in SubOptions::new(43, value) {
            let sub = sub?;
            let bad = || ParseError::InvalidSubOption {
                code: 43,
                sub: sub.code,
                offset: sub.offset,
            };
            let d = sub.data;
            match sub.code {
                DISCOVERY_CONTROL => out.discovery_control = Some(*d.first().ok_or_else(bad)?),
                BOOT_SERVERS => {
                    let mut i = 0;
                    while i < d.len() {
                        let h = d.get(i..i + 3).ok_or_else(bad)?;
                        let n = usize::from(h[2]);
                        let ips = d.get(i + 3..i + 3 + 4 * n).ok_or_else(bad)?;
                        out.boot_servers.push(BootServer {
                            kind: u16::from_be_bytes([h[0], h[1]]),
                            addrs: ips
                                .chunks_exact(4)
                                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                                .collect(),
                        });
                        i += 3 + 4 * n;
                    }
                }
                BOOT_MENU => {
                    let mut i = 0;
                    while i < d.len() {
                        let h = d.get(i..i + 3).ok_or_else(bad)?;
                        let n = usize::from(h[2]);
                        let text = d.get(i + 3..i + 3 + n).ok_or_else(bad)?;
                        out.menu.push(MenuItem {
                            kind: u16::from_be_bytes([h[0], h[1]]),
                            description: text.to_vec(),
                        });
                        i += 3 + n;
                    }
                }
                MENU_PROMPT => {
                    let (&timeout, prompt) = d.split_first().ok_or_else(bad)?;
                    out.prompt = Some(MenuPrompt {
                        timeout,
                        prompt: prompt.to_vec(),
                    });
                }
                BOOT_ITEM => out.boot_item = Some(BootItem::parse(d).ok_or_else(bad)?),
                c => out.other.push((c, d.to_vec())),
            }
        }
        Ok(out)
    }

    /// Encodes the option 43 value, ending with 255 as PXE requires.
    /// Sub-option order: 6, 8, 9, 10, 71, then `other` (dnsmasq's order).
    pub fn encode(&self) -> Result<Vec<u8>, EmitError> {
        use pxe::*;
        let mut out = Vec::with_capacity(64);
        if let Some(dc) = self.discovery_control {
            push_sub(&mut out, DISCOVERY_CONTROL, &[dc], "43.6")?;
        }
        if !self.boot_servers.is_empty() {
            let mut v = Vec::new();
            for s in &self.boot_servers {
                v.extend_from_slice(&s.kind.to_be_bytes());
                let n = u8::try_from(s.addrs.len()).map_err(|_| EmitError::TooLong {
                    field: "43.8 addresses",
                    len: s.addrs.len(),
                    max: 255,
                })?;
                v.push(n);
                for a in &s.addrs {
                    v.extend_from_slice(&a.octets());
                }
            }
            push_sub(&mut out, BOOT_SERVERS, &v, "43.8")?;
        }
        if !self.menu.is_empty() {
            let mut v = Vec::new();
            for m in &self.menu {
                v.extend_from_slice(&m.kind.to_be_bytes());
                let n = u8::try_from(m.description.len()).map_err(|_| EmitError::TooLong {
                    field: "43.9 description",
                    len: m.description.len(),
                    max: 255,
                })?;
                v.push(n);
                v.extend_from_slice(&m.description);
            }
            push_sub(&mut out, BOOT_MENU, &v, "43.9")?;
        }
        if let Some(p) = &self.prompt {
            let mut v = vec![p.timeout];
            v.extend_from_slice(&p.prompt);
            push_sub(&mut out, MENU_PROMPT, &v, "43.10")?;
        }
        if let Some(b) = self.boot_item {
            push_sub(&mut out, BOOT_ITEM, &b.to_bytes(), "43.71")?;
        }
        for (c, d) in &self.other {
            push_sub(&mut out, *c, d, "43.x")?;
        }
        out.push(255);
        Ok(out)
    }
}

/// An iPXE feature flag: a sub-option of 175 in 0x10..=0x7f whose presence
/// (with a non-zero value) says the build supports it (iPXE `features.h`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpxeFeature(pub u8);

macro_rules! features {
    ($($name:ident = $v:expr, $s:expr;)*) => {
        impl IpxeFeature {
            $(#[doc = concat!("175.", stringify!($v), ": ", $s, ".")] pub const $name: IpxeFeature = IpxeFeature($v);)*
            /// The feature's short name (`"http"`, `"iscsi"`, ...), if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
            fn from_name(s: &str) -> Option<IpxeFeature> {
                match s { $($s => Some(IpxeFeature($v)),)* _ => None }
            }
        }
    };
}

features! {
    PXE_EXT = 0x10, "pxe-ext";
    ISCSI = 0x11, "iscsi";
    AOE = 0x12, "aoe";
    HTTP = 0x13, "http";
    HTTPS = 0x14, "https";
    TFTP = 0x15, "tftp";
    FTP = 0x16, "ftp";
    DNS = 0x17, "dns";
    BZIMAGE = 0x18, "bzimage";
    MULTIBOOT = 0x19, "multiboot";
    SLAM = 0x1a, "slam";
    SRP = 0x1b, "srp";
    NBI = 0x20, "nbi";
    PXE = 0x21, "pxe";
    ELF = 0x22, "elf";
    COMBOOT = 0x23, "comboot";
    EFI = 0x24, "efi";
    FCOE = 0x25, "fcoe";
    VLAN = 0x26, "vlan";
    MENU = 0x27, "menu";
    SDI = 0x28, "sdi";
    NFS = 0x29, "nfs";
}

impl fmt::Debug for IpxeFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "IpxeFeature({n})"),
            None => write!(f, "IpxeFeature({:#04x})", self.0),
        }
    }
}

impl fmt::Display for IpxeFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for IpxeFeature {
    type Err = PolicyError;
    /// A name (`http`, `https`, `iscsi`, `aoe`, ...) or a number.
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        IpxeFeature::from_name(s)
            .or_else(|| s.parse().ok().map(IpxeFeature))
            .ok_or_else(|| PolicyError::UnknownFeature(s.to_string()))
    }
}

/// A set of [`IpxeFeature`]s (codes 0..=127).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct IpxeFeatures(pub u128);

impl IpxeFeatures {
    /// Whether `f` is in the set.
    pub fn contains(self, f: IpxeFeature) -> bool {
        f.0 < 128 && self.0 & (1u128 << f.0) != 0
    }
    /// Adds `f` (ignored above 127).
    pub fn insert(&mut self, f: IpxeFeature) {
        if f.0 < 128 {
            self.0 |= 1u128 << f.0;
        }
    }
    /// The features in the set, in code order.
    pub fn iter(self) -> impl Iterator<Item = IpxeFeature> {
        (0u8..128)
            .filter(move |&c| self.0 & (1u128 << c) != 0)
            .map(IpxeFeature)
    }
}

impl fmt::Debug for IpxeFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// iPXE sub-option codes of option 175 other than feature flags.
pub mod ipxe {
    /// 175.1, priority of this settings block (signed byte).
    pub const PRIORITY: u8 = 0x01;
    /// 175.8, keep SAN drive registered.
    pub const KEEP_SAN: u8 = 0x08;
    /// 175.9, skip booting from the SAN drive.
    pub const SKIP_SAN_BOOT: u8 = 0x09;
    /// 175.81, scriptlet run instead of autoboot.
    pub const SCRIPTLET: u8 = 0x51;
    /// 175.85, encrypted syslog server.
    pub const SYSLOGS_SERVER: u8 = 0x55;
    /// 175.90, trusted root certificate fingerprints.
    pub const TRUST: u8 = 0x5a;
    /// 175.176, skip PXE extensions (ProxyDHCP): set to 1 in an offer to
    /// make iPXE stop waiting for proxy offers.
    pub const NO_PXEDHCP: u8 = 0xb0;
    /// 175.177, network device bus id (type, vendor, device).
    pub const BUS_ID: u8 = 0xb1;
    /// 175.178, use cached network settings.
    pub const USE_CACHED: u8 = 0xb2;
    /// 175.189, BIOS drive number for SAN boot.
    pub const BIOS_DRIVE: u8 = 0xbd;
    /// 175.190, username.
    pub const USERNAME: u8 = 0xbe;
    /// 175.191, password.
    pub const PASSWORD: u8 = 0xbf;
    /// 175.192, reverse username.
    pub const REVERSE_USERNAME: u8 = 0xc0;
    /// 175.193, reverse password.
    pub const REVERSE_PASSWORD: u8 = 0xc1;
    /// 175.235, iPXE version (major, minor, patch).
    pub const VERSION: u8 = 0xeb;
}

/// iPXE's option 175, checked: every sub-option lies inside the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpxeOptions<'a> {
    value: Cow<'a, [u8]>,
}

impl<'a> IpxeOptions<'a> {
    /// Checks an option 175 value.
    pub fn parse(value: Cow<'a, [u8]>) -> Result<Self, ParseError> {
        for s in SubOptions::new(175, &value) {
            s?;
        }
        Ok(IpxeOptions { value })
    }
    /// The sub-options in order.
    pub fn iter(&self) -> impl Iterator<Item = SubOption<'_>> {
        // Checked in `parse`, so errors cannot occur.
        SubOptions::new(175, &self.value).filter_map(Result::ok)
    }
    /// The value of sub-option `code`, if present.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.iter().find(|s| s.code == code).map(|s| s.data)
    }
    /// The feature flags present with a non-zero value.
    pub fn features(&self) -> IpxeFeatures {
        let mut f = IpxeFeatures::default();
        for s in self.iter() {
            if (0x10..0x80).contains(&s.code) && s.data.iter().any(|&b| b != 0) {
                f.insert(IpxeFeature(s.code));
            }
        }
        f
    }
    /// 175.235, the iPXE version (major, minor, patch).
    pub fn version(&self) -> Option<(u8, u8, u8)> {
        match self.get(ipxe::VERSION)? {
            [a, b, c, ..] => Some((*a, *b, *c)),
            _ => None,
        }
    }
    /// 175.177, the bus id (bus type, then bus-specific bytes).
    pub fn bus_id(&self) -> Option<&[u8]> {
        self.get(ipxe::BUS_ID)
    }
    /// 175.176 non-zero: ProxyDHCP is to be skipped.
    pub fn no_pxedhcp(&self) -> bool {
        self.get(ipxe::NO_PXEDHCP)
            .is_some_and(|v| v.iter().any(|&b| b != 0))
    }

    /// Encodes (code, value) sub-options into an option 175 value (no end
    /// option: iPXE sends none).
    pub fn encode(subs: &[(u8, &[u8])]) -> Result<Vec<u8>, EmitError> {
        let mut out = Vec::new();
        for (c, d) in subs {
            push_sub(&mut out, *c, d, "175.x")?;
        }
        Ok(out)
    }
}
