//! Wire formats: operation codes, CDB fields, sense data.
//!
//! Nothing here does I/O or holds state.

pub mod cdb;
pub mod sense;

pub use cdb::{cdb_info, with_transfer_length, CdbInfo, DataDirection};
pub use sense::{FieldPointer, Sense, SenseKey};

/// Operation codes (SPC-4, SBC-3).
#[allow(missing_docs)]
pub mod op {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const REQUEST_SENSE: u8 = 0x03;
    pub const READ_6: u8 = 0x08;
    pub const WRITE_6: u8 = 0x0a;
    pub const INQUIRY: u8 = 0x12;
    pub const MODE_SELECT_6: u8 = 0x15;
    pub const RESERVE_6: u8 = 0x16;
    pub const RELEASE_6: u8 = 0x17;
    pub const MODE_SENSE_6: u8 = 0x1a;
    pub const START_STOP_UNIT: u8 = 0x1b;
    pub const PREVENT_ALLOW: u8 = 0x1e;
    pub const READ_CAPACITY_10: u8 = 0x25;
    pub const READ_10: u8 = 0x28;
    pub const WRITE_10: u8 = 0x2a;
    pub const WRITE_VERIFY_10: u8 = 0x2e;
    pub const VERIFY_10: u8 = 0x2f;
    pub const PRE_FETCH_10: u8 = 0x34;
    pub const SYNC_CACHE_10: u8 = 0x35;
    pub const READ_DEFECT_DATA_10: u8 = 0x37;
    pub const WRITE_SAME_10: u8 = 0x41;
    pub const UNMAP: u8 = 0x42;
    pub const SANITIZE: u8 = 0x48;
    pub const MODE_SELECT_10: u8 = 0x55;
    pub const MODE_SENSE_10: u8 = 0x5a;
    pub const PR_IN: u8 = 0x5e;
    pub const PR_OUT: u8 = 0x5f;
    pub const READ_16: u8 = 0x88;
    pub const COMPARE_AND_WRITE: u8 = 0x89;
    pub const WRITE_16: u8 = 0x8a;
    pub const ORWRITE_16: u8 = 0x8b;
    pub const WRITE_VERIFY_16: u8 = 0x8e;
    pub const VERIFY_16: u8 = 0x8f;
    pub const PRE_FETCH_16: u8 = 0x90;
    pub const SYNC_CACHE_16: u8 = 0x91;
    pub const WRITE_SAME_16: u8 = 0x93;
    pub const WRITE_ATOMIC_16: u8 = 0x9c;
    pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
    pub const REPORT_LUNS: u8 = 0xa0;
    pub const MAINTENANCE_IN: u8 = 0xa3;
    pub const READ_12: u8 = 0xa8;
    pub const WRITE_12: u8 = 0xaa;
    pub const WRITE_VERIFY_12: u8 = 0xae;
    pub const VERIFY_12: u8 = 0xaf;
    pub const READ_DEFECT_DATA_12: u8 = 0xb7;

    /// SERVICE ACTION IN(16): READ CAPACITY(16).
    pub const SA_READ_CAPACITY_16: u8 = 0x10;
    /// SERVICE ACTION IN(16): GET LBA STATUS.
    pub const SA_GET_LBA_STATUS: u8 = 0x12;
    /// MAINTENANCE IN: REPORT SUPPORTED OPERATION CODES.
    pub const SA_REPORT_SUPPORTED_OPCODES: u8 = 0x0c;
    /// SANITIZE: OVERWRITE.
    pub const SA_SANITIZE_OVERWRITE: u8 = 0x01;
    /// SANITIZE: BLOCK ERASE.
    pub const SA_SANITIZE_BLOCK_ERASE: u8 = 0x02;
    /// SANITIZE: CRYPTOGRAPHIC ERASE.
    pub const SA_SANITIZE_CRYPTO_ERASE: u8 = 0x03;
    /// SANITIZE: EXIT FAILURE MODE.
    pub const SA_SANITIZE_EXIT_FAILURE_MODE: u8 = 0x1f;
}

/// A CDB copied into a zero-padded 16-byte array, so that field accessors
/// never index out of bounds (bytes past the real CDB read as zero; the
/// caller has checked the CDB length for the opcode before).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cdb(pub [u8; 16]);

impl Cdb {
    pub(crate) fn new(cdb: &[u8]) -> Cdb {
        let mut c = [0u8; 16];
        let n = cdb.len().min(16);
        c[..n].copy_from_slice(&cdb[..n]);
        Cdb(c)
    }
    pub(crate) fn op(&self) -> u8 {
        self.0[0]
    }
    pub(crate) fn b(&self, i: usize) -> u8 {
        self.0[i & 15]
    }
    pub(crate) fn u16(&self, i: usize) -> u16 {
        u16::from_be_bytes([self.b(i), self.b(i + 1)])
    }
    pub(crate) fn u24(&self, i: usize) -> u32 {
        u32::from_be_bytes([0, self.b(i), self.b(i + 1), self.b(i + 2)])
    }
    pub(crate) fn u32(&self, i: usize) -> u32 {
        u32::from_be_bytes([self.b(i), self.b(i + 1), self.b(i + 2), self.b(i + 3)])
    }
    pub(crate) fn u64(&self, i: usize) -> u64 {
        (u64::from(self.u32(i)) << 32) | u64::from(self.u32(i + 4))
    }
    /// Service action (low 5 bits of byte 1).
    pub(crate) fn sa(&self) -> u8 {
        self.b(1) & 0x1f
    }
}

/// Reads a big-endian integer of `N` bytes at `off` from `buf`, or `None`
/// if `buf` is too short.
pub(crate) fn be(buf: &[u8], off: usize, n: usize) -> Option<u64> {
    let end = off.checked_add(n)?;
    let s = buf.get(off..end)?;
    Some(s.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
}
