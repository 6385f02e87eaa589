//! The ATA command subset an AoE target needs, and IDENTIFY DEVICE data.
//!
//! References: ATA/ATAPI-8 ACS (T13/1699-D) sections 7.16 (IDENTIFY
//! DEVICE, table 29), 7.34-7.36 and 7.60-7.62 (READ/WRITE SECTORS and
//! their EXT forms), 7.10-7.11 (FLUSH CACHE), 7.5 (CHECK POWER MODE).

/// ATA command opcodes the target understands.
pub mod cmd {
    /// READ SECTORS (LBA28).
    pub const READ_SECTORS: u8 = 0x20;
    /// READ SECTORS EXT (LBA48).
    pub const READ_SECTORS_EXT: u8 = 0x24;
    /// WRITE SECTORS (LBA28).
    pub const WRITE_SECTORS: u8 = 0x30;
    /// WRITE SECTORS EXT (LBA48).
    pub const WRITE_SECTORS_EXT: u8 = 0x34;
    /// CHECK POWER MODE.
    pub const CHECK_POWER_MODE: u8 = 0xE5;
    /// FLUSH CACHE.
    pub const FLUSH_CACHE: u8 = 0xE7;
    /// FLUSH CACHE EXT.
    pub const FLUSH_CACHE_EXT: u8 = 0xEA;
    /// IDENTIFY DEVICE.
    pub const IDENTIFY_DEVICE: u8 = 0xEC;
    /// SET FEATURES.
    pub const SET_FEATURES: u8 = 0xEF;
}

/// Bits of the ATA error register (ACS-3 6.3, for the READ/WRITE commands).
pub mod err {
    /// NM: no media.
    pub const NM: u8 = 0x02;
    /// ABRT: command aborted (unsupported command or bad argument).
    pub const ABRT: u8 = 0x04;
    /// MCR: media change request (obsolete).
    pub const MCR: u8 = 0x08;
    /// IDNF: the address is outside the device.
    pub const IDNF: u8 = 0x10;
    /// MC: media changed (obsolete).
    pub const MC: u8 = 0x20;
    /// UNC: uncorrectable data error (our I/O error mapping).
    pub const UNC: u8 = 0x40;
    /// ICRC: interface CRC error.
    pub const ICRC: u8 = 0x80;

    /// What the set bits of an error register say, most telling first,
    /// joined with `, `: `LBA out of range (IDNF)` for 0x10.
    pub fn describe(error: u8) -> String {
        const MEANING: [(u8, &str); 8] = [
            (IDNF, "LBA out of range (IDNF)"),
            (
                ABRT,
                "command aborted (ABRT: not supported or not allowed, e.g. a write to a read-only disk)",
            ),
            (UNC, "uncorrectable data error (UNC: the target's disk failed)"),
            (ICRC, "interface CRC error (ICRC)"),
            (NM, "no media (NM)"),
            (MC, "media changed (MC)"),
            (MCR, "media change request (MCR)"),
            (0x01, "error bit 0 (obsolete AMNF)"),
        ];
        let parts: Vec<&str> = MEANING
            .iter()
            .filter(|(bit, _)| error & bit != 0)
            .map(|(_, m)| *m)
            .collect();
        if parts.is_empty() {
            "no error bit set".to_owned()
        } else {
            parts.join(", ")
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn test_describe_error_register() {
            assert_eq!(describe(IDNF), "LBA out of range (IDNF)");
            assert!(describe(ABRT).starts_with("command aborted (ABRT"));
            assert_eq!(
                describe(IDNF | ICRC),
                "LBA out of range (IDNF), interface CRC error (ICRC)"
            );
            assert_eq!(describe(0), "no error bit set");
            // Every bit has a meaning.
            for bit in 0..8 {
                assert_ne!(describe(1 << bit), "no error bit set", "bit {bit}");
            }
        }
    }
}

/// Largest LBA28 address + 1.
pub const LBA28_LIMIT: u64 = 1 << 28;

/// What an IDENTIFY DEVICE block describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Capacity in 512-byte sectors.
    pub sectors: u64,
    /// The backing disk's block size: 512 or 4096 (reported as the physical
    /// sector size; AoE always addresses 512-byte logical sectors).
    pub physical_block_size: u32,
    /// Model number, up to 40 ASCII characters.
    pub model: String,
    /// Serial number, up to 20 ASCII characters.
    pub serial: String,
    /// Firmware revision, up to 8 ASCII characters.
    pub firmware: String,
}

/// Writes `s` as an ATA string into `words` words at `dst`: space padded,
/// the two bytes of each word swapped.
fn put_string(dst: &mut [u8], s: &str) {
    let mut bytes: Vec<u8> = s
        .bytes()
        .map(|b| {
            if b.is_ascii_graphic() || b == b' ' {
                b
            } else {
                b'?'
            }
        })
        .take(dst.len())
        .collect();
    bytes.resize(dst.len(), b' ');
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        dst[2 * i] = pair[1];
        dst[2 * i + 1] = pair[0];
    }
}

/// Reads an ATA string (byte-swapped, space padded) back.
pub fn get_string(src: &[u8]) -> String {
    let mut out = Vec::with_capacity(src.len());
    for pair in src.chunks_exact(2) {
        out.push(pair[1]);
        out.push(pair[0]);
    }
    String::from_utf8_lossy(&out).trim().to_owned()
}

fn put_word(d: &mut [u8; 512], word: usize, v: u16) {
    d[2 * word..2 * word + 2].copy_from_slice(&v.to_le_bytes());
}

/// Reads word `word` of an IDENTIFY block.
pub fn word(d: &[u8], word: usize) -> u16 {
    u16::from_le_bytes([d[2 * word], d[2 * word + 1]])
}

impl Identity {
    /// The 512-byte IDENTIFY DEVICE data.
    pub fn to_bytes(&self) -> [u8; 512] {
        let mut d = [0u8; 512];
        // Word 0: fixed, non-removable ATA device.
        put_word(&mut d, 0, 0x0040);
        // Words 1, 3, 6: legacy CHS geometry (16 heads, 63 sectors/track).
        let cyl = (self.sectors / (16 * 63)).min(16383) as u16;
        put_word(&mut d, 1, cyl);
        put_word(&mut d, 3, 16);
        put_word(&mut d, 6, 63);
        put_string(&mut d[20..40], &self.serial);
        put_string(&mut d[46..54], &self.firmware);
        put_string(&mut d[54..94], &self.model);
        // Word 47: READ/WRITE MULTIPLE not supported (0x80 in the high byte).
        put_word(&mut d, 47, 0x8000);
        // Word 49: LBA supported (bit 9), DMA supported (bit 8).
        put_word(&mut d, 49, 0x0300);
        // Word 53: words 64-70 and 88 are valid.
        put_word(&mut d, 53, 0x0006);
        // Words 54-58: current CHS translation.
        put_word(&mut d, 54, cyl);
        put_word(&mut d, 55, 16);
        put_word(&mut d, 56, 63);
        let chs = u32::from(cyl) * 16 * 63;
        put_word(&mut d, 57, chs as u16);
        put_word(&mut d, 58, (chs >> 16) as u16);
        // Words 60-61: LBA28 capacity, saturated.
        let lba28 = self.sectors.min(LBA28_LIMIT - 1) as u32;
        put_word(&mut d, 60, lba28 as u16);
        put_word(&mut d, 61, (lba28 >> 16) as u16);
        // Word 80: major versions ATA/ATAPI-5 to ACS (bits 5-8).
        put_word(&mut d, 80, 0x01e0);
        // Words 82-87: supported / enabled feature sets. 83/86 bit 10: LBA48,
        // bit 12: FLUSH CACHE, bit 13: FLUSH CACHE EXT; 83 and 84 bit 14
        // must be one, bit 15 zero.
        put_word(&mut d, 82, 0x0000);
        put_word(&mut d, 83, 0x4000 | 0x3400);
        put_word(&mut d, 84, 0x4000);
        put_word(&mut d, 85, 0x0000);
        put_word(&mut d, 86, 0x3400);
        put_word(&mut d, 87, 0x4000);
        // Words 100-103: LBA48 capacity.
        for i in 0..4 {
            put_word(&mut d, 100 + i, (self.sectors >> (16 * i)) as u16);
        }
        // Word 106: physical/logical sector size. For 4096-byte disks: valid
        // (bit 14), several logical sectors per physical (bit 13), 2^3 = 8
        // logical sectors per physical sector. Logical sectors stay 512
        // bytes (bit 12 clear, words 117-118 unused) as AoE requires.
        if self.physical_block_size == 4096 {
            put_word(&mut d, 106, 0x4000 | 0x2000 | 3);
            // Word 209: logical sector 0 is at offset 0 of a physical sector.
            put_word(&mut d, 209, 0x4000);
        }
        // Word 255: signature 0xA5 and checksum (the sum of all 512 bytes is
        // zero modulo 256).
        d[510] = 0xa5;
        let sum = d[..511].iter().fold(0u8, |a, b| a.wrapping_add(*b));
        d[511] = sum.wrapping_neg();
        d
    }

    /// Capacity in sectors read back from an IDENTIFY block: the LBA48 words
    /// when word 83 says LBA48 is supported, words 60-61 otherwise.
    pub fn sectors_from(d: &[u8]) -> u64 {
        if d.len() < 512 {
            return 0;
        }
        if word(d, 83) & 0x0400 != 0 {
            (0..4).fold(0u64, |a, i| a | u64::from(word(d, 100 + i)) << (16 * i))
        } else {
            u64::from(word(d, 60)) | u64::from(word(d, 61)) << 16
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(sectors: u64, bs: u32) -> [u8; 512] {
        Identity {
            sectors,
            physical_block_size: bs,
            model: "netboot aoed".into(),
            serial: "1.2:host".into(),
            firmware: "0.1.0".into(),
        }
        .to_bytes()
    }

    #[test]
    fn test_identify_layout() {
        let d = id(2048, 512);
        assert_eq!(word(&d, 49) & 0x0200, 0x0200);
        assert_eq!(word(&d, 60), 2048);
        assert_eq!(word(&d, 61), 0);
        assert_eq!(word(&d, 100), 2048);
        assert_eq!(word(&d, 83) & 0xc400, 0x4400);
        assert_eq!(word(&d, 86) & 0x0400, 0x0400);
        assert_eq!(word(&d, 106), 0);
        assert_eq!(get_string(&d[54..94]), "netboot aoed");
        assert_eq!(&d[54..58], b"enbt");
        assert_eq!(get_string(&d[20..40]), "1.2:host");
        assert_eq!(get_string(&d[46..54]), "0.1.0");
        assert_eq!(d.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
        assert_eq!(d[510], 0xa5);
        assert_eq!(Identity::sectors_from(&d), 2048);
    }

    #[test]
    fn test_identify_large_and_4k() {
        let big = 1u64 << 40;
        let d = id(big, 4096);
        assert_eq!(word(&d, 60), 0xffff);
        assert_eq!(word(&d, 61), 0x0fff);
        assert_eq!(Identity::sectors_from(&d), big);
        assert_eq!(word(&d, 106), 0x6003);
        assert_eq!(word(&d, 1), 16383);
    }
}
