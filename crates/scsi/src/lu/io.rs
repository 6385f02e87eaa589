//! Media-access commands (SBC-3): READ, WRITE, VERIFY, WRITE AND VERIFY,
//! WRITE SAME, UNMAP, COMPARE AND WRITE, SYNCHRONIZE CACHE, PRE-FETCH,
//! READ CAPACITY, GET LBA STATUS.

use std::sync::atomic::Ordering;

use netboot_blockdev::Error as DevError;

use super::{Fail, LogicalUnit};
use crate::wire::{be, op, Cdb, Sense};

type R<T> = Result<T, Sense>;

/// Bytes per chunk when a command touches more than one buffer's worth
/// (VERIFY without data, WRITE SAME).
const CHUNK: u64 = 1 << 20;

/// Blocks of a stored run GET LBA STATUS reads at most, to find zeros.
const LBA_STATUS_SCAN: u64 = 1024;

fn read_err(e: DevError) -> Sense {
    match e {
        DevError::OutOfRange { .. } => Sense::lba_out_of_range(),
        _ => Sense::read_error(),
    }
}

fn write_err(e: DevError) -> Sense {
    match e {
        DevError::OutOfRange { .. } => Sense::lba_out_of_range(),
        DevError::ReadOnly => Sense::write_protected(),
        DevError::NoSpace { .. } => Sense::space_allocation_failed(),
        _ => Sense::write_error(),
    }
}

/// Offset of the first differing byte.
fn first_diff(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

/// LBA, number of blocks, and the CDB byte of the length field.
fn lba_len(c: &Cdb) -> (u64, u64, u16) {
    match c.op() {
        op::READ_6 | op::WRITE_6 => {
            let lba = u64::from(c.u24(1) & 0x1f_ffff);
            let n = match c.b(4) {
                0 => 256,
                n => u64::from(n),
            };
            (lba, n, 4)
        }
        op::COMPARE_AND_WRITE => (c.u64(2), u64::from(c.b(13)), 13),
        op::WRITE_ATOMIC_16 => (c.u64(2), u64::from(c.u16(12)), 12),
        o if o >> 5 == 1 || o >> 5 == 2 => (u64::from(c.u32(2)), u64::from(c.u16(7)), 7),
        o if o >> 5 == 5 => (u64::from(c.u32(2)), u64::from(c.u32(6)), 6),
        _ => (c.u64(2), u64::from(c.u32(10)), 10),
    }
}

impl LogicalUnit {
    fn bs(&self) -> u64 {
        u64::from(self.block_size)
    }

    /// Checks `lba..lba+n` against the capacity (also for `n == 0`) and
    /// returns the byte offset and length.
    fn range(&self, lba: u64, n: u64) -> R<(u64, u64)> {
        match lba.checked_add(n) {
            // lba <= blocks, so lba * bs <= size: no overflow.
            Some(end) if end <= self.blocks => Ok((lba * self.bs(), n * self.bs())),
            _ => Err(Sense::lba_out_of_range()),
        }
    }

    /// log2 of logical blocks per physical block: per 4 KiB when
    /// [`LuOptions::physical_4k`](super::LuOptions::physical_4k) is set, else 0.
    pub(super) fn lbppb_exponent(&self) -> u8 {
        if self.opts.physical_4k {
            (4096 / self.block_size).max(1).trailing_zeros() as u8
        } else {
            0
        }
    }

    fn max_xfer_blocks(&self) -> u64 {
        u64::from(self.opts.max_transfer_bytes) / self.bs()
    }

    /// Flushes when FUA is set or the write cache is off.
    fn maybe_flush(&self, fua: bool) -> R<()> {
        if fua || !self.wce.load(Ordering::Relaxed) {
            self.dev.flush().map_err(write_err)?;
        }
        Ok(())
    }

    /// READ(6/10/12/16).
    pub(super) fn read(&self, c: &Cdb) -> R<Vec<u8>> {
        if c.op() != op::READ_6 && c.b(1) & 0xe0 != 0 {
            // RDPROTECT: protection information is not supported.
            return Err(Sense::invalid_field_in_cdb(1, Some(7)));
        }
        let (lba, n, nbyte) = lba_len(c);
        let (off, len) = self.range(lba, n)?;
        if n > self.max_xfer_blocks() {
            return Err(Sense::invalid_field_in_cdb(nbyte, None));
        }
        let mut buf = vec![0u8; len as usize];
        self.dev.read_at(&mut buf, off).map_err(read_err)?;
        Ok(buf)
    }

    /// WRITE(6/10/12/16) and WRITE AND VERIFY(10/12/16).
    pub(super) fn write(&self, c: &Cdb, data: &[u8], verify: bool) -> R<()> {
        let six = c.op() == op::WRITE_6;
        if !six && c.b(1) & 0xe0 != 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(7)));
        }
        let fua = !six && !verify && c.b(1) & 0x08 != 0;
        let (lba, n, nbyte) = lba_len(c);
        let (off, len) = self.range(lba, n)?;
        if n > self.max_xfer_blocks() {
            return Err(Sense::invalid_field_in_cdb(nbyte, None));
        }
        self.check_writable()?;
        if n == 0 {
            return Ok(());
        }
        let data = data
            .get(..len as usize)
            .ok_or_else(Sense::data_phase_error)?;
        {
            let _g = self.ranges.lock(lba, lba + n);
            self.dev.write_at(data, off).map_err(write_err)?;
        }
        self.maybe_flush(fua)?;
        if verify {
            let mut back = vec![0u8; data.len()];
            self.dev.read_at(&mut back, off).map_err(read_err)?;
            if let Some(i) = first_diff(&back, data) {
                return Err(Sense::miscompare(i as u64));
            }
        }
        Ok(())
    }

    /// VERIFY(10/12/16) with BYTCHK 0 (medium check), 1 (compare with the
    /// Data-Out) or 3 (compare every block with one block of Data-Out).
    pub(super) fn verify(&self, c: &Cdb, data: &[u8]) -> R<()> {
        if c.b(1) & 0xe0 != 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(7)));
        }
        let bytchk = (c.b(1) >> 1) & 3;
        if bytchk == 2 {
            return Err(Sense::invalid_field_in_cdb(1, Some(2)));
        }
        let (lba, n, nbyte) = lba_len(c);
        let (off, len) = self.range(lba, n)?;
        if n == 0 {
            return Ok(());
        }
        match bytchk {
            0 => {
                let mut pos = 0;
                while pos < len {
                    let chunk = (len - pos).min(CHUNK);
                    let mut buf = vec![0u8; chunk as usize];
                    self.dev.read_at(&mut buf, off + pos).map_err(read_err)?;
                    pos += chunk;
                }
                Ok(())
            }
            1 => {
                if n > self.max_xfer_blocks() {
                    return Err(Sense::invalid_field_in_cdb(nbyte, None));
                }
                let data = data
                    .get(..len as usize)
                    .ok_or_else(Sense::data_phase_error)?;
                let mut buf = vec![0u8; len as usize];
                self.dev.read_at(&mut buf, off).map_err(read_err)?;
                match first_diff(&buf, data) {
                    Some(i) => Err(Sense::miscompare(i as u64)),
                    None => Ok(()),
                }
            }
            _ => {
                let bs = self.bs();
                let pattern = data
                    .get(..bs as usize)
                    .ok_or_else(Sense::data_phase_error)?;
                let mut buf = vec![0u8; bs as usize];
                for i in 0..n {
                    self.dev.read_at(&mut buf, off + i * bs).map_err(read_err)?;
                    if let Some(d) = first_diff(&buf, pattern) {
                        return Err(Sense::miscompare(i * bs + d as u64));
                    }
                }
                Ok(())
            }
        }
    }

    /// SYNCHRONIZE CACHE(10/16): the whole device is flushed (the backend
    /// has no ranged flush); GOOD only once the data is durable.
    pub(super) fn sync_cache(&self, c: &Cdb) -> R<()> {
        let (lba, n, _) = lba_len(c);
        self.range(lba, n)?;
        self.dev.flush().map_err(write_err)
    }

    /// PRE-FETCH(10/16): nothing to cache; range check only.
    pub(super) fn pre_fetch(&self, c: &Cdb) -> R<()> {
        let (lba, n, _) = lba_len(c);
        self.range(lba, n).map(|_| ())
    }

    /// WRITE SAME(10/16), with UNMAP and (16) NDOB. NUMBER OF LOGICAL
    /// BLOCKS 0 means "to the end of the medium" (WSNZ is 0).
    pub(super) fn write_same(&self, c: &Cdb, data: &[u8]) -> R<()> {
        let b1 = c.b(1);
        if b1 & 0xe0 != 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(7)));
        }
        if b1 & 0x10 != 0 {
            // ANCHOR: anchored LBAs are not supported (ANC_SUP 0).
            return Err(Sense::invalid_field_in_cdb(1, Some(4)));
        }
        let unmap = b1 & 0x08 != 0;
        let sixteen = c.op() == op::WRITE_SAME_16;
        let ndob = sixteen && b1 & 0x01 != 0;
        let (lba, n, nbyte) = lba_len(c);
        if lba > self.blocks {
            return Err(Sense::lba_out_of_range());
        }
        let n = if n == 0 { self.blocks - lba } else { n };
        if n > self.opts.max_write_same_blocks {
            return Err(Sense::invalid_field_in_cdb(nbyte, None));
        }
        let (off, len) = self.range(lba, n)?;
        if unmap && !self.opts.thin_provisioning {
            return Err(Sense::invalid_field_in_cdb(1, Some(3)));
        }
        self.check_writable()?;
        let bs = self.bs() as usize;
        let zeros;
        let pattern = if ndob {
            zeros = vec![0u8; bs];
            &zeros[..]
        } else if data.len() == bs {
            data
        } else {
            // The Data-Out is one logical block, neither less nor more.
            return Err(Sense::invalid_field_in_cdb(nbyte, None));
        };
        if n == 0 {
            return Ok(());
        }
        let _g = self.ranges.lock(lba, lba + n);
        if unmap {
            // UNMAP set: deallocate (SBC-3 5.45); deallocated blocks read
            // as zeros (LBPRZ), whatever the data block held, as initiators
            // (libiscsi's WriteSame*.Unmap* tests) expect.
            self.dev.discard(off, len).map_err(write_err)?;
        } else if pattern.iter().all(|&b| b == 0) {
            // Zeros: the backend may deallocate, reads are the same.
            self.dev.write_zeroes(off, len).map_err(write_err)?;
        } else {
            let per = (CHUNK / self.bs()).clamp(1, n);
            let buf: Vec<u8> = pattern.repeat(per as usize);
            let mut done = 0;
            while done < n {
                let k = (n - done).min(per);
                let bytes = &buf[..(k * self.bs()) as usize];
                self.dev
                    .write_at(bytes, off + done * self.bs())
                    .map_err(write_err)?;
                done += k;
            }
        }
        self.maybe_flush(false)
    }

    /// UNMAP (SBC-3 5.28): the parameter list is checked completely before
    /// any block is discarded.
    pub(super) fn unmap(&self, c: &Cdb, data: &[u8]) -> Result<(), Fail> {
        if !self.opts.thin_provisioning {
            return Err(Sense::invalid_opcode().into());
        }
        if c.b(1) & 0x01 != 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(0)).into());
        }
        let plen = usize::from(c.u16(7));
        if plen == 0 {
            return Ok(());
        }
        if plen < 8 {
            return Err(Sense::param_list_length().into());
        }
        let p = data.get(..plen).ok_or_else(Sense::param_list_length)?;
        self.check_writable()?;
        let bdl = be(p, 2, 2).unwrap_or(0) as usize;
        if bdl > plen - 8 {
            return Err(Sense::param_list_length().into());
        }
        if bdl % 16 != 0 {
            return Err(Sense::invalid_field_in_param(2, None).into());
        }
        let count = bdl / 16;
        if count as u64 > u64::from(self.opts.max_unmap_descriptors) {
            return Err(Sense::invalid_field_in_param(2, None).into());
        }
        let mut ranges = Vec::with_capacity(count);
        for i in 0..count {
            let at = 8 + i * 16;
            let (Some(lba), Some(n)) = (be(p, at, 8), be(p, at + 8, 4)) else {
                return Err(Sense::param_list_length().into());
            };
            if n > u64::from(self.opts.max_unmap_blocks) {
                return Err(Sense::invalid_field_in_param(at as u16 + 8, None).into());
            }
            let (off, len) = self.range(lba, n)?;
            if n > 0 {
                ranges.push((lba, n, off, len));
            }
        }
        for (lba, n, off, len) in ranges {
            let _g = self.ranges.lock(lba, lba + n);
            self.dev.discard(off, len).map_err(write_err)?;
        }
        self.maybe_flush(false)?;
        Ok(())
    }

    /// COMPARE AND WRITE (SBC-3 5.2): atomic against every other write to
    /// an overlapping range.
    pub(super) fn compare_and_write(&self, c: &Cdb, data: &[u8]) -> R<()> {
        if c.b(1) & 0xe0 != 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(7)));
        }
        let fua = c.b(1) & 0x08 != 0;
        let (lba, n, _) = lba_len(c);
        if n > u64::from(self.opts.max_compare_write_blocks) {
            return Err(Sense::invalid_field_in_cdb(13, None));
        }
        let (off, len) = self.range(lba, n)?;
        self.check_writable()?;
        if n == 0 {
            // Nothing to compare; but data for it means the count wrapped
            // (256 blocks do not fit the one-byte field).
            if !data.is_empty() {
                return Err(Sense::invalid_field_in_cdb(13, None));
            }
            return Ok(());
        }
        let len = len as usize;
        // Data-Out of other than twice the blocks: ILLEGAL REQUEST.
        if data.len() != 2 * len {
            return Err(Sense::invalid_field_in_cdb(13, None));
        }
        let (verify, write) = data.split_at(len);
        let _g = self.ranges.lock(lba, lba + n);
        let mut cur = vec![0u8; len];
        self.dev.read_at(&mut cur, off).map_err(read_err)?;
        if let Some(i) = first_diff(&cur, verify) {
            return Err(Sense::miscompare(i as u64));
        }
        self.dev.write_at(write, off).map_err(write_err)?;
        self.maybe_flush(fua)
    }

    /// ORWRITE(16) (SBC-3 5.8): ORs the Data-Out into the blocks, under
    /// the same range lock as COMPARE AND WRITE (no write slips in between
    /// the read and the write).
    pub(super) fn orwrite(&self, c: &Cdb, data: &[u8]) -> R<()> {
        if c.b(1) & 0xe0 != 0 {
            // ORPROTECT: protection information is not supported.
            return Err(Sense::invalid_field_in_cdb(1, Some(7)));
        }
        let fua = c.b(1) & 0x08 != 0;
        let (lba, n, nbyte) = lba_len(c);
        let (off, len) = self.range(lba, n)?;
        if n > self.max_xfer_blocks() {
            return Err(Sense::invalid_field_in_cdb(nbyte, None));
        }
        self.check_writable()?;
        if n == 0 {
            return Ok(());
        }
        let data = data
            .get(..len as usize)
            .ok_or_else(Sense::data_phase_error)?;
        {
            let _g = self.ranges.lock(lba, lba + n);
            let mut cur = vec![0u8; data.len()];
            self.dev.read_at(&mut cur, off).map_err(read_err)?;
            cur.iter_mut().zip(data).for_each(|(a, b)| *a |= b);
            self.dev.write_at(&cur, off).map_err(write_err)?;
        }
        self.maybe_flush(fua)
    }

    /// Largest WRITE ATOMIC(16) in blocks (VPD 0xB0 MAXIMUM ATOMIC
    /// TRANSFER LENGTH): any write fits, the range lock makes it atomic.
    pub(super) fn max_atomic_blocks(&self) -> u64 {
        self.max_xfer_blocks().min(0xffff)
    }

    /// WRITE ATOMIC(16) (SBC-4 5.48): written whole under the range lock,
    /// so no other write (or COMPARE AND WRITE, ORWRITE) interleaves. No
    /// alignment or granularity constraints; atomic boundaries are not
    /// supported (MAXIMUM ATOMIC BOUNDARY SIZE 0).
    pub(super) fn write_atomic(&self, c: &Cdb, data: &[u8]) -> R<()> {
        if c.b(1) & 0xe0 != 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(7)));
        }
        if c.u16(10) != 0 {
            return Err(Sense::invalid_field_in_cdb(10, None));
        }
        let fua = c.b(1) & 0x08 != 0;
        let (lba, n, nbyte) = lba_len(c);
        let (off, len) = self.range(lba, n)?;
        if n > self.max_atomic_blocks() {
            return Err(Sense::invalid_field_in_cdb(nbyte, None));
        }
        self.check_writable()?;
        if n == 0 {
            return Ok(());
        }
        let data = data
            .get(..len as usize)
            .ok_or_else(Sense::data_phase_error)?;
        {
            let _g = self.ranges.lock(lba, lba + n);
            self.dev.write_at(data, off).map_err(write_err)?;
        }
        self.maybe_flush(fua)
    }

    /// READ DEFECT DATA(10/12) (SBC-3 5.17, 5.18): empty primary and grown
    /// defect lists, in the format asked for.
    pub(super) fn read_defect_data(&self, c: &Cdb) -> R<Vec<u8>> {
        let v = if c.op() == op::READ_DEFECT_DATA_10 {
            let mut v = vec![0u8; 4];
            v[1] = c.b(2) & 0x1f;
            v.truncate(usize::from(c.u16(7)));
            v
        } else {
            let mut v = vec![0u8; 8];
            v[1] = c.b(1) & 0x1f;
            v.truncate(c.u32(6) as usize);
            v
        };
        Ok(v)
    }

    /// SANITIZE (SBC-3 5.20): OVERWRITE writes the initialization pattern
    /// to every block; BLOCK ERASE and CRYPTOGRAPHIC ERASE deallocate the
    /// whole medium (blocks then read as zeros); EXIT FAILURE MODE is a
    /// no-op (a failed sanitize leaves no failure mode behind). Runs to
    /// completion before returning (IMMED is accepted).
    pub(super) fn sanitize(&self, c: &Cdb, data: &[u8]) -> R<()> {
        if c.b(1) & 0x40 != 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(6)));
        }
        if let Some(i) = (2..7).find(|&i| c.b(i) != 0) {
            return Err(Sense::invalid_field_in_cdb(i as u16, None));
        }
        let plen = usize::from(c.u16(7));
        let bs = self.bs() as usize;
        match c.sa() {
            op::SA_SANITIZE_OVERWRITE => {
                // The parameter list (SBC-3 table 52): 4 bytes of header
                // and an initialization pattern of 1..=block size bytes.
                // Errors in it are reported against the PARAMETER LIST
                // LENGTH, as initiators (libiscsi) expect.
                if plen <= 4 || plen > bs + 4 {
                    return Err(Sense::invalid_field_in_cdb(7, None));
                }
                let p = data.get(..plen).ok_or_else(Sense::data_phase_error)?;
                let count = p[0] & 0x1f;
                let invert = p[0] & 0x80 != 0;
                let plen_pattern = usize::from(u16::from_be_bytes([p[2], p[3]]));
                if count == 0 || plen_pattern == 0 || plen_pattern != plen - 4 {
                    return Err(Sense::invalid_field_in_cdb(7, None));
                }
                self.check_writable()?;
                // With INVERT the pattern alternates between passes; only
                // the last pass stays on the medium.
                let flip = if invert && count % 2 == 0 { 0xff } else { 0 };
                let block: Vec<u8> = p[4..].iter().cycle().take(bs).map(|b| b ^ flip).collect();
                self.fill(&block)
            }
            op::SA_SANITIZE_BLOCK_ERASE | op::SA_SANITIZE_CRYPTO_ERASE => {
                if plen != 0 {
                    return Err(Sense::invalid_field_in_cdb(7, None));
                }
                self.check_writable()?;
                let _g = self.ranges.lock(0, self.blocks);
                let size = self.blocks * self.bs();
                if self.opts.thin_provisioning {
                    self.dev.discard(0, size).map_err(write_err)?;
                } else {
                    self.dev.write_zeroes(0, size).map_err(write_err)?;
                }
                self.dev.flush().map_err(write_err)
            }
            op::SA_SANITIZE_EXIT_FAILURE_MODE => {
                if plen != 0 {
                    return Err(Sense::invalid_field_in_cdb(7, None));
                }
                Ok(())
            }
            _ => Err(Sense::invalid_field_in_cdb(1, Some(4))),
        }
    }

    /// Writes `block` to every block of the medium (under the range lock
    /// of the whole medium) and flushes.
    fn fill(&self, block: &[u8]) -> R<()> {
        let _g = self.ranges.lock(0, self.blocks);
        if block.iter().all(|&b| b == 0) {
            self.dev
                .write_zeroes(0, self.blocks * self.bs())
                .map_err(write_err)?;
        } else {
            let per = (CHUNK / self.bs()).clamp(1, self.blocks.max(1));
            let buf = block.repeat(per as usize);
            let mut done = 0;
            while done < self.blocks {
                let k = (self.blocks - done).min(per);
                self.dev
                    .write_at(&buf[..(k * self.bs()) as usize], done * self.bs())
                    .map_err(write_err)?;
                done += k;
            }
        }
        self.dev.flush().map_err(write_err)
    }

    /// READ CAPACITY(10).
    pub(super) fn read_capacity10(&self, c: &Cdb) -> R<Vec<u8>> {
        if c.b(8) & 0x01 == 0 && c.u32(2) != 0 {
            return Err(Sense::invalid_field_in_cdb(2, None));
        }
        let last = self.blocks.saturating_sub(1).min(0xffff_ffff) as u32;
        let mut v = last.to_be_bytes().to_vec();
        v.extend_from_slice(&self.block_size.to_be_bytes());
        Ok(v)
    }

    /// READ CAPACITY(16), with LBPME and LBPRZ under thin provisioning.
    pub(super) fn read_capacity16(&self, c: &Cdb) -> R<Vec<u8>> {
        let mut v = vec![0u8; 32];
        v[..8].copy_from_slice(&self.blocks.saturating_sub(1).to_be_bytes());
        v[8..12].copy_from_slice(&self.block_size.to_be_bytes());
        // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: 4 KiB physical
        // blocks (lowest aligned LBA 0).
        v[13] = self.lbppb_exponent();
        if self.opts.thin_provisioning {
            v[14] = 0x80 | 0x40;
        }
        v.truncate(c.u32(10) as usize);
        Ok(v)
    }

    /// GET LBA STATUS (SBC-3 5.7): one descriptor for the run of blocks
    /// starting at the LBA that share a provisioning status, from the
    /// disk's allocation metadata ([`BlockDevice::allocation`]): holes are
    /// deallocated, stored blocks mapped. A stored run that starts with
    /// blocks of zeros (a discard the file system could only zero) reports
    /// those as deallocated, looking at no more than 1,024 blocks: they are
    /// indistinguishable, LBPRZ being 1. No command reads more than that.
    ///
    /// [`BlockDevice::allocation`]: netboot_blockdev::BlockDevice::allocation
    pub(super) fn get_lba_status(&self, c: &Cdb) -> R<Vec<u8>> {
        use netboot_blockdev::Allocation;
        let lba = c.u64(2);
        if lba >= self.blocks {
            return Err(Sense::lba_out_of_range());
        }
        let rest = (self.blocks - lba).min(u64::from(u32::MAX));
        let (count, status) = if self.opts.thin_provisioning {
            let (off, len) = self.range(lba, rest)?;
            let (kind, run) = self.dev.allocation(off, len).map_err(read_err)?;
            let run = (run / self.bs()).clamp(1, rest);
            match kind {
                Allocation::Zero => (run, 1),
                Allocation::Data | Allocation::Backing => {
                    let k = run.min(LBA_STATUS_SCAN);
                    let (off, len) = self.range(lba, k)?;
                    let mut buf = vec![0u8; len as usize];
                    self.dev.read_at(&mut buf, off).map_err(read_err)?;
                    let zeros = buf
                        .chunks(self.block_size as usize)
                        .take_while(|b| b.iter().all(|&x| x == 0))
                        .count() as u64;
                    match zeros {
                        0 => (run, 0),
                        z => (z, 1),
                    }
                }
            }
        } else {
            (rest, 0)
        };
        let mut v = vec![0u8; 24];
        v[..4].copy_from_slice(&20u32.to_be_bytes());
        v[8..16].copy_from_slice(&lba.to_be_bytes());
        v[16..20].copy_from_slice(&(count as u32).to_be_bytes());
        v[20] = status;
        v.truncate(c.u32(10) as usize);
        Ok(v)
    }
}
