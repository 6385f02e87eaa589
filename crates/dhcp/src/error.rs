//! The crate's errors: [`ParseError`] for a message or option that cannot
//! be read, [`EmitError`] for one that cannot be written, [`PolicyError`]
//! for a boot policy that cannot be used, and [`Error`], which carries any
//! of them (what the policy's decisions return).

use std::fmt;

/// Where in a DHCP message an option was found (RFC 2131 §4.1: the options
/// area, then `file` and `sname` when option 52 overloads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    /// The options area after the magic cookie.
    Options,
    /// The 128-byte `file` field, overloaded by option 52.
    File,
    /// The 64-byte `sname` field, overloaded by option 52.
    Sname,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Area::Options => "options",
            Area::File => "file",
            Area::Sname => "sname",
        })
    }
}

/// A DHCP message or option that cannot be read. Each variant names the
/// field or option code and the byte offset (from the start of the DHCP
/// payload) where the problem is, so a daemon can log one line and drop the
/// datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The datagram ended inside the fixed BOOTP header.
    #[error("message truncated in field `{field}`: {len} bytes, {need} needed")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes in the datagram.
        len: usize,
        /// Bytes the field needs.
        need: usize,
    },
    /// The magic cookie at offset 236 is not 99.130.83.99.
    #[error("field `magic cookie` at offset 236 is {0:?}, expected [99, 130, 83, 99]")]
    BadCookie([u8; 4]),
    /// An option's length byte or value runs past the end of its area.
    #[error("option {code} at offset {offset} runs past the end of the {area} area")]
    OptionTruncated {
        /// Option code.
        code: u8,
        /// Offset of the option's code byte.
        offset: usize,
        /// The area it is in.
        area: Area,
    },
    /// An area has no end option (255).
    #[error("the {area} area has no end option (255)")]
    MissingEnd {
        /// The area without end.
        area: Area,
    },
    /// Option 52 inside an overloaded `file`/`sname` field (a loop).
    #[error("option 52 (overload) at offset {offset} inside the overloaded {area} field")]
    OverloadLoop {
        /// Offset of the option's code byte.
        offset: usize,
        /// The area it is in.
        area: Area,
    },
    /// Option 52 appears more than once.
    #[error("option 52 (overload) repeated at offset {offset}")]
    DuplicateOverload {
        /// Offset of the second option 52.
        offset: usize,
    },
    /// Option 52 has a value other than 1, 2 or 3.
    #[error("option 52 (overload) at offset {offset} has value {value}, expected 1, 2 or 3")]
    InvalidOverload {
        /// The value sent.
        value: u8,
        /// Offset of the option's code byte.
        offset: usize,
    },
    /// An option's (concatenated) value has a length its type does not allow.
    #[error("option {code} at offset {offset} has length {len}, expected {expected}")]
    InvalidOptionLength {
        /// Option code.
        code: u8,
        /// Offset of the option's first instance.
        offset: usize,
        /// Length of the (concatenated) value.
        len: usize,
        /// What the type allows, e.g. `"4"` or `"a multiple of 4"`.
        expected: &'static str,
    },
    /// An option's value is malformed (e.g. a UUID of type other than 0).
    #[error("option {code} at offset {offset} is malformed: {reason}")]
    InvalidOptionValue {
        /// Option code.
        code: u8,
        /// Offset of the option's first instance.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An encapsulated sub-option (of option 43 or 175) runs past the end
    /// of its option's value, or has the wrong length.
    #[error("sub-option {code}.{sub} at offset {offset} of the option value is malformed")]
    InvalidSubOption {
        /// The encapsulating option (43 or 175).
        code: u8,
        /// The sub-option code.
        sub: u8,
        /// Offset of the sub-option inside the encapsulating value.
        offset: usize,
    },
}

/// A message or option that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer cannot hold the message.
    #[error("buffer of {have} bytes too small, {need} needed")]
    BufferTooSmall {
        /// Bytes the message needs.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
    /// A value does not fit its fixed-size field (`sname`, `file`) or
    /// encoding (e.g. a sub-option longer than 255 bytes).
    #[error("field `{field}` is {len} bytes, at most {max} fit")]
    TooLong {
        /// The field or sub-option.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Codes 0 (pad), 52 (overload, written by the emitter itself) and 255
    /// (end) cannot be emitted as ordinary options.
    #[error("option code {0} cannot be emitted as an ordinary option")]
    ReservedCode(u8),
}

/// A boot policy (or a name in it) that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// An architecture name in a policy or on a command line is unknown.
    #[error("unknown client architecture {0:?}")]
    UnknownArch(String),
    /// An iPXE feature name in a policy is unknown.
    #[error("unknown iPXE feature {0:?}")]
    UnknownFeature(String),
    /// A policy rule cannot produce a boot file.
    #[error("policy rule {index} has neither `boot_file` nor `script_url`")]
    EmptyRule {
        /// Index of the rule in the table.
        index: usize,
    },
    /// An HTTP boot rule (`http = true`) gives something other than an
    /// `http://` or `https://` URL.
    #[error("policy rule {index} is for HTTP boot clients but its boot_file/script_url is not an http:// or https:// URL")]
    HttpRuleWithoutUrl {
        /// Index of the rule in the table.
        index: usize,
    },
}

/// Any of the crate's errors: what the policy's decisions return (they
/// read the request, and build the reply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The reply could not be written.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The policy cannot be used.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}
