//! The image store: golden images with numbered, immutable versions, and
//! the per-PC overlays over them, in one directory an administrator can
//! back up with rsync.
//!
//! ```text
//! STORE/
//!   .lock                          taken (flock) by every change
//!   owner                          who claimed the store (flock): netbootd
//!   images/NAME/image.toml         versions, the current one, the edit's base
//!   images/NAME/v1.raw             version 1: the imported file (or v1.qcow2)
//!   images/NAME/v2.qcow2           version N+1: a qcow2 layer over its base
//!   images/NAME/edit.qcow2         the maintenance overlay, while editing
//!   clients/NAME/client.toml       MAC, image, mode, the version its disk is over
//!   clients/NAME/disk-G.qcow2      the PC's overlay (G: its generation)
//! ```
//!
//! Version files are never written after they are made (their mode is
//! 0444); a version goes only in [`Store::image_gc`], and only when neither
//! the current pointer, the edit, a client, nor a later version needs it.
//! The TOML files are the truth: every change writes the files it adds
//! first, then replaces a TOML file atomically (temporary file, fsync,
//! rename, directory fsync), then removes what is no longer named. A kill
//! at any point leaves the store before or after the change, at worst with
//! a stray file that the next change to that image or client removes
//! (the next change removes whatever the metadata does not name: keep
//! other files out of these directories).
//!
//! (One file of ~970 lines on purpose: every store operation takes the
//! same lock and keeps the same on-disk invariants, written down once here.)

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use netboot_blockdev::BlockDevice;
use serde::{Deserialize, Serialize};

use crate::{Error, Format, Images, OpenOptions};

/// How a client's overlay lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Thrown away and made anew over the current version at every boot.
    Volatile,
    /// Kept across boots; stays on its version until reset.
    #[default]
    Persistent,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "volatile" => Ok(Mode::Volatile),
            "persistent" => Ok(Mode::Persistent),
            _ => Err(format!("unknown mode {s:?} (volatile or persistent)")),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Volatile => "volatile",
            Mode::Persistent => "persistent",
        })
    }
}

/// One version of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1, 2, ...
    pub number: u32,
    /// File name in the image's directory.
    pub file: String,
    /// Its format.
    #[serde(with = "format_name")]
    pub format: Format,
    /// The version it is a layer over (none for version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<u32>,
    /// Disk size in bytes.
    pub size: u64,
    /// Seconds since the epoch when it was made.
    pub created: u64,
}

mod format_name {
    use crate::Format;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(f: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(f.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An image's metadata (`image.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageMeta {
    /// The version clients get at their next new overlay.
    pub current: u32,
    /// The version `edit.qcow2` is over, while an edit is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_base: Option<u32>,
    /// Every version, oldest first.
    #[serde(rename = "version")]
    pub versions: Vec<Version>,
}

impl ImageMeta {
    /// Version `n`.
    pub fn version(&self, n: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == n)
    }
}

/// A client's metadata (`client.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMeta {
    /// Its MAC address, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The image it boots.
    pub image: String,
    /// Volatile or persistent.
    pub mode: Mode,
    /// The overlay's generation: its file is `disk-G.qcow2` (0: none yet).
    #[serde(default)]
    pub generation: u64,
    /// The version its overlay is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Most bytes its overlay may take (see [`OpenOptions::overlay_max`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay_max: Option<u64>,
    /// The version its new overlays are over (None: the image's current
    /// one). A pinned PC stays there whatever becomes current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<u32>,
}

impl ClientMeta {
    /// The overlay's file name, if it has one.
    pub fn disk_file(&self) -> Option<String> {
        (self.generation > 0).then(|| format!("disk-{}.qcow2", self.generation))
    }

    /// The version its next new overlay is over, when `current` is its
    /// image's current one.
    pub fn target_version(&self, current: u32) -> u32 {
        self.pin.unwrap_or(current)
    }
}

/// What [`Store::client_update`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientUpdate {
    /// Another image.
    pub image: Option<String>,
    /// Another mode.
    pub mode: Option<Mode>,
    /// Pin a version (`Some(Some(n))`) or follow the current one
    /// (`Some(None)`).
    pub pin: Option<Option<u32>>,
    /// Another size limit (`Some(None)`: none).
    pub overlay_max: Option<Option<u64>>,
}

/// A client as `client ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientInfo {
    /// Its name.
    pub name: String,
    /// Its metadata.
    #[serde(flatten)]
    pub meta: ClientMeta,
    /// The image's current version.
    pub current: u32,
    /// True when its overlay is over another version than the one its next
    /// new overlay gets (the current one, or its pin).
    pub behind: bool,
    /// The overlay's path, when it has one.
    pub disk: Option<PathBuf>,
    /// Bytes the overlay file takes on disk.
    pub disk_bytes: u64,
}

/// An image as `image ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// Its name.
    pub name: String,
    /// Its metadata.
    #[serde(flatten)]
    pub meta: ImageMeta,
    /// Per version: the clients whose overlay is over it.
    pub users: BTreeMap<u32, Vec<String>>,
    /// Per version: bytes its file takes on disk.
    pub bytes: BTreeMap<u32, u64>,
}

/// Errors of the store; each names the image, version or client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A name with characters other than letters, digits, `.`, `_`, `-`.
    #[error(
        "{what} name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
    )]
    BadName {
        /// "image" or "client".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// No such image.
    #[error("no image {0:?}")]
    NoImage(String),
    /// The image exists already.
    #[error("image {0:?} exists already")]
    ImageExists(String),
    /// No such version.
    #[error("image {image:?} has no version {version}")]
    NoVersion {
        /// The image.
        image: String,
        /// The version asked for.
        version: u32,
    },
    /// No edit open.
    #[error("image {0:?} has no edit open: run `image edit` first")]
    NoEdit(String),
    /// Rolling back without an earlier version.
    #[error("image {0:?} has no version before the current one")]
    NoPrevious(String),
    /// No such client.
    #[error("no client {0:?}")]
    NoClient(String),
    /// The client exists already.
    #[error("client {0:?} exists already")]
    ClientExists(String),
    /// Another client has this MAC address.
    #[error("MAC {mac} is client {other:?}'s already")]
    MacTaken {
        /// The MAC.
        mac: String,
        /// The client that has it.
        other: String,
    },
    /// Not a MAC address.
    #[error("MAC address {0:?}: expected six hex bytes like 52:54:00:12:34:56")]
    BadMac(String),
    /// An imported qcow2 file with a backing file.
    #[error(
        "{0}: has a backing file; import a standalone image (qemu-img convert -O qcow2 first)"
    )]
    ImportHasBacking(PathBuf),
    /// A metadata file that does not parse.
    #[error("{path}: {what}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// An image could not be opened or made.
    #[error(transparent)]
    Image(#[from] Error),
    /// A block device error while copying.
    #[error("{path}: {source}")]
    Disk {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: netboot_blockdev::Error,
    },
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

type R<T> = Result<T, StoreError>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn check_name(what: &'static str, name: &str) -> R<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName {
            what,
            name: name.to_owned(),
        })
    }
}

/// `52:54:00:12:34:56` (or with `-`), normalised to lower case with colons.
pub fn parse_mac(s: &str) -> R<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6
        || !parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(StoreError::BadMac(s.to_owned()));
    }
    Ok(parts.join(":").to_ascii_lowercase())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `data` to `path` atomically: a temporary file, fsync, rename,
/// fsync of the directory.
fn write_atomic(path: &Path, data: &[u8]) -> R<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("toml.tmp");
    {
        let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(data).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> R<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> R<T> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    toml::from_str(&text).map_err(|e| StoreError::Metadata {
        path: path.to_owned(),
        what: e.to_string(),
    })
}

fn write_toml<T: Serialize>(path: &Path, value: &T) -> R<()> {
    let text = toml::to_string(value).map_err(|e| StoreError::Metadata {
        path: path.to_owned(),
        what: e.to_string(),
    })?;
    write_atomic(path, text.as_bytes())
}

/// Bytes a file takes on disk (0 when it is missing).
fn disk_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).map(|m| m.blocks() * 512).unwrap_or(0)
}

/// The store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    images: Images,
}

/// The store's lock, held while a change runs.
struct Lock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

/// The store claimed by one process (netbootd, while it runs; a
/// `netbootctl` command that changes the store, while it does): the others
/// change the store through that process, or wait. See [`Store::claim`].
#[derive(Debug)]
pub struct Claim(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

impl Store {
    /// Opens the store at `root`, making its directories if missing.
    pub fn open(root: impl AsRef<Path>) -> R<Store> {
        let root = root.as_ref();
        for d in [root.to_owned(), root.join("images"), root.join("clients")] {
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let root = fs::canonicalize(root).map_err(io_err(root))?;
        Ok(Store {
            root,
            images: Images::default(),
        })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> R<Lock> {
        let p = self.root.join(".lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map(Lock)
            .map_err(|(_, e)| StoreError::Io {
                path: p,
                source: e.into(),
            })
    }

    /// Claims the store for this process until the [`Claim`] is dropped
    /// (or the process ends), and writes `owner` (who claims it and how to
    /// reach it) into `STORE/owner` for the others. `None` when another
    /// process holds the claim: [`owner`](Self::owner) says which.
    pub fn claim(&self, owner: &str) -> R<Option<Claim>> {
        use nix::fcntl::{Flock, FlockArg};
        let p = self.root.join("owner");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(mut l) => {
                l.set_len(0)
                    .and_then(|()| l.write_all(owner.as_bytes()))
                    .and_then(|()| l.sync_data())
                    .map_err(io_err(&p))?;
                Ok(Some(Claim(l)))
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(StoreError::Io {
                path: p,
                source: e.into(),
            }),
        }
    }

    /// What the process holding the store's claim wrote (see
    /// [`claim`](Self::claim)); `None` when no process holds it.
    pub fn owner(&self) -> R<Option<String>> {
        use nix::fcntl::{Flock, FlockArg};
        let p = self.root.join("owner");
        let f = match fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&p)(e)),
        };
        match Flock::lock(f, FlockArg::LockSharedNonblock) {
            // Nobody holds it (ours goes with the file).
            Ok(_) => Ok(None),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                fs::read_to_string(&p).map(Some).map_err(io_err(&p))
            }
            Err((_, e)) => Err(StoreError::Io {
                path: p,
                source: e.into(),
            }),
        }
    }

    fn image_dir(&self, name: &str) -> PathBuf {
        self.root.join("images").join(name)
    }

    fn client_dir(&self, name: &str) -> PathBuf {
        self.root.join("clients").join(name)
    }

    /// Image `name`'s metadata.
    pub fn image_meta(&self, name: &str) -> R<ImageMeta> {
        check_name("image", name)?;
        let p = self.image_dir(name).join("image.toml");
        if !p.exists() {
            return Err(StoreError::NoImage(name.to_owned()));
        }
        read_toml(&p)
    }

    /// Removes what a change killed half-way left in image `name`'s
    /// directory: files no version names, an edit no metadata names,
    /// temporary files. Called with the lock held.
    fn sweep_image(&self, name: &str, meta: &ImageMeta) {
        let dir = self.image_dir(name);
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        for e in entries.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            let named = f == "image.toml"
                || meta.versions.iter().any(|v| v.file == f)
                || (f == "edit.qcow2" && meta.edit_base.is_some());
            if !named {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// The same for client `name`: only its metadata and current overlay
    /// stay.
    fn sweep_client(&self, name: &str, meta: &ClientMeta) {
        let dir = self.client_dir(name);
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        let disk = meta.disk_file();
        for e in entries.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if f != "client.toml" && Some(&f) != disk.as_ref() {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    fn save_image(&self, name: &str, meta: &ImageMeta) -> R<()> {
        write_toml(&self.image_dir(name).join("image.toml"), meta)
    }

    /// Client `name`'s metadata.
    pub fn client_meta(&self, name: &str) -> R<ClientMeta> {
        check_name("client", name)?;
        let p = self.client_dir(name).join("client.toml");
        if !p.exists() {
            return Err(StoreError::NoClient(name.to_owned()));
        }
        read_toml(&p)
    }

    fn save_client(&self, name: &str, meta: &ClientMeta) -> R<()> {
        write_toml(&self.client_dir(name).join("client.toml"), meta)
    }

    fn names(&self, dir: &str, file: &str) -> R<Vec<String>> {
        let d = self.root.join(dir);
        let mut v = Vec::new();
        for e in fs::read_dir(&d).map_err(io_err(&d))? {
            let e = e.map_err(io_err(&d))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if check_name("image", &name).is_ok() && e.path().join(file).exists() {
                v.push(name);
            }
        }
        v.sort();
        Ok(v)
    }

    /// The path of version `n` of image `name`.
    pub fn version_path(&self, name: &str, n: u32) -> R<PathBuf> {
        let meta = self.image_meta(name)?;
        let v = meta.version(n).ok_or_else(|| StoreError::NoVersion {
            image: name.to_owned(),
            version: n,
        })?;
        Ok(self.image_dir(name).join(&v.file))
    }

    /// Opens a disk of the store (its backing files may be anywhere in the
    /// store, nowhere else).
    pub fn open_disk(&self, path: &Path, read_only: bool) -> R<Arc<dyn BlockDevice>> {
        Ok(self.images.open(
            path,
            &OpenOptions {
                format: Format::for_path(path),
                read_only,
                root: Some(self.root.clone()),
                ..OpenOptions::default()
            },
        )?)
    }

    /// Imports `from` as version 1 of a new image `name` (a copy; a
    /// reflink where the file system can). A qcow2 file must stand alone.
    pub fn image_create(&self, name: &str, from: &Path, format: Option<Format>) -> R<ImageMeta> {
        check_name("image", name)?;
        let _lock = self.lock()?;
        let dir = self.image_dir(name);
        if dir.join("image.toml").exists() {
            return Err(StoreError::ImageExists(name.to_owned()));
        }
        let format = format.unwrap_or_else(|| Format::for_path(from));
        // Check it first: a qcow2 with a backing file, or one that does not
        // open, is not imported.
        if format == Format::Qcow2 {
            let src = fs::canonicalize(from).map_err(io_err(from))?;
            let q = imago::qcow2::Qcow2::<imago::file::File>::open_path(&src, false).map_err(
                |source| Error::Io {
                    image: src.clone(),
                    source,
                },
            )?;
            if q.implicit_backing_file().is_some() || q.requires_external_data_file() {
                return Err(StoreError::ImportHasBacking(from.to_owned()));
            }
        }
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let file = format!(
            "v1.{}",
            if format == Format::Qcow2 {
                "qcow2"
            } else {
                "raw"
            }
        );
        let dst = dir.join(&file);
        let tmp = dir.join(format!("{file}.tmp"));
        // std::fs::copy uses copy_file_range, which shares extents where
        // the file system can (a reflink on btrfs and XFS).
        fs::copy(from, &tmp).map_err(io_err(from))?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err(&tmp))?;
        seal(&tmp)?;
        fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
        let size = self.open_disk(&dst, true)?.size();
        let meta = ImageMeta {
            current: 1,
            edit_base: None,
            versions: vec![Version {
                number: 1,
                file,
                format,
                base: None,
                size,
                created: now(),
            }],
        };
        self.save_image(name, &meta)?;
        Ok(meta)
    }

    /// Every image, with who uses which version.
    pub fn images(&self) -> R<Vec<ImageInfo>> {
        let clients = self.clients_meta()?;
        self.names("images", "image.toml")?
            .into_iter()
            .map(|n| self.image_info(&n, &clients))
            .collect()
    }

    /// Image `name`, with who uses which version.
    pub fn image(&self, name: &str) -> R<ImageInfo> {
        let clients = self.clients_meta()?;
        self.image_info(name, &clients)
    }

    fn image_info(&self, name: &str, clients: &[(String, ClientMeta)]) -> R<ImageInfo> {
        let meta = self.image_meta(name)?;
        let mut users: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for (c, m) in clients {
            if let (true, Some(v)) = (m.image == name, m.version) {
                users.entry(v).or_default().push(c.clone());
            }
        }
        let bytes = meta
            .versions
            .iter()
            .map(|v| (v.number, disk_bytes(&self.image_dir(name).join(&v.file))))
            .collect();
        Ok(ImageInfo {
            name: name.to_owned(),
            meta,
            users,
            bytes,
        })
    }

    /// Opens (or returns) the maintenance overlay over the current version:
    /// boot a PC from it, change what is to change, then
    /// [`image_commit`](Self::image_commit).
    pub fn image_edit(&self, name: &str) -> R<PathBuf> {
        let _lock = self.lock()?;
        let mut meta = self.image_meta(name)?;
        self.sweep_image(name, &meta);
        let dir = self.image_dir(name);
        let edit = dir.join("edit.qcow2");
        if meta.edit_base.is_some() && edit.exists() {
            return Ok(edit);
        }
        let base = meta
            .version(meta.current)
            .cloned()
            .ok_or_else(|| StoreError::NoVersion {
                image: name.to_owned(),
                version: meta.current,
            })?;
        let _ = fs::remove_file(&edit);
        create_overlay(&edit, &base.file, base.format, base.size)?;
        meta.edit_base = Some(base.number);
        self.save_image(name, &meta)?;
        Ok(edit)
    }

    /// Seals the maintenance overlay as version N+1 (N: the newest) and
    /// makes it current. Shut the maintenance PC down first.
    pub fn image_commit(&self, name: &str) -> R<u32> {
        let _lock = self.lock()?;
        let mut meta = self.image_meta(name)?;
        self.sweep_image(name, &meta);
        let dir = self.image_dir(name);
        let edit = dir.join("edit.qcow2");
        let Some(base) = meta.edit_base.filter(|_| edit.exists()) else {
            return Err(StoreError::NoEdit(name.to_owned()));
        };
        let number = meta.versions.iter().map(|v| v.number).max().unwrap_or(0) + 1;
        let file = format!("v{number}.qcow2");
        let dst = dir.join(&file);
        let _ = fs::remove_file(&dst);
        // Both names first; the TOML file decides which one counts.
        fs::File::open(&edit)
            .and_then(|f| f.sync_all())
            .map_err(io_err(&edit))?;
        fs::hard_link(&edit, &dst).map_err(io_err(&dst))?;
        seal(&dst)?;
        sync_dir(&dir)?;
        let size = meta.version(base).map(|v| v.size).unwrap_or(0);
        meta.versions.push(Version {
            number,
            file,
            format: Format::Qcow2,
            base: Some(base),
            size,
            created: now(),
        });
        meta.current = number;
        meta.edit_base = None;
        self.save_image(name, &meta)?;
        fs::remove_file(&edit).map_err(io_err(&edit))?;
        sync_dir(&dir)?;
        Ok(number)
    }

    /// Throws the maintenance overlay away (shut the maintenance PC down
    /// first): nothing of it becomes a version.
    pub fn image_discard(&self, name: &str) -> R<()> {
        let _lock = self.lock()?;
        let mut meta = self.image_meta(name)?;
        self.sweep_image(name, &meta);
        if meta.edit_base.is_none() {
            return Err(StoreError::NoEdit(name.to_owned()));
        }
        meta.edit_base = None;
        self.save_image(name, &meta)?;
        // No longer named: the sweep of the next change would take it too.
        let edit = self.image_dir(name).join("edit.qcow2");
        let _ = fs::remove_file(&edit);
        sync_dir(&self.image_dir(name))
    }

    /// Makes version `to` (default: the newest one before the current)
    /// current. Clients pick it up with their next new overlay.
    pub fn image_rollback(&self, name: &str, to: Option<u32>) -> R<u32> {
        let _lock = self.lock()?;
        let mut meta = self.image_meta(name)?;
        self.sweep_image(name, &meta);
        let to = match to {
            Some(n) => {
                meta.version(n).ok_or_else(|| StoreError::NoVersion {
                    image: name.to_owned(),
                    version: n,
                })?;
                n
            }
            None => meta
                .versions
                .iter()
                .map(|v| v.number)
                .filter(|&n| n < meta.current)
                .max()
                .ok_or_else(|| StoreError::NoPrevious(name.to_owned()))?,
        };
        meta.current = to;
        self.save_image(name, &meta)?;
        Ok(to)
    }

    /// Writes version `version` (default: current) of `name` flattened
    /// into `out`: a raw file (sparse) or a standalone qcow2.
    pub fn image_export(
        &self,
        name: &str,
        version: Option<u32>,
        out: &Path,
        format: Format,
    ) -> R<()> {
        let meta = self.image_meta(name)?;
        let n = version.unwrap_or(meta.current);
        let src = self.open_disk(&self.version_path(name, n)?, true)?;
        let size = src.size();
        let tmp = out.with_extension("export.tmp");
        let _ = fs::remove_file(&tmp);
        let dst: Arc<dyn BlockDevice> = match format {
            Format::Raw => {
                let f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
                f.set_len(size).map_err(io_err(&tmp))?;
                drop(f);
                self.images.open(&tmp, &OpenOptions::default())?
            }
            Format::Qcow2 => {
                create_qcow2(&tmp, None, size)?;
                self.images.open(
                    &tmp,
                    &OpenOptions {
                        format: Format::Qcow2,
                        ..OpenOptions::default()
                    },
                )?
            }
        };
        copy_data(&*src, &*dst).map_err(|source| StoreError::Disk {
            path: out.to_owned(),
            source,
        })?;
        drop(dst);
        fs::rename(&tmp, out).map_err(io_err(out))?;
        Ok(())
    }

    /// Removes the versions of `name` that nothing needs: not the current
    /// one, not the edit's base, not a client's (its overlay's or its pin),
    /// not the base of one of those. Returns the versions removed.
    pub fn image_gc(&self, name: &str) -> R<Vec<u32>> {
        let _lock = self.lock()?;
        let mut meta = self.image_meta(name)?;
        self.sweep_image(name, &meta);
        let mut need: BTreeSet<u32> = [meta.current].into();
        need.extend(meta.edit_base);
        for (_, c) in self.clients_meta()? {
            if c.image == name {
                need.extend(c.version);
                need.extend(c.pin);
            }
        }
        let mut todo: Vec<u32> = need.iter().copied().collect();
        while let Some(n) = todo.pop() {
            if let Some(b) = meta.version(n).and_then(|v| v.base) {
                if need.insert(b) {
                    todo.push(b);
                }
            }
        }
        let (keep, gone): (Vec<Version>, Vec<Version>) = meta
            .versions
            .drain(..)
            .partition(|v| need.contains(&v.number));
        meta.versions = keep;
        self.save_image(name, &meta)?;
        let dir = self.image_dir(name);
        for v in &gone {
            let p = dir.join(&v.file);
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
        sync_dir(&dir)?;
        Ok(gone.iter().map(|v| v.number).collect())
    }

    fn clients_meta(&self) -> R<Vec<(String, ClientMeta)>> {
        self.names("clients", "client.toml")?
            .into_iter()
            .map(|n| {
                let m = self.client_meta(&n)?;
                Ok((n, m))
            })
            .collect()
    }

    /// Adds client `name` (a PC by its MAC) booting `image`; its overlay
    /// may take `overlay_max` bytes at most.
    pub fn client_add(
        &self,
        name: &str,
        mac: &str,
        image: &str,
        mode: Mode,
        overlay_max: Option<u64>,
    ) -> R<ClientMeta> {
        check_name("client", name)?;
        let mac = parse_mac(mac)?;
        let _lock = self.lock()?;
        self.image_meta(image)?;
        if self.client_dir(name).join("client.toml").exists() {
            return Err(StoreError::ClientExists(name.to_owned()));
        }
        if let Some((other, _)) = self.clients_meta()?.into_iter().find(|(_, c)| c.mac == mac) {
            return Err(StoreError::MacTaken { mac, other });
        }
        let dir = self.client_dir(name);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let meta = ClientMeta {
            mac,
            image: image.to_owned(),
            mode,
            generation: 0,
            version: None,
            overlay_max,
            pin: None,
        };
        self.save_client(name, &meta)?;
        Ok(meta)
    }

    /// Every client, with whether it is behind its image's current version.
    pub fn clients(&self) -> R<Vec<ClientInfo>> {
        self.clients_meta()?
            .into_iter()
            .map(|(name, meta)| {
                let current = self.image_meta(&meta.image).map(|m| m.current).unwrap_or(0);
                let disk = meta.disk_file().map(|f| self.client_dir(&name).join(f));
                Ok(ClientInfo {
                    behind: meta
                        .version
                        .is_some_and(|v| v != meta.target_version(current)),
                    disk_bytes: disk.as_deref().map(disk_bytes).unwrap_or(0),
                    disk,
                    current,
                    name,
                    meta,
                })
            })
            .collect()
    }

    /// The client whose MAC is `mac`.
    pub fn client_by_mac(&self, mac: &str) -> R<Option<String>> {
        let mac = parse_mac(mac)?;
        Ok(self
            .clients_meta()?
            .into_iter()
            .find(|(_, c)| c.mac == mac)
            .map(|(n, _)| n))
    }

    /// The overlay client `name` boots now: a persistent client's existing
    /// one (made over the current version if missing); for a volatile
    /// client, a new one over the current version at every call (the
    /// old file is removed; a daemon that still has it open keeps it).
    pub fn client_disk(&self, name: &str) -> R<PathBuf> {
        let _lock = self.lock()?;
        let meta = self.client_meta(name)?;
        self.sweep_client(name, &meta);
        let existing = meta.disk_file().map(|f| self.client_dir(name).join(f));
        match (meta.mode, existing) {
            (Mode::Persistent, Some(p)) if p.exists() && meta.version.is_some() => Ok(p),
            _ => self.new_overlay(name, meta),
        }
    }

    /// Opens the overlay client `name` boots now (see
    /// [`client_disk`](Self::client_disk)) with its size limit: what a
    /// target serves.
    pub fn open_client_disk(&self, name: &str) -> R<Arc<dyn BlockDevice>> {
        let path = self.client_disk(name)?;
        let meta = self.client_meta(name)?;
        Ok(self.images.open(
            &path,
            &OpenOptions {
                format: Format::Qcow2,
                root: Some(self.root.clone()),
                overlay_max: meta.overlay_max,
                ..OpenOptions::default()
            },
        )?)
    }

    /// Changes client `name`'s image, mode, pin or size limit. A new mode,
    /// pin or limit shows in its next new overlay (a volatile PC's next
    /// boot, a persistent PC's reset). Another image throws its overlay
    /// away now (its writes were over the old image): the next boot gets
    /// a new one. A daemon that has the old overlay open keeps it.
    pub fn client_update(&self, name: &str, u: &ClientUpdate) -> R<ClientMeta> {
        let _lock = self.lock()?;
        let mut meta = self.client_meta(name)?;
        let old_disk = match &u.image {
            Some(i) if *i != meta.image => {
                self.image_meta(i)?;
                meta.image = i.clone();
                meta.version = None;
                meta.disk_file().map(|f| self.client_dir(name).join(f))
            }
            _ => None,
        };
        if let Some(m) = u.mode {
            meta.mode = m;
        }
        if let Some(p) = u.pin {
            meta.pin = p;
        }
        if let Some(o) = u.overlay_max {
            meta.overlay_max = o;
        }
        let image = self.image_meta(&meta.image)?;
        if let Some(n) = meta.pin {
            image.version(n).ok_or_else(|| StoreError::NoVersion {
                image: meta.image.clone(),
                version: n,
            })?;
        }
        self.save_client(name, &meta)?;
        if let Some(d) = old_disk {
            let _ = fs::remove_file(d);
        }
        Ok(meta)
    }

    /// Opens the overlay client `name` has now, as it is (never a new one),
    /// with its size limit; `None` when it has none. What a restarted
    /// server serves a PC that was running.
    pub fn open_current_disk(&self, name: &str) -> R<Option<Arc<dyn BlockDevice>>> {
        let meta = self.client_meta(name)?;
        let Some(path) = meta.disk_file().map(|f| self.client_dir(name).join(f)) else {
            return Ok(None);
        };
        if meta.version.is_none() || !path.exists() {
            return Ok(None);
        }
        Ok(Some(self.images.open(
            &path,
            &OpenOptions {
                format: Format::Qcow2,
                root: Some(self.root.clone()),
                overlay_max: meta.overlay_max,
                ..OpenOptions::default()
            },
        )?))
    }

    /// Gives client `name` a fresh overlay over the current version (or
    /// its pin).
    pub fn client_reset(&self, name: &str) -> R<PathBuf> {
        let _lock = self.lock()?;
        let meta = self.client_meta(name)?;
        self.new_overlay(name, meta)
    }

    /// Makes generation G+1 over the current version (or the client's
    /// pin), records it, then removes generation G.
    fn new_overlay(&self, name: &str, mut meta: ClientMeta) -> R<PathBuf> {
        self.sweep_client(name, &meta);
        let image = self.image_meta(&meta.image)?;
        let want = meta.target_version(image.current);
        let v = image
            .version(want)
            .cloned()
            .ok_or_else(|| StoreError::NoVersion {
                image: meta.image.clone(),
                version: want,
            })?;
        let dir = self.client_dir(name);
        let old = meta.disk_file().map(|f| dir.join(f));
        meta.generation += 1;
        meta.version = Some(v.number);
        let file = meta.disk_file().unwrap_or_default();
        let path = dir.join(&file);
        let _ = fs::remove_file(&path);
        let backing = format!("../../images/{}/{}", meta.image, v.file);
        create_overlay(&path, &backing, v.format, v.size)?;
        self.save_client(name, &meta)?;
        if let Some(o) = old {
            let _ = fs::remove_file(o);
        }
        sync_dir(&dir)?;
        Ok(path)
    }
}

/// Makes a file read-only (mode 0444): versions are never written again.
fn seal(path: &Path) -> R<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o444)).map_err(io_err(path))
}

/// Creates a qcow2 file of `size` bytes at `path`, over `backing` (a
/// name relative to `path`'s directory, with its format) if given.
pub fn create_qcow2(path: &Path, backing: Option<(&str, Format)>, size: u64) -> Result<(), Error> {
    use imago::{FormatCreateBuilder, Storage, StorageCreateOptions};
    let io = |source| Error::Io {
        image: path.to_owned(),
        source,
    };
    let file =
        imago::file::File::create_open(StorageCreateOptions::new().filename(path)).map_err(io)?;
    let mut b = imago::qcow2::Qcow2::<imago::file::File>::create_builder(file).size(size);
    if let Some((name, format)) = backing {
        b = b.backing(name.to_owned(), format.name().to_owned());
    }
    b.create().map_err(io)?;
    fs::File::open(path).and_then(|f| f.sync_all()).map_err(io)
}

/// Creates a qcow2 overlay at `path` over `backing` (relative to `path`'s
/// directory).
pub fn create_overlay(path: &Path, backing: &str, format: Format, size: u64) -> Result<(), Error> {
    create_qcow2(path, Some((backing, format)), size)
}

/// Copies every non-zero 64 KiB of `src` to `dst` (same size), then
/// flushes `dst`.
fn copy_data(src: &dyn BlockDevice, dst: &dyn BlockDevice) -> netboot_blockdev::Result<()> {
    const CHUNK: u64 = 1 << 20;
    const GRAIN: usize = 64 * 1024;
    let size = src.size();
    let mut buf = vec![0u8; CHUNK as usize];
    let mut off = 0;
    while off < size {
        let n = (size - off).min(CHUNK) as usize;
        src.read_at(&mut buf[..n], off)?;
        for (i, g) in buf[..n].chunks(GRAIN).enumerate() {
            if g.iter().any(|&b| b != 0) {
                dst.write_at(g, off + (i * GRAIN) as u64)?;
            }
        }
        off += n as u64;
    }
    dst.flush()
}
