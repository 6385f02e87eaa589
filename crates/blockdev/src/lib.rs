//! Virtual disks for network block targets (iSCSI, AoE).
//!
//! [`BlockDevice`] is deliberately small: size, logical block size,
//! positional reads and writes, flush, discard (hole punching) and
//! write-zeroes, and whether the disk is read-only. Every method takes
//! `&self` and byte offsets, so one disk serves many commands at once (the
//! disk is not a lock); implementations do their own range checks with
//! checked arithmetic.
//!
//! Backends: [`FileDisk`] (regular file or block device, positional I/O,
//! optional `O_DIRECT`) and [`MemDisk`] (memory, for tests, fuzzers and
//! examples). Copy-on-write overlays can be added as another backend.
//!
//! Durability contract: data written with [`BlockDevice::write_at`] is on
//! stable storage once a later [`BlockDevice::flush`] returns `Ok`. Targets
//! call `flush` before reporting SYNCHRONIZE CACHE or a FUA write as done.
//!
//! ```
//! use netboot_blockdev::{BlockDevice, MemDisk};
//! let disk = MemDisk::new(1 << 20, 512);
//! disk.write_at(b"boot sector", 0).unwrap();
//! let mut buf = [0u8; 11];
//! disk.read_at(&mut buf, 0).unwrap();
//! assert_eq!(&buf, b"boot sector");
//! assert!(disk.read_at(&mut buf, (1 << 20) - 5).is_err());
//! ```

#![warn(missing_docs)]

mod file;
mod mem;

pub use file::{FileDisk, OpenOptions};
pub use mem::MemDisk;

use std::io;

/// Errors of block devices. Each names the request that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request reaches past the end of the disk (or overflows).
    #[error("range {offset}+{len} is outside the disk of {size} bytes")]
    OutOfRange {
        /// Byte offset asked for.
        offset: u64,
        /// Length asked for.
        len: u64,
        /// Disk size.
        size: u64,
    },
    /// A write, discard or write-zeroes on a read-only disk.
    #[error("disk is read-only")]
    ReadOnly,
    /// No space for the write: the disk's size limit (an overlay's) or the
    /// file system holding it is full. Earlier data is unaffected.
    #[error("no space for the write at {offset}: {what}")]
    NoSpace {
        /// Byte offset of the request.
        offset: u64,
        /// Which limit: the overlay's, or the file system's.
        what: String,
    },
    /// The block size is not 512 or 4096, or the size not a multiple of it.
    #[error("invalid geometry: {0}")]
    Geometry(String),
    /// The operating system refused.
    #[error("{op} at offset {offset}: {source}")]
    Io {
        /// Operation that failed.
        op: &'static str,
        /// Byte offset of the request.
        offset: u64,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

/// How a run of a disk's bytes is provisioned (for GET LBA STATUS, and for
/// copying only what is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Allocation {
    /// Stored in this disk: reads return what was written (which may be
    /// zeros).
    Data,
    /// Not stored: reads return zeros (a hole, a discarded range).
    Zero,
    /// Not stored in this disk: reads come from the image it is layered on.
    Backing,
}

/// A virtual disk.
pub trait BlockDevice: Send + Sync + std::fmt::Debug {
    /// Size in bytes (a multiple of [`BlockDevice::block_size`]).
    fn size(&self) -> u64;
    /// Logical block size in bytes: 512 or 4096.
    fn block_size(&self) -> u32;
    /// True if writes are refused.
    fn read_only(&self) -> bool;
    /// Fills `buf` from `offset`; the whole range must lie inside the disk.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
    /// Writes `buf` at `offset`; the whole range must lie inside the disk.
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()>;
    /// Makes every completed write durable (fdatasync).
    fn flush(&self) -> Result<()>;
    /// Puts what was written so far into the disk's files: caches of an
    /// image format (qcow2's tables) are written back, without an fsync.
    /// It then survives the end of this process, not a crash of the
    /// machine, as a write to a raw file does. For initiators that never
    /// flush (Linux's AoE driver takes its disks for write-through). The
    /// default: nothing to do (the data is in the file already).
    fn write_back(&self) -> Result<()> {
        Ok(())
    }
    /// Takes the disk for this process's writes alone, where other
    /// servers could write it too (an RBD image's exclusive lock: two
    /// gateways, one writer). A target calls it when an initiator logs
    /// in; it fails while a live server elsewhere holds the disk. The
    /// default: nothing to take (a local file has one server).
    fn claim(&self) -> Result<()> {
        Ok(())
    }
    /// Deallocates the range (reads return zeros afterwards). Backends that
    /// cannot deallocate write zeros instead.
    fn discard(&self, offset: u64, len: u64) -> Result<()>;
    /// Writes zeros over the range, deallocating where the backend can.
    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()>;
    /// Fills `bufs` one after the other from `offset` (one `preadv` where
    /// the backend can); the whole range must lie inside the disk.
    fn read_vectored_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> Result<()> {
        let mut at = offset;
        for b in bufs.iter_mut() {
            self.read_at(b, at)?;
            at += b.len() as u64;
        }
        Ok(())
    }
    /// Writes `bufs` one after the other at `offset` (one `pwritev` where
    /// the backend can); the whole range must lie inside the disk.
    fn write_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> Result<()> {
        let mut at = offset;
        for b in bufs {
            self.write_at(b, at)?;
            at += b.len() as u64;
        }
        Ok(())
    }
    /// The provisioning status of the run of bytes at `offset` and the
    /// run's length: at most `len`, at least one block (when `len` is),
    /// and a multiple of the block size. Answered from metadata (file
    /// holes, allocation tables), never by reading the data, so it is
    /// cheap whatever `len` is. The default: everything is [`Allocation::Data`].
    fn allocation(&self, offset: u64, len: u64) -> Result<(Allocation, u64)> {
        check_range(offset, len, self.size())?;
        Ok((Allocation::Data, len))
    }
    /// Number of logical blocks.
    fn blocks(&self) -> u64 {
        self.size() / u64::from(self.block_size())
    }
}

/// Checks that `offset..offset+len` lies inside a disk of `size` bytes.
pub fn check_range(offset: u64, len: u64, size: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::OutOfRange { offset, len, size }),
    }
}

fn check_geometry(size: u64, block_size: u32) -> Result<()> {
    if block_size != 512 && block_size != 4096 {
        return Err(Error::Geometry(format!(
            "block size {block_size} (must be 512 or 4096)"
        )));
    }
    if size % u64::from(block_size) != 0 {
        return Err(Error::Geometry(format!(
            "size {size} is not a multiple of the block size {block_size}"
        )));
    }
    Ok(())
}

impl<T: BlockDevice + ?Sized> BlockDevice for std::sync::Arc<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn block_size(&self) -> u32 {
        (**self).block_size()
    }
    fn read_only(&self) -> bool {
        (**self).read_only()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        (**self).read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        (**self).write_at(buf, offset)
    }
    fn flush(&self) -> Result<()> {
        (**self).flush()
    }
    fn write_back(&self) -> Result<()> {
        (**self).write_back()
    }
    fn claim(&self) -> Result<()> {
        (**self).claim()
    }
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        (**self).discard(offset, len)
    }
    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        (**self).write_zeroes(offset, len)
    }
    fn allocation(&self, offset: u64, len: u64) -> Result<(Allocation, u64)> {
        (**self).allocation(offset, len)
    }
    fn read_vectored_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> Result<()> {
        (**self).read_vectored_at(bufs, offset)
    }
    fn write_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> Result<()> {
        (**self).write_vectored_at(bufs, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_checks_overflow() {
        assert!(check_range(0, 512, 512).is_ok());
        assert!(check_range(512, 0, 512).is_ok());
        assert!(check_range(1, 512, 512).is_err());
        assert!(check_range(u64::MAX, 2, u64::MAX).is_err());
        assert_eq!(
            check_range(10, 600, 512).unwrap_err().to_string(),
            "range 10+600 is outside the disk of 512 bytes"
        );
    }
}
