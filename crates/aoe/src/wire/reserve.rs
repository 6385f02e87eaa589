//! Reserve/release (command 3, spec section 3.4).

use super::{truncated, wire_newtype, MacAddr};
use crate::{EmitError, ParseError};
use std::fmt;

wire_newtype! {
    /// The `rcmd` sub-command.
    ReserveCommand(u8) {
        /// Read the reserve list.
        READ = 0 => "read reserve list",
        /// Set the reserve list (only from a MAC on a non-empty list).
        SET = 1 => "set reserve list",
        /// Set the reserve list unconditionally.
        FORCE_SET = 2 => "force set reserve list",
    }
}

/// A list of MAC addresses, borrowed from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MacList<'a>(&'a [u8]);

impl<'a> MacList<'a> {
    /// Wraps encoded addresses; at most 255, 6 bytes each.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        if bytes.len() % 6 != 0 || bytes.len() / 6 > 255 {
            return Err(ParseError::InvalidValue {
                field: "mac list length",
                value: bytes.len() as u64,
            });
        }
        Ok(MacList(bytes))
    }
    /// Encodes addresses for [`MacList::new`].
    pub fn encode(macs: &[MacAddr]) -> Vec<u8> {
        macs.iter().flat_map(|m| m.0).collect()
    }
    /// The encoded addresses.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.0.len() / 6
    }
    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The addresses in wire order.
    pub fn iter(&self) -> impl Iterator<Item = MacAddr> + 'a {
        self.0.chunks_exact(6).map(MacAddr::from_slice)
    }
}

/// The 2-byte reserve/release header: `rcmd`, number of MACs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveHeader {
    /// Sub-command.
    pub rcmd: ReserveCommand,
}

impl ReserveHeader {
    /// Bytes of the header.
    pub const LEN: usize = 2;

    /// Parses the header and the addresses it declares.
    pub fn parse(b: &[u8]) -> Result<(ReserveHeader, MacList<'_>), ParseError> {
        if b.len() < Self::LEN {
            return Err(truncated("reserve header"));
        }
        let n = usize::from(b[1]) * 6;
        let m = b
            .get(Self::LEN..Self::LEN + n)
            .ok_or(truncated("reserve mac list"))?;
        Ok((
            ReserveHeader {
                rcmd: ReserveCommand(b[0]),
            },
            MacList(m),
        ))
    }

    /// Writes the header and addresses; returns the bytes written.
    pub fn emit(&self, m: MacList<'_>, b: &mut [u8]) -> Result<usize, EmitError> {
        let need = Self::LEN + m.0.len();
        if b.len() < need {
            return Err(EmitError::BufferTooSmall {
                need,
                have: b.len(),
            });
        }
        let count = u8::try_from(m.len()).map_err(|_| EmitError::InvalidValue {
            field: "mac count",
            value: m.len() as u64,
        })?;
        b[0] = self.rcmd.0;
        b[1] = count;
        b[Self::LEN..need].copy_from_slice(m.0);
        Ok(need)
    }
}
