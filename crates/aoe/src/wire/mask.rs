//! MAC mask list (command 2, spec section 3.3).

use super::{truncated, wire_newtype, MacAddr};
use crate::{EmitError, ParseError};
use std::fmt;

wire_newtype! {
    /// The `mcmd` sub-command.
    MaskCommand(u8) {
        /// Read the mask list.
        READ = 0 => "read",
        /// Apply the directives, then answer with the list.
        EDIT = 1 => "edit",
    }
}

wire_newtype! {
    /// The `merror` field of a response.
    MaskError(u8) {
        /// Success.
        NONE = 0 => "no error",
        /// Unspecified error.
        UNSPECIFIED = 1 => "unspecified error",
        /// A directive had an unknown `dcmd`.
        BAD_DIRECTIVE = 2 => "bad dcmd directive",
        /// The list is full.
        LIST_FULL = 3 => "mask list full",
    }
}

wire_newtype! {
    /// A directive's `dcmd`.
    DirectiveCommand(u8) {
        /// No directive (ignored).
        NONE = 0 => "no directive",
        /// Add the MAC to the list.
        ADD = 1 => "add mac",
        /// Delete the MAC from the list.
        DELETE = 2 => "delete mac",
    }
}

/// One 8-byte directive: reserved, `dcmd`, MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directive {
    /// What to do.
    pub dcmd: DirectiveCommand,
    /// With which address.
    pub mac: MacAddr,
}

impl Directive {
    /// Bytes of one directive.
    pub const LEN: usize = 8;

    /// Encodes directives for [`DirectiveList::new`].
    pub fn encode_list(ds: &[Directive]) -> Vec<u8> {
        let mut v = Vec::with_capacity(ds.len() * Self::LEN);
        for d in ds {
            v.push(0);
            v.push(d.dcmd.0);
            v.extend_from_slice(&d.mac.0);
        }
        v
    }
}

/// The directives of a MAC mask frame, borrowed from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectiveList<'a>(&'a [u8]);

impl<'a> DirectiveList<'a> {
    /// Wraps encoded directives; at most 255, 8 bytes each.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        if bytes.len() % Directive::LEN != 0 || bytes.len() / Directive::LEN > 255 {
            return Err(ParseError::InvalidValue {
                field: "directive list length",
                value: bytes.len() as u64,
            });
        }
        Ok(DirectiveList(bytes))
    }
    /// The encoded directives.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
    /// Number of directives.
    pub fn len(&self) -> usize {
        self.0.len() / Directive::LEN
    }
    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The directives in wire order.
    pub fn iter(&self) -> impl Iterator<Item = Directive> + 'a {
        self.0.chunks_exact(Directive::LEN).map(|c| Directive {
            dcmd: DirectiveCommand(c[1]),
            mac: MacAddr::from_slice(&c[2..8]),
        })
    }
}

/// The 4-byte MAC mask header: reserved, `mcmd`, `merror`, directive count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacMaskHeader {
    /// Sub-command.
    pub mcmd: MaskCommand,
    /// Error of a response.
    pub merror: MaskError,
}

impl MacMaskHeader {
    /// Bytes of the header.
    pub const LEN: usize = 4;

    /// Parses the header and the directives it declares.
    pub fn parse(b: &[u8]) -> Result<(MacMaskHeader, DirectiveList<'_>), ParseError> {
        if b.len() < Self::LEN {
            return Err(truncated("mac mask header"));
        }
        let n = usize::from(b[3]) * Directive::LEN;
        let d = b
            .get(Self::LEN..Self::LEN + n)
            .ok_or(truncated("mac mask directives"))?;
        Ok((
            MacMaskHeader {
                mcmd: MaskCommand(b[1]),
                merror: MaskError(b[2]),
            },
            DirectiveList(d),
        ))
    }

    /// Writes the header and directives; returns the bytes written.
    pub fn emit(&self, d: DirectiveList<'_>, b: &mut [u8]) -> Result<usize, EmitError> {
        let need = Self::LEN + d.0.len();
        if b.len() < need {
            return Err(EmitError::BufferTooSmall {
                need,
                have: b.len(),
            });
        }
        let count = u8::try_from(d.len()).map_err(|_| EmitError::InvalidValue {
            field: "directive count",
            value: d.len() as u64,
        })?;
        b[0] = 0;
        b[1] = self.mcmd.0;
        b[2] = self.merror.0;
        b[3] = count;
        b[Self::LEN..need].copy_from_slice(d.0);
        Ok(need)
    }
}
