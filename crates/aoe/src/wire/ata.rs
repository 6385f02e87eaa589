//! The ATA command arguments (command 0, spec section 3.1).

use super::truncated;
use crate::{EmitError, ParseError};
use std::fmt;

/// The `aflags` byte of an ATA command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AtaFlags(pub u8);

impl AtaFlags {
    /// E: LBA48 extended command (all six LBA bytes are used).
    pub const EXTENDED: u8 = 0x40;
    /// D: the device/head register's DEV bit.
    pub const DEVICE: u8 = 0x10;
    /// A: asynchronous write (the target may answer before the data is
    /// written).
    pub const ASYNC: u8 = 0x02;
    /// W: the command writes data to the device.
    pub const WRITE: u8 = 0x01;

    /// True if the E bit is set.
    pub fn extended(self) -> bool {
        self.0 & Self::EXTENDED != 0
    }
    /// True if the D bit is set.
    pub fn device(self) -> bool {
        self.0 & Self::DEVICE != 0
    }
    /// True if the A bit is set.
    pub fn asynchronous(self) -> bool {
        self.0 & Self::ASYNC != 0
    }
    /// True if the W bit is set.
    pub fn write(self) -> bool {
        self.0 & Self::WRITE != 0
    }
}

/// The ATA status register.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AtaStatus(pub u8);

impl AtaStatus {
    /// ERR: the command failed; see the error register.
    pub const ERR: u8 = 0x01;
    /// DRQ: data request.
    pub const DRQ: u8 = 0x08;
    /// DF: device fault.
    pub const DF: u8 = 0x20;
    /// DRDY: device ready.
    pub const DRDY: u8 = 0x40;
    /// BSY: busy.
    pub const BSY: u8 = 0x80;

    /// True if ERR is set.
    pub fn is_err(self) -> bool {
        self.0 & Self::ERR != 0
    }
}

impl fmt::Debug for AtaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AtaStatus({:#04x})", self.0)
    }
}

impl fmt::Display for AtaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x}", self.0)
    }
}

/// The 12-byte ATA argument header. Data (sectors) follows it.
///
/// ```text
/// 0       1            2             3           4..10        10..12
/// aflags  err/feature  sector count  cmd/status  LBA0..LBA5   reserved
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtaHeader {
    /// E, D, A and W flags.
    pub aflags: AtaFlags,
    /// Error register in responses, feature register in requests.
    pub err_feature: u8,
    /// Sector count register.
    pub sector_count: u8,
    /// Status register in responses, command register in requests.
    pub cmd_status: u8,
    /// The six LBA bytes as a 48-bit number (LBA0 is the least significant).
    /// For non-extended commands the target uses only the low 28 bits; the
    /// upper bits of byte 3 carry the device register's LBA/DEV bits.
    pub lba: u64,
}

impl AtaHeader {
    /// Bytes of the header.
    pub const LEN: usize = 12;
    /// Largest LBA field value (48 bits).
    pub const MAX_LBA: u64 = (1 << 48) - 1;

    /// Parses the header from the start of `b`.
    pub fn parse(b: &[u8]) -> Result<AtaHeader, ParseError> {
        if b.len() < Self::LEN {
            return Err(truncated("ata header"));
        }
        let mut lba = [0u8; 8];
        lba[..6].copy_from_slice(&b[4..10]);
        Ok(AtaHeader {
            aflags: AtaFlags(b[0]),
            err_feature: b[1],
            sector_count: b[2],
            cmd_status: b[3],
            lba: u64::from_le_bytes(lba),
        })
    }

    /// Writes the header into the first 12 bytes of `b`.
    pub fn emit(&self, b: &mut [u8]) -> Result<(), EmitError> {
        if b.len() < Self::LEN {
            return Err(EmitError::BufferTooSmall {
                need: Self::LEN,
                have: b.len(),
            });
        }
        if self.lba > Self::MAX_LBA {
            return Err(EmitError::InvalidValue {
                field: "lba",
                value: self.lba,
            });
        }
        b[0] = self.aflags.0;
        b[1] = self.err_feature;
        b[2] = self.sector_count;
        b[3] = self.cmd_status;
        b[4..10].copy_from_slice(&self.lba.to_le_bytes()[..6]);
        b[10] = 0;
        b[11] = 0;
        Ok(())
    }
}
