//! Disk images for network boot: raw files, and qcow2 (v2/v3) overlays over
//! golden images, served by the targets as one [`BlockDevice`].
//!
//! A PC's disk is often a small qcow2 overlay whose backing file is the
//! golden image many PCs share (`qemu-img create -f qcow2 -b golden.raw -F
//! raw pc042.qcow2`). [`Images::open`] opens such a chain with these rules,
//! because the overlay's header is written by whoever could write the file:
//!
//! * **The format is never probed.** The caller says what a disk is
//!   ([`Format`]; [`Format::for_path`] takes `*.qcow2` as qcow2 and
//!   anything else as raw). A raw disk whose first bytes look like a qcow2
//!   header (a PC can write one into its own disk) is served as raw, with
//!   a warning. A backing file must have its format recorded in the
//!   overlay (`-F raw|qcow2`); without it the chain is refused.
//! * **Backing files stay inside the chain's root** (the store, or the
//!   directory of a `--disk` file): a relative name resolves against the
//!   directory of the image naming it; after symbolic links are followed
//!   the file must lie under the root. Protocol names (`nbd:`, `json:`,
//!   `file:`...), external data files, loops and chains deeper than
//!   [`MAX_DEPTH`] are refused, each with its own [`Error`].
//! * **Backing images are opened once**, read-only, and shared by every
//!   overlay that names them (one page cache, one set of table caches), as
//!   long as any of them is open.
//!
//! qcow2 is read and written by [`imago`] (a qcow2 library by a QEMU
//! block-layer maintainer), in its synchronous mode; `qemu-img check` is the
//! test oracle for what it writes.
//!
//! ```no_run
//! use netboot_blockdev::BlockDevice;
//! use netboot_image::{Format, Images, OpenOptions};
//! let images = Images::default();
//! let disk = images.open(
//!     "/srv/netboot/pc042.qcow2",
//!     &OpenOptions { format: Format::Qcow2, ..OpenOptions::default() },
//! )?;
//! let mut mbr = [0u8; 512];
//! disk.read_at(&mut mbr, 0)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod qcow2;
pub mod store;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use netboot_blockdev::{BlockDevice, FileDisk};

pub use qcow2::Qcow2Disk;
pub use store::{create_overlay, create_qcow2, Mode, Store, StoreError};

/// Backing chains deeper than this are refused.
pub const MAX_DEPTH: usize = 16;

/// A disk image format. Always given, never guessed from the contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// A raw file or block device: byte N of the disk is byte N of the file.
    #[default]
    Raw,
    /// qcow2 (version 2 or 3), possibly with a backing file.
    Qcow2,
}

impl Format {
    /// The format an administrator means by a file name: `*.qcow2` is
    /// qcow2, anything else raw.
    pub fn for_path(path: &Path) -> Format {
        match path.extension() {
            Some(e) if e.eq_ignore_ascii_case("qcow2") => Format::Qcow2,
            _ => Format::Raw,
        }
    }

    /// The format's name as qemu writes it in a backing format field.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format, Error> {
        match s {
            "raw" => Ok(Format::Raw),
            "qcow2" => Ok(Format::Qcow2),
            _ => Err(Error::UnknownFormat(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of opening images. Each names the image (and the backing file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An `rbd:` disk (Ceph) cannot be opened.
    #[error(transparent)]
    Rbd(#[from] netboot_rbd::Error),
    /// A format name other than `raw` or `qcow2`.
    #[error("unknown image format {0:?} (raw or qcow2)")]
    UnknownFormat(String),
    /// The backing file name is a protocol (`nbd:`, `json:`...), not a file.
    #[error("{image}: backing file {backing:?} is not a file name (protocols are refused)")]
    BackingProtocol {
        /// The image naming it.
        image: PathBuf,
        /// The name in its header.
        backing: String,
    },
    /// The backing file lies outside the chain's root.
    #[error("{image}: backing file {backing:?} is outside {root}")]
    BackingOutside {
        /// The image naming it.
        image: PathBuf,
        /// The name in its header.
        backing: String,
        /// The directory backing files must stay in.
        root: PathBuf,
    },
    /// The overlay does not record its backing file's format.
    #[error(
        "{image}: the format of backing file {backing:?} is not recorded \
         (formats are never probed: recreate the overlay with -F raw or -F qcow2)"
    )]
    BackingFormatMissing {
        /// The image naming it.
        image: PathBuf,
        /// The name in its header.
        backing: String,
    },
    /// A recorded backing format other than raw or qcow2.
    #[error("{image}: backing file {backing:?} has unsupported format {format:?}")]
    BackingFormatUnsupported {
        /// The image naming it.
        image: PathBuf,
        /// The name in its header.
        backing: String,
        /// The recorded format.
        format: String,
    },
    /// The chain comes back to an image already in it.
    #[error("{image}: backing chain loops back to {backing}")]
    BackingLoop {
        /// The image naming it.
        image: PathBuf,
        /// The image already in the chain.
        backing: PathBuf,
    },
    /// More than [`MAX_DEPTH`] images in the chain.
    #[error("{image}: backing chain deeper than {MAX_DEPTH}")]
    TooDeep {
        /// The image where the limit was reached.
        image: PathBuf,
    },
    /// The image uses an external data file (refused: it could name any file).
    #[error("{image}: external data files are refused")]
    ExternalDataFile {
        /// The image.
        image: PathBuf,
    },
    /// The backing image is smaller than the overlay and the format layer
    /// cannot say so, or a similar inconsistency.
    #[error("{image}: {what}")]
    Invalid {
        /// The image.
        image: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Opening or reading an image failed.
    #[error("{image}: {source}")]
    Io {
        /// The image.
        image: PathBuf,
        /// The OS or format error.
        #[source]
        source: std::io::Error,
    },
    /// Opening a raw disk failed.
    #[error("{image}: {source}")]
    Disk {
        /// The image.
        image: PathBuf,
        /// The block device error.
        #[source]
        source: netboot_blockdev::Error,
    },
}

/// How to open a disk.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// What the disk is (see [`Format::for_path`]).
    pub format: Format,
    /// Refuse writes.
    pub read_only: bool,
    /// Logical block size: 512 or 4096.
    pub block_size: u32,
    /// Create the disk with this size if it is missing (raw only: a sparse
    /// file).
    pub create_size: Option<u64>,
    /// Bypass the page cache (raw disks only).
    pub direct: bool,
    /// The directory backing files must stay in; default: the directory of
    /// the disk.
    pub root: Option<PathBuf>,
    /// Most bytes a qcow2 overlay's file may take on disk: a write that
    /// would pass it fails with [`netboot_blockdev::Error::NoSpace`]
    /// (rewrites of its own clusters always succeed); a warning is logged
    /// at 80 %.
    pub overlay_max: Option<u64>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            format: Format::Raw,
            read_only: false,
            block_size: 512,
            create_size: None,
            direct: false,
            root: None,
            overlay_max: None,
        }
    }
}

/// Parses `20G`, `512M`, `4096K`, `1T` or a byte count.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("size {s:?}: unknown unit {c:?}")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num.trim().parse().map_err(|e| format!("size {s:?}: {e}"))?;
    n.checked_mul(mul)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("size {s:?} out of range"))
}

/// The magic of a qcow2 header, `QFI\xfb`.
pub const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";

type Layer = imago::FormatAccess<imago::file::File>;

/// Whether `path` names a disk on a Ceph cluster (`rbd:POOL/IMAGE...`),
/// not a file.
pub fn is_rbd(path: &Path) -> bool {
    path.to_str().is_some_and(netboot_rbd::Spec::is_rbd)
}

/// Opens disks, sharing the backing images of their chains.
#[derive(Debug, Default)]
pub struct Images {
    /// Read-only backing layers by canonical path, while any user holds one.
    layers: Mutex<HashMap<PathBuf, Weak<Layer>>>,
}

impl Images {
    /// Opens the disk at `path` (see the crate documentation for the rules
    /// of backing chains). A `path` of `rbd:POOL/IMAGE[@SNAP][:conf=PATH]`
    /// is an RBD image on a Ceph cluster (the `rbd` feature; without it, an
    /// error that says so).
    pub fn open(
        &self,
        path: impl AsRef<Path>,
        opts: &OpenOptions,
    ) -> Result<Arc<dyn BlockDevice>, Error> {
        let path = path.as_ref();
        // A disk on a Ceph cluster, named as qemu names it (the
        // administrator's word: never a backing file's).
        if let Some(name) = path.to_str().filter(|_| is_rbd(path)) {
            let spec = netboot_rbd::Spec::parse(name)?;
            return Ok(netboot_rbd::open(&spec, opts.read_only)?);
        }
        match opts.format {
            Format::Raw => {
                let disk = FileDisk::open(
                    path,
                    &netboot_blockdev::OpenOptions {
                        read_only: opts.read_only,
                        block_size: opts.block_size,
                        create_size: opts.create_size,
                        direct: opts.direct,
                    },
                )
                .map_err(|source| Error::Disk {
                    image: path.to_owned(),
                    source,
                })?;
                let mut head = [0u8; 4];
                if disk.size() >= 512 && disk.read_at(&mut head, 0).is_ok() && head == QCOW2_MAGIC {
                    tracing::warn!(
                        disk = %path.display(),
                        "starts with a qcow2 header but is served as raw, as configured \
                         (name it *.qcow2 or give the format qcow2 if it is one)"
                    );
                }
                Ok(Arc::new(disk))
            }
            Format::Qcow2 => {
                let canonical = canonical(path)?;
                let root = match &opts.root {
                    Some(r) => canonical_dir(r)?,
                    None => canonical
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| PathBuf::from("/")),
                };
                let mut chain = vec![canonical.clone()];
                let top = self.open_qcow2(&canonical, !opts.read_only, &root, &mut chain)?;
                Ok(Arc::new(Qcow2Disk::new(
                    top,
                    path.to_owned(),
                    opts.block_size,
                    opts.read_only,
                    opts.overlay_max,
                )?))
            }
        }
    }

    /// Opens the qcow2 file at `path` (canonical, already in `chain`) and
    /// its backing chain.
    fn open_qcow2(
        &self,
        path: &Path,
        writable: bool,
        root: &Path,
        chain: &mut Vec<PathBuf>,
    ) -> Result<Layer, Error> {
        let io = |source| Error::Io {
            image: path.to_owned(),
            source,
        };
        let mut q = imago::qcow2::Qcow2::<imago::file::File, Arc<Layer>>::open_path(path, writable)
            .map_err(io)?;
        if q.requires_external_data_file() || q.implicit_external_data_file().is_some() {
            return Err(Error::ExternalDataFile {
                image: path.to_owned(),
            });
        }
        q.set_data_file(None);
        let backing = match q.implicit_backing_file() {
            None => None,
            Some(name) => {
                let name = name.clone();
                let format = q.implicit_backing_format().cloned();
                Some(self.backing(path, &name, format.as_deref(), root, chain)?)
            }
        };
        q.set_backing(backing);
        Ok(imago::FormatAccess::new(q))
    }

    /// Resolves, checks and opens (or shares) backing file `name` of
    /// `image`.
    fn backing(
        &self,
        image: &Path,
        name: &str,
        format: Option<&str>,
        root: &Path,
        chain: &mut Vec<PathBuf>,
    ) -> Result<Arc<Layer>, Error> {
        if is_protocol(name) {
            return Err(Error::BackingProtocol {
                image: image.to_owned(),
                backing: name.to_owned(),
            });
        }
        let format = match format {
            None => {
                return Err(Error::BackingFormatMissing {
                    image: image.to_owned(),
                    backing: name.to_owned(),
                })
            }
            Some("raw") => Format::Raw,
            Some("qcow2") => Format::Qcow2,
            Some(f) => {
                return Err(Error::BackingFormatUnsupported {
                    image: image.to_owned(),
                    backing: name.to_owned(),
                    format: f.to_owned(),
                })
            }
        };
        let dir = image.parent().unwrap_or(Path::new("/"));
        let joined = dir.join(name);
        let outside = || Error::BackingOutside {
            image: image.to_owned(),
            backing: name.to_owned(),
            root: root.to_owned(),
        };
        // A lexical check first, so that nothing outside is even looked at
        // (stat) when the name plainly leaves the root.
        if !normalize(&joined).starts_with(root) {
            return Err(outside());
        }
        let target = canonical(&joined)?;
        if !target.starts_with(root) {
            return Err(outside());
        }
        if chain.contains(&target) {
            return Err(Error::BackingLoop {
                image: image.to_owned(),
                backing: target,
            });
        }
        if chain.len() >= MAX_DEPTH {
            return Err(Error::TooDeep {
                image: image.to_owned(),
            });
        }
        let mut layers = self.layers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = layers.get(&target).and_then(Weak::upgrade) {
            return Ok(l);
        }
        // Opening a chain below holds the lock: two overlays over one new
        // base do not open it twice.
        chain.push(target.clone());
        let layer = match format {
            Format::Raw => {
                let raw = imago::raw::Raw::<imago::file::File>::open_path(&target, false).map_err(
                    |source| Error::Io {
                        image: target.clone(),
                        source,
                    },
                )?;
                imago::FormatAccess::new(raw)
            }
            Format::Qcow2 => {
                drop(layers);
                let l = self.open_qcow2(&target, false, root, chain)?;
                layers = self.layers.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(shared) = layers.get(&target).and_then(Weak::upgrade) {
                    chain.pop();
                    return Ok(shared);
                }
                l
            }
        };
        chain.pop();
        let layer = Arc::new(layer);
        layers.retain(|_, w| w.strong_count() > 0);
        layers.insert(target, Arc::downgrade(&layer));
        Ok(layer)
    }

    /// Number of backing images open now (shared by their overlays).
    pub fn open_backing_images(&self) -> usize {
        let layers = self.layers.lock().unwrap_or_else(|e| e.into_inner());
        layers.values().filter(|w| w.strong_count() > 0).count()
    }
}

/// `nbd:...`, `json:{...}`, `file:...`, `http://...`: a scheme before the
/// first slash.
fn is_protocol(name: &str) -> bool {
    let head = name.split('/').next().unwrap_or("");
    match head.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c))
        }
        None => false,
    }
}

/// `path` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn canonical(path: &Path) -> Result<PathBuf, Error> {
    std::fs::canonicalize(path).map_err(|source| Error::Io {
        image: path.to_owned(),
        source,
    })
}

fn canonical_dir(path: &Path) -> Result<PathBuf, Error> {
    let c = canonical(path)?;
    if c.is_dir() {
        Ok(c)
    } else {
        Err(Error::Invalid {
            image: path.to_owned(),
            what: "the root of a backing chain must be a directory".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_names_never_contents() {
        assert_eq!(Format::for_path(Path::new("/x/pc1.qcow2")), Format::Qcow2);
        assert_eq!(Format::for_path(Path::new("/x/pc1.QCOW2")), Format::Qcow2);
        assert_eq!(Format::for_path(Path::new("/x/pc1.img")), Format::Raw);
        assert_eq!("qcow2".parse::<Format>().unwrap(), Format::Qcow2);
        assert!("vmdk".parse::<Format>().is_err());
    }

    #[test]
    fn protocols_are_recognised() {
        for p in [
            "nbd:localhost:10809",
            "json:{\"driver\":\"file\"}",
            "file:/etc/shadow",
            "http://x/y",
        ] {
            assert!(is_protocol(p), "{p}");
        }
        for p in ["golden.raw", "../v1/disk.qcow2", "/srv/a:b/c.raw", "./x"] {
            assert!(!is_protocol(p), "{p}");
        }
    }

    #[test]
    fn lexical_normalisation() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize(Path::new("/a/../../etc")), PathBuf::from("/etc"));
    }
}
