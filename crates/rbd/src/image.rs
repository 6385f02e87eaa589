//! The safe API over `ffi`: a cluster, its pools, and an image as a
//! `BlockDevice`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use netboot_blockdev::{check_range, BlockDevice, Error as DevError, Result as DevResult};

use crate::ffi::{self, SnapOp};
use crate::{Error, Spec};

fn errno(e: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(e)
}

/// A connection to a cluster, shared by every pool and image opened
/// through it.
#[derive(Debug, Clone)]
pub struct Cluster {
    rados: Arc<ffi::Rados>,
}

/// Connections by `ceph.conf` and client id.
type Connections = Mutex<HashMap<(Option<PathBuf>, String), Cluster>>;

/// Disks of one cluster share one connection (each librados connection has
/// its own threads and sockets).
fn connections() -> &'static Connections {
    static C: OnceLock<Connections> = OnceLock::new();
    C.get_or_init(Mutex::default)
}

impl Cluster {
    /// Connects as `client.ID` (default `admin`) with the settings of
    /// `conf` (default: librados's search), or returns the connection
    /// made before with the same settings.
    pub fn connect(conf: Option<&Path>, id: Option<&str>) -> Result<Cluster, Error> {
        let id = id.unwrap_or("admin");
        let key = (conf.map(Path::to_owned), id.to_owned());
        let mut all = connections().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = all.get(&key) {
            return Ok(c.clone());
        }
        let rados = ffi::Rados::connect(conf, id).map_err(|(what, e)| Error::Connect {
            what,
            source: errno(e),
        })?;
        let c = Cluster {
            rados: Arc::new(rados),
        };
        all.insert(key, c.clone());
        Ok(c)
    }

    /// The pool `name`.
    pub fn pool(&self, name: &str) -> Result<Pool, Error> {
        let io = ffi::IoCtx::new(self.rados.clone(), name).map_err(|e| Error::Op {
            what: "open pool",
            name: name.to_owned(),
            source: errno(e),
        })?;
        Ok(Pool {
            io: Arc::new(io),
            name: name.to_owned(),
        })
    }
}

/// A pool: its images, their snapshots and clones.
#[derive(Debug, Clone)]
pub struct Pool {
    io: Arc<ffi::IoCtx>,
    name: String,
}

impl Pool {
    fn op(&self, what: &'static str, image: &str) -> impl Fn(i32) -> Error + '_ {
        let name = format!("{}/{image}", self.name);
        move |e| Error::Op {
            what,
            name: name.clone(),
            source: errno(e),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates image `name` of `size` bytes.
    pub fn create(&self, name: &str, size: u64) -> Result<(), Error> {
        self.io.create(name, size).map_err(self.op("create", name))
    }

    /// Removes image `name` (it must have no snapshots).
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        self.io.remove(name).map_err(self.op("remove", name))
    }

    /// Creates snapshot `snap` of `image` and protects it: a version, from
    /// which clones can be made.
    pub fn snapshot(&self, image: &str, snap: &str) -> Result<(), Error> {
        let i = ffi::Image::open(self.io.clone(), image, None).map_err(self.op("open", image))?;
        i.snap(SnapOp::Create, snap)
            .map_err(self.op("snapshot", image))?;
        i.snap(SnapOp::Protect, snap)
            .map_err(self.op("protect", image))
    }

    /// Unprotects and removes snapshot `snap` of `image` (refused while a
    /// clone of it exists).
    pub fn remove_snapshot(&self, image: &str, snap: &str) -> Result<(), Error> {
        let i = ffi::Image::open(self.io.clone(), image, None).map_err(self.op("open", image))?;
        i.snap(SnapOp::Unprotect, snap)
            .map_err(self.op("unprotect", image))?;
        i.snap(SnapOp::Remove, snap)
            .map_err(self.op("remove snapshot", image))
    }

    /// Clones `parent@snap` (a protected snapshot) as `child`: a
    /// copy-on-write image that reads the parent where it has not been
    /// written.
    pub fn clone_image(&self, parent: &str, snap: &str, child: &str) -> Result<(), Error> {
        self.io
            .clone_image(parent, snap, child)
            .map_err(self.op("clone", child))
    }

    /// Image `name`'s metadata `key` (None: not set).
    pub fn metadata(&self, name: &str, key: &str) -> Result<Option<String>, Error> {
        let i = ffi::Image::open(self.io.clone(), name, None).map_err(self.op("open", name))?;
        i.metadata(key).map_err(self.op("metadata", name))
    }

    /// Sets image `name`'s metadata `key`.
    pub fn set_metadata(&self, name: &str, key: &str, value: &str) -> Result<(), Error> {
        let i = ffi::Image::open(self.io.clone(), name, None).map_err(self.op("open", name))?;
        i.set_metadata(key, value)
            .map_err(self.op("set metadata", name))
    }

    /// Opens image `name` (or its snapshot `snap`, read-only) as a disk.
    pub fn open(&self, name: &str, snap: Option<&str>, read_only: bool) -> Result<RbdDisk, Error> {
        let full = match snap {
            Some(s) => format!("{}/{name}@{s}", self.name),
            None => format!("{}/{name}", self.name),
        };
        let image = ffi::Image::open(self.io.clone(), name, snap).map_err(|e| Error::Op {
            what: "open",
            name: full.clone(),
            source: errno(e),
        })?;
        let size = image.size().map_err(|e| Error::Op {
            what: "size of",
            name: full.clone(),
            source: errno(e),
        })?;
        if size % 512 != 0 || size == 0 {
            return Err(Error::Size { name: full, size });
        }
        Ok(RbdDisk {
            image,
            size,
            read_only: read_only || snap.is_some(),
            name: full,
        })
    }
}

/// An RBD image (or snapshot) as a disk of 512-byte blocks.
#[derive(Debug)]
pub struct RbdDisk {
    image: ffi::Image,
    size: u64,
    read_only: bool,
    name: String,
}

impl RbdDisk {
    /// Opens the disk `spec` names (connecting to its cluster, or sharing
    /// the connection of an earlier disk with the same `conf` and `id`).
    pub fn open(spec: &Spec, read_only: bool) -> Result<RbdDisk, Error> {
        Cluster::connect(spec.conf.as_deref(), spec.id.as_deref())?
            .pool(&spec.pool)?
            .open(&spec.image, spec.snap.as_deref(), read_only)
    }

    /// `POOL/IMAGE[@SNAP]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the image's exclusive lock: one writer at a time, whichever
    /// gateway serves it (librbd hands the lock over when its owner lets
    /// go, or when the owner is dead and blocklisted).
    pub fn lock_exclusive(&self) -> Result<(), Error> {
        self.image.lock_exclusive().map_err(|e| Error::Op {
            what: "lock",
            name: self.name.clone(),
            source: errno(e),
        })
    }

    /// Whether this handle holds the exclusive lock.
    pub fn owns_lock(&self) -> Result<bool, Error> {
        self.image.owns_lock().map_err(|e| Error::Op {
            what: "lock owner of",
            name: self.name.clone(),
            source: errno(e),
        })
    }

    /// Reads `len` bytes at `off` with librbd's asynchronous I/O, holding
    /// no thread while it runs.
    pub async fn read_async(&self, len: usize, off: u64) -> DevResult<Vec<u8>> {
        check_range(off, len as u64, self.size)?;
        self.image
            .read_async(len, off)
            .await
            .map_err(|e| io("read", off, e))
    }

    /// Writes `data` at `off` with librbd's asynchronous I/O.
    pub async fn write_async(&self, data: Vec<u8>, off: u64) -> DevResult<()> {
        self.writable()?;
        check_range(off, data.len() as u64, self.size)?;
        self.image
            .write_async(data, off)
            .await
            .map_err(|e| io("write", off, e))
    }

    fn writable(&self) -> DevResult<()> {
        if self.read_only {
            Err(DevError::ReadOnly)
        } else {
            Ok(())
        }
    }
}

fn io(op: &'static str, offset: u64, e: i32) -> DevError {
    if e == libc::ENOSPC || e == libc::EDQUOT {
        DevError::NoSpace {
            offset,
            what: "the cluster is full".into(),
        }
    } else {
        DevError::Io {
            op,
            offset,
            source: errno(e),
        }
    }
}

impl BlockDevice for RbdDisk {
    fn size(&self) -> u64 {
        self.size
    }

    fn block_size(&self) -> u32 {
        512
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> DevResult<()> {
        check_range(offset, buf.len() as u64, self.size)?;
        let n = self
            .image
            .read(buf, offset)
            .map_err(|e| io("read", offset, e))?;
        if n < buf.len() {
            // Past the end of an image that shrank under us: zeros.
            buf[n..].fill(0);
        }
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> DevResult<()> {
        self.writable()?;
        check_range(offset, buf.len() as u64, self.size)?;
        self.image
            .write(buf, offset)
            .map(drop)
            .map_err(|e| io("write", offset, e))
    }

    /// librbd's cache written to the cluster; an acknowledged write there
    /// is on the OSDs' stable storage.
    fn flush(&self) -> DevResult<()> {
        if self.read_only {
            return Ok(());
        }
        self.image.flush().map_err(|e| io("flush", 0, e))
    }

    /// RBD's own discard skips what is not a whole object
    /// (`rbd_skip_partial_discard`), and a clone's discarded range may show
    /// its parent: a discard here is a write of zeros, which librbd turns
    /// into deallocation where it can.
    fn discard(&self, offset: u64, len: u64) -> DevResult<()> {
        self.write_zeroes(offset, len)
    }

    /// The image's exclusive lock (not for a read-only disk): while this
    /// gateway runs, no other writes the image; when it dies, the next one
    /// to claim it breaks its lock (librbd blocklists the dead owner first,
    /// so none of its writes can land afterwards).
    fn claim(&self) -> DevResult<()> {
        if self.read_only {
            return Ok(());
        }
        self.image.lock_exclusive().map_err(|e| io("lock", 0, e))
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> DevResult<()> {
        self.writable()?;
        check_range(offset, len, self.size)?;
        self.image
            .write_zeroes(offset, len)
            .map_err(|e| io("write zeroes", offset, e))
    }
}
