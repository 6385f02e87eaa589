//! The crate's errors: [`ParseError`] for a frame that cannot be read,
//! [`EmitError`] for one that cannot be written, and [`Error`] for what a
//! client request or a target's configuration ends with (which carries the
//! other two).
//!
//! Target-side protocol errors never surface here: the target maps them to
//! the AoE error field or to ATA status/error registers in its reply.

use crate::wire::{AtaStatus, ErrorCode};

/// A frame (or a MAC address in text) that cannot be read. Each variant
/// names the field and, where there is one, the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The frame ended before `field` was complete.
    #[error("frame truncated in field `{field}`")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// The Ethernet type is not 0x88A2.
    #[error("ethertype {0:#06x} is not AoE (0x88a2)")]
    Ethertype(u16),
    /// A field holds a value the format cannot carry.
    #[error("field `{field}` has invalid value {value}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value (widened).
        value: u64,
    },
    /// A declared length is above the protocol's cap.
    #[error("field `{field}` declares {len} bytes, at most {max} allowed")]
    TooLong {
        /// The length field.
        field: &'static str,
        /// The declared length.
        len: usize,
        /// The cap.
        max: usize,
    },
}

/// A frame that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer cannot hold the frame.
    #[error("buffer of {have} bytes too small, {need} needed")]
    BufferTooSmall {
        /// Bytes the frame needs.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
    /// A field would need a value the format cannot carry.
    #[error("field `{field}` cannot carry {value}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value (widened).
        value: u64,
    },
    /// A list or string is longer than its field can say.
    #[error("field `{field}` cannot carry {len} bytes, at most {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The length given.
        len: usize,
        /// The cap.
        max: usize,
    },
}

/// What a client request or a target's configuration ends with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame could not be read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A frame could not be written.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// A target's configuration cannot be served (an MTU too small for one
    /// sector, a broadcast address, a config string that does not fit).
    #[error("{field} {value}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// Its value, as given.
        value: String,
        /// Why it cannot be served.
        reason: &'static str,
    },
    /// The target answered with the AoE error flag set.
    #[error("target answered AoE error {0}")]
    Aoe(ErrorCode),
    /// The target answered with the ATA ERR status bit set.
    #[error(
        "ATA command failed: {}; status {status}, error register {error:#04x}",
        crate::ata::err::describe(*.error)
    )]
    Ata {
        /// The status register.
        status: AtaStatus,
        /// The error register (ABRT 0x04, IDNF 0x10, ...; see
        /// [`crate::ata::err::describe`]).
        error: u8,
    },
    /// The target did not answer after all retransmissions.
    #[error("timed out after {retries} retransmissions")]
    Timeout {
        /// Retransmissions made before giving up.
        retries: u32,
    },
    /// A request the client cannot make (no target, bad range, odd length).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
}
