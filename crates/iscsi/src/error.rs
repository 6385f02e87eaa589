//! The crate's error type.

use crate::login::LoginStatus;

/// Everything that can go wrong in this crate: framing, parsing and emitting
/// PDUs, text key=value data, negotiation and login.
///
/// Errors name the field and, where there is one, the offending value. Login
/// errors map to the Login Response status sent to the peer (see
/// [`Error::login_status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// A PDU arrived from the wrong direction (e.g. a target opcode where an
    /// initiator PDU was expected).
    #[error("unexpected opcode {0:#04x}")]
    UnexpectedOpcode(u8),
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
    /// A value does not fit its wire field when emitting.
    #[error("field `{field}` cannot hold {value}")]
    FieldOverflow {
        /// The field.
        field: &'static str,
        /// The value that does not fit.
        value: u64,
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
    /// The output buffer cannot hold the PDU.
    #[error("buffer of {have} bytes too small, {need} needed")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

impl Error {
    /// The Login Response status a target sends when this error ends a
    /// login (RFC 7143 §11.13.5).
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
