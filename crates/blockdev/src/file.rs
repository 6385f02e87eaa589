//! A disk backed by a regular file or a block device.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{fallocate, FallocateFlags};

use crate::{check_geometry, check_range, Allocation, BlockDevice, Error, Result};

/// Alignment used for `O_DIRECT` bounce buffers.
const DIRECT_ALIGN: usize = 4096;

/// How to open a [`FileDisk`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Refuse writes (and open the file read-only).
    pub read_only: bool,
    /// Logical block size: 512 or 4096.
    pub block_size: u32,
    /// Create a sparse file of this many bytes if the path does not exist.
    pub create_size: Option<u64>,
    /// Bypass the page cache (`O_DIRECT`) where the file system allows it.
    pub direct: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read_only: false,
            block_size: 512,
            create_size: None,
            direct: false,
        }
    }
}

/// A regular file or block device as a disk, with positional I/O (`pread`,
/// `pwrite`): many commands can run on it at once.
///
/// A file whose length is not a multiple of the block size exposes only its
/// whole blocks.
#[derive(Debug)]
pub struct FileDisk {
    file: File,
    /// A second descriptor with `O_DIRECT`, used for aligned requests.
    direct: Option<File>,
    /// An `O_DIRECT` request was refused (EINVAL) and served through the
    /// page cache instead: logged once per disk.
    fell_back: std::sync::atomic::AtomicBool,
    path: std::path::PathBuf,
    size: u64,
    block_size: u32,
    read_only: bool,
    is_block_device: bool,
}

fn io(op: &'static str, offset: u64) -> impl FnOnce(io::Error) -> Error {
    move |source| {
        if source.kind() == io::ErrorKind::StorageFull {
            Error::NoSpace {
                offset,
                what: "the file system is full".into(),
            }
        } else {
            Error::Io { op, offset, source }
        }
    }
}

impl FileDisk {
    /// Opens (or creates, see [`OpenOptions::create_size`]) a disk image.
    pub fn open(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<FileDisk> {
        let path = path.as_ref();
        check_geometry(0, opts.block_size)?;
        if let (Some(size), false) = (opts.create_size, path.exists()) {
            check_geometry(size, opts.block_size)?;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(io("create", 0))?;
            f.set_len(size).map_err(io("set_len", size))?;
            f.sync_all().map_err(io("sync", 0))?;
        }
        let open = |direct: bool| {
            let mut o = std::fs::OpenOptions::new();
            o.read(true).write(!opts.read_only);
            if direct {
                o.custom_flags(nix::libc::O_DIRECT);
            }
            o.open(path)
        };
        let mut file = open(false).map_err(io("open", 0))?;
        let meta = file.metadata().map_err(io("stat", 0))?;
        let is_block_device = {
            use std::os::unix::fs::FileTypeExt;
            meta.file_type().is_block_device()
        };
        let len = if is_block_device {
            file.seek(SeekFrom::End(0)).map_err(io("seek", 0))?
        } else if meta.is_file() {
            meta.len()
        } else {
            return Err(Error::Geometry(format!(
                "{} is neither a regular file nor a block device",
                path.display()
            )));
        };
        let bs = u64::from(opts.block_size);
        let size = len - len % bs;
        let direct = match opts.direct {
            false => None,
            true => match open(true) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::warn!(
                        disk = %path.display(),
                        error = %e,
                        "O_DIRECT is not available here: this disk uses the page cache"
                    );
                    None
                }
            },
        };
        Ok(FileDisk {
            file,
            direct,
            fell_back: std::sync::atomic::AtomicBool::new(false),
            path: path.to_path_buf(),
            size,
            block_size: opts.block_size,
            read_only: opts.read_only,
            is_block_device,
        })
    }

    /// Whether aligned requests bypass the page cache (`O_DIRECT` was
    /// asked for and the file system took it).
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// What an `O_DIRECT` request's result means: done (`Some(Ok)`), a
    /// failure of the disk (`Some(Err)`: never retried through the page
    /// cache, which would hide it), or refused by the file system (EINVAL:
    /// `None`, served buffered, logged once per disk).
    fn direct_result(
        &self,
        r: io::Result<()>,
        op: &'static str,
        offset: u64,
    ) -> Option<Result<()>> {
        match r {
            Ok(()) => Some(Ok(())),
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                if !self
                    .fell_back
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        disk = %self.path.display(),
                        op,
                        offset,
                        "O_DIRECT refused a request (EINVAL): served through the page cache \
                         (logged once per disk)"
                    );
                }
                None
            }
            Err(e) => Some(Err(io(op, offset)(e))),
        }
    }

    fn aligned(&self, offset: u64, len: usize) -> bool {
        self.direct.is_some()
            && offset % DIRECT_ALIGN as u64 == 0
            && len % DIRECT_ALIGN == 0
            && len > 0
    }

    fn zero_fill(&self, offset: u64, len: u64) -> Result<()> {
        let chunk = vec![0u8; 1 << 20];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(chunk.len() as u64) as usize;
            self.file
                .write_all_at(&chunk[..n], offset + done)
                .map_err(io("write zeroes", offset + done))?;
            done += n as u64;
        }
        Ok(())
    }

    fn fallocate(&self, flags: FallocateFlags, offset: u64, len: u64) -> io::Result<()> {
        let off = i64::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let l = i64::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        fallocate(self.file.as_raw_fd(), flags, off, l).map_err(io::Error::from)
    }
}

/// A buffer aligned for `O_DIRECT`, without unsafe code: over-allocate and
/// start at the aligned offset.
fn aligned_buf(len: usize) -> (Vec<u8>, usize) {
    let v = vec![0u8; len + DIRECT_ALIGN];
    let start = v.as_ptr().align_offset(DIRECT_ALIGN);
    (v, start)
}

impl BlockDevice for FileDisk {
    fn size(&self) -> u64 {
        self.size
    }

    /// Holes of a regular file (`SEEK_DATA`/`SEEK_HOLE`) are
    /// [`Allocation::Zero`], the rest [`Allocation::Data`]; a block device,
    /// or a file system without hole reporting, is all data. A run is
    /// rounded to whole blocks; a block that is partly a hole counts as
    /// data.
    fn allocation(&self, offset: u64, len: u64) -> Result<(Allocation, u64)> {
        use nix::unistd::{lseek, Whence};
        check_range(offset, len, self.size)?;
        let bs = u64::from(self.block_size);
        if len == 0 || self.is_block_device {
            return Ok((Allocation::Data, len));
        }
        let at = i64::try_from(offset).map_err(|_| Error::OutOfRange {
            offset,
            len,
            size: self.size,
        })?;
        let fd = self.file.as_raw_fd();
        // The file offset these move is not used: all I/O is positional.
        let (kind, run) = match lseek(fd, at, Whence::SeekData) {
            // No data from `offset` to the end of the file.
            Err(nix::errno::Errno::ENXIO) => (Allocation::Zero, len),
            Err(_) => (Allocation::Data, len),
            Ok(data) if data as u64 > offset => (Allocation::Zero, data as u64 - offset),
            Ok(_) => match lseek(fd, at, Whence::SeekHole) {
                Ok(hole) if hole as u64 > offset => (Allocation::Data, hole as u64 - offset),
                _ => (Allocation::Data, len),
            },
        };
        let run = run.min(len);
        // Whole blocks: a hole's run rounds down (a block partly stored is
        // data), data's run rounds up.
        Ok(match kind {
            Allocation::Zero if run >= bs => (kind, run - run % bs),
            Allocation::Zero => (Allocation::Data, bs.min(len)),
            _ => (kind, run.div_ceil(bs).saturating_mul(bs).min(len)),
        })
    }

    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size)?;
        if let (true, Some(d)) = (self.aligned(offset, buf.len()), &self.direct) {
            let (mut b, s) = aligned_buf(buf.len());
            let r = d.read_exact_at(&mut b[s..s + buf.len()], offset);
            if let Some(r) = self.direct_result(r, "read", offset) {
                return r.map(|()| buf.copy_from_slice(&b[s..s + buf.len()]));
            }
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(io("read", offset))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        check_range(offset, buf.len() as u64, self.size)?;
        if let (true, Some(d)) = (self.aligned(offset, buf.len()), &self.direct) {
            let (mut b, s) = aligned_buf(buf.len());
            b[s..s + buf.len()].copy_from_slice(buf);
            let r = d.write_all_at(&b[s..s + buf.len()], offset);
            if let Some(r) = self.direct_result(r, "write", offset) {
                return r;
            }
        }
        self.file
            .write_all_at(buf, offset)
            .map_err(io("write", offset))
    }

    fn flush(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data().map_err(io("fdatasync", 0))
    }

    fn read_vectored_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> Result<()> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        check_range(offset, total as u64, self.size)?;
        if self.direct.is_some() || bufs.len() < 2 {
            // O_DIRECT wants aligned buffers: one aligned call each.
            let mut at = offset;
            for b in bufs.iter_mut() {
                self.read_at(b, at)?;
                at += b.len() as u64;
            }
            return Ok(());
        }
        let off = i64::try_from(offset).map_err(|_| Error::OutOfRange {
            offset,
            len: total as u64,
            size: self.size,
        })?;
        let mut iov: Vec<std::io::IoSliceMut<'_>> = bufs
            .iter_mut()
            .map(|b| std::io::IoSliceMut::new(b))
            .collect();
        let n = loop {
            match nix::sys::uio::preadv(&self.file, &mut iov, off) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => {
                    break r.map_err(|e| Error::Io {
                        op: "read",
                        offset,
                        source: e.into(),
                    })?
                }
            }
        };
        drop(iov);
        if n < total {
            // Short read: the rest one buffer at a time.
            let mut at = 0usize;
            for b in bufs.iter_mut() {
                let end = at + b.len();
                if end > n {
                    let skip = n.saturating_sub(at);
                    self.file
                        .read_exact_at(&mut b[skip..], offset + (at + skip) as u64)
                        .map_err(io("read", offset + (at + skip) as u64))?;
                }
                at = end;
            }
        }
        Ok(())
    }

    fn write_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        check_range(offset, total as u64, self.size)?;
        if self.direct.is_some() || bufs.len() < 2 {
            let mut at = offset;
            for b in bufs {
                self.write_at(b, at)?;
                at += b.len() as u64;
            }
            return Ok(());
        }
        let off = i64::try_from(offset).map_err(|_| Error::OutOfRange {
            offset,
            len: total as u64,
            size: self.size,
        })?;
        let iov: Vec<std::io::IoSlice<'_>> =
            bufs.iter().map(|b| std::io::IoSlice::new(b)).collect();
        let n = loop {
            match nix::sys::uio::pwritev(&self.file, &iov, off) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => {
                    break r.map_err(|e| Error::Io {
                        op: "write",
                        offset,
                        source: e.into(),
                    })?
                }
            }
        };
        if n < total {
            // Short write: the rest one buffer at a time.
            let mut at = 0usize;
            for b in bufs {
                let end = at + b.len();
                if end > n {
                    let skip = n.saturating_sub(at);
                    self.file
                        .write_all_at(&b[skip..], offset + (at + skip) as u64)
                        .map_err(io("write", offset + (at + skip) as u64))?;
                }
                at = end;
            }
        }
        Ok(())
    }

    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        check_range(offset, len, self.size)?;
        if len == 0 {
            return Ok(());
        }
        if !self.is_block_device
            && self
                .fallocate(
                    FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                    offset,
                    len,
                )
                .is_ok()
        {
            return Ok(());
        }
        self.zero_fill(offset, len)
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        check_range(offset, len, self.size)?;
        if len == 0 {
            return Ok(());
        }
        if !self.is_block_device {
            for flags in [
                FallocateFlags::FALLOC_FL_ZERO_RANGE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
            ] {
                if self.fallocate(flags, offset, len).is_ok() {
                    return Ok(());
                }
            }
        }
        self.zero_fill(offset, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn disk(dir: &tempfile::TempDir, opts: OpenOptions) -> FileDisk {
        FileDisk::open(dir.path().join("disk.img"), &opts).unwrap()
    }

    /// A new sparse disk of `size` bytes in a new directory.
    fn sparse(size: u64) -> (tempfile::TempDir, FileDisk) {
        let dir = tempfile::tempdir().unwrap();
        let d = disk(
            &dir,
            OpenOptions {
                create_size: Some(size),
                ..OpenOptions::default()
            },
        );
        (dir, d)
    }

    #[test]
    fn vectored_io_round_trips() {
        let (_dir, d) = sparse(1 << 20);
        let parts: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i + 1; 1024]).collect();
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        d.write_vectored_at(&refs, 4096).unwrap();
        let mut flat = vec![0u8; 5 * 1024];
        d.read_at(&mut flat, 4096).unwrap();
        assert_eq!(flat, parts.concat());
        let mut a = vec![0u8; 512];
        let mut b = vec![0u8; 3 * 1024];
        d.read_vectored_at(&mut [&mut a, &mut b], 4096 + 512)
            .unwrap();
        assert_eq!(a, flat[512..1024]);
        assert_eq!(b, flat[1024..4096]);
        assert!(d
            .read_vectored_at(&mut [&mut a, &mut b], (1 << 20) - 1024)
            .is_err());
        assert!(d.write_vectored_at(&refs, (1 << 20) - 1024).is_err());
    }

    #[test]
    fn creates_sparse_and_round_trips() {
        let (dir, d) = sparse(64 << 20);
        assert_eq!(d.size(), 64 << 20);
        assert_eq!(d.blocks(), (64 << 20) / 512);
        let meta = std::fs::metadata(dir.path().join("disk.img")).unwrap();
        assert!(meta.blocks() * 512 < 1 << 20, "sparse");
        let data: Vec<u8> = (0..8192).map(|i| i as u8).collect();
        d.write_at(&data, 4096).unwrap();
        d.flush().unwrap();
        let mut back = vec![0u8; 8192];
        d.read_at(&mut back, 4096).unwrap();
        assert_eq!(back, data);
        assert!(matches!(
            d.read_at(&mut back, (64 << 20) - 100),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            d.write_at(&back, u64::MAX - 10),
            Err(Error::OutOfRange { .. })
        ));
    }

    #[test]
    fn allocation_follows_the_holes_of_the_file() {
        let (_dir, d) = sparse(8 << 20);
        let all = 8 << 20;
        assert_eq!(d.allocation(0, all).unwrap(), (Allocation::Zero, all));
        d.write_at(&[1u8; 4096], 1 << 20).unwrap();
        d.flush().unwrap();
        assert_eq!(d.allocation(0, all).unwrap(), (Allocation::Zero, 1 << 20));
        let (kind, run) = d.allocation(1 << 20, all - (1 << 20)).unwrap();
        assert_eq!(kind, Allocation::Data);
        assert!((4096..=1 << 20).contains(&run), "{run}");
        // Capped at the length asked for, and never past the end.
        assert_eq!(d.allocation(0, 512).unwrap(), (Allocation::Zero, 512));
        assert!(d.allocation(all - 512, 1024).is_err());
        d.discard(1 << 20, 4096).unwrap();
        assert_eq!(d.allocation(0, all).unwrap(), (Allocation::Zero, all));
    }

    #[test]
    fn discard_punches_holes_and_reads_zero() {
        let (dir, d) = sparse(8 << 20);
        d.write_at(&vec![0xffu8; 4 << 20], 0).unwrap();
        d.flush().unwrap();
        let before = std::fs::metadata(dir.path().join("disk.img"))
            .unwrap()
            .blocks();
        d.discard(0, 2 << 20).unwrap();
        let after = std::fs::metadata(dir.path().join("disk.img"))
            .unwrap()
            .blocks();
        assert!(after < before, "{before} -> {after} blocks");
        let mut b = vec![1u8; 4096];
        d.read_at(&mut b, 1 << 20).unwrap();
        assert!(b.iter().all(|&x| x == 0));
        d.write_zeroes(3 << 20, 4096).unwrap();
        d.read_at(&mut b, 3 << 20).unwrap();
        assert!(b.iter().all(|&x| x == 0));
        d.read_at(&mut b, (3 << 20) + 4096).unwrap();
        assert!(b.iter().all(|&x| x == 0xff));
    }

    #[test]
    fn read_only_and_geometry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("disk.img"), vec![7u8; 4096 * 3 + 100]).unwrap();
        let d = disk(
            &dir,
            OpenOptions {
                read_only: true,
                block_size: 4096,
                ..OpenOptions::default()
            },
        );
        assert_eq!(d.size(), 4096 * 3, "partial block not exposed");
        assert!(matches!(d.write_at(&[0u8; 4096], 0), Err(Error::ReadOnly)));
        assert!(matches!(d.discard(0, 4096), Err(Error::ReadOnly)));
        assert!(FileDisk::open(
            dir.path().join("disk.img"),
            &OpenOptions {
                block_size: 1000,
                ..OpenOptions::default()
            }
        )
        .is_err());
    }

    #[test]
    fn direct_io_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk(
            &dir,
            OpenOptions {
                create_size: Some(1 << 20),
                direct: true,
                ..OpenOptions::default()
            },
        );
        let data = vec![0x5au8; 8192];
        d.write_at(&data, 8192).unwrap();
        d.write_at(&data[..512], 512).unwrap();
        let mut b = vec![0u8; 8192];
        d.read_at(&mut b, 8192).unwrap();
        assert_eq!(b, data);
        let mut s = vec![0u8; 512];
        d.read_at(&mut s, 512).unwrap();
        assert_eq!(s, &data[..512]);
    }

    /// EINVAL from an `O_DIRECT` request (what a file system that cannot do
    /// the alignment says) falls back to the page cache and is noted once;
    /// any other error (EIO: the disk failed) is the command's error, not
    /// retried buffered where the page cache would hide it.
    #[test]
    fn only_a_refused_direct_request_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk(
            &dir,
            OpenOptions {
                create_size: Some(1 << 20),
                direct: true,
                ..OpenOptions::default()
            },
        );
        let os = |n| Err(io::Error::from_raw_os_error(n));
        assert!(d.direct_result(Ok(()), "read", 0).unwrap().is_ok());
        assert!(!d.fell_back.load(std::sync::atomic::Ordering::Relaxed));
        assert!(d.direct_result(os(nix::libc::EINVAL), "read", 0).is_none());
        assert!(d.fell_back.load(std::sync::atomic::Ordering::Relaxed));
        let e = d.direct_result(os(nix::libc::EIO), "write", 4096).unwrap();
        assert!(
            matches!(
                e,
                Err(Error::Io {
                    op: "write",
                    offset: 4096,
                    ..
                })
            ),
            "{e:?}"
        );
    }
}
