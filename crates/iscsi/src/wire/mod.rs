//! iSCSI PDUs on the wire (RFC 7143 §11).
//!
//! A PDU is a 48-byte Basic Header Segment ([`Bhs`]), optional Additional
//! Header Segments ([`Ahs`]), an optional header digest, a data segment
//! padded to 4 bytes and an optional data digest (§11.1). [`Pdu::parse`]
//! takes one whole framed PDU (see [`crate::codec`] for framing a byte
//! stream) and slices the data segment out of it without copying;
//! [`Pdu::emit`] appends a PDU to a `BytesMut`, deriving TotalAHSLength and
//! DataSegmentLength from what the PDU carries.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use netboot_iscsi::wire::{Digests, NopOut, Pdu};
//! let ping = Pdu::with_data(
//!     NopOut { immediate: true, itt: 7, ttt: 0xffff_ffff, ..NopOut::default() },
//!     Bytes::from_static(b"ping"),
//! );
//! let digests = Digests { header: true, data: true };
//! let mut buf = BytesMut::new();
//! ping.emit(&mut buf, digests).unwrap();
//! assert_eq!(buf.len(), 48 + 4 + 4 + 4);
//! assert_eq!(Pdu::parse(buf.freeze(), digests).unwrap(), ping);
//! ```

mod bhs;
mod enums;
#[cfg(test)]
mod tests;

pub use bhs::*;
pub use enums::*;

use crate::{EmitError, ParseError};
use bytes::{BufMut, Bytes, BytesMut};

/// Length of a CRC32C digest on the wire.
pub const DIGEST_LEN: usize = 4;

/// Largest TotalAHSLength in bytes (255 words of 4 bytes).
pub const MAX_AHS_LEN: usize = 255 * 4;

/// Largest DataSegmentLength (24 bits).
pub const MAX_DATA_SEGMENT_LEN: usize = 0x00ff_ffff;

/// Which CRC32C digests a connection uses (the negotiated HeaderDigest and
/// DataDigest, RFC 7143 §13.1). Both are off during login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digests {
    /// Header digest over the BHS and AHS.
    pub header: bool,
    /// Data digest over the padded data segment.
    pub data: bool,
}

/// CRC32C as iSCSI sends it: the CRC of RFC 3720 Appendix B.4, stored
/// least significant byte first (the byte order of the test vectors there).
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Bytes of padding after `len` bytes to reach a multiple of 4.
pub fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// An Additional Header Segment (RFC 7143 §11.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ahs {
    /// Extended CDB (AHSType 1): the CDB bytes beyond the first 16.
    ExtendedCdb(Bytes),
    /// Bidirectional Read Expected Data Transfer Length (AHSType 2).
    BidiReadLength(u32),
    /// Any other type, with the bytes that follow AHSType (AHSLength of
    /// them, starting with the AHS-specific byte).
    Unknown {
        /// AHSType.
        ahs_type: u8,
        /// AHS-specific bytes.
        data: Bytes,
    },
}

mod ahs_type {
    pub const EXTENDED_CDB: u8 = 1;
    pub const BIDI_READ_LENGTH: u8 = 2;
}

impl Ahs {
    /// AHSType and the bytes that AHSLength counts.
    fn parts(&self) -> (u8, usize) {
        match self {
            // A reserved byte precedes the CDB bytes.
            Ahs::ExtendedCdb(cdb) => (ahs_type::EXTENDED_CDB, cdb.len() + 1),
            Ahs::BidiReadLength(_) => (ahs_type::BIDI_READ_LENGTH, 5),
            Ahs::Unknown { ahs_type, data } => (*ahs_type, data.len()),
        }
    }

    /// Bytes the AHS takes on the wire, padding included.
    pub fn buffer_len(&self) -> usize {
        let n = 3 + self.parts().1;
        n + pad_len(n)
    }

    fn emit(&self, buf: &mut BytesMut) -> Result<(), EmitError> {
        let (t, len) = self.parts();
        let len16 = u16::try_from(len).map_err(|_| EmitError::FieldOverflow {
            field: "AHSLength",
            value: len as u64,
        })?;
        buf.put_u16(len16);
        buf.put_u8(t);
        match self {
            Ahs::ExtendedCdb(cdb) => {
                buf.put_u8(0);
                buf.put_slice(cdb);
            }
            Ahs::BidiReadLength(n) => {
                buf.put_u8(0);
                buf.put_u32(*n);
            }
            Ahs::Unknown { data, .. } => buf.put_slice(data),
        }
        buf.put_bytes(0, pad_len(3 + len));
        Ok(())
    }

    /// Parses all AHS in `ahs` (TotalAHSLength bytes).
    pub fn parse_all(mut ahs: Bytes) -> Result<Vec<Ahs>, ParseError> {
        let mut out = Vec::new();
        while !ahs.is_empty() {
            if ahs.len() < 3 {
                return Err(ParseError::Truncated {
                    field: "AHSLength",
                    need: 3,
                    have: ahs.len(),
                });
            }
            let len = usize::from(u16::from_be_bytes([ahs[0], ahs[1]]));
            let t = ahs[2];
            let end = 3 + len;
            if ahs.len() < end {
                return Err(ParseError::Truncated {
                    field: "AHS",
                    need: end,
                    have: ahs.len(),
                });
            }
            let body = ahs.slice(3..end);
            out.push(match t {
                ahs_type::EXTENDED_CDB if len >= 1 => Ahs::ExtendedCdb(body.slice(1..)),
                ahs_type::BIDI_READ_LENGTH if len == 5 => {
                    Ahs::BidiReadLength(u32::from_be_bytes([body[1], body[2], body[3], body[4]]))
                }
                ahs_type::EXTENDED_CDB | ahs_type::BIDI_READ_LENGTH => {
                    return Err(ParseError::InvalidField {
                        field: "AHSLength",
                        value: len as u64,
                    })
                }
                _ => Ahs::Unknown {
                    ahs_type: t,
                    data: body,
                },
            });
            // The last AHS may end without its padding only if the total
            // was not a multiple of 4, which TotalAHSLength rules out.
            let padded = end + pad_len(end);
            if ahs.len() < padded {
                return Err(ParseError::Truncated {
                    field: "AHS padding",
                    need: padded,
                    have: ahs.len(),
                });
            }
            let _ = ahs.split_to(padded);
        }
        Ok(out)
    }
}

/// A whole PDU: typed header, AHS and data segment (without padding).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pdu {
    /// The Basic Header Segment.
    pub header: Bhs,
    /// Additional Header Segments, in wire order.
    pub ahs: Vec<Ahs>,
    /// The data segment, without padding.
    pub data: Bytes,
}

impl Pdu {
    /// A PDU with no AHS and no data.
    pub fn new(header: impl Into<Bhs>) -> Pdu {
        Pdu {
            header: header.into(),
            ahs: Vec::new(),
            data: Bytes::new(),
        }
    }

    /// A PDU with a data segment and no AHS.
    pub fn with_data(header: impl Into<Bhs>, data: Bytes) -> Pdu {
        Pdu {
            header: header.into(),
            ahs: Vec::new(),
            data,
        }
    }

    /// TotalAHSLength in bytes.
    pub fn ahs_len(&self) -> usize {
        self.ahs.iter().map(Ahs::buffer_len).sum()
    }

    /// Bytes [`emit`](Self::emit) appends.
    pub fn buffer_len(&self, digests: Digests) -> usize {
        let mut n = BHS_LEN + self.ahs_len();
        if digests.header {
            n += DIGEST_LEN;
        }
        if !self.data.is_empty() {
            n += self.data.len() + pad_len(self.data.len());
            if digests.data {
                n += DIGEST_LEN;
            }
        }
        n
    }

    /// Appends the PDU to `buf`. Fails if the AHS or the data segment do
    /// not fit their length fields; `buf` is unchanged then.
    pub fn emit(&self, buf: &mut BytesMut, digests: Digests) -> Result<(), EmitError> {
        let ahs_len = self.ahs_len();
        if ahs_len > MAX_AHS_LEN {
            return Err(EmitError::FieldOverflow {
                field: "TotalAHSLength",
                value: ahs_len as u64,
            });
        }
        let mut bhs = [0u8; BHS_LEN];
        self.header.emit(&mut bhs);
        put_lengths(&mut bhs, ahs_len, self.data.len())?;
        for a in &self.ahs {
            if a.parts().1 > usize::from(u16::MAX) {
                return Err(EmitError::FieldOverflow {
                    field: "AHSLength",
                    value: a.parts().1 as u64,
                });
            }
        }
        buf.reserve(self.buffer_len(digests));
        let start = buf.len();
        buf.put_slice(&bhs);
        for a in &self.ahs {
            a.emit(buf)?;
        }
        if digests.header {
            let crc = crc32c(&buf[start..]);
            buf.put_u32_le(crc);
        }
        if !self.data.is_empty() {
            let data_start = buf.len();
            buf.put_slice(&self.data);
            buf.put_bytes(0, pad_len(self.data.len()));
            if digests.data {
                let crc = crc32c(&buf[data_start..]);
                buf.put_u32_le(crc);
            }
        }
        Ok(())
    }

    /// Parses one whole PDU. `frame` must hold exactly the PDU (as cut by
    /// [`crate::codec::PduDecoder`]); digests are verified when enabled.
    pub fn parse(frame: Bytes, digests: Digests) -> Result<Pdu, ParseError> {
        let bhs = raw_bhs(&frame)?;
        let header = Bhs::parse(&bhs)?;
        let (ahs_len, data_len) = raw_lengths(&bhs);
        let layout = Layout::new(ahs_len, data_len, digests);
        if frame.len() != layout.total {
            return Err(if frame.len() < layout.total {
                ParseError::Truncated {
                    field: "PDU",
                    need: layout.total,
                    have: frame.len(),
                }
            } else {
                ParseError::InvalidField {
                    field: "PDU length",
                    value: frame.len() as u64,
                }
            });
        }
        if digests.header {
            let end = BHS_LEN + ahs_len;
            let received = read_le32(&frame, end);
            let computed = crc32c(&frame[..end]);
            if received != computed {
                return Err(ParseError::HeaderDigest { received, computed });
            }
        }
        if digests.data && data_len > 0 {
            let padded = data_len + pad_len(data_len);
            let received = read_le32(&frame, layout.data_start + padded);
            let computed = crc32c(&frame[layout.data_start..layout.data_start + padded]);
            if received != computed {
                return Err(ParseError::DataDigest { received, computed });
            }
        }
        let ahs = Ahs::parse_all(frame.slice(BHS_LEN..BHS_LEN + ahs_len))?;
        let data = frame.slice(layout.data_start..layout.data_start + data_len);
        Ok(Pdu { header, ahs, data })
    }
}

/// Copies the BHS out of the first 48 bytes of `b`.
pub(crate) fn raw_bhs(b: &[u8]) -> Result<RawBhs, ParseError> {
    let mut bhs = [0u8; BHS_LEN];
    match b.get(..BHS_LEN) {
        Some(s) => {
            bhs.copy_from_slice(s);
            Ok(bhs)
        }
        None => Err(ParseError::Truncated {
            field: "BHS",
            need: BHS_LEN,
            have: b.len(),
        }),
    }
}

fn read_le32(b: &[u8], at: usize) -> u32 {
    // Callers checked the frame length against the layout.
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// Where the parts of a PDU start, from its length fields. All values are
/// bounded (AHS ≤ 1020, data < 2^24), so the sums cannot overflow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub data_start: usize,
    pub total: usize,
}

impl Layout {
    pub(crate) fn new(ahs_len: usize, data_len: usize, digests: Digests) -> Layout {
        let mut data_start = BHS_LEN + ahs_len;
        if digests.header {
            data_start += DIGEST_LEN;
        }
        let mut total = data_start;
        if data_len > 0 {
            total += data_len + pad_len(data_len);
            if digests.data {
                total += DIGEST_LEN;
            }
        }
        Layout { data_start, total }
    }
}
