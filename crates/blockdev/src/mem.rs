//! A disk in memory.

use std::sync::RwLock;

use crate::{check_geometry, check_range, Allocation, BlockDevice, Error, Result};

/// A disk held in memory: for tests, fuzzers and examples.
#[derive(Debug)]
pub struct MemDisk {
    data: RwLock<Vec<u8>>,
    block_size: u32,
    read_only: bool,
}

impl MemDisk {
    /// A zeroed disk of `size` bytes.
    ///
    /// # Panics
    /// If the geometry is invalid (see [`MemDisk::try_new`]).
    pub fn new(size: u64, block_size: u32) -> Self {
        Self::try_new(size, block_size).expect("valid geometry")
    }

    /// A zeroed disk of `size` bytes, or an error for a block size other
    /// than 512/4096 or a size that is not a multiple of it.
    pub fn try_new(size: u64, block_size: u32) -> Result<Self> {
        check_geometry(size, block_size)?;
        let len = usize::try_from(size).map_err(|_| Error::Geometry(format!("size {size}")))?;
        Ok(MemDisk {
            data: RwLock::new(vec![0; len]),
            block_size,
            read_only: false,
        })
    }

    /// A disk with the given contents (padded with zeros to a whole block).
    pub fn from_vec(mut data: Vec<u8>, block_size: u32) -> Result<Self> {
        let bs = block_size as usize;
        if bs != 0 {
            data.resize(data.len().div_ceil(bs) * bs, 0);
        }
        check_geometry(data.len() as u64, block_size)?;
        Ok(MemDisk {
            data: RwLock::new(data),
            block_size,
            read_only: false,
        })
    }

    /// Makes the disk read-only.
    pub fn read_only(mut self, ro: bool) -> Self {
        self.read_only = ro;
        self
    }

    /// A copy of the contents.
    pub fn contents(&self) -> Vec<u8> {
        self.data.read().map(|d| d.clone()).unwrap_or_default()
    }
}

fn span(offset: u64, len: usize) -> std::ops::Range<usize> {
    // Only called after check_range, so both fit in usize.
    let start = offset as usize;
    start..start + len
}

/// Bytes [`MemDisk`]'s allocation status looks at per call.
const MEM_SCAN: u64 = 64 << 20;

impl BlockDevice for MemDisk {
    /// A memory disk has no holes: whole blocks of zeros stand for
    /// deallocated ones (they read alike). Looks at most 64 MiB per call.
    fn allocation(&self, offset: u64, len: u64) -> Result<(Allocation, u64)> {
        check_range(offset, len, self.size())?;
        let d = self
            .data
            .read()
            .map_err(|_| Error::Geometry("poisoned".into()))?;
        let bs = self.block_size as usize;
        let r = span(offset, len.min(MEM_SCAN) as usize);
        let zero = |b: &[u8]| b.iter().all(|&x| x == 0);
        let mut blocks = d[r].chunks(bs);
        let Some(first) = blocks.next() else {
            return Ok((Allocation::Data, 0));
        };
        let z = zero(first);
        let run = 1 + blocks.take_while(|b| zero(b) == z).count();
        let kind = if z {
            Allocation::Zero
        } else {
            Allocation::Data
        };
        Ok((kind, (run * bs) as u64))
    }

    fn size(&self) -> u64 {
        self.data.read().map(|d| d.len() as u64).unwrap_or(0)
    }
    fn block_size(&self) -> u32 {
        self.block_size
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let d = self.data.read().expect("lock");
        check_range(offset, buf.len() as u64, d.len() as u64)?;
        buf.copy_from_slice(&d[span(offset, buf.len())]);
        Ok(())
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut d = self.data.write().expect("lock");
        check_range(offset, buf.len() as u64, d.len() as u64)?;
        d[span(offset, buf.len())].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        self.write_zeroes(offset, len)
    }
    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut d = self.data.write().expect("lock");
        check_range(offset, len, d.len() as u64)?;
        d[span(offset, len as usize)].fill(0);
        Ok(())
    }
}
