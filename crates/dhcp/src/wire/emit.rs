//! The owned message and its emitter.

use std::net::Ipv4Addr;

use super::options::{code, MessageType, OVERLOAD_FILE, OVERLOAD_SNAME};
use super::{field, Area, Header, Message, Op, BOOTP_MIN_LEN, HEADER_LEN, MAGIC_COOKIE};
use crate::EmitError;

/// An option to emit: a code and its whole value (any length; values over
/// 255 bytes are split on emit, RFC 3396).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawOption {
    /// Option code (not 0, 52 or 255).
    pub code: u8,
    /// The value.
    pub data: Vec<u8>,
}

impl RawOption {
    /// An option with any value.
    pub fn new(code: u8, data: impl Into<Vec<u8>>) -> Self {
        RawOption {
            code,
            data: data.into(),
        }
    }
    /// Option 53.
    pub fn message_type(t: MessageType) -> Self {
        Self::new(code::MESSAGE_TYPE, vec![u8::from(t)])
    }
    /// An address option (1, 28, 50, 54, ...).
    pub fn ipv4(code: u8, addr: Ipv4Addr) -> Self {
        Self::new(code, addr.octets().to_vec())
    }
    /// An address list option (3, 6, ...).
    pub fn ipv4_list(code: u8, addrs: &[Ipv4Addr]) -> Self {
        Self::new(
            code,
            addrs.iter().flat_map(|a| a.octets()).collect::<Vec<u8>>(),
        )
    }
    /// A 16-bit option (57, 93 with one arch).
    pub fn u16(code: u8, v: u16) -> Self {
        Self::new(code, v.to_be_bytes().to_vec())
    }
    /// A 32-bit option (51, ...).
    pub fn u32(code: u8, v: u32) -> Self {
        Self::new(code, v.to_be_bytes().to_vec())
    }
    /// Number of bytes the option takes on the wire (with RFC 3396 splits).
    pub fn wire_len(&self) -> usize {
        let n = self.data.len();
        let instances = n.div_ceil(255).max(1);
        n + 2 * instances
    }
}

/// An owned DHCP message: header, `sname`, `file` and options in order.
///
/// [`Message::to_repr`] makes one from a parsed message, joining the
/// instances of each long option (RFC 3396) into the place of the first;
/// [`Repr::emit`] writes it back. For a message whose options are each sent
/// as one instance (every real client and server we captured), parse →
/// `to_repr` → emit reproduces the original bytes up to padding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repr {
    /// The fixed header fields.
    pub header: Header,
    /// `sname`, the server host name (ignored when `sname_options` is set).
    pub sname: [u8; 64],
    /// `file`, the boot file name (ignored when `file_options` is set).
    pub file: [u8; 128],
    /// The options area, in order (without option 52, which the emitter
    /// writes first when `file_options` or `sname_options` is set).
    pub options: Vec<RawOption>,
    /// Options carried in the `file` field (option 52 bit 1).
    pub file_options: Option<Vec<RawOption>>,
    /// Options carried in the `sname` field (option 52 bit 2).
    pub sname_options: Option<Vec<RawOption>>,
}

impl Repr {
    /// An empty message with an Ethernet header.
    pub fn new(op: Op) -> Self {
        Repr {
            header: Header::new(op),
            sname: [0; 64],
            file: [0; 128],
            options: Vec::new(),
            file_options: None,
            sname_options: None,
        }
    }

    /// A reply skeleton for `req` (RFC 2131 §4.3.1, table 3): op 2, the
    /// request's htype, hlen, xid, flags, giaddr and chaddr; everything else
    /// zero and no options.
    pub fn reply_to(req: &Message<'_>) -> Self {
        let mut r = Repr::new(Op::Reply);
        r.header.htype = req.htype();
        r.header.hlen = req.hlen();
        r.header.xid = req.xid();
        r.header.flags = req.flags();
        r.header.giaddr = req.giaddr();
        r.header.chaddr = *req.chaddr();
        r
    }

    /// Sets `sname` (NUL-padded; at most 64 bytes).
    pub fn set_sname(&mut self, name: &[u8]) -> Result<(), EmitError> {
        set_field(&mut self.sname, name, "sname")
    }

    /// Sets `file` (NUL-padded; at most 128 bytes).
    pub fn set_file(&mut self, name: &[u8]) -> Result<(), EmitError> {
        set_field(&mut self.file, name, "file")
    }

    /// Appends an option.
    pub fn push(&mut self, opt: RawOption) -> &mut Self {
        self.options.push(opt);
        self
    }

    /// The first option with `code` in the options area.
    pub fn get(&self, code: u8) -> Option<&RawOption> {
        self.options.iter().find(|o| o.code == code)
    }

    fn overload(&self) -> u8 {
        let mut v = 0;
        if self.file_options.is_some() {
            v |= OVERLOAD_FILE;
        }
        if self.sname_options.is_some() {
            v |= OVERLOAD_SNAME;
        }
        v
    }

    /// The number of bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        let ov = if self.overload() != 0 { 3 } else { 0 };
        let opts: usize = self.options.iter().map(RawOption::wire_len).sum();
        (HEADER_LEN + ov + opts + 1).max(BOOTP_MIN_LEN)
    }

    /// Writes the message into `buf` and returns its length
    /// ([`buffer_len`](Self::buffer_len)): header, cookie, option 52 if any
    /// field is overloaded, the options in order (values over 255 bytes
    /// split into several instances), end, and zero padding up to 300
    /// bytes. Every byte of the returned length is written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(EmitError::BufferTooSmall {
                need: len,
                have: buf.len(),
            });
        }
        let buf = &mut buf[..len];
        let h = &self.header;
        buf[field::OP] = h.op.into();
        buf[field::HTYPE] = h.htype;
        buf[field::HLEN] = h.hlen;
        buf[field::HOPS] = h.hops;
        buf[field::XID].copy_from_slice(&h.xid.to_be_bytes());
        buf[field::SECS].copy_from_slice(&h.secs.to_be_bytes());
        buf[field::FLAGS].copy_from_slice(&h.flags.to_be_bytes());
        buf[field::CIADDR].copy_from_slice(&h.ciaddr.octets());
        buf[field::YIADDR].copy_from_slice(&h.yiaddr.octets());
        buf[field::SIADDR].copy_from_slice(&h.siaddr.octets());
        buf[field::GIADDR].copy_from_slice(&h.giaddr.octets());
        buf[field::CHADDR].copy_from_slice(&h.chaddr);
        match &self.sname_options {
            Some(opts) => write_area(&mut buf[field::SNAME], opts, "sname")?,
            None => buf[field::SNAME].copy_from_slice(&self.sname),
        }
        match &self.file_options {
            Some(opts) => write_area(&mut buf[field::FILE], opts, "file")?,
            None => buf[field::FILE].copy_from_slice(&self.file),
        }
        buf[field::COOKIE].copy_from_slice(&MAGIC_COOKIE);
        let mut pos = HEADER_LEN;
        let ov = self.overload();
        if ov != 0 {
            buf[pos..pos + 3].copy_from_slice(&[code::OPTION_OVERLOAD, 1, ov]);
            pos += 3;
        }
        let area = &mut buf[pos..];
        let n = write_options(area, &self.options)?;
        area[n] = code::END;
        // Padding; buffer_len() sized the slice, so this is in bounds.
        area[n + 1..].fill(0);
        Ok(len)
    }
}

fn set_field(dst: &mut [u8], v: &[u8], field: &'static str) -> Result<(), EmitError> {
    if v.len() > dst.len() {
        return Err(EmitError::TooLong {
            field,
            len: v.len(),
            max: dst.len(),
        });
    }
    dst.fill(0);
    dst[..v.len()].copy_from_slice(v);
    Ok(())
}

/// Writes options (split at 255 bytes) and returns the bytes written; the
/// caller has checked that `out` is large enough, or gets an error.
fn write_options(out: &mut [u8], opts: &[RawOption]) -> Result<usize, EmitError> {
    let mut pos = 0;
    for o in opts {
        if matches!(o.code, code::PAD | code::END | code::OPTION_OVERLOAD) {
            return Err(EmitError::ReservedCode(o.code));
        }
        let need = pos + o.wire_len();
        if need > out.len() {
            return Err(EmitError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        let mut chunks = o.data.chunks(255);
        let first = chunks.next().unwrap_or(&[]);
        for c in std::iter::once(first).chain(chunks) {
            out[pos] = o.code;
            out[pos + 1] = c.len() as u8;
            out[pos + 2..pos + 2 + c.len()].copy_from_slice(c);
            pos += 2 + c.len();
        }
    }
    Ok(pos)
}

/// Fills an overloaded `file`/`sname` field: options, end, zeros.
fn write_area(out: &mut [u8], opts: &[RawOption], field: &'static str) -> Result<(), EmitError> {
    let need: usize = opts.iter().map(RawOption::wire_len).sum::<usize>() + 1;
    if need > out.len() {
        return Err(EmitError::TooLong {
            field,
            len: need,
            max: out.len(),
        });
    }
    let n = write_options(out, opts)?;
    out[n] = code::END;
    out[n + 1..].fill(0);
    Ok(())
}

impl Message<'_> {
    /// The owned form: each option's instances joined at the place of the
    /// first one (RFC 3396), per area; option 52 becomes `file_options` /
    /// `sname_options`. An option whose instances span areas is joined into
    /// the area of its first instance.
    pub fn to_repr(&self) -> Repr {
        let mut r = Repr::new(self.op());
        r.header = self.header();
        r.sname.copy_from_slice(self.sname_raw());
        r.file.copy_from_slice(self.file_raw());
        let ov = self.overload();
        let mut options: Vec<RawOption> = Vec::new();
        let mut file_opts: Vec<RawOption> = Vec::new();
        let mut sname_opts: Vec<RawOption> = Vec::new();
        // Where each code's joined value lives: (area, index).
        let mut seen: [Option<(Area, usize)>; 256] = [None; 256];
        for o in self.raw_options() {
            if o.code == code::OPTION_OVERLOAD {
                continue;
            }
            match seen[usize::from(o.code)] {
                Some((area, i)) => {
                    let list = match area {
                        Area::Options => &mut options,
                        Area::File => &mut file_opts,
                        Area::Sname => &mut sname_opts,
                    };
                    list[i].data.extend_from_slice(o.data);
                }
                None => {
                    let list = match o.area {
                        Area::Options => &mut options,
                        Area::File => &mut file_opts,
                        Area::Sname => &mut sname_opts,
                    };
                    seen[usize::from(o.code)] = Some((o.area, list.len()));
                    list.push(RawOption::new(o.code, o.data));
                }
            }
        }
        r.options = options;
        if ov & OVERLOAD_FILE != 0 {
            r.file = [0; 128];
            r.file_options = Some(file_opts);
        }
        if ov & OVERLOAD_SNAME != 0 {
            r.sname = [0; 64];
            r.sname_options = Some(sname_opts);
        }
        r
    }
}
