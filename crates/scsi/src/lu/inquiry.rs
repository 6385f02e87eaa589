//! INQUIRY (standard data and VPD pages) and REPORT SUPPORTED OPERATION
//! CODES.

use super::{fnv1a, LogicalUnit};
use crate::nexus::Nexus;
use crate::wire::cdb::COMMANDS;
use crate::wire::{Cdb, Sense};

type R<T> = Result<T, Sense>;

/// VPD pages we support, in ascending order.
const VPD_PAGES: [u8; 6] = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2];

/// Version descriptors: SAM-5, SPC-4, SBC-3.
const VERSION_DESCRIPTORS: [u16; 3] = [0x00a0, 0x0460, 0x04c0];

/// Nominal and recommended command timeouts (seconds) reported with RCTD.
const TIMEOUT_NOMINAL: u32 = 5;
const TIMEOUT_RECOMMENDED: u32 = 30;

/// Copies `s` into `dst`, padded with spaces.
fn put_ascii(dst: &mut [u8], s: &str) {
    dst.fill(b' ');
    for (d, b) in dst.iter_mut().zip(s.bytes()) {
        *d = b;
    }
}

fn vpd(page: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, page];
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

impl LogicalUnit {
    /// INQUIRY (SPC-4 6.6).
    pub(super) fn inquiry(&self, nexus: &Nexus, c: &Cdb) -> R<Vec<u8>> {
        let evpd = c.b(1) & 0x01 != 0;
        if c.b(1) & 0x02 != 0 {
            // CMDDT (obsolete).
            return Err(Sense::invalid_field_in_cdb(1, Some(1)));
        }
        let page = c.b(2);
        let mut data = if evpd {
            self.vpd_page(nexus, page)?
        } else if page != 0 {
            return Err(Sense::invalid_field_in_cdb(2, None));
        } else {
            self.standard_inquiry()
        };
        data.truncate(usize::from(c.u16(3)));
        Ok(data)
    }

    fn standard_inquiry(&self) -> Vec<u8> {
        let mut d = vec![0u8; 96];
        d[0] = 0x00; // connected, direct-access block device
        if self.opts.removable {
            d[1] = 0x80;
        }
        d[2] = 0x06; // SPC-4
        d[3] = 0x10 | 0x02; // HISUP, response data format 2
        d[4] = (d.len() - 5) as u8;
        d[7] = 0x02; // CMDQUE
        put_ascii(&mut d[8..16], &self.ident.vendor);
        put_ascii(&mut d[16..32], &self.ident.product);
        put_ascii(&mut d[32..36], &self.ident.revision);
        for (i, v) in VERSION_DESCRIPTORS.iter().enumerate() {
            d[58 + 2 * i..60 + 2 * i].copy_from_slice(&v.to_be_bytes());
        }
        d
    }

    fn vpd_page(&self, nexus: &Nexus, page: u8) -> R<Vec<u8>> {
        let bs = self.block_size;
        let thin = self.opts.thin_provisioning;
        Ok(match page {
            0x00 => vpd(0x00, &VPD_PAGES),
            0x80 => vpd(0x80, self.ident.serial.as_bytes()),
            0x83 => vpd(0x83, &self.designators(nexus)),
            0xb0 => {
                let mut b = vec![0u8; 0x3c];
                // Offsets below are of the page, minus the 4-byte header.
                b[1] = self.opts.max_compare_write_blocks;
                b[2..4].copy_from_slice(&1u16.to_be_bytes());
                let max_xfer = (self.opts.max_transfer_bytes / bs).max(1);
                b[4..8].copy_from_slice(&max_xfer.to_be_bytes());
                b[8..12].copy_from_slice(&max_xfer.to_be_bytes());
                if thin {
                    b[16..20].copy_from_slice(&self.opts.max_unmap_blocks.to_be_bytes());
                    b[20..24].copy_from_slice(&self.opts.max_unmap_descriptors.to_be_bytes());
                    // Optimal unmap granularity: a 4 KiB page.
                    b[24..28].copy_from_slice(&(4096 / bs).max(1).to_be_bytes());
                    // UGAVALID, unmap granularity alignment 0.
                    b[28] = 0x80;
                }
                b[32..40].copy_from_slice(&self.opts.max_write_same_blocks.to_be_bytes());
                // MAXIMUM ATOMIC TRANSFER LENGTH; ATOMIC ALIGNMENT and
                // ATOMIC TRANSFER LENGTH GRANULARITY 0 (no constraints);
                // no atomic boundaries.
                b[40..44].copy_from_slice(&(self.max_atomic_blocks() as u32).to_be_bytes());
                vpd(0xb0, &b)
            }
            0xb1 => {
                let mut b = vec![0u8; 0x3c];
                b[0..2].copy_from_slice(&self.opts.rotation_rate.to_be_bytes());
                // WABEREQ 01b, WACEREQ 01b: after a block or cryptographic
                // erase SANITIZE, reads succeed (and return zeros).
                b[3] = 0x40 | 0x10;
                vpd(0xb1, &b)
            }
            0xb2 => {
                let mut b = vec![0u8; 4];
                if thin {
                    // LBPU, LBPWS, LBPWS10, LBPRZ (discarded blocks read
                    // as zeros by the BlockDevice contract).
                    b[1] = 0x80 | 0x40 | 0x20 | 0x04;
                    b[2] = 0x02; // provisioning type: thin
                }
                vpd(0xb2, &b)
            }
            _ => return Err(Sense::invalid_field_in_cdb(2, None)),
        })
    }

    /// VPD 0x83 designators: NAA, T10 vendor ID, relative target port.
    fn designators(&self, nexus: &Nexus) -> Vec<u8> {
        let mut v = Vec::new();
        // NAA (binary code set, LU association, designator type 3).
        let naa = self.ident.naa;
        if naa >> 60 == 6 {
            v.extend_from_slice(&[0x01, 0x03, 0x00, 16]);
            v.extend_from_slice(&naa.to_be_bytes());
            v.extend_from_slice(&fnv1a(self.ident.serial.as_bytes()).to_be_bytes());
        } else {
            v.extend_from_slice(&[0x01, 0x03, 0x00, 8]);
            v.extend_from_slice(&naa.to_be_bytes());
        }
        // T10 vendor ID (ASCII, LU association, type 1): vendor + serial.
        let mut t10 = vec![0u8; 8];
        put_ascii(&mut t10, &self.ident.vendor);
        t10.extend_from_slice(self.ident.serial.as_bytes());
        v.extend_from_slice(&[0x02, 0x01, 0x00, t10.len() as u8]);
        v.extend_from_slice(&t10);
        // Relative target port (binary, target port association, type 4).
        v.extend_from_slice(&[0x01, 0x14, 0x00, 4, 0, 0]);
        v.extend_from_slice(&nexus.relative_target_port.to_be_bytes());
        v
    }

    /// REPORT SUPPORTED OPERATION CODES (SPC-4 6.35).
    pub(super) fn report_supported_opcodes(&self, c: &Cdb) -> R<Vec<u8>> {
        let rctd = c.b(2) & 0x80 != 0;
        let options = c.b(2) & 0x07;
        let req_op = c.b(3);
        let req_sa = c.u16(4);
        let alloc = c.u32(6) as usize;
        let timeouts = |v: &mut Vec<u8>| {
            v.extend_from_slice(&[0x00, 0x0a, 0x00, 0x00]);
            v.extend_from_slice(&TIMEOUT_NOMINAL.to_be_bytes());
            v.extend_from_slice(&TIMEOUT_RECOMMENDED.to_be_bytes());
        };
        let mut v;
        match options {
            0 => {
                v = vec![0u8; 4];
                for d in COMMANDS {
                    v.push(d.op);
                    v.push(0);
                    v.extend_from_slice(&u16::from(d.sa.unwrap_or(0)).to_be_bytes());
                    v.push(0);
                    v.push(if rctd { 0x02 } else { 0 } | u8::from(d.sa.is_some()));
                    v.extend_from_slice(&(d.usage.len() as u16).to_be_bytes());
                    if rctd {
                        timeouts(&mut v);
                    }
                }
                let n = (v.len() - 4) as u32;
                v[..4].copy_from_slice(&n.to_be_bytes());
            }
            1..=3 => {
                let has_sa = COMMANDS.iter().any(|d| d.op == req_op && d.sa.is_some());
                // Option 1 is for commands without service actions, 2 for
                // commands with them; 3 for either.
                if (options == 1 && has_sa)
                    || (options == 2 && !has_sa && COMMANDS.iter().any(|d| d.op == req_op))
                {
                    return Err(Sense::invalid_field_in_cdb(2, Some(2)));
                }
                if options == 1 && req_sa != 0 {
                    return Err(Sense::invalid_field_in_cdb(4, None));
                }
                let found = COMMANDS.iter().find(|d| {
                    d.op == req_op
                        && match d.sa {
                            None => options != 2 && (options == 1 || req_sa == 0),
                            Some(sa) => u16::from(sa) == req_sa,
                        }
                });
                v = vec![0u8; 2];
                match found {
                    Some(d) => {
                        v[1] = if rctd { 0x80 } else { 0 } | 0x03;
                        v.extend_from_slice(&(d.usage.len() as u16).to_be_bytes());
                        v.extend_from_slice(d.usage);
                        if rctd {
                            timeouts(&mut v);
                        }
                    }
                    None => {
                        // SUPPORT 001b: not supported.
                        v[1] = 0x01;
                        v.extend_from_slice(&[0, 0]);
                    }
                }
            }
            _ => return Err(Sense::invalid_field_in_cdb(2, Some(2))),
        }
        v.truncate(alloc);
        Ok(v)
    }
}
