//! MODE SENSE and MODE SELECT (SPC-4 6.11-6.14) with the read-write error
//! recovery (0x01), caching (0x08), control (0x0A) and informational
//! exceptions control (0x1C) pages.

use std::sync::atomic::Ordering;

use super::{lock, Fail, LogicalUnit};
use crate::nexus::Nexus;
use crate::wire::{be, Cdb, Sense};

/// The mode pages, each with its 2-byte header, in page-code order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pages(Vec<Vec<u8>>);

const CACHING: u8 = 0x08;
const CONTROL: u8 = 0x0a;

impl Pages {
    fn defaults(wce: bool) -> Pages {
        let mut rw = vec![0u8; 12];
        rw[0] = 0x01;
        rw[1] = 10;
        rw[2] = 0x80 | 0x40; // AWRE, ARRE
        let mut caching = vec![0u8; 20];
        caching[0] = CACHING;
        caching[1] = 18;
        if wce {
            caching[2] = 0x04;
        }
        let mut control = vec![0u8; 12];
        control[0] = CONTROL;
        control[1] = 10;
        control[3] = 0x10; // queue algorithm modifier 1: unrestricted
        control[8..10].copy_from_slice(&0xffffu16.to_be_bytes()); // busy timeout: unlimited
        let mut iec = vec![0u8; 12];
        iec[0] = 0x1c;
        iec[1] = 10;
        iec[2] = 0x08; // DEXCPT: no informational exceptions
        Pages(vec![rw, caching, control, iec])
    }

    /// Which bits MODE SELECT may change.
    fn changeable() -> Pages {
        let mut p = Pages::defaults(false);
        for page in &mut p.0 {
            let (code, len) = (page[0], page[1]);
            page.iter_mut().for_each(|b| *b = 0);
            page[0] = code;
            page[1] = len;
        }
        p.0[1][2] = 0x04; // caching: WCE
        p.0[2][2] = 0x04; // control: D_SENSE
        p.0[2][4] = 0x08; // control: SWP
        p.0[3][2] = 0x08 | 0x04; // IEC: DEXCPT, TEST
        p.0[3][3] = 0x0f; // IEC: MRIE
        p.0[3][4..12].fill(0xff); // IEC: interval timer, report count
        p
    }

    fn get(&self, code: u8) -> Option<&Vec<u8>> {
        self.0.iter().find(|p| p[0] & 0x3f == code)
    }

    fn get_mut(&mut self, code: u8) -> Option<&mut Vec<u8>> {
        self.0.iter_mut().find(|p| p[0] & 0x3f == code)
    }

    fn bit(&self, code: u8, byte: usize, mask: u8) -> bool {
        self.get(code)
            .and_then(|p| p.get(byte))
            .is_some_and(|b| b & mask != 0)
    }
}

/// Current and saved values. Saved values live in memory only (MODE
/// SELECT with SP updates them); they start as the defaults.
#[derive(Debug)]
pub(super) struct ModeState {
    current: Pages,
    saved: Pages,
    default: Pages,
}

impl ModeState {
    pub(super) fn new(wce: bool) -> ModeState {
        let p = Pages::defaults(wce);
        ModeState {
            current: p.clone(),
            saved: p.clone(),
            default: p,
        }
    }
}

impl LogicalUnit {
    /// MODE SENSE(6) and (10).
    pub(super) fn mode_sense(&self, c: &Cdb, ten: bool) -> Result<Vec<u8>, Sense> {
        let dbd = c.b(1) & 0x08 != 0;
        let llbaa = ten && c.b(1) & 0x10 != 0;
        let pc = c.b(2) >> 6;
        let code = c.b(2) & 0x3f;
        let sub = c.b(3);
        let alloc = if ten {
            usize::from(c.u16(7))
        } else {
            usize::from(c.b(4))
        };
        if sub != 0 && sub != 0xff {
            return Err(Sense::invalid_field_in_cdb(3, None));
        }
        let pages = {
            let m = lock(&self.mode);
            match pc {
                0 => m.current.clone(),
                1 => Pages::changeable(),
                2 => m.default.clone(),
                _ => m.saved.clone(),
            }
        };
        let mut body = Vec::new();
        if code == 0x3f {
            for p in &pages.0 {
                body.extend_from_slice(p);
            }
        } else {
            let p = pages
                .get(code)
                .ok_or(Sense::invalid_field_in_cdb(2, Some(5)))?;
            // PS: the page can be saved.
            body.extend_from_slice(p);
        }
        // Mark every page saveable (PS).
        let mut i = 0;
        while i + 1 < body.len() {
            let len = usize::from(body[i + 1]);
            body[i] |= 0x80;
            i += 2 + len;
        }
        let mut bd = Vec::new();
        if !dbd {
            let changeable = pc == 1;
            if llbaa {
                bd = vec![0u8; 16];
                if !changeable {
                    bd[..8].copy_from_slice(&self.blocks.to_be_bytes());
                    bd[12..16].copy_from_slice(&self.block_size.to_be_bytes());
                }
            } else {
                bd = vec![0u8; 8];
                if !changeable {
                    let n = self.blocks.min(0xffff_ffff) as u32;
                    bd[..4].copy_from_slice(&n.to_be_bytes());
                    bd[5..8].copy_from_slice(&self.block_size.to_be_bytes()[1..]);
                }
            }
        }
        // Device-specific parameter: WP, DPOFUA.
        let devspec = if self.write_protected() { 0x80 } else { 0 } | 0x10;
        let mut v;
        if ten {
            v = vec![0u8; 8];
            v[3] = devspec;
            if llbaa {
                v[4] = 0x01;
            }
            v[6..8].copy_from_slice(&(bd.len() as u16).to_be_bytes());
            v.extend_from_slice(&bd);
            v.extend_from_slice(&body);
            let n = (v.len() - 2) as u16;
            v[..2].copy_from_slice(&n.to_be_bytes());
        } else {
            v = vec![0u8; 4];
            v[2] = devspec;
            v[3] = bd.len() as u8;
            v.extend_from_slice(&bd);
            v.extend_from_slice(&body);
            // At most 4 + 8 + 56 bytes: fits the one-byte length.
            v[0] = (v.len() - 1) as u8;
        }
        v.truncate(alloc);
        Ok(v)
    }

    /// MODE SELECT(6) and (10): the whole parameter list is validated
    /// against the changeable masks before anything changes.
    pub(super) fn mode_select(
        &self,
        nexus: &Nexus,
        c: &Cdb,
        data: &[u8],
        ten: bool,
    ) -> Result<(), Fail> {
        let pf = c.b(1) & 0x10 != 0;
        let sp = c.b(1) & 0x01 != 0;
        let len = if ten {
            usize::from(c.u16(7))
        } else {
            usize::from(c.b(4))
        };
        if len == 0 {
            return Ok(());
        }
        if !pf {
            return Err(Sense::invalid_field_in_cdb(1, Some(4)).into());
        }
        let p = data.get(..len).ok_or_else(Sense::param_list_length)?;
        let hdr = if ten { 8 } else { 4 };
        if len < hdr {
            return Err(Sense::param_list_length().into());
        }
        let (bdlen, long) = if ten {
            (be(p, 6, 2).unwrap_or(0) as usize, p[4] & 0x01 != 0)
        } else {
            (usize::from(p[3]), false)
        };
        let bd_end = hdr + bdlen;
        if bd_end > len {
            return Err(Sense::param_list_length().into());
        }
        let bd_size = if long { 16 } else { 8 };
        if bdlen != 0 && bdlen != bd_size {
            return Err(Sense::invalid_field_in_param(if ten { 6 } else { 3 } as u16, None).into());
        }
        if bdlen != 0 {
            // The block length may be repeated, not changed.
            let (at, n) = if long { (hdr + 12, 4) } else { (hdr + 5, 3) };
            let bl = be(p, at, n).unwrap_or(0);
            if bl != 0 && bl != u64::from(self.block_size) {
                return Err(Sense::invalid_field_in_param(at as u16, None).into());
            }
        }
        let chg = Pages::changeable();
        let mut m = lock(&self.mode);
        let mut new = m.current.clone();
        let mut off = bd_end;
        while off < len {
            let code = p[off] & 0x3f;
            if p[off] & 0x40 != 0 {
                return Err(Sense::invalid_field_in_param(off as u16, Some(6)).into());
            }
            if off + 2 > len {
                return Err(Sense::param_list_length().into());
            }
            let plen = usize::from(p[off + 1]);
            let (Some(cur), Some(mask)) = (new.get_mut(code), chg.get(code)) else {
                return Err(Sense::invalid_field_in_param(off as u16, Some(5)).into());
            };
            if plen + 2 != cur.len() {
                return Err(Sense::invalid_field_in_param(off as u16 + 1, None).into());
            }
            let Some(src) = p.get(off..off + 2 + plen) else {
                return Err(Sense::param_list_length().into());
            };
            for i in 2..cur.len() {
                if (src[i] ^ cur[i]) & !mask[i] != 0 {
                    return Err(Sense::invalid_field_in_param((off + i) as u16, None).into());
                }
            }
            cur[2..].copy_from_slice(&src[2..]);
            off += 2 + plen;
        }
        let changed = new != m.current;
        if sp {
            m.saved = new.clone();
        }
        self.wce.store(new.bit(CACHING, 2, 0x04), Ordering::Relaxed);
        self.d_sense
            .store(new.bit(CONTROL, 2, 0x04), Ordering::Relaxed);
        self.swp.store(new.bit(CONTROL, 4, 0x08), Ordering::Relaxed);
        m.current = new;
        drop(m);
        if changed {
            // MODE PARAMETERS CHANGED for the other I_T nexuses.
            let me = nexus.id;
            self.establish_ua(|id, _| id != me, 0x2a, 0x01);
        }
        Ok(())
    }
}
