//! Sense data (SPC-4 4.5): fixed (0x70) and descriptor (0x72) formats.

/// A sense key (SPC-4 table 27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SenseKey {
    /// No error to report.
    NoSense = 0x0,
    /// The command completed with recovery.
    RecoveredError = 0x1,
    /// The logical unit cannot be accessed (no medium, not started).
    NotReady = 0x2,
    /// An unrecoverable error of the medium (backend I/O failed).
    MediumError = 0x3,
    /// A hardware failure of the target.
    HardwareError = 0x4,
    /// Something in the CDB or parameter list is wrong.
    IllegalRequest = 0x5,
    /// A unit attention condition is reported.
    UnitAttention = 0x6,
    /// Writes are refused (write protected).
    DataProtect = 0x7,
    /// The command was aborted by the device server.
    AbortedCommand = 0xb,
    /// Data on the medium differs from the data sent.
    Miscompare = 0xe,
}

/// A "sense-key specific" field pointer (SPC-4 4.5.2.4.2): which CDB or
/// parameter-list byte (and optionally bit) is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldPointer {
    /// True if the byte is in the CDB, false if in the parameter list.
    pub in_cdb: bool,
    /// Byte offset of the invalid field.
    pub byte: u16,
    /// Bit (0..=7) of the invalid field's most significant bit, if known.
    pub bit: Option<u8>,
}

/// A SCSI error condition, rendered into sense bytes by [`Sense::to_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sense {
    /// Sense key.
    pub key: SenseKey,
    /// Additional sense code.
    pub asc: u8,
    /// Additional sense code qualifier.
    pub ascq: u8,
    /// INFORMATION field (an LBA, or a byte offset for MISCOMPARE).
    pub information: Option<u64>,
    /// Sense-key specific field pointer for ILLEGAL REQUEST.
    pub field_pointer: Option<FieldPointer>,
}

/// Fixed-format sense data length produced by [`Sense::to_bytes`].
pub const FIXED_LEN: usize = 18;

impl Sense {
    /// A sense without information or field pointer.
    pub const fn new(key: SenseKey, asc: u8, ascq: u8) -> Sense {
        Sense {
            key,
            asc,
            ascq,
            information: None,
            field_pointer: None,
        }
    }

    /// ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (0x20/0x00).
    pub const fn invalid_opcode() -> Sense {
        Sense::new(SenseKey::IllegalRequest, 0x20, 0x00)
    }

    /// ILLEGAL REQUEST, INVALID FIELD IN CDB (0x24/0x00) pointing at
    /// `byte` (and `bit`, if given) of the CDB.
    pub const fn invalid_field_in_cdb(byte: u16, bit: Option<u8>) -> Sense {
        Sense::new(SenseKey::IllegalRequest, 0x24, 0x00).with_pointer(true, byte, bit)
    }

    /// ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST (0x26/0x00)
    /// pointing at `byte` of the parameter list.
    pub const fn invalid_field_in_param(byte: u16, bit: Option<u8>) -> Sense {
        Sense::new(SenseKey::IllegalRequest, 0x26, 0x00).with_pointer(false, byte, bit)
    }

    /// ILLEGAL REQUEST, PARAMETER LIST LENGTH ERROR (0x1A/0x00).
    pub const fn param_list_length() -> Sense {
        Sense::new(SenseKey::IllegalRequest, 0x1a, 0x00)
    }

    /// ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00).
    pub const fn lba_out_of_range() -> Sense {
        Sense::new(SenseKey::IllegalRequest, 0x21, 0x00)
    }

    /// ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (0x25/0x00).
    pub const fn lun_not_supported() -> Sense {
        Sense::new(SenseKey::IllegalRequest, 0x25, 0x00)
    }

    /// DATA PROTECT, WRITE PROTECTED (0x27/0x00).
    pub const fn write_protected() -> Sense {
        Sense::new(SenseKey::DataProtect, 0x27, 0x00)
    }

    /// DATA PROTECT, SOFTWARE WRITE PROTECTED (0x27/0x02): the SWP bit of
    /// the control mode page is set.
    pub const fn software_write_protected() -> Sense {
        Sense::new(SenseKey::DataProtect, 0x27, 0x02)
    }

    /// DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (0x27/0x07): a
    /// thin disk (or the storage under it) has no space for the write.
    pub const fn space_allocation_failed() -> Sense {
        Sense::new(SenseKey::DataProtect, 0x27, 0x07)
    }

    /// MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION (0x1D/0x00) with the
    /// byte offset of the first difference in the INFORMATION field.
    pub const fn miscompare(offset: u64) -> Sense {
        Sense::new(SenseKey::Miscompare, 0x1d, 0x00).with_information(offset)
    }

    /// MEDIUM ERROR, UNRECOVERED READ ERROR (0x11/0x00).
    pub const fn read_error() -> Sense {
        Sense::new(SenseKey::MediumError, 0x11, 0x00)
    }

    /// MEDIUM ERROR, WRITE ERROR (0x0C/0x00).
    pub const fn write_error() -> Sense {
        Sense::new(SenseKey::MediumError, 0x0c, 0x00)
    }

    /// HARDWARE ERROR, INTERNAL TARGET FAILURE (0x44/0x00).
    pub const fn internal_failure() -> Sense {
        Sense::new(SenseKey::HardwareError, 0x44, 0x00)
    }

    /// NOT READY, MEDIUM NOT PRESENT (0x3A/0x00).
    pub const fn medium_not_present() -> Sense {
        Sense::new(SenseKey::NotReady, 0x3a, 0x00)
    }

    /// ABORTED COMMAND, DATA PHASE ERROR (0x4B/0x00): less Data-Out than the
    /// CDB asks for.
    pub const fn data_phase_error() -> Sense {
        Sense::new(SenseKey::AbortedCommand, 0x4b, 0x00)
    }

    /// Adds a field pointer.
    pub const fn with_pointer(mut self, in_cdb: bool, byte: u16, bit: Option<u8>) -> Sense {
        self.field_pointer = Some(FieldPointer { in_cdb, byte, bit });
        self
    }

    /// Adds the INFORMATION field.
    pub const fn with_information(mut self, info: u64) -> Sense {
        self.information = Some(info);
        self
    }

    /// Sense-key specific bytes (3 bytes, SKSV set) for the field pointer.
    fn sks(&self) -> Option<[u8; 3]> {
        let fp = self.field_pointer?;
        let mut b0 = 0x80;
        if fp.in_cdb {
            b0 |= 0x40;
        }
        if let Some(bit) = fp.bit {
            b0 |= 0x08 | (bit & 0x07);
        }
        let [hi, lo] = fp.byte.to_be_bytes();
        Some([b0, hi, lo])
    }

    /// Renders the sense data: descriptor format (response code 0x72) if
    /// `descriptor`, else fixed format (0x70, 18 bytes). In fixed format an
    /// INFORMATION value above 32 bits is dropped (VALID clear).
    pub fn to_bytes(&self, descriptor: bool) -> Vec<u8> {
        if descriptor {
            let mut v = vec![0x72, self.key as u8, self.asc, self.ascq, 0, 0, 0, 0];
            if let Some(info) = self.information {
                // Information descriptor (type 0x00), VALID set.
                v.extend_from_slice(&[0x00, 0x0a, 0x80, 0x00]);
                v.extend_from_slice(&info.to_be_bytes());
            }
            if let Some(sks) = self.sks() {
                // Sense-key specific descriptor (type 0x02).
                v.extend_from_slice(&[0x02, 0x06, 0x00, 0x00]);
                v.extend_from_slice(&sks);
                v.push(0);
            }
            // The descriptors above are at most 20 bytes.
            v[7] = (v.len() - 8) as u8;
            v
        } else {
            let mut v = vec![0u8; FIXED_LEN];
            v[0] = 0x70;
            v[2] = self.key as u8;
            if let Some(info) = self.information {
                if let Ok(info) = u32::try_from(info) {
                    v[0] |= 0x80;
                    v[3..7].copy_from_slice(&info.to_be_bytes());
                }
            }
            v[7] = (FIXED_LEN - 8) as u8;
            v[12] = self.asc;
            v[13] = self.ascq;
            if let Some(sks) = self.sks() {
                v[15..18].copy_from_slice(&sks);
            }
            v
        }
    }

    /// Parses the key, ASC and ASCQ back out of fixed or descriptor sense
    /// bytes (for tests and transports that log sense data).
    pub fn parse_key_asc(bytes: &[u8]) -> Option<(u8, u8, u8)> {
        match bytes.first()? & 0x7f {
            0x70 | 0x71 => Some((*bytes.get(2)? & 0x0f, *bytes.get(12)?, *bytes.get(13)?)),
            0x72 | 0x73 => Some((*bytes.get(1)? & 0x0f, *bytes.get(2)?, *bytes.get(3)?)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What transports used to write by hand (iscsid's answer to SCSI in
    /// a discovery session, the iSCSI session's refusal of an oversized
    /// transfer): the same 18 bytes.
    #[test]
    fn test_emit_fixed_plain() {
        let mut want = [0u8; 18];
        want[0] = 0x70;
        want[2] = 0x05;
        want[7] = 10;
        want[12] = 0x20;
        assert_eq!(Sense::invalid_opcode().to_bytes(false), want);
        want[12] = 0x24;
        let s = Sense::new(SenseKey::IllegalRequest, 0x24, 0x00);
        assert_eq!(s.to_bytes(false), want);
    }

    #[test]
    fn test_emit_fixed_with_pointer() {
        let s = Sense::invalid_field_in_cdb(2, Some(4));
        let b = s.to_bytes(false);
        assert_eq!(b.len(), 18);
        assert_eq!(b[0], 0x70);
        assert_eq!(b[2], 0x05);
        assert_eq!(b[7], 10);
        assert_eq!((b[12], b[13]), (0x24, 0));
        assert_eq!(&b[15..18], &[0x80 | 0x40 | 0x08 | 4, 0, 2]);
        assert_eq!(Sense::parse_key_asc(&b), Some((5, 0x24, 0)));
    }

    #[test]
    fn test_emit_fixed_information() {
        let b = Sense::miscompare(0x1234).to_bytes(false);
        assert_eq!(b[0], 0xf0);
        assert_eq!(b[2], 0x0e);
        assert_eq!(&b[3..7], &[0, 0, 0x12, 0x34]);
        // Too large for the fixed format: VALID stays clear.
        let b = Sense::miscompare(1 << 40).to_bytes(false);
        assert_eq!(b[0], 0x70);
        assert_eq!(&b[3..7], &[0; 4]);
    }

    #[test]
    fn test_emit_descriptor() {
        let b = Sense::miscompare(1 << 40).to_bytes(true);
        assert_eq!(&b[..4], &[0x72, 0x0e, 0x1d, 0x00]);
        assert_eq!(b[7] as usize, b.len() - 8);
        assert_eq!(&b[8..12], &[0, 0x0a, 0x80, 0]);
        assert_eq!(u64::from_be_bytes(b[12..20].try_into().unwrap()), 1 << 40);
        let b = Sense::invalid_field_in_param(7, None).to_bytes(true);
        assert_eq!(&b[8..16], &[0x02, 0x06, 0, 0, 0x80, 0, 7, 0]);
        assert_eq!(b[7], 8);
        assert_eq!(Sense::parse_key_asc(&b), Some((5, 0x26, 0)));
        let b = Sense::lba_out_of_range().to_bytes(true);
        assert_eq!(b.len(), 8);
    }
}
