//! Framing PDUs out of a TCP byte stream (RFC 7143 §11.1), sans-IO.
//!
//! [`PduDecoder::decode`] looks at the 48-byte BHS, checks the opcode and
//! both length fields against the configured limits *before* it reserves
//! any memory, waits until the whole PDU is buffered, and then cuts it off
//! the buffer with `split_to(..).freeze()`, so the data segment is a slice
//! of the receive buffer and is never copied.
//!
//! ```
//! use bytes::BytesMut;
//! use netboot_iscsi::codec::PduDecoder;
//! use netboot_iscsi::wire::{Digests, NopIn, Pdu};
//! let mut stream = BytesMut::new();
//! Pdu::new(NopIn { itt: 1, ..NopIn::default() }).emit(&mut stream, Digests::default()).unwrap();
//! let mut tail = stream.split_off(20);
//! let mut dec = PduDecoder::default();
//! assert_eq!(dec.decode(&mut stream).unwrap(), None); // only 20 bytes so far
//! stream.unsplit(tail);
//! let pdu = dec.decode(&mut stream).unwrap().unwrap();
//! assert_eq!(pdu.header.itt(), 1);
//! assert!(stream.is_empty());
//! ```

use crate::wire::{
    raw_bhs, raw_lengths, raw_opcode, Bhs, Digests, Layout, Pdu, BHS_LEN, MAX_AHS_LEN,
};
use crate::{Error, ParseError};
use bytes::BytesMut;

/// MaxRecvDataSegmentLength during login and by default (RFC 7143 §13.12).
pub const DEFAULT_MAX_RECV_DATA_SEGMENT_LEN: usize = 8192;

/// Which PDUs a decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Both directions (tools, tests).
    #[default]
    Any,
    /// Only initiator PDUs (a target's decoder).
    FromInitiator,
    /// Only target PDUs (an initiator's decoder).
    FromTarget,
}

/// A sans-IO PDU framer with limits.
#[derive(Debug, Clone)]
pub struct PduDecoder {
    max_data_segment_len: usize,
    max_ahs_len: usize,
    digests: Digests,
    direction: Direction,
}

impl Default for PduDecoder {
    fn default() -> Self {
        PduDecoder::new(DEFAULT_MAX_RECV_DATA_SEGMENT_LEN)
    }
}

impl PduDecoder {
    /// A decoder accepting data segments up to `max_data_segment_len` bytes
    /// (our MaxRecvDataSegmentLength), AHS up to the protocol maximum, no
    /// digests, both directions.
    pub fn new(max_data_segment_len: usize) -> PduDecoder {
        PduDecoder {
            max_data_segment_len,
            max_ahs_len: MAX_AHS_LEN,
            digests: Digests::default(),
            direction: Direction::Any,
        }
    }

    /// Limits TotalAHSLength (bytes).
    pub fn with_max_ahs_len(mut self, max: usize) -> Self {
        self.max_ahs_len = max;
        self
    }

    /// Accepts only PDUs of one direction.
    pub fn with_direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Changes MaxRecvDataSegmentLength, e.g. after login.
    pub fn set_max_data_segment_len(&mut self, max: usize) {
        self.max_data_segment_len = max;
    }

    /// Switches digests, e.g. after the final Login Response. Applies from
    /// the next PDU taken from the buffer.
    pub fn set_digests(&mut self, digests: Digests) {
        self.digests = digests;
    }

    /// The digests in use.
    pub fn digests(&self) -> Digests {
        self.digests
    }

    /// Takes the next whole PDU off the front of `buf`, or returns
    /// `Ok(None)` if more bytes are needed (after reserving room for the
    /// rest of the PDU, whose size is then known to be within the limits).
    ///
    /// Fails with [`Error::Parse`] for a PDU that cannot be read (a
    /// reserved opcode, a length above the limits, a digest mismatch) and
    /// with [`Error::UnexpectedOpcode`] for one from the wrong
    /// [`Direction`]. After an error the stream is out of sync and the
    /// connection should be dropped (or a Reject sent and the connection
    /// closed).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Pdu>, Error> {
        if buf.len() < BHS_LEN {
            return Ok(None);
        }
        let bhs = raw_bhs(buf)?;
        let op = raw_opcode(&bhs);
        // Reject garbage as soon as the header is in, before waiting for
        // (and buffering) a body whose length came from garbage.
        Bhs::parse(&bhs)?;
        let from_initiator = op < 0x20;
        match self.direction {
            Direction::FromInitiator if !from_initiator => return Err(Error::UnexpectedOpcode(op)),
            Direction::FromTarget if from_initiator => return Err(Error::UnexpectedOpcode(op)),
            _ => {}
        }
        let (ahs_len, data_len) = raw_lengths(&bhs);
        if ahs_len > self.max_ahs_len {
            return Err(ParseError::AhsTooLong {
                len: ahs_len,
                max: self.max_ahs_len,
            }
            .into());
        }
        if data_len > self.max_data_segment_len {
            return Err(ParseError::DataSegmentTooLong {
                len: data_len,
                max: self.max_data_segment_len,
            }
            .into());
        }
        // Both lengths are bounded (1020 and 2^24), so this cannot overflow.
        let layout = Layout::new(ahs_len, data_len, self.digests);
        if buf.len() < layout.total {
            buf.reserve(layout.total - buf.len());
            return Ok(None);
        }
        let frame = buf.split_to(layout.total).freeze();
        Ok(Some(Pdu::parse(frame, self.digests)?))
    }
}
