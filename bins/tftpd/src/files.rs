//! File access below the root: safe resolution, reads, and atomic uploads.
//!
//! A name is first split by `netboot_tftp::path::components` (no `..`, no
//! control characters). The joined path is then canonicalized, which resolves
//! symbolic links, and must still lie below the canonical root. The file is
//! finally opened by that canonical path relative to the root with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so a component swapped
//! for a symbolic link between the check and the open makes the open fail
//! instead of escaping.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use netboot_tftp::path::components;
use netboot_tftp::transfer::WriteSink;
use netboot_tftp::wire::ErrorCode;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// A refusal: the code and message sent to the client, and the reason logged.
#[derive(Debug)]
pub struct Refusal {
    /// The TFTP error code sent.
    pub code: ErrorCode,
    /// The message sent.
    pub message: &'static str,
    /// Why, for the log.
    pub reason: String,
}

fn refuse(code: ErrorCode, message: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message,
        reason: reason.into(),
    }
}

/// `what` is the step that failed (`open`, `resolve directory`...), for the
/// log; a missing file is logged as "not found" (a missing directory of an
/// upload as "directory not found"), which is what the operator looks for.
fn from_io(e: &io::Error, what: &str) -> Refusal {
    match e.kind() {
        io::ErrorKind::NotFound => refuse(
            ErrorCode::FileNotFound,
            "File not found",
            if what.contains("directory") {
                "directory not found"
            } else {
                "not found"
            },
        ),
        io::ErrorKind::PermissionDenied => refuse(
            ErrorCode::AccessViolation,
            "Access violation",
            format!("{what}: {e}"),
        ),
        _ => match e.raw_os_error() {
            // openat2 refusing a path that leaves the root, or one that turned
            // into a symbolic link after the check.
            Some(libc_exdev) if libc_exdev == nix::errno::Errno::EXDEV as i32 => refuse(
                ErrorCode::AccessViolation,
                "Access violation",
                format!("{what}: escapes the root"),
            ),
            Some(eloop) if eloop == nix::errno::Errno::ELOOP as i32 => refuse(
                ErrorCode::AccessViolation,
                "Access violation",
                format!("{what}: symbolic link changed during open"),
            ),
            _ => refuse(
                ErrorCode::NotDefined,
                "Cannot open file",
                format!("{what}: {e}"),
            ),
        },
    }
}

/// The served directory.
#[derive(Debug)]
pub struct Root {
    /// Canonical path.
    path: PathBuf,
    dir: File,
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let path = path.canonicalize()?;
        let dir = File::open(&path)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", path.display()),
            ));
        }
        Ok(Root { path, dir })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves `name` to a path relative to the root, following symbolic
    /// links, and checks that it stays inside.
    fn resolve(&self, name: &str, must_exist: bool) -> Result<PathBuf, Refusal> {
        let parts = components(name).map_err(|e| {
            refuse(
                ErrorCode::AccessViolation,
                "Access violation",
                e.to_string(),
            )
        })?;
        let mut joined = self.path.clone();
        joined.extend(&parts);
        let canonical = if must_exist {
            joined.canonicalize().map_err(|e| from_io(&e, "resolve"))?
        } else {
            // The file does not exist yet: resolve its directory.
            let parent = joined.parent().unwrap_or(&self.path);
            let file_name = joined.file_name().ok_or_else(|| {
                refuse(
                    ErrorCode::AccessViolation,
                    "Access violation",
                    "no file name",
                )
            })?;
            let mut p = parent
                .canonicalize()
                .map_err(|e| from_io(&e, "resolve directory"))?;
            p.push(file_name);
            p
        };
        let rel = canonical.strip_prefix(&self.path).map_err(|_| {
            refuse(
                ErrorCode::AccessViolation,
                "Access violation",
                format!("resolves to {} outside the root", canonical.display()),
            )
        })?;
        if rel.as_os_str().is_empty() {
            return Err(refuse(
                ErrorCode::AccessViolation,
                "Access violation",
                "names the root",
            ));
        }
        Ok(rel.to_path_buf())
    }

    fn open_beneath(&self, rel: &Path, flags: OFlag, mode: Mode) -> io::Result<File> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .mode(mode)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        match nix::fcntl::openat2(self.dir.as_raw_fd(), rel, how) {
            // SAFETY: openat2 returned a new file descriptor that nothing else
            // owns; File takes sole ownership and closes it on drop.
            #[allow(unsafe_code)]
            Ok(fd) => Ok(unsafe { File::from_raw_fd(fd) }),
            Err(nix::errno::Errno::ENOSYS) => {
                // Kernels before 5.6: the canonical path was checked above.
                let mut o = std::fs::OpenOptions::new();
                o.read(!flags.contains(OFlag::O_WRONLY));
                o.write(flags.contains(OFlag::O_WRONLY) || flags.contains(OFlag::O_RDWR));
                if flags.contains(OFlag::O_CREAT) {
                    o.create_new(true).mode(mode.bits());
                }
                o.custom_flags(libc_nofollow());
                o.open(self.path.join(rel))
            }
            Err(e) => Err(io::Error::from(e)),
        }
    }

    /// Opens `name` for reading. Returns the file and its size.
    pub fn open_read(&self, name: &str) -> Result<(File, u64), Refusal> {
        let rel = self.resolve(name, true)?;
        let f = self
            .open_beneath(&rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW, Mode::empty())
            .map_err(|e| from_io(&e, "open"))?;
        let meta = f.metadata().map_err(|e| from_io(&e, "stat"))?;
        if !meta.is_file() {
            return Err(refuse(
                ErrorCode::AccessViolation,
                "Access violation",
                "not a regular file",
            ));
        }
        Ok((f, meta.len()))
    }

    /// Prepares an upload of `name`: a hidden temporary file in the target
    /// directory that becomes `name` only when the transfer completes.
    pub fn create_upload(
        &self,
        name: &str,
        overwrite: bool,
        limit: Option<u64>,
    ) -> Result<Upload, Refusal> {
        let rel = self.resolve(name, false)?;
        match self.open_beneath(&rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW, Mode::empty()) {
            Ok(existing) => {
                let meta = existing.metadata().map_err(|e| from_io(&e, "stat"))?;
                if !overwrite {
                    return Err(refuse(
                        ErrorCode::FileExists,
                        "File already exists",
                        "exists",
                    ));
                }
                if !meta.is_file() {
                    return Err(refuse(
                        ErrorCode::AccessViolation,
                        "Access violation",
                        "not a regular file",
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(from_io(&e, "open")),
        }
        let file_name = rel
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| refuse(ErrorCode::AccessViolation, "Access violation", "bad name"))?;
        let tmp_name = format!(".{file_name}.tftpd-{:016x}", rand::random::<u64>());
        let tmp_rel = rel.with_file_name(&tmp_name);
        let file = self
            .open_beneath(
                &tmp_rel,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(0o644),
            )
            .map_err(|e| from_io(&e, "create"))?;
        Ok(Upload {
            file,
            tmp: self.path.join(&tmp_rel),
            dest: self.path.join(&rel),
            overwrite,
            committed: false,
            limit: limit.unwrap_or(u64::MAX),
        })
    }
}

fn libc_nofollow() -> i32 {
    OFlag::O_NOFOLLOW.bits()
}

/// An upload in progress: data goes to a temporary file; [`WriteSink::finish`]
/// makes it durable and gives it its name. Dropped unfinished, it is removed.
#[derive(Debug)]
pub struct Upload {
    file: File,
    tmp: PathBuf,
    dest: PathBuf,
    overwrite: bool,
    committed: bool,
    /// Largest size accepted (`--max-upload`).
    limit: u64,
}

impl WriteSink for Upload {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        // The transfer answers FileTooLarge with ERROR 3; the temporary
        // file goes when the upload is dropped.
        if offset.saturating_add(data.len() as u64) > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("upload larger than --max-upload {}", self.limit),
            ));
        }
        WriteSink::write_at(&mut self.file, offset, data)
    }

    fn finish(&mut self) -> io::Result<()> {
        // Data on stable storage before the name appears and before the
        // final ACK goes out.
        self.file.sync_data()?;
        if self.overwrite {
            std::fs::rename(&self.tmp, &self.dest)?;
        } else {
            // link() fails if the name appeared meanwhile: never clobber.
            std::fs::hard_link(&self.tmp, &self.dest)?;
            std::fs::remove_file(&self.tmp)?;
        }
        self.committed = true;
        if let Some(dir) = self.dest.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, Root) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("served")).unwrap();
        std::fs::write(d.path().join("secret"), b"secret").unwrap();
        std::fs::write(d.path().join("served/ok.txt"), b"ok").unwrap();
        std::fs::create_dir(d.path().join("served/sub")).unwrap();
        std::os::unix::fs::symlink("../secret", d.path().join("served/out")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("served/abs")).unwrap();
        std::os::unix::fs::symlink("ok.txt", d.path().join("served/in")).unwrap();
        std::os::unix::fs::symlink(
            d.path().join("served/ok.txt"),
            d.path().join("served/absin"),
        )
        .unwrap();
        std::os::unix::fs::symlink("..", d.path().join("served/sub/up")).unwrap();
        let r = Root::open(&d.path().join("served")).unwrap();
        (d, r)
    }

    #[test]
    fn reads_inside_and_through_inner_links() {
        let (_d, r) = root();
        assert_eq!(r.open_read("ok.txt").unwrap().1, 2);
        assert_eq!(r.open_read("/ok.txt").unwrap().1, 2);
        assert_eq!(r.open_read("in").unwrap().1, 2);
        assert_eq!(r.open_read("absin").unwrap().1, 2);
        assert_eq!(r.open_read("sub\\up\\ok.txt").unwrap().1, 2);
    }

    #[test]
    fn refuses_links_out_and_non_files() {
        let (_d, r) = root();
        for name in ["out", "abs", "sub/up/../secret", "sub/up/out", "sub", "/"] {
            let e = r.open_read(name).unwrap_err();
            assert_eq!(e.code, ErrorCode::AccessViolation, "{name}: {e:?}");
        }
        let e = r.open_read("missing").unwrap_err();
        assert_eq!(e.code, ErrorCode::FileNotFound);
        assert_eq!(e.reason, "not found");
        let e = r.open_read("nodir/missing").unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (ErrorCode::FileNotFound, "not found")
        );
    }

    #[test]
    fn uploads_are_atomic_and_never_clobber() {
        let (d, r) = root();
        let mut u = r.create_upload("sub/new.bin", false, None).unwrap();
        u.write_at(0, b"hello").unwrap();
        assert!(
            !d.path().join("served/sub/new.bin").exists(),
            "invisible until done"
        );
        u.finish().unwrap();
        drop(u);
        assert_eq!(
            std::fs::read(d.path().join("served/sub/new.bin")).unwrap(),
            b"hello"
        );
        assert_eq!(
            r.create_upload("sub/new.bin", false, None)
                .unwrap_err()
                .code,
            ErrorCode::FileExists
        );
        let mut u = r.create_upload("sub/new.bin", true, None).unwrap();
        u.write_at(0, b"bye").unwrap();
        u.finish().unwrap();
        assert_eq!(
            std::fs::read(d.path().join("served/sub/new.bin")).unwrap(),
            b"bye"
        );
        // An abandoned upload leaves nothing behind.
        let u = r.create_upload("gone.bin", false, None).unwrap();
        drop(u);
        let left: Vec<_> = std::fs::read_dir(d.path().join("served"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            !left.iter().any(|n| n.to_string_lossy().contains("tftpd-")),
            "{left:?}"
        );
        // --max-upload: writes past the limit fail as "file too large"
        // (ERROR 3 on the wire).
        let mut u = r.create_upload("limited.bin", false, Some(1000)).unwrap();
        u.write_at(0, &[1; 1000]).unwrap();
        let e = u.write_at(1000, &[1]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        drop(u);
        assert_eq!(
            r.create_upload("out", true, None).unwrap_err().code,
            ErrorCode::AccessViolation
        );
        let e = r.create_upload("nodir/x", false, None).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (ErrorCode::FileNotFound, "directory not found")
        );
    }
}
