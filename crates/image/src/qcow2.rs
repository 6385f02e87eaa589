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
    /// The image file again, to punch the holes of freed clusters.
    file: Option<std::fs::File>,
    /// Its cluster size, when holes may be punched (qcow2 v3, whose zero
    /// clusters need no allocation).
    cluster_size: Option<u64>,
    /// Most bytes the file may take on disk.
    max_bytes: Option<u64>,
    /// The 80 % warning was logged (and the file has not shrunk below 70 %
    /// since).
    warned: std::sync::atomic::AtomicBool,
    /// When a refused write was last logged, and how many refusals were
    /// not logged since: a PC that keeps writing to a full overlay makes
    /// one line per 10 s, not one per write.
    refusals: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
    path: PathBuf,
    size: u64,
    block_size: u32,
    read_only: bool,
}

fn io(op: &'static str, offset: u64) -> impl FnOnce(std::io::Error) -> DevError {
    move |source| {
        if source.kind() == std::io::ErrorKind::StorageFull {
            DevError::NoSpace {
                offset,
                what: "the file system holding the overlay is full".into(),
            }
        } else {
            DevError::Io { op, offset, source }
        }
    }
}

impl Qcow2Disk {
    pub(crate) fn new(
        image: Layer,
        path: PathBuf,
        block_size: u32,
        read_only: bool,
        max_bytes: Option<u64>,
    ) -> std::result::Result<Self, Error> {
        let size = image.size();
        if !matches!(block_size, 512 | 4096) || size % u64::from(block_size) != 0 || size == 0 {
            return Err(Error::Invalid {
                image: path,
                what: format!("size {size} is not a whole number of {block_size}-byte blocks"),
            });
        }
        let file = if read_only {
            None
        } else {
            Some(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|source| Error::Io {
                        image: path.clone(),
                        source,
                    })?,
            )
        };
        let cluster_size = file.as_ref().and_then(v3_cluster_size);
        Ok(Qcow2Disk {
            image: RwLock::new(image),
            file,
            cluster_size,
            max_bytes,
            warned: std::sync::atomic::AtomicBool::new(false),
            refusals: std::sync::Mutex::new((None, 0)),
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

    /// Bytes the image file takes on disk.
    fn allocated(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        Some(self.file.as_ref()?.metadata().ok()?.blocks() * 512)
    }

    /// Logs a refused write, at most once per 10 s with the count of the
    /// refusals since the last line.
    fn log_refusal(&self, used: u64, max: u64) {
        let now = std::time::Instant::now();
        let mut r = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        match r.0 {
            Some(t) if now.duration_since(t) < std::time::Duration::from_secs(10) => r.1 += 1,
            _ => {
                tracing::warn!(
                    disk = %self.path.display(),
                    used,
                    max,
                    not_logged = r.1,
                    "write refused: the overlay is full"
                );
                *r = (Some(now), 0);
            }
        }
    }

    /// Refuses a write of `len` bytes at `offset` that would grow the file
    /// past its limit (rewrites of the overlay's own clusters always fit),
    /// and warns once at 80 % of it.
    fn check_limit(&self, l: &Layer, offset: u64, len: u64) -> Result<()> {
        use std::sync::atomic::Ordering;
        let (Some(max), Some(used)) = (self.max_bytes, self.allocated()) else {
            return Ok(());
        };
        let own: u64 = raw_runs(l, offset, len)
            .map_err(io("map", offset))?
            .iter()
            .map(|(_, r, _)| r)
            .sum();
        if own >= len {
            return Ok(());
        }
        let cs = self.cluster_size.unwrap_or(65536);
        let grow = (len - own).div_ceil(cs) * cs;
        if used + grow <= max {
            if used + grow >= max / 10 * 8 {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        disk = %self.path.display(),
                        used = used + grow,
                        max,
                        "overlay at {}% of its size limit",
                        (used + grow) * 100 / max.max(1)
                    );
                }
            } else if used < max / 10 * 7 {
                self.warned.store(false, Ordering::Relaxed);
            }
        } else {
            self.log_refusal(used, max);
            return Err(DevError::NoSpace {
                offset,
                what: format!(
                    "{} would pass its size limit of {max} bytes",
                    self.path.display()
                ),
            });
        }
        Ok(())
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
        let l = self.layer();
        self.check_limit(&l, offset, buf.len() as u64)?;
        l.write(buf, offset).map_err(io("write", offset))
    }

    /// Writes back imago's metadata caches (L2 and refcount tables): what
    /// was written reads the same from the file for anyone, and survives
    /// this process.
    fn write_back(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.layer().flush().map_err(io("write back", 0))
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
    /// through), the overlay's clusters in it are freed, and their space
    /// goes back to the file system. imago only marks freed clusters free,
    /// so their holes are punched here, with care that no cluster freed is
    /// used again before its hole is punched: first whatever may allocate
    /// is done (zeroing the partial clusters at the ends, and the clusters
    /// that are not the overlay's own), then the overlay's own whole
    /// clusters are discarded (which allocates nothing) and punched.
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        self.writable(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        let mut l = self.image.write().unwrap_or_else(|e| e.into_inner());
        let (Some(file), Some(cs)) = (&self.file, self.cluster_size) else {
            return l
                .discard_to_zero(offset, len)
                .map_err(io("discard", offset));
        };
        let end = offset + len;
        let (lo, hi) = (offset.next_multiple_of(cs), end - end % cs);
        if lo >= hi {
            return l.write_zeroes(offset, len).map_err(io("discard", offset));
        }
        l.write_zeroes(offset, lo - offset)
            .map_err(io("discard", offset))?;
        l.write_zeroes(hi, end - hi).map_err(io("discard", hi))?;
        let mut at = lo;
        for (g, r, _) in raw_runs(&l, lo, hi - lo).map_err(io("map", lo))? {
            l.write_zeroes(at, g - at).map_err(io("discard", at))?;
            at = g + r;
        }
        l.write_zeroes(at, hi - at).map_err(io("discard", at))?;
        for (g, r, host) in raw_runs(&l, lo, hi - lo).map_err(io("map", lo))? {
            l.discard_to_zero(g, r).map_err(io("discard", g))?;
            punch(file, host, r);
        }
        Ok(())
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

/// The runs of `offset..offset+len` that the overlay stores itself:
/// (guest offset, length, host offset).
fn raw_runs(l: &Layer, offset: u64, len: u64) -> std::io::Result<Vec<(u64, u64, u64)>> {
    let mut v = Vec::new();
    let end = offset + len;
    let mut at = offset;
    while at < end {
        let (m, run) = l.get_shallow_mapping(at, end - at)?;
        if run == 0 {
            break;
        }
        if let ShallowMapping::Raw { offset: host, .. } = m {
            v.push((at, run, host));
        }
        at += run;
    }
    Ok(v)
}

/// Gives `len` bytes at `offset` of the image file back to the file system
/// (best effort: a file system without hole punching keeps them).
fn punch(file: &std::fs::File, offset: u64, len: u64) {
    use nix::fcntl::{fallocate, FallocateFlags};
    use std::os::fd::AsRawFd;
    if len == 0 {
        return;
    }
    let (Ok(off), Ok(l)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    let _ = fallocate(
        file.as_raw_fd(),
        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        off,
        l,
    );
}

/// The cluster size of a version 3 qcow2 file (header: version at byte 4,
/// cluster_bits at byte 20, both big-endian u32), `None` for another
/// version or a value out of qcow2's range (512 B to 2 MiB).
fn v3_cluster_size(file: &std::fs::File) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let mut h = [0u8; 24];
    file.read_exact_at(&mut h, 0).ok()?;
    let version = u32::from_be_bytes(h[4..8].try_into().ok()?);
    let bits = u32::from_be_bytes(h[20..24].try_into().ok()?);
    (version == 3 && (9..=21).contains(&bits)).then(|| 1u64 << bits)
}
