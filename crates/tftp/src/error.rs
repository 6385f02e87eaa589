//! The crate's error type.

use crate::wire::ErrorCode;

/// Everything that can go wrong in this crate: parsing and emitting packets,
/// and running a transfer.
///
/// Parse errors name the field and, where there is one, the offending value.
/// Transfer errors map to the TFTP ERROR packet that is sent to the peer
/// (see [`Error::tftp_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram ended before `field` was complete.
    #[error("packet truncated in field `{field}`")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// The opcode is not one of RRQ, WRQ, DATA, ACK, ERROR, OACK.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    /// A string field is not valid UTF-8, or contains a forbidden character.
    #[error("field `{field}` is not a valid string")]
    InvalidString {
        /// The field being read.
        field: &'static str,
    },
    /// The transfer mode is neither `octet`, `netascii` nor `mail`.
    #[error("unknown transfer mode {0:?}")]
    UnknownMode(String),
    /// A packet has bytes after its last field.
    #[error("{0} trailing bytes after the last field")]
    TrailingBytes(usize),
    /// An option in an OACK has a value that is not a number or out of range.
    #[error("option `{name}` has invalid value {value:?}")]
    InvalidOption {
        /// Option name as sent.
        name: String,
        /// Option value as sent.
        value: String,
    },
    /// The output buffer cannot hold the packet.
    #[error("buffer of {have} bytes too small, {need} needed")]
    BufferTooSmall {
        /// Bytes the packet needs.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
    /// The peer sent an ERROR packet.
    #[error("peer sent ERROR {code}: {message}")]
    Peer {
        /// The error code the peer sent.
        code: ErrorCode,
        /// The peer's message.
        message: String,
    },
    /// The peer did not answer after all retransmissions.
    #[error("timed out after {retries} retransmissions")]
    Timeout {
        /// Retransmissions made before giving up.
        retries: u32,
    },
    /// The peer broke the protocol (wrong packet, oversized block, bad OACK).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Local I/O failed while reading or writing the file.
    #[error("I/O error: {0}")]
    Io(String),
    /// The transfer was refused by local policy (e.g. a write-only request
    /// on a read-only server); carries the code and message sent.
    #[error("refused with ERROR {code}: {message}")]
    Refused {
        /// Error code sent to the peer.
        code: ErrorCode,
        /// Message sent to the peer.
        message: String,
    },
    /// The transfer was cancelled locally (shutdown).
    #[error("transfer cancelled")]
    Cancelled,
}

impl Error {
    /// The TFTP error code to send to the peer when this error ends a transfer.
    pub fn tftp_code(&self) -> ErrorCode {
        match self {
            Error::UnknownMode(_) | Error::UnknownOpcode(_) | Error::Protocol(_) => {
                ErrorCode::IllegalOperation
            }
            Error::InvalidOption { .. } => ErrorCode::OptionNegotiation,
            Error::Refused { code, .. } => *code,
            Error::Peer { code, .. } => *code,
            Error::Truncated { .. } | Error::InvalidString { .. } | Error::TrailingBytes(_) => {
                ErrorCode::IllegalOperation
            }
            _ => ErrorCode::NotDefined,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
