//! Ceph RBD images as netboot disks.
//!
//! An RBD image is a block device striped over a Ceph cluster's objects;
//! its snapshots and copy-on-write clones are netboot's golden images and
//! per-PC overlays on a cluster: a version is a protected snapshot, a PC's
//! overlay a clone of it. This crate gives:
//!
//! * [`Spec`]: the name of an RBD disk as qemu writes it,
//!   `rbd:POOL/IMAGE[@SNAP][:conf=PATH][:id=CLIENT]` (always built);
//! * with the `librbd` feature (Debian's `librbd-dev`): [`Cluster`] (a
//!   connection), [`Pool`] (create, remove, snapshot, clone, exclusive
//!   lock, metadata) and [`RbdDisk`], a
//!   [`BlockDevice`](netboot_blockdev::BlockDevice) over an image that the
//!   targets serve like a file. Requests go to librbd as asynchronous I/O
//!   (`rbd_aio_*`): [`RbdDisk::read_async`] and
//!   [`RbdDisk::write_async`] complete from librbd's callback without
//!   holding a thread; the `BlockDevice` methods, which the targets call
//!   from their I/O threads, wait for the completion.
//!
//! The C calls are in one module with a `SAFETY:` comment on each block;
//! the rest is safe Rust.
//!
//! ```no_run
//! # #[cfg(feature = "librbd")] fn main() -> Result<(), netboot_rbd::Error> {
//! use netboot_blockdev::BlockDevice;
//! let spec = netboot_rbd::Spec::parse("rbd:rbd/pc042:conf=/etc/ceph/ceph.conf")?;
//! let disk = netboot_rbd::RbdDisk::open(&spec, false)?;
//! let mut mbr = [0u8; 512];
//! disk.read_at(&mut mbr, 0).unwrap();
//! # Ok(()) }
//! # #[cfg(not(feature = "librbd"))] fn main() {}
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "librbd")]
mod ffi;
#[cfg(feature = "librbd")]
mod image;
mod spec;

#[cfg(feature = "librbd")]
pub use image::{Cluster, Pool, RbdDisk};
pub use spec::Spec;

/// What went wrong, with the name and the errno where librbd gave one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A disk name that is not `rbd:POOL/IMAGE[@SNAP][:conf=PATH]`.
    #[error("{spec:?}: {why}")]
    Spec {
        /// The name given.
        spec: String,
        /// What is wrong with it.
        why: String,
    },
    /// This build has no librbd (the `librbd` feature).
    #[error("{0}: this build has no RBD support (build with the rbd feature and librbd-dev)")]
    NotBuilt(String),
    /// The cluster cannot be reached or configured.
    #[error("ceph cluster ({what}): {source}")]
    Connect {
        /// The step that failed.
        what: &'static str,
        /// The errno.
        source: std::io::Error,
    },
    /// An operation on a pool, image or snapshot failed.
    #[error("{what} {name}: {source}")]
    Op {
        /// The operation.
        what: &'static str,
        /// `POOL/IMAGE[@SNAP]`.
        name: String,
        /// The errno.
        source: std::io::Error,
    },
    /// The image's size is not a whole number of 512-byte blocks.
    #[error("{name}: size {size} is not a multiple of 512")]
    Size {
        /// `POOL/IMAGE`.
        name: String,
        /// Its size.
        size: u64,
    },
}

impl Error {
    /// The errno behind the error, if librbd gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Connect { source, .. } | Error::Op { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Opens the disk `spec` names: with the `librbd` feature an [`RbdDisk`],
/// without it [`Error::NotBuilt`].
pub fn open(
    spec: &Spec,
    read_only: bool,
) -> Result<std::sync::Arc<dyn netboot_blockdev::BlockDevice>, Error> {
    #[cfg(feature = "librbd")]
    {
        Ok(std::sync::Arc::new(RbdDisk::open(spec, read_only)?))
    }
    #[cfg(not(feature = "librbd"))]
    {
        let _ = read_only;
        Err(Error::NotBuilt(spec.to_string()))
    }
}
