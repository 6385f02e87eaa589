//! Query config information (command 1, spec section 3.2).

use super::{truncated, wire_newtype};
use crate::{EmitError, ParseError};
use std::fmt;

/// Longest config string (section 3.2).
pub const MAX_CONFIG_LEN: usize = 1024;

wire_newtype! {
    /// The `ccmd` sub-command (low nibble of byte 5).
    ConfigCommand(u8) {
        /// Read the config string.
        READ = 0 => "read",
        /// Answer only if the config string equals the request's.
        TEST_EXACT = 1 => "test exact",
        /// Answer only if the config string starts with the request's.
        TEST_PREFIX = 2 => "test prefix",
        /// Set the config string if it is empty.
        SET_IF_EMPTY = 3 => "set if empty",
        /// Set the config string unconditionally.
        FORCE_SET = 4 => "force set",
    }
}

/// The 8-byte query-config header; the config string follows it.
///
/// ```text
/// 0..2          2..4              4               5                 6..8
/// buffer count  firmware version  sectors/frame   aoe ver | ccmd    string length
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigHeader {
    /// Frames the target can queue (responses; 0 in requests).
    pub buffer_count: u16,
    /// Target firmware version.
    pub firmware_version: u16,
    /// Most sectors one ATA command may carry (`Sector Count` field).
    pub sectors_per_frame: u8,
    /// AoE version the target speaks (high nibble of byte 5).
    pub aoe_version: u8,
    /// Sub-command (low nibble of byte 5).
    pub ccmd: ConfigCommand,
}

impl ConfigHeader {
    /// Bytes of the header.
    pub const LEN: usize = 8;

    /// Parses the header and returns the config string it declares. Bytes
    /// after the string (Ethernet padding) are ignored.
    pub fn parse(b: &[u8]) -> Result<(ConfigHeader, &[u8]), ParseError> {
        if b.len() < Self::LEN {
            return Err(truncated("config header"));
        }
        let len = usize::from(u16::from_be_bytes([b[6], b[7]]));
        if len > MAX_CONFIG_LEN {
            return Err(ParseError::TooLong {
                field: "config string length",
                len,
                max: MAX_CONFIG_LEN,
            });
        }
        let s = b
            .get(Self::LEN..Self::LEN + len)
            .ok_or(truncated("config string"))?;
        Ok((
            ConfigHeader {
                buffer_count: u16::from_be_bytes([b[0], b[1]]),
                firmware_version: u16::from_be_bytes([b[2], b[3]]),
                sectors_per_frame: b[4],
                aoe_version: b[5] >> 4,
                ccmd: ConfigCommand(b[5] & 0x0f),
            },
            s,
        ))
    }

    /// Writes the header and `string` into `b`; returns the bytes written.
    pub fn emit(&self, string: &[u8], b: &mut [u8]) -> Result<usize, EmitError> {
        if string.len() > MAX_CONFIG_LEN {
            return Err(EmitError::TooLong {
                field: "config string length",
                len: string.len(),
                max: MAX_CONFIG_LEN,
            });
        }
        if self.aoe_version > 0x0f || self.ccmd.0 > 0x0f {
            return Err(EmitError::InvalidValue {
                field: "aoe version / ccmd",
                value: u64::from(self.aoe_version.max(self.ccmd.0)),
            });
        }
        let need = Self::LEN + string.len();
        if b.len() < need {
            return Err(EmitError::BufferTooSmall {
                need,
                have: b.len(),
            });
        }
        b[0..2].copy_from_slice(&self.buffer_count.to_be_bytes());
        b[2..4].copy_from_slice(&self.firmware_version.to_be_bytes());
        b[4] = self.sectors_per_frame;
        b[5] = (self.aoe_version << 4) | self.ccmd.0;
        // Fits: checked against MAX_CONFIG_LEN above.
        b[6..8].copy_from_slice(&(string.len() as u16).to_be_bytes());
        b[Self::LEN..need].copy_from_slice(string);
        Ok(need)
    }
}
