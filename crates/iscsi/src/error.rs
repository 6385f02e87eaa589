//! The crate's errors: [`ParseError`] for a PDU or text data that cannot be
//! read, [`EmitError`] for a PDU that cannot be written, and [`Error`] for
//! what a login, a negotiation, a discovery exchange or a session ends with
//! (which carries the other two).
//!
//! Errors name the field and, where there is one, the offending value.
//! Login errors map to the Login Response status sent to the peer (see
//! [`Error::login_status`]).

use crate::login::LoginStatus;

/// A PDU (framing, header, AHS, digests) or text data (`key=value` syntax,
/// reassembled size) that cannot be read. Each variant names the field
/// and, where there is one, the offending value.
///
/// [`InvalidField`](Self::InvalidField) also comes from the layers above
/// the wire, when a field of a well-formed PDU has a value the login or the
/// session cannot accept (a Data-Out's Buffer Offset, a Login Response's
/// CSG).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input ended before `field` was complete.
    #[error("truncated in field `{field}`: {need} bytes needed, {have} available")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The opcode is reserved (RFC 7143 §11.2.1.2).
    #[error("reserved opcode {0:#04x}")]
    ReservedOpcode(u8),
    /// DataSegmentLength exceeds MaxRecvDataSegmentLength.
    #[error("DataSegmentLength {len} exceeds MaxRecvDataSegmentLength {max}")]
    DataSegmentTooLong {
        /// Declared length.
        len: usize,
        /// Negotiated limit.
        max: usize,
    },
    /// TotalAHSLength exceeds the configured limit.
    #[error("TotalAHSLength {len} bytes exceeds the limit of {max}")]
    AhsTooLong {
        /// Declared length in bytes.
        len: usize,
        /// Configured limit in bytes.
        max: usize,
    },
    /// A field has a value that is not allowed.
    #[error("field `{field}` has invalid value {value}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// The value as read.
        value: u64,
    },
    /// The header digest does not match the header.
    #[error("HeaderDigest mismatch: received {received:#010x}, computed {computed:#010x}")]
    HeaderDigest {
        /// Digest on the wire.
        received: u32,
        /// Digest computed over the header.
        computed: u32,
    },
    /// The data digest does not match the data segment.
    #[error("DataDigest mismatch: received {received:#010x}, computed {computed:#010x}")]
    DataDigest {
        /// Digest on the wire.
        received: u32,
        /// Digest computed over the data segment.
        computed: u32,
    },
    /// Text data is malformed (RFC 7143 §6.1).
    #[error("malformed text data: {reason}")]
    InvalidText {
        /// What is wrong.
        reason: &'static str,
    },
    /// Reassembled text data exceeds its bound.
    #[error("text data of {len} bytes exceeds the limit of {max}")]
    TextTooLong {
        /// Total bytes so far.
        len: usize,
        /// Configured limit.
        max: usize,
    },
}

/// A PDU that cannot be written. (PDUs are written into a growing
/// `BytesMut`, so a buffer is never too small.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// A value does not fit its wire field (TotalAHSLength, AHSLength,
    /// DataSegmentLength).
    #[error("field `{field}` cannot hold {value}")]
    FieldOverflow {
        /// The field.
        field: &'static str,
        /// The value that does not fit.
        value: u64,
    },
}

/// What a login, a negotiation, a discovery exchange or a session ends
/// with: a PDU or text that cannot be read or written, or the peer
/// breaking the protocol.
///
/// Each maps to the Login Response status a target sends when it ends a
/// login (see [`Error::login_status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A PDU or text data could not be read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A PDU could not be written.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// A PDU arrived from the wrong direction (e.g. a target opcode where an
    /// initiator PDU was expected), or is not the one expected here.
    #[error("unexpected opcode {0:#04x}")]
    UnexpectedOpcode(u8),
    /// A key has a value that cannot be parsed or is out of range.
    #[error("key `{key}` has invalid value {value:?}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as sent (truncated to 64 characters).
        value: String,
    },
    /// A key was sent twice in one negotiation (RFC 7143 §6.1).
    #[error("key `{0}` sent more than once")]
    DuplicateKey(String),
    /// A key is not allowed at this point of the login or session.
    #[error("key `{key}` not allowed: {reason}")]
    KeyNotAllowed {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// A required key is missing.
    #[error("required key `{0}` missing")]
    MissingKey(&'static str),
    /// The peer broke the login or negotiation protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Authentication failed (wrong user, wrong response, reflected
    /// challenge, unsupported algorithm).
    #[error("authentication failed: {0}")]
    AuthFailed(&'static str),
    /// The target refused the login with a non-success status.
    #[error("login refused with status {0}")]
    LoginRefused(LoginStatus),
}

impl Error {
    /// The Login Response status a target sends when this error ends a
    /// login (RFC 7143 §11.13.5): Initiator error for anything not listed
    /// below, parse and emit errors included.
    pub fn login_status(&self) -> LoginStatus {
        match self {
            Error::AuthFailed(_) => LoginStatus::AUTH_FAILURE,
            Error::MissingKey(_) => LoginStatus::MISSING_PARAMETER,
            Error::LoginRefused(s) => *s,
            _ => LoginStatus::INITIATOR_ERROR,
        }
    }

    pub(crate) fn invalid_value(key: &str, value: &str) -> Error {
        Error::InvalidValue {
            key: key.chars().take(64).collect(),
            value: value.chars().take(64).collect(),
        }
    }
}
