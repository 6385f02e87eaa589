//! The SCSI target device: LUN map, REPORT LUNS, LUN encoding.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::lu::LogicalUnit;
use crate::nexus::Nexus;
use crate::response::Response;
use crate::wire::{op, Cdb, Sense};
use crate::{cdb_info, CdbInfo};

/// Encodes a LUN number as the 8-byte SAM LUN field: peripheral device
/// addressing below 256, flat space addressing up to 16383 (SAM-5 4.7).
/// Returns `None` above 16383.
pub fn encode_lun(lun: u64) -> Option<[u8; 8]> {
    let mut b = [0u8; 8];
    match lun {
        0..=255 => b[1] = lun as u8,
        256..=0x3fff => {
            b[0] = 0x40 | (lun >> 8) as u8;
            b[1] = lun as u8;
        }
        _ => return None,
    }
    Some(b)
}

/// Decodes an 8-byte SAM LUN field (peripheral or flat space addressing,
/// single level) into a LUN number; `None` for other formats.
pub fn decode_lun(b: [u8; 8]) -> Option<u64> {
    if b[2..].iter().any(|&x| x != 0) {
        return None;
    }
    match b[0] >> 6 {
        0 if b[0] == 0 => Some(u64::from(b[1])),
        1 => Some((u64::from(b[0] & 0x3f) << 8) | u64::from(b[1])),
        _ => None,
    }
}

/// A SCSI target device: logical units by LUN number.
///
/// All methods take `&self`; share the target between connection threads
/// with an [`Arc`].
#[derive(Debug, Default)]
pub struct Target {
    luns: RwLock<BTreeMap<u64, Arc<LogicalUnit>>>,
}

impl Target {
    /// A target without logical units.
    pub fn new() -> Target {
        Target::default()
    }

    /// Adds (or replaces) LUN `lun` (0..=16383) and returns the one it
    /// replaced. LUNs above 16383 are refused (returned in `Err`).
    pub fn add_lun(
        &self,
        lun: u64,
        unit: Arc<LogicalUnit>,
    ) -> Result<Option<Arc<LogicalUnit>>, Arc<LogicalUnit>> {
        if encode_lun(lun).is_none() {
            return Err(unit);
        }
        Ok(self.write().insert(lun, unit))
    }

    /// Removes LUN `lun`.
    pub fn remove_lun(&self, lun: u64) -> Option<Arc<LogicalUnit>> {
        self.write().remove(&lun)
    }

    /// The logical unit at `lun`.
    pub fn lun(&self, lun: u64) -> Option<Arc<LogicalUnit>> {
        self.read().get(&lun).cloned()
    }

    /// The LUN numbers, ascending.
    pub fn luns(&self) -> Vec<u64> {
        self.read().keys().copied().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u64, Arc<LogicalUnit>>> {
        self.luns.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u64, Arc<LogicalUnit>>> {
        self.luns.write().unwrap_or_else(|e| e.into_inner())
    }

    /// [`cdb_info`] for a command to `lun` (using its block size; 512 for a
    /// LUN that does not exist).
    pub fn cdb_info(&self, lun: u64, cdb: &[u8]) -> Result<CdbInfo, Sense> {
        let bs = self.lun(lun).map_or(512, |u| u.block_size());
        cdb_info(cdb, bs)
    }

    /// Executes one command for `lun`. REPORT LUNS is answered from the LUN
    /// map whatever LUN it is addressed to; other commands to a missing LUN
    /// get LOGICAL UNIT NOT SUPPORTED (INQUIRY: peripheral qualifier 3,
    /// device type 0x1F; REQUEST SENSE: that sense as data).
    pub fn execute(
        &self,
        nexus: &Nexus,
        lun: u64,
        cdb: &[u8],
        data_out: &[u8],
        alloc_len: u32,
    ) -> Response {
        let c = Cdb::new(cdb);
        let mut resp = if cdb.first() == Some(&op::REPORT_LUNS) && cdb.len() >= 12 {
            match self.report_luns(&c) {
                Ok(data) => Response::good(data),
                Err(s) => Response::check(&s, self.lun(lun).is_some_and(|u| u.d_sense())),
            }
        } else if let Some(unit) = self.lun(lun) {
            return unit.execute(nexus, cdb, data_out, alloc_len);
        } else {
            missing_lun(&c, cdb.len())
        };
        resp.data_in.truncate(alloc_len as usize);
        resp
    }

    fn report_luns(&self, c: &Cdb) -> Result<Vec<u8>, Sense> {
        // SELECT REPORT: 0 (all), 1 (well known: none), 2 (all), 0x10-0x12.
        let select = c.b(2);
        let well_known_only = select == 1;
        if !matches!(select, 0 | 1 | 2 | 0x10..=0x12) {
            return Err(Sense::invalid_field_in_cdb(2, None));
        }
        let alloc = c.u32(6) as usize;
        if alloc < 16 {
            return Err(Sense::invalid_field_in_cdb(6, None));
        }
        let luns = if well_known_only {
            Vec::new()
        } else {
            self.luns()
        };
        let mut v = Vec::with_capacity(8 + luns.len() * 8);
        v.extend_from_slice(&((luns.len() * 8) as u32).to_be_bytes());
        v.extend_from_slice(&[0; 4]);
        for l in luns {
            v.extend_from_slice(&encode_lun(l).unwrap_or_default());
        }
        v.truncate(alloc);
        Ok(v)
    }

    /// LOGICAL UNIT RESET of `lun` (task management): see
    /// [`LogicalUnit::reset`]. False if the LUN does not exist.
    pub fn lun_reset(&self, lun: u64) -> bool {
        self.lun(lun).map(|u| u.reset()).is_some()
    }

    /// TARGET (WARM/COLD) RESET: resets every logical unit.
    pub fn reset(&self) {
        for u in self.read().values() {
            u.reset();
        }
    }

    /// Tells every logical unit that an I_T nexus is gone (session closed or
    /// connection lost): see [`LogicalUnit::nexus_lost`].
    pub fn nexus_lost(&self, nexus: &Nexus) {
        for u in self.read().values() {
            u.nexus_lost(nexus);
        }
    }
}

/// The response to a command for a LUN that does not exist.
fn missing_lun(c: &Cdb, len: usize) -> Response {
    match c.op() {
        op::INQUIRY if len >= 6 => {
            let alloc = usize::from(c.u16(3));
            let data = if c.b(1) & 1 != 0 {
                vec![0x7f, c.b(2), 0, 0]
            } else {
                let mut d = vec![0u8; 36];
                d[0] = 0x7f;
                d[2] = 0x06;
                d[3] = 0x02;
                d[4] = 31;
                d
            };
            let mut r = Response::good(data);
            r.data_in.truncate(alloc);
            r
        }
        op::REQUEST_SENSE if len >= 6 => {
            let mut d = Sense::lun_not_supported().to_bytes(c.b(1) & 1 != 0);
            d.truncate(usize::from(c.b(4)));
            Response::good(d)
        }
        _ => Response::check(&Sense::lun_not_supported(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lun_encoding_roundtrip() {
        for l in [0u64, 1, 255, 256, 1000, 0x3fff] {
            assert_eq!(decode_lun(encode_lun(l).unwrap()), Some(l));
        }
        assert_eq!(encode_lun(0x4000), None);
        assert_eq!(decode_lun([0x80, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(encode_lun(300).unwrap(), [0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
    }
}
