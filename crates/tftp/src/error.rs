//! The crate's errors: [`ParseError`] for a packet that cannot be read,
//! [`EmitError`] for one that cannot be written, and [`Error`] for what ends
//! a transfer (which carries the other two, I/O failures with their
//! [`std::io::Error`] as the source, and the peer's own ERROR).

use std::sync::Arc;

use crate::wire::ErrorCode;

/// A datagram that is not a TFTP packet. Each variant names the field and,
/// where there is one, the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
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
    /// An option in an OACK has a value that is not a number, out of range,
    /// or more than the client asked for.
    #[error("option `{name}` has invalid value {value:?}")]
    InvalidOption {
        /// Option name as sent.
        name: String,
        /// Option value as sent.
        value: String,
    },
}

impl ParseError {
    /// The TFTP error code that answers a packet this bad: option
    /// negotiation (8) for a bad option, illegal operation (4) otherwise.
    pub fn tftp_code(&self) -> ErrorCode {
        match self {
            ParseError::InvalidOption { .. } => ErrorCode::OptionNegotiation,
            _ => ErrorCode::IllegalOperation,
        }
    }
}

/// A packet that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer cannot hold the packet.
    #[error("buffer of {have} bytes too small, {need} needed")]
    BufferTooSmall {
        /// Bytes the packet needs.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
}

/// What ends a transfer, or a client's call.
///
/// Each maps to the TFTP ERROR packet sent to the peer (see
/// [`Error::tftp_code`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer sent a datagram that is not a TFTP packet.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A packet could not be written (the caller's buffer is too small).
    #[error(transparent)]
    Emit(#[from] EmitError),
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
    /// The peer broke the protocol (wrong packet, oversized block).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Local I/O failed: reading or writing the file, or the socket.
    #[error("{op}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `finish`, `socket`...).
        op: &'static str,
        /// The operating system's error (shared, so that the error stays
        /// `Clone`).
        #[source]
        source: Arc<std::io::Error>,
    },
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
    /// An I/O error while doing `op`.
    pub fn io(op: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            op,
            source: Arc::new(source),
        }
    }

    /// The TFTP error code to send to the peer when this error ends a transfer.
    pub fn tftp_code(&self) -> ErrorCode {
        match self {
            Error::Parse(e) => e.tftp_code(),
            Error::Protocol(_) => ErrorCode::IllegalOperation,
            Error::Refused { code, .. } | Error::Peer { code, .. } => *code,
            _ => ErrorCode::NotDefined,
        }
    }
}

/// Two errors are equal when they say the same; I/O errors compare by
/// operation and [`std::io::ErrorKind`] (an `std::io::Error` itself has no
/// equality).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        use Error::*;
        match (self, other) {
            (Parse(a), Parse(b)) => a == b,
            (Emit(a), Emit(b)) => a == b,
            (
                Peer {
                    code: a,
                    message: m,
                },
                Peer {
                    code: b,
                    message: n,
                },
            )
            | (
                Refused {
                    code: a,
                    message: m,
                },
                Refused {
                    code: b,
                    message: n,
                },
            ) => a == b && m == n,
            (Timeout { retries: a }, Timeout { retries: b }) => a == b,
            (Protocol(a), Protocol(b)) => a == b,
            (Io { op: a, source: s }, Io { op: b, source: t }) => a == b && s.kind() == t.kind(),
            (Cancelled, Cancelled) => true,
            _ => false,
        }
    }
}

impl Eq for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io("I/O", e)
    }
}
