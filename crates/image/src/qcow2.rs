//! A qcow2 image (with its backing chain) as a [`BlockDevice`].

use std::path::PathBuf;
use std::sync::RwLock;

use imago::ShallowMapping;
use netboot_blockdev::{check_range, Allocation, BlockDevice, Error as DevError, Result};

use crate::{Error, Layer};

/// A qcow2 disk: reads, writes and write-zeroes run concurrently; a
/// discard waits for them (imago frees clusters only with the image to
/// itself).
#[derive(Debug)]
pub struct Qcow2Disk {
    image: RwLock<Layer>,
    path: PathBuf,
    size: u64,
    block_size: u32,
    read_only: bool,
}

fn io(op: &'static str, offset: u64) -> impl FnOnce(std::io::Error) -> DevError {
    move |source| DevError::Io { op, offset, source }
}

impl Qcow2Disk {
    pub(crate) fn new(
        image: Layer,
        path: PathBuf,
        block_size: u32,
        read_only: bool,
    ) -> std::result::Result<Self, Error> {
        let size = image.size();
        if !matches!(block_size, 512 | 4096) || size % u64::from(block_size) != 0 || size == 0 {
            return Err(Error::Invalid {
                image: path,
                what: format!("size {size} is not a whole number of {block_size}-byte blocks"),
            });
        }
        Ok(Qcow2Disk {
            image: RwLock::new(image),
            path,
            size,
            block_size,
            read_only,
        })
    }

    /// The image file (the top of the chain).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn layer(&self) -> std::sync::RwLockReadGuard<'_, Layer> {
        self.image.read().unwrap_or_else(|e| e.into_inner())
    }

    fn writable(&self, offset: u64, len: u64) -> Result<()> {
        if self.read_only {
            return Err(DevError::ReadOnly);
        }
        check_range(offset, len, self.size)
    }
}

impl BlockDevice for Qcow2Disk {
    fn size(&self) -> u64 {
        self.size
    }

    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size)?;
        self.layer().read(buf, offset).map_err(io("read", offset))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.writable(offset, buf.len() as u64)?;
        self.layer().write(buf, offset).map_err(io("write", offset))
    }

    /// Writes back imago's metadata caches, then `fsync`s the image.
    fn flush(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let l = self.layer();
        l.flush().map_err(io("flush", 0))?;
        l.sync().map_err(io("sync", 0))
    }

    /// The range reads zeros afterwards (never the backing image showing
    /// through) and the overlay's clusters in it are freed.
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        self.writable(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        let mut l = self.image.write().unwrap_or_else(|e| e.into_inner());
        l.discard_to_zero(offset, len)
            .map_err(io("discard", offset))
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        self.writable(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        self.layer()
            .write_zeroes(offset, len)
            .map_err(io("write zeroes", offset))
    }

    /// From the overlay's tables: clusters it stores are data, zero
    /// clusters and the space past a shorter backing image are zero, the
    /// rest comes from the backing image.
    fn allocation(&self, offset: u64, len: u64) -> Result<(Allocation, u64)> {
        check_range(offset, len, self.size)?;
        if len == 0 {
            return Ok((Allocation::Data, 0));
        }
        let l = self.layer();
        let (m, run) = l
            .get_shallow_mapping(offset, len)
            .map_err(io("map", offset))?;
        let kind = match m {
            ShallowMapping::Raw { .. } | ShallowMapping::Special { .. } => Allocation::Data,
            ShallowMapping::Indirect { .. } => Allocation::Backing,
            ShallowMapping::Zero { .. } | ShallowMapping::Eof { .. } => Allocation::Zero,
            _ => Allocation::Data,
        };
        let bs = u64::from(self.block_size);
        let run = run.min(len);
        // Whole blocks: a 4 KiB block over 512-byte clusters of different
        // kinds counts as data.
        Ok(if run >= bs {
            (kind, run - run % bs)
        } else {
            (Allocation::Data, bs.min(len))
        })
    }
}
