//! DHCPv4 messages on the wire (RFC 2131, RFC 2132, RFC 3396): a zero-copy
//! view to parse, an owned [`Repr`] to build and emit.
//!
//! # Parsing
//!
//! [`Message::parse`] checks the whole datagram once: the fixed BOOTP
//! header, the magic cookie, and every option in the options area and, when
//! option 52 overloads them, in `file` and `sname` (RFC 2131 §4.1 order:
//! options, then `file`, then `sname`). After that no accessor can panic or
//! read out of bounds, and nothing is copied or allocated (except by the
//! typed accessors of an option a sender split into several instances,
//! which join the pieces): an option's value
//! is an [`OptionValue`], the ordered list of the borrowed fragments that
//! RFC 3396 says to concatenate (almost always just one). Typed accessors
//! ([`Message::message_type`], [`Message::client_arch`], ...) live in
//! [`options`] and return `Ok(None)` when the option is absent and an
//! [`ParseError`] naming the option and offset when it is malformed.
//!
//! # Emitting
//!
//! [`Repr`] is the owned form: header fields, `sname`, `file` and the
//! options in order. [`Repr::emit`] writes it into a caller's buffer:
//! values longer than 255 bytes are split into several instances
//! (RFC 3396), the end option is appended, and the message is padded to the
//! 300-byte BOOTP minimum.
//!
//! ```
//! use netboot_dhcp::wire::{Message, MessageType, Op, RawOption, Repr, code};
//! let mut repr = Repr::new(Op::Request);
//! repr.header.xid = 0x1234_5678;
//! repr.header.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
//! repr.options.push(RawOption::message_type(MessageType::Discover));
//! repr.options.push(RawOption::new(code::VENDOR_CLASS_ID, b"PXEClient".to_vec()));
//! repr.options.push(RawOption::new(code::PARAMETER_REQUEST_LIST, vec![1; 300]));
//!
//! let mut buf = [0u8; 1024];
//! let len = repr.emit(&mut buf).unwrap();
//! let msg = Message::parse(&buf[..len]).unwrap();
//! assert_eq!(msg.message_type().unwrap(), Some(MessageType::Discover));
//! assert_eq!(msg.vendor_class().unwrap(), &b"PXEClient"[..]);
//! // The 300-byte list went out as two instances and reads back as one value.
//! assert_eq!(msg.option(code::PARAMETER_REQUEST_LIST).unwrap().len(), 300);
//! assert_eq!(msg.to_repr(), repr);
//! ```

mod emit;
pub mod encap;
pub mod options;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;

pub use crate::error::Area;
use crate::{EmitError, ParseError};
pub use emit::{RawOption, Repr};
pub use options::{
    code, ClientArch, ClientNdi, ClientUuid, MessageType, UserClasses, VendorClass, VendorKind,
};

/// Byte offsets of the fixed BOOTP fields (RFC 2131 §2, figure 1).
pub(crate) mod field {
    use std::ops::Range;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: Range<usize> = 4..8;
    pub const SECS: Range<usize> = 8..10;
    pub const FLAGS: Range<usize> = 10..12;
    pub const CIADDR: Range<usize> = 12..16;
    pub const YIADDR: Range<usize> = 16..20;
    pub const SIADDR: Range<usize> = 20..24;
    pub const GIADDR: Range<usize> = 24..28;
    pub const CHADDR: Range<usize> = 28..44;
    pub const SNAME: Range<usize> = 44..108;
    pub const FILE: Range<usize> = 108..236;
    pub const COOKIE: Range<usize> = 236..240;
    pub const OPTIONS: usize = 240;
}

/// The magic cookie that starts the options area (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Length of the fixed header including the magic cookie.
pub const HEADER_LEN: usize = field::OPTIONS;
/// The minimum BOOTP message length (RFC 951/1542); emit pads up to it.
pub const BOOTP_MIN_LEN: usize = 300;
/// The broadcast bit of the `flags` field (RFC 2131 §2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// UDP port of DHCP servers and proxyDHCP servers.
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCP clients.
pub const CLIENT_PORT: u16 = 68;
/// UDP port of PXE boot servers (PXE 2.1 §2.2.4).
pub const PXE_BOOT_SERVER_PORT: u16 = 4011;

/// BOOTP message op code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// 1, client to server.
    Request,
    /// 2, server to client.
    Reply,
    /// Any other value, kept as sent.
    Unknown(u8),
}

impl From<u8> for Op {
    fn from(v: u8) -> Self {
        match v {
            1 => Op::Request,
            2 => Op::Reply,
            n => Op::Unknown(n),
        }
    }
}

impl From<Op> for u8 {
    fn from(op: Op) -> u8 {
        match op {
            Op::Request => 1,
            Op::Reply => 2,
            Op::Unknown(n) => n,
        }
    }
}

/// The fixed BOOTP header fields other than `sname` and `file`, owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Message op code.
    pub op: Op,
    /// Hardware address type (1 = Ethernet).
    pub htype: u8,
    /// Hardware address length (6 for Ethernet).
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags; see [`FLAG_BROADCAST`].
    pub flags: u16,
    /// Client IP address (when the client already has one).
    pub ciaddr: Ipv4Addr,
    /// "Your" IP address, the one assigned.
    pub yiaddr: Ipv4Addr,
    /// Next server (TFTP) address.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address, zero-padded to 16 bytes.
    pub chaddr: [u8; 16],
}

impl Header {
    /// An Ethernet header with the given op and everything else zero.
    pub fn new(op: Op) -> Self {
        Header {
            op,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
        }
    }
}

/// One option instance as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOptionRef<'a> {
    /// Option code (never 0 or 255: pad and end are not yielded).
    pub code: u8,
    /// The instance's value (at most 255 bytes).
    pub data: &'a [u8],
    /// Offset of the code byte from the start of the message.
    pub offset: usize,
    /// The area the instance is in.
    pub area: Area,
}

/// A checked, zero-copy view of a DHCPv4 message.
///
/// Made by [`Message::parse`]; cheap to copy (a few slices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    buf: &'a [u8],
    /// Option 52's value (0 when absent).
    overload: u8,
    /// End of the options area's options (offset of its end option).
    options_end: usize,
    /// Ends (offsets of the end option) of the `file` and `sname` option
    /// lists, when overloaded.
    file_end: usize,
    sname_end: usize,
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    // Callers pass 4-byte slices of a checked header.
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    Ipv4Addr::from(a)
}

/// Walks one option area, checking every option; returns the offset of the
/// end option. `overload` is set when the area may (and does) hold 52.
fn check_area(
    buf: &[u8],
    start: usize,
    end: usize,
    area: Area,
    overload: Option<&mut u8>,
) -> Result<usize, ParseError> {
    let mut overload = overload;
    let mut i = start;
    while i < end {
        let code = buf[i];
        match code {
            options::code::PAD => i += 1,
            options::code::END => return Ok(i),
            _ => {
                // The length byte and then the value must lie inside the area.
                let len = match buf.get(i + 1) {
                    Some(&l) if i + 1 < end => usize::from(l),
                    _ => {
                        return Err(ParseError::OptionTruncated {
                            code,
                            offset: i,
                            area,
                        })
                    }
                };
                let next = i + 2 + len;
                if next > end {
                    return Err(ParseError::OptionTruncated {
                        code,
                        offset: i,
                        area,
                    });
                }
                if code == options::code::OPTION_OVERLOAD {
                    let Some(ov) = overload.as_deref_mut() else {
                        return Err(ParseError::OverloadLoop { offset: i, area });
                    };
                    if *ov != 0 {
                        return Err(ParseError::DuplicateOverload { offset: i });
                    }
                    if len != 1 {
                        return Err(ParseError::InvalidOptionLength {
                            code,
                            offset: i,
                            len,
                            expected: "1",
                        });
                    }
                    let v = buf[i + 2];
                    if !(1..=3).contains(&v) {
                        return Err(ParseError::InvalidOverload {
                            value: v,
                            offset: i,
                        });
                    }
                    *ov = v;
                }
                i = next;
            }
        }
    }
    Err(ParseError::MissingEnd { area })
}

impl<'a> Message<'a> {
    /// Parses and checks a DHCPv4 message (the UDP payload).
    ///
    /// Checks: the 240-byte header and cookie are present; every option's
    /// length stays inside its area; each area ends with option 255; option
    /// 52 appears at most once, only in the options area, with value 1–3.
    /// Bytes after the end option (padding) are ignored. Never panics,
    /// never allocates.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        if buf.len() < field::COOKIE.start {
            return Err(ParseError::Truncated {
                field: "header",
                len: buf.len(),
                need: field::COOKIE.start,
            });
        }
        if buf.len() < HEADER_LEN {
            return Err(ParseError::Truncated {
                field: "magic cookie",
                len: buf.len(),
                need: HEADER_LEN,
            });
        }
        let mut cookie = [0u8; 4];
        cookie.copy_from_slice(&buf[field::COOKIE]);
        if cookie != MAGIC_COOKIE {
            return Err(ParseError::BadCookie(cookie));
        }
        let mut overload = 0u8;
        let options_end = check_area(
            buf,
            HEADER_LEN,
            buf.len(),
            Area::Options,
            Some(&mut overload),
        )?;
        let mut file_end = field::FILE.start;
        let mut sname_end = field::SNAME.start;
        if overload & options::OVERLOAD_FILE != 0 {
            file_end = check_area(buf, field::FILE.start, field::FILE.end, Area::File, None)?;
        }
        if overload & options::OVERLOAD_SNAME != 0 {
            sname_end = check_area(buf, field::SNAME.start, field::SNAME.end, Area::Sname, None)?;
        }
        Ok(Message {
            buf,
            overload,
            options_end,
            file_end,
            sname_end,
        })
    }

    /// The whole datagram as given to [`parse`](Self::parse).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Length of the message up to and including the options area's end
    /// option (what is left is padding).
    pub fn len_without_padding(&self) -> usize {
        self.options_end + 1
    }

    /// The op field.
    pub fn op(&self) -> Op {
        Op::from(self.buf[field::OP])
    }
    /// Hardware address type.
    pub fn htype(&self) -> u8 {
        self.buf[field::HTYPE]
    }
    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        self.buf[field::HLEN]
    }
    /// Relay hops.
    pub fn hops(&self) -> u8 {
        self.buf[field::HOPS]
    }
    /// Transaction id.
    pub fn xid(&self) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.buf[field::XID]);
        u32::from_be_bytes(b)
    }
    /// Seconds since the client began.
    pub fn secs(&self) -> u16 {
        u16::from_be_bytes([self.buf[field::SECS.start], self.buf[field::SECS.start + 1]])
    }
    /// Flags.
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([
            self.buf[field::FLAGS.start],
            self.buf[field::FLAGS.start + 1],
        ])
    }
    /// Whether the client asked for broadcast replies.
    pub fn broadcast(&self) -> bool {
        self.flags() & FLAG_BROADCAST != 0
    }
    /// Client IP address.
    pub fn ciaddr(&self) -> Ipv4Addr {
        ipv4(&self.buf[field::CIADDR])
    }
    /// "Your" IP address.
    pub fn yiaddr(&self) -> Ipv4Addr {
        ipv4(&self.buf[field::YIADDR])
    }
    /// Next server address.
    pub fn siaddr(&self) -> Ipv4Addr {
        ipv4(&self.buf[field::SIADDR])
    }
    /// Relay agent address.
    pub fn giaddr(&self) -> Ipv4Addr {
        ipv4(&self.buf[field::GIADDR])
    }
    /// The 16-byte `chaddr` field.
    pub fn chaddr(&self) -> &'a [u8; 16] {
        self.buf[field::CHADDR]
            .try_into()
            .expect("chaddr is 16 bytes")
    }
    /// The client hardware address: the first `hlen` bytes of `chaddr`
    /// (at most 16).
    pub fn client_hw_addr(&self) -> &'a [u8] {
        let n = usize::from(self.hlen()).min(16);
        &self.buf[field::CHADDR][..n]
    }
    /// The raw 64-byte `sname` field (options if overloaded).
    pub fn sname_raw(&self) -> &'a [u8] {
        &self.buf[field::SNAME]
    }
    /// The raw 128-byte `file` field (options if overloaded).
    pub fn file_raw(&self) -> &'a [u8] {
        &self.buf[field::FILE]
    }
    /// The server name in `sname`, up to the first NUL; `None` when the
    /// field is overloaded with options or empty.
    pub fn sname(&self) -> Option<&'a [u8]> {
        if self.overload & options::OVERLOAD_SNAME != 0 {
            return None;
        }
        nul_terminated(self.sname_raw())
    }
    /// The boot file name in `file`, up to the first NUL; `None` when the
    /// field is overloaded with options or empty. See also
    /// [`Message::boot_file`], which also reads option 67.
    pub fn file(&self) -> Option<&'a [u8]> {
        if self.overload & options::OVERLOAD_FILE != 0 {
            return None;
        }
        nul_terminated(self.file_raw())
    }
    /// Option 52's value: bit 0 `file`, bit 1 `sname` (0 when absent).
    pub fn overload(&self) -> u8 {
        self.overload
    }
    /// The fixed header fields, copied out.
    pub fn header(&self) -> Header {
        Header {
            op: self.op(),
            htype: self.htype(),
            hlen: self.hlen(),
            hops: self.hops(),
            xid: self.xid(),
            secs: self.secs(),
            flags: self.flags(),
            ciaddr: self.ciaddr(),
            yiaddr: self.yiaddr(),
            siaddr: self.siaddr(),
            giaddr: self.giaddr(),
            chaddr: *self.chaddr(),
        }
    }

    /// Every option instance in wire order (options area, then `file`, then
    /// `sname` when overloaded), including unknown ones and option 52,
    /// excluding pad and end. Instances of a long option come separately;
    /// use [`Message::option`] to get them joined.
    pub fn raw_options(&self) -> RawOptions<'a> {
        RawOptions {
            buf: self.buf,
            pos: HEADER_LEN,
            end: self.options_end,
            area: Area::Options,
            overload: self.overload,
            file_end: self.file_end,
            sname_end: self.sname_end,
        }
    }

    /// The value of option `code`: all its instances, in wire order, as
    /// RFC 3396 says to concatenate them. `None` when absent.
    pub fn option(&self, code: u8) -> Option<OptionValue<'a>> {
        let mut it = self.raw_options();
        let first = it.by_ref().find(|o| o.code == code)?;
        let mut len = first.data.len();
        let mut count = 1usize;
        for o in it {
            if o.code == code {
                len += o.data.len();
                count += 1;
            }
        }
        Some(OptionValue {
            msg: *self,
            code,
            first: first.data,
            offset: first.offset,
            len,
            count,
        })
    }
}

fn nul_terminated(b: &[u8]) -> Option<&[u8]> {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    (n > 0).then(|| &b[..n])
}

/// Iterator over the option instances of a [`Message`], in wire order.
#[derive(Debug, Clone)]
pub struct RawOptions<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    area: Area,
    overload: u8,
    file_end: usize,
    sname_end: usize,
}

impl<'a> Iterator for RawOptions<'a> {
    type Item = RawOptionRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pos >= self.end {
                // Move on to the next overloaded area (RFC 2131 §4.1 order).
                match self.area {
                    Area::Options if self.overload & options::OVERLOAD_FILE != 0 => {
                        self.area = Area::File;
                        self.pos = field::FILE.start;
                        self.end = self.file_end;
                        continue;
                    }
                    Area::Options | Area::File if self.overload & options::OVERLOAD_SNAME != 0 => {
                        self.area = Area::Sname;
                        self.pos = field::SNAME.start;
                        self.end = self.sname_end;
                        // Don't come back here after sname.
                        self.overload = 0;
                        continue;
                    }
                    _ => return None,
                }
            }
            let code = *self.buf.get(self.pos)?;
            if code == options::code::PAD {
                self.pos += 1;
                continue;
            }
            // Checked by `Message::parse`; `get` keeps a bug from panicking.
            let len = usize::from(*self.buf.get(self.pos + 1)?);
            let data = self.buf.get(self.pos + 2..self.pos + 2 + len)?;
            let offset = self.pos;
            self.pos += 2 + len;
            return Some(RawOptionRef {
                code,
                data,
                offset,
                area: self.area,
            });
        }
    }
}

/// The value of one option: the borrowed fragments RFC 3396 concatenates.
///
/// Nearly always one fragment ([`as_slice`](Self::as_slice) is `Some`);
/// [`fragments`](Self::fragments), [`bytes`](Self::bytes) and
/// [`copy_to`](Self::copy_to) work in every case without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionValue<'a> {
    msg: Message<'a>,
    code: u8,
    first: &'a [u8],
    offset: usize,
    len: usize,
    count: usize,
}

impl<'a> OptionValue<'a> {
    /// The option code.
    pub fn code(&self) -> u8 {
        self.code
    }
    /// Offset of the first instance's code byte in the message.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Total length of the concatenated value.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Number of instances on the wire.
    pub fn instances(&self) -> usize {
        self.count
    }
    /// The value as one slice, when it was sent as one instance.
    pub fn as_slice(&self) -> Option<&'a [u8]> {
        (self.count == 1).then_some(self.first)
    }
    /// The instances' values in wire order.
    pub fn fragments(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let code = self.code;
        self.msg
            .raw_options()
            .filter(move |o| o.code == code)
            .map(|o| o.data)
    }
    /// The concatenated value's bytes.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        self.fragments().flat_map(|f| f.iter().copied())
    }
    /// Copies the concatenated value into `out`, returning the filled part.
    pub fn copy_to<'b>(&self, out: &'b mut [u8]) -> Result<&'b [u8], EmitError> {
        if out.len() < self.len {
            return Err(EmitError::BufferTooSmall {
                need: self.len,
                have: out.len(),
            });
        }
        let mut n = 0;
        for f in self.fragments() {
            out[n..n + f.len()].copy_from_slice(f);
            n += f.len();
        }
        Ok(&out[..n])
    }
    /// The concatenated value, borrowed when it is one instance.
    pub fn to_cow(&self) -> std::borrow::Cow<'a, [u8]> {
        match self.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(self.bytes().collect()),
        }
    }
    /// Reads a fixed-size value (e.g. an address), whether or not it was
    /// split; an error naming the option if the length differs.
    pub fn fixed<const N: usize>(&self, expected: &'static str) -> Result<[u8; N], ParseError> {
        if self.len != N {
            return Err(self.bad_len(expected));
        }
        let mut out = [0u8; N];
        // The length was checked: the copy fits.
        self.copy_to(&mut out).map_err(|_| self.bad_len(expected))?;
        Ok(out)
    }
    pub(crate) fn bad_len(&self, expected: &'static str) -> ParseError {
        ParseError::InvalidOptionLength {
            code: self.code,
            offset: self.offset,
            len: self.len,
            expected,
        }
    }
    pub(crate) fn bad_value(&self, reason: &'static str) -> ParseError {
        ParseError::InvalidOptionValue {
            code: self.code,
            offset: self.offset,
            reason,
        }
    }
}

impl PartialEq<[u8]> for OptionValue<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        self.len == other.len() && self.bytes().eq(other.iter().copied())
    }
}

impl PartialEq<&[u8]> for OptionValue<'_> {
    fn eq(&self, other: &&[u8]) -> bool {
        *self == **other
    }
}
