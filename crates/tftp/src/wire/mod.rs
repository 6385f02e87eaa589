//! TFTP packets on the wire (RFC 1350 §5, RFC 2347 OACK).
//!
//! [`Packet::parse`] borrows from the datagram (no copies, no allocation);
//! [`Packet::emit`] writes into a caller's buffer of at least
//! [`Packet::buffer_len`] bytes and never panics.
//!
//! ```
//! use netboot_tftp::wire::{Mode, Options, Packet, Request};
//! let rrq = Packet::Rrq(Request {
//!     filename: "pxelinux.0",
//!     mode: Mode::Octet,
//!     options: Options { blksize: Some(1432), tsize: Some(0), ..Options::default() },
//! });
//! let mut buf = [0u8; 64];
//! let n = rrq.emit(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"\0\x01pxelinux.0\0octet\0blksize\x001432\0tsize\x000\0");
//! assert_eq!(Packet::parse(&buf[..n]).unwrap(), rrq);
//! ```

mod options;

pub use options::{Options, DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE};

use crate::{EmitError, ParseError};
use std::fmt;

/// Opcode values (RFC 1350, RFC 2347).
pub mod opcode {
    /// Read request.
    pub const RRQ: u16 = 1;
    /// Write request.
    pub const WRQ: u16 = 2;
    /// Data block.
    pub const DATA: u16 = 3;
    /// Acknowledgement.
    pub const ACK: u16 = 4;
    /// Error.
    pub const ERROR: u16 = 5;
    /// Option acknowledgement (RFC 2347).
    pub const OACK: u16 = 6;
}

/// Bytes before the payload of a DATA packet (opcode and block number).
pub const DATA_HEADER_LEN: usize = 4;

/// Transfer mode of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Raw bytes.
    Octet,
    /// NVT ASCII: lines end in CR LF, a bare CR is CR NUL.
    Netascii,
    /// Obsolete mail mode; parsed so that a server can refuse it properly.
    Mail,
}

impl Mode {
    /// The mode's name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
            Mode::Mail => "mail",
        }
    }

    fn parse(s: &str) -> Result<Mode, ParseError> {
        if s.eq_ignore_ascii_case("octet") {
            Ok(Mode::Octet)
        } else if s.eq_ignore_ascii_case("netascii") {
            Ok(Mode::Netascii)
        } else if s.eq_ignore_ascii_case("mail") {
            Ok(Mode::Mail)
        } else {
            Err(ParseError::UnknownMode(s.chars().take(32).collect()))
        }
    }
}

/// TFTP error codes (RFC 1350 §5, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: not defined, see message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTid,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused (RFC 2347).
    OptionNegotiation,
    /// Any other value.
    Unknown(u16),
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTid => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionNegotiation => 8,
            ErrorCode::Unknown(n) => n,
        }
    }
}

impl From<u16> for ErrorCode {
    fn from(n: u16) -> Self {
        match n {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionNegotiation,
            n => ErrorCode::Unknown(n),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// A read or write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// File name as the client sent it (not yet checked for safety).
    pub filename: &'a str,
    /// Transfer mode.
    pub mode: Mode,
    /// Options the client asked for; see [`Options`] for how values are read.
    pub options: Options,
}

/// One TFTP packet, borrowing from the datagram it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request (opcode 1).
    Rrq(Request<'a>),
    /// Write request (opcode 2).
    Wrq(Request<'a>),
    /// Data block (opcode 3).
    Data {
        /// Block number (wraps around on long transfers).
        block: u16,
        /// Payload; shorter than the block size on the last block.
        data: &'a [u8],
    },
    /// Acknowledgement (opcode 4).
    Ack {
        /// Block number acknowledged.
        block: u16,
    },
    /// Error (opcode 5).
    Error {
        /// Error code.
        code: ErrorCode,
        /// Human-readable message.
        message: &'a str,
    },
    /// Option acknowledgement (opcode 6).
    Oack(Options),
}

/// Splits off a NUL-terminated string.
fn cstr<'a>(buf: &'a [u8], field: &'static str) -> Result<(&'a str, &'a [u8]), ParseError> {
    let end = buf
        .iter()
        .position(|&b| b == 0)
        .ok_or(ParseError::Truncated { field })?;
    let s = std::str::from_utf8(&buf[..end]).map_err(|_| ParseError::InvalidString { field })?;
    Ok((s, &buf[end + 1..]))
}

/// Iterates over `name\0value\0` pairs; an incomplete trailing pair is dropped.
fn option_pairs(mut rest: &[u8]) -> impl Iterator<Item = Result<(&str, &str), ParseError>> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let name = match cstr(rest, "option name") {
            Ok((n, r)) => {
                rest = r;
                n
            }
            Err(ParseError::Truncated { .. }) => return None,
            Err(e) => {
                rest = &[];
                return Some(Err(e));
            }
        };
        match cstr(rest, "option value") {
            Ok((v, r)) => {
                rest = r;
                Some(Ok((name, v)))
            }
            Err(ParseError::Truncated { .. }) => {
                rest = &[];
                None
            }
            Err(e) => {
                rest = &[];
                Some(Err(e))
            }
        }
    })
}

impl<'a> Request<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (filename, rest) = cstr(body, "filename")?;
        let (mode, rest) = cstr(rest, "mode")?;
        let mode = Mode::parse(mode)?;
        let mut options = Options::default();
        // A non-UTF-8 option cannot be one we know: skip it.
        for (name, value) in option_pairs(rest).flatten() {
            options.apply_request(name, value);
        }
        Ok(Request {
            filename,
            mode,
            options,
        })
    }

    fn buffer_len(&self) -> usize {
        self.filename.len() + 1 + self.mode.as_str().len() + 1 + self.options.buffer_len()
    }

    fn emit(&self, buf: &mut [u8]) -> usize {
        let mut pos = 0;
        for s in [self.filename, self.mode.as_str()] {
            buf[pos..pos + s.len()].copy_from_slice(s.as_bytes());
            pos += s.len();
            buf[pos] = 0;
            pos += 1;
        }
        pos + self.options.emit(&mut buf[pos..])
    }
}

impl<'a> Packet<'a> {
    /// Parses one datagram.
    ///
    /// Requests are read leniently (unknown options ignored, bad values
    /// dropped, see [`Options`]); an ERROR message that is not NUL-terminated
    /// or not UTF-8 is cut to its valid part. An OACK with an invalid value
    /// is an error, as RFC 2347 asks the client to refuse it.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        if buf.len() < 2 {
            return Err(ParseError::Truncated { field: "opcode" });
        }
        let op = u16::from_be_bytes([buf[0], buf[1]]);
        let body = &buf[2..];
        match op {
            opcode::RRQ => Ok(Packet::Rrq(Request::parse(body)?)),
            opcode::WRQ => Ok(Packet::Wrq(Request::parse(body)?)),
            opcode::DATA => {
                if body.len() < 2 {
                    return Err(ParseError::Truncated { field: "block" });
                }
                Ok(Packet::Data {
                    block: u16::from_be_bytes([body[0], body[1]]),
                    data: &body[2..],
                })
            }
            opcode::ACK => {
                if body.len() < 2 {
                    return Err(ParseError::Truncated { field: "block" });
                }
                // Some clients pad ACKs; RFC 1350 says nothing of trailing
                // bytes, so they are tolerated.
                Ok(Packet::Ack {
                    block: u16::from_be_bytes([body[0], body[1]]),
                })
            }
            opcode::ERROR => {
                if body.len() < 2 {
                    return Err(ParseError::Truncated {
                        field: "error code",
                    });
                }
                let code = ErrorCode::from(u16::from_be_bytes([body[0], body[1]]));
                let msg = &body[2..];
                let msg = &msg[..msg.iter().position(|&b| b == 0).unwrap_or(msg.len())];
                let message = match std::str::from_utf8(msg) {
                    Ok(s) => s,
                    Err(e) => std::str::from_utf8(&msg[..e.valid_up_to()]).unwrap_or_default(),
                };
                Ok(Packet::Error { code, message })
            }
            opcode::OACK => {
                let mut options = Options::default();
                for pair in option_pairs(body) {
                    let (name, value) = pair?;
                    options.apply_oack(name, value)?;
                }
                Ok(Packet::Oack(options))
            }
            n => Err(ParseError::UnknownOpcode(n)),
        }
    }

    /// The opcode of this packet.
    pub fn opcode(&self) -> u16 {
        match self {
            Packet::Rrq(_) => opcode::RRQ,
            Packet::Wrq(_) => opcode::WRQ,
            Packet::Data { .. } => opcode::DATA,
            Packet::Ack { .. } => opcode::ACK,
            Packet::Error { .. } => opcode::ERROR,
            Packet::Oack(_) => opcode::OACK,
        }
    }

    /// Bytes [`Packet::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        2 + match self {
            Packet::Rrq(r) | Packet::Wrq(r) => r.buffer_len(),
            Packet::Data { data, .. } => 2 + data.len(),
            Packet::Ack { .. } => 2,
            Packet::Error { message, .. } => 2 + message.len() + 1,
            Packet::Oack(o) => o.buffer_len(),
        }
    }

    /// Writes the packet into `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let need = self.buffer_len();
        if buf.len() < need {
            return Err(EmitError::BufferTooSmall {
                need,
                have: buf.len(),
            });
        }
        buf[..2].copy_from_slice(&self.opcode().to_be_bytes());
        let body = &mut buf[2..need];
        match self {
            Packet::Rrq(r) | Packet::Wrq(r) => {
                r.emit(body);
            }
            Packet::Data { block, data } => {
                body[..2].copy_from_slice(&block.to_be_bytes());
                body[2..].copy_from_slice(data);
            }
            Packet::Ack { block } => body.copy_from_slice(&block.to_be_bytes()),
            Packet::Error { code, message } => {
                body[..2].copy_from_slice(&code.code().to_be_bytes());
                body[2..2 + message.len()].copy_from_slice(message.as_bytes());
                body[2 + message.len()] = 0;
            }
            Packet::Oack(o) => {
                o.emit(body);
            }
        }
        Ok(need)
    }
}

/// Writes an ERROR packet, cutting the message so that it fits `buf`.
/// Returns the length written, or 0 if `buf` cannot hold even an empty one.
pub fn emit_error(code: ErrorCode, message: &str, buf: &mut [u8]) -> usize {
    if buf.len() < 5 {
        return 0;
    }
    let mut msg = &message[..message.len().min(buf.len() - 5)];
    while !message.is_char_boundary(msg.len()) {
        msg = &msg[..msg.len() - 1];
    }
    Packet::Error { code, message: msg }
        .emit(buf)
        .unwrap_or_default()
}

/// Writes the 4-byte header of a DATA packet; the payload follows at
/// [`DATA_HEADER_LEN`]. Lets a sender read file data straight into the
/// datagram buffer.
pub fn emit_data_header(block: u16, buf: &mut [u8; DATA_HEADER_LEN]) {
    buf[..2].copy_from_slice(&opcode::DATA.to_be_bytes());
    buf[2..].copy_from_slice(&block.to_be_bytes());
}

#[cfg(test)]
mod tests;
