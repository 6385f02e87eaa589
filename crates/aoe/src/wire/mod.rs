//! AoE frames: parse from `&[u8]` and emit into a caller's buffer.
//!
//! Layout (AoE protocol definition, revision 11, sections 2 and 3):
//!
//! ```text
//!  0      6      12   14        15     16      18     19       20    24
//!  | dst  | src  |type| ver/flg | error| major | minor| command| tag |  arguments...
//! ```
//!
//! The arguments depend on the command: [`AtaHeader`] (command 0, section
//! 3.1), [`ConfigHeader`] (command 1, section 3.2), [`MacMaskHeader`]
//! (command 2, section 3.3) and [`ReserveHeader`] (command 3, section 3.4).
//!
//! Contract (as smoltcp's): [`Frame::parse`] checks every length before it
//! reads and never panics on any input; [`Frame::emit`] never panics into a
//! buffer of [`Frame::buffer_len`] bytes. Frames shorter than the 60-byte
//! Ethernet minimum are accepted (iPXE and vblade send 32-byte frames on veth
//! and tap); emitted frames are zero-padded to 60 bytes. Because of that
//! padding, bytes after the last declared field are never an error: for ATA
//! frames they are returned as data and the target takes only as many as the
//! sector count asks for.
//!
//! Unknown values are data: command codes, error codes and sub-commands are
//! newtypes over their wire integer with named constants.

mod ata;
mod config;
mod mask;
mod reserve;
#[cfg(test)]
mod tests;

pub use ata::{AtaFlags, AtaHeader, AtaStatus};
pub use config::{ConfigCommand, ConfigHeader, MAX_CONFIG_LEN};
pub use mask::{Directive, DirectiveCommand, DirectiveList, MacMaskHeader, MaskCommand, MaskError};
pub use reserve::{MacList, ReserveCommand, ReserveHeader};

use crate::{EmitError, ParseError};
use std::fmt;

/// Ethernet type of AoE.
pub const ETHERTYPE_AOE: u16 = 0x88A2;
/// AoE protocol version this crate speaks.
pub const AOE_VERSION: u8 = 1;
/// Bytes of the Ethernet header.
pub const ETH_HEADER_LEN: usize = 14;
/// Bytes of the Ethernet and AoE headers together.
pub const HEADER_LEN: usize = 24;
/// Smallest Ethernet frame without FCS; shorter frames we emit are padded.
pub const MIN_FRAME_LEN: usize = 60;
/// Shelf (major) address that matches every shelf.
pub const BROADCAST_SHELF: u16 = 0xffff;
/// Slot (minor) address that matches every slot.
pub const BROADCAST_SLOT: u8 = 0xff;
/// Bytes of one ATA sector on the wire; AoE always counts 512-byte sectors.
pub const SECTOR_SIZE: usize = 512;

mod field {
    pub const DST: std::ops::Range<usize> = 0..6;
    pub const SRC: std::ops::Range<usize> = 6..12;
    pub const ETHERTYPE: std::ops::Range<usize> = 12..14;
    pub const VER_FLAGS: usize = 14;
    pub const ERROR: usize = 15;
    pub const MAJOR: std::ops::Range<usize> = 16..18;
    pub const MINOR: usize = 18;
    pub const COMMAND: usize = 19;
    pub const TAG: std::ops::Range<usize> = 20..24;
}

/// Declares a newtype over a wire integer with named constants, so unknown
/// values survive parse and emit.
macro_rules! wire_newtype {
    ($(#[$m:meta])* $name:ident($ty:ty) { $($(#[$cm:meta])* $c:ident = $v:expr => $text:expr,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $ty);
        impl $name {
            $($(#[$cm])* pub const $c: $name = $name($v);)*
            /// A short description, or `None` for values the spec does not name.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some($text),)*
                    _ => None,
                }
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({} {})", stringify!($name), self.0, n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{} ({})", self.0, n),
                    None => write!(f, "{}", self.0),
                }
            }
        }
    };
}
pub(crate) use wire_newtype;

wire_newtype! {
    /// The AoE command code (section 2.5).
    Command(u8) {
        /// Issue ATA command.
        ATA = 0 => "ATA",
        /// Query config information.
        QUERY_CONFIG = 1 => "query config",
        /// MAC mask list.
        MAC_MASK = 2 => "MAC mask list",
        /// Reserve / release.
        RESERVE = 3 => "reserve/release",
    }
}

wire_newtype! {
    /// The AoE error field (section 2.4); meaningful when the E flag is set.
    ErrorCode(u8) {
        /// No error.
        NONE = 0 => "no error",
        /// Unrecognized command code.
        UNRECOGNIZED_COMMAND = 1 => "unrecognized command code",
        /// Bad argument parameter.
        BAD_ARGUMENT = 2 => "bad argument parameter",
        /// Device unavailable.
        DEVICE_UNAVAILABLE = 3 => "device unavailable",
        /// Config string present.
        CONFIG_STRING_PRESENT = 4 => "config string present",
        /// Unsupported version.
        UNSUPPORTED_VERSION = 5 => "unsupported version",
        /// Target is reserved.
        TARGET_RESERVED = 6 => "target is reserved",
    }
}

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// True for ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for group (multicast and broadcast) addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    fn from_slice(b: &[u8]) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[..6]);
        MacAddr(m)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for MacAddr {
    type Err = ParseError;

    /// Parses `aa:bb:cc:dd:ee:ff` (also with `-` separators, or none).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let hex: String = s.chars().filter(|c| *c != ':' && *c != '-').collect();
        let bad = ParseError::InvalidValue {
            field: "mac address",
            value: 0,
        };
        if hex.len() != 12 || !hex.is_ascii() {
            return Err(bad);
        }
        let mut m = [0u8; 6];
        for (i, b) in m.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad.clone())?;
        }
        Ok(MacAddr(m))
    }
}

/// The Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetHeader {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// Ethernet type; 0x88A2 for AoE.
    pub ethertype: u16,
}

/// AoE header flags (the low nibble of the version byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AoeFlags {
    /// R: the frame is a response.
    pub response: bool,
    /// E: the response carries an error in the error field.
    pub error: bool,
}

impl AoeFlags {
    const RESPONSE: u8 = 0x08;
    const ERROR: u8 = 0x04;

    fn from_bits(b: u8) -> Self {
        AoeFlags {
            response: b & Self::RESPONSE != 0,
            error: b & Self::ERROR != 0,
        }
    }

    fn bits(self) -> u8 {
        (if self.response { Self::RESPONSE } else { 0 })
            | (if self.error { Self::ERROR } else { 0 })
    }
}

/// The AoE header that follows the Ethernet header (section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AoeHeader {
    /// Protocol version (high nibble of byte 14); 1 today.
    pub version: u8,
    /// R and E flags.
    pub flags: AoeFlags,
    /// Error field.
    pub error: ErrorCode,
    /// Major address: the shelf. 0xffff is broadcast.
    pub major: u16,
    /// Minor address: the slot. 0xff is broadcast.
    pub minor: u8,
    /// Command code.
    pub command: Command,
    /// Tag chosen by the initiator, echoed by the target.
    pub tag: u32,
}

impl AoeHeader {
    /// A request header for `shelf.slot` with version 1 and no flags.
    pub fn request(major: u16, minor: u8, command: Command, tag: u32) -> Self {
        AoeHeader {
            version: AOE_VERSION,
            flags: AoeFlags::default(),
            error: ErrorCode::NONE,
            major,
            minor,
            command,
            tag,
        }
    }
}

/// The command-specific part of a frame, borrowed from the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Command 0: an ATA command and its data (all bytes after the ATA
    /// header, including any Ethernet padding).
    Ata(AtaHeader, &'a [u8]),
    /// Command 1: query config and the config string.
    Config(ConfigHeader, &'a [u8]),
    /// Command 2: MAC mask list.
    MacMask(MacMaskHeader, DirectiveList<'a>),
    /// Command 3: reserve/release and its MAC list.
    Reserve(ReserveHeader, MacList<'a>),
    /// Any other command code: its arguments, unparsed.
    Other(&'a [u8]),
}

impl Body<'_> {
    /// Bytes the body takes on the wire (before Ethernet padding).
    pub fn buffer_len(&self) -> usize {
        match self {
            Body::Ata(_, data) => AtaHeader::LEN + data.len(),
            Body::Config(_, s) => ConfigHeader::LEN + s.len(),
            Body::MacMask(_, d) => MacMaskHeader::LEN + d.as_bytes().len(),
            Body::Reserve(_, m) => ReserveHeader::LEN + m.as_bytes().len(),
            Body::Other(b) => b.len(),
        }
    }
}

/// A whole AoE frame: Ethernet header, AoE header and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Ethernet header.
    pub eth: EthernetHeader,
    /// AoE header; `aoe.command` decides how the body is parsed.
    pub aoe: AoeHeader,
    /// Command arguments.
    pub body: Body<'a>,
}

/// Parses the Ethernet and AoE headers and returns the argument bytes.
///
/// Useful on its own to match a reply's tag before looking at a body that
/// may be short (error replies may carry no arguments).
pub fn parse_headers(b: &[u8]) -> Result<(EthernetHeader, AoeHeader, &[u8]), ParseError> {
    if b.len() < ETH_HEADER_LEN {
        return Err(ParseError::Truncated {
            field: "ethernet header",
        });
    }
    let ethertype = u16::from_be_bytes([b[12], b[13]]);
    if ethertype != ETHERTYPE_AOE {
        return Err(ParseError::Ethertype(ethertype));
    }
    if b.len() < HEADER_LEN {
        return Err(ParseError::Truncated {
            field: "aoe header",
        });
    }
    let eth = EthernetHeader {
        dst: MacAddr::from_slice(&b[field::DST]),
        src: MacAddr::from_slice(&b[field::SRC]),
        ethertype,
    };
    let vf = b[field::VER_FLAGS];
    let aoe = AoeHeader {
        version: vf >> 4,
        flags: AoeFlags::from_bits(vf & 0x0f),
        error: ErrorCode(b[field::ERROR]),
        major: u16::from_be_bytes([b[field::MAJOR][0], b[field::MAJOR][1]]),
        minor: b[field::MINOR],
        command: Command(b[field::COMMAND]),
        tag: u32::from_be_bytes([b[20], b[21], b[22], b[23]]),
    };
    Ok((eth, aoe, &b[HEADER_LEN..]))
}

impl<'a> Frame<'a> {
    /// Parses a received frame (without FCS).
    pub fn parse(b: &'a [u8]) -> Result<Frame<'a>, ParseError> {
        let (eth, aoe, args) = parse_headers(b)?;
        let body = match aoe.command {
            Command::ATA => {
                let h = AtaHeader::parse(args)?;
                Body::Ata(h, &args[AtaHeader::LEN..])
            }
            Command::QUERY_CONFIG => {
                let (h, s) = ConfigHeader::parse(args)?;
                Body::Config(h, s)
            }
            Command::MAC_MASK => {
                let (h, d) = MacMaskHeader::parse(args)?;
                Body::MacMask(h, d)
            }
            Command::RESERVE => {
                let (h, m) = ReserveHeader::parse(args)?;
                Body::Reserve(h, m)
            }
            _ => Body::Other(args),
        };
        Ok(Frame { eth, aoe, body })
    }

    /// Bytes [`Frame::emit`] writes: headers plus body, at least 60.
    pub fn buffer_len(&self) -> usize {
        (HEADER_LEN + self.body.buffer_len()).max(MIN_FRAME_LEN)
    }

    /// Writes the frame into `buf` and returns its length
    /// ([`Frame::buffer_len`]). Short frames are zero-padded to 60 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let need = self.buffer_len();
        if buf.len() < need {
            return Err(EmitError::BufferTooSmall {
                need,
                have: buf.len(),
            });
        }
        emit_headers(&self.eth, &self.aoe, buf)?;
        let args = &mut buf[HEADER_LEN..];
        let used = match &self.body {
            Body::Ata(h, data) => {
                h.emit(args)?;
                args[AtaHeader::LEN..AtaHeader::LEN + data.len()].copy_from_slice(data);
                AtaHeader::LEN + data.len()
            }
            Body::Config(h, s) => h.emit(s, args)?,
            Body::MacMask(h, d) => h.emit(*d, args)?,
            Body::Reserve(h, m) => h.emit(*m, args)?,
            Body::Other(b) => {
                args[..b.len()].copy_from_slice(b);
                b.len()
            }
        };
        buf[HEADER_LEN + used..need].fill(0);
        Ok(need)
    }
}

/// Writes the Ethernet and AoE headers into the first 24 bytes of `buf`.
pub fn emit_headers(
    eth: &EthernetHeader,
    aoe: &AoeHeader,
    buf: &mut [u8],
) -> Result<(), EmitError> {
    if buf.len() < HEADER_LEN {
        return Err(EmitError::BufferTooSmall {
            need: HEADER_LEN,
            have: buf.len(),
        });
    }
    if aoe.version > 0x0f {
        return Err(EmitError::InvalidValue {
            field: "version",
            value: aoe.version.into(),
        });
    }
    buf[field::DST].copy_from_slice(&eth.dst.0);
    buf[field::SRC].copy_from_slice(&eth.src.0);
    buf[field::ETHERTYPE].copy_from_slice(&eth.ethertype.to_be_bytes());
    buf[field::VER_FLAGS] = (aoe.version << 4) | aoe.flags.bits();
    buf[field::ERROR] = aoe.error.0;
    buf[field::MAJOR].copy_from_slice(&aoe.major.to_be_bytes());
    buf[field::MINOR] = aoe.minor;
    buf[field::COMMAND] = aoe.command.0;
    buf[field::TAG].copy_from_slice(&aoe.tag.to_be_bytes());
    Ok(())
}

/// Pads a frame of `len` bytes in `buf` with zeros up to 60 bytes and
/// returns the padded length (or `len` if it was long enough, or if `buf`
/// is too short to pad).
pub fn pad(buf: &mut [u8], len: usize) -> usize {
    if len >= MIN_FRAME_LEN || buf.len() < MIN_FRAME_LEN {
        return len;
    }
    buf[len..MIN_FRAME_LEN].fill(0);
    MIN_FRAME_LEN
}

pub(crate) fn truncated(field: &'static str) -> ParseError {
    ParseError::Truncated { field }
}
