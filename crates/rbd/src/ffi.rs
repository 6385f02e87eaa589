//! librados and librbd (Ceph 16, librbd 1.16) through a hand-written
//! `extern "C"` block of the functions netboot uses, and the safe handles
//! over them. This is the crate's only module with `unsafe` code; every
//! block says why it is sound. (No maintained binding exists: `librbd-sys`
//! is from 2016, the newer crates need librbd 1.17.)
//!
//! What the C library promises and the handles rely on: a cluster handle,
//! an I/O context and an open image may be used from several threads at
//! once (librbd serialises what it must); each is closed once, after
//! everything made from it (the handles keep their parents alive with an
//! `Arc`). An AIO completion calls its callback once, on a librbd thread;
//! the buffer of a request must stay valid until then.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;
use std::sync::Arc;

type RadosT = *mut c_void;
type IoCtxT = *mut c_void;
type ImageT = *mut c_void;
type CompletionT = *mut c_void;
type OptionsT = *mut c_void;
type Callback = extern "C" fn(CompletionT, *mut c_void);

#[link(name = "rados")]
extern "C" {
    fn rados_create2(
        cluster: *mut RadosT,
        clustername: *const c_char,
        name: *const c_char,
        flags: u64,
    ) -> c_int;
    fn rados_conf_read_file(cluster: RadosT, path: *const c_char) -> c_int;
    fn rados_conf_set(cluster: RadosT, option: *const c_char, value: *const c_char) -> c_int;
    fn rados_connect(cluster: RadosT) -> c_int;
    fn rados_shutdown(cluster: RadosT);
    fn rados_ioctx_create(cluster: RadosT, pool: *const c_char, io: *mut IoCtxT) -> c_int;
    fn rados_ioctx_destroy(io: IoCtxT);
}

#[link(name = "rbd")]
extern "C" {
    fn rbd_create(io: IoCtxT, name: *const c_char, size: u64, order: *mut c_int) -> c_int;
    fn rbd_remove(io: IoCtxT, name: *const c_char) -> c_int;
    fn rbd_open(io: IoCtxT, name: *const c_char, image: *mut ImageT, snap: *const c_char) -> c_int;
    fn rbd_close(image: ImageT) -> c_int;
    fn rbd_get_size(image: ImageT, size: *mut u64) -> c_int;
    fn rbd_snap_create(image: ImageT, name: *const c_char) -> c_int;
    fn rbd_snap_protect(image: ImageT, name: *const c_char) -> c_int;
    fn rbd_snap_unprotect(image: ImageT, name: *const c_char) -> c_int;
    fn rbd_snap_remove(image: ImageT, name: *const c_char) -> c_int;
    fn rbd_image_options_create(opts: *mut OptionsT);
    fn rbd_image_options_destroy(opts: OptionsT);
    fn rbd_clone3(
        p_io: IoCtxT,
        p_name: *const c_char,
        p_snap: *const c_char,
        c_io: IoCtxT,
        c_name: *const c_char,
        opts: OptionsT,
    ) -> c_int;
    fn rbd_lock_acquire(image: ImageT, mode: c_int) -> c_int;
    fn rbd_is_exclusive_lock_owner(image: ImageT, is_owner: *mut c_int) -> c_int;
    fn rbd_metadata_get(
        image: ImageT,
        key: *const c_char,
        value: *mut c_char,
        len: *mut usize,
    ) -> c_int;
    fn rbd_metadata_set(image: ImageT, key: *const c_char, value: *const c_char) -> c_int;
    fn rbd_aio_create_completion(
        arg: *mut c_void,
        cb: Option<Callback>,
        c: *mut CompletionT,
    ) -> c_int;
    fn rbd_aio_wait_for_complete(c: CompletionT) -> c_int;
    fn rbd_aio_get_return_value(c: CompletionT) -> isize;
    fn rbd_aio_release(c: CompletionT);
    fn rbd_aio_read2(
        image: ImageT,
        off: u64,
        len: usize,
        buf: *mut c_char,
        c: CompletionT,
        flags: c_int,
    ) -> c_int;
    fn rbd_aio_write2(
        image: ImageT,
        off: u64,
        len: usize,
        buf: *const c_char,
        c: CompletionT,
        flags: c_int,
    ) -> c_int;
    fn rbd_aio_flush(image: ImageT, c: CompletionT) -> c_int;
    fn rbd_aio_write_zeroes(
        image: ImageT,
        off: u64,
        len: usize,
        c: CompletionT,
        zero_flags: c_int,
        op_flags: c_int,
    ) -> c_int;
}

/// A negative errno as `Err(errno)`.
fn check(r: c_int) -> Result<c_int, i32> {
    if r < 0 {
        Err(-r)
    } else {
        Ok(r)
    }
}

/// `s` for C; names were checked to have no NUL (`Spec`), so a NUL here is
/// EINVAL.
fn c(s: &str) -> Result<CString, i32> {
    CString::new(s).map_err(|_| libc::EINVAL)
}

/// A connection to a cluster.
#[derive(Debug)]
pub struct Rados(RadosT);

// SAFETY: a rados_t may be used from any thread, by several at once
// (librados locks internally); it is shut down once, in Drop.
unsafe impl Send for Rados {}
// SAFETY: as above.
unsafe impl Sync for Rados {}

impl Rados {
    /// Connects as client `id` with the settings of `conf` (None:
    /// librados's own search).
    pub fn connect(conf: Option<&Path>, id: &str) -> Result<Rados, (&'static str, i32)> {
        let name = c(&format!("client.{id}")).map_err(|e| ("client name", e))?;
        let cluster = c("ceph").map_err(|e| ("cluster name", e))?;
        let mut h: RadosT = std::ptr::null_mut();
        // SAFETY: `h` is written by the call; the strings live for it.
        check(unsafe { rados_create2(&mut h, cluster.as_ptr(), name.as_ptr(), 0) })
            .map_err(|e| ("rados_create2", e))?;
        // From here `Drop` shuts the handle down, on every path.
        let r = Rados(h);
        let path = match conf {
            Some(p) => Some(
                c(p.to_str().ok_or(("conf path", libc::EINVAL))?).map_err(|e| ("conf path", e))?,
            ),
            None => None,
        };
        // SAFETY: a created handle, a NUL-terminated path or NULL (the
        // default search).
        check(unsafe {
            rados_conf_read_file(r.0, path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()))
        })
        .map_err(|e| ("rados_conf_read_file", e))?;
        // Give up on an unreachable cluster in seconds, not minutes.
        for (k, v) in [
            ("client_mount_timeout", "15"),
            ("rados_mon_op_timeout", "30"),
        ] {
            let (k, v) = (
                c(k).map_err(|e| ("conf", e))?,
                c(v).map_err(|e| ("conf", e))?,
            );
            // SAFETY: a created handle, two NUL-terminated strings.
            check(unsafe { rados_conf_set(r.0, k.as_ptr(), v.as_ptr()) })
                .map_err(|e| ("rados_conf_set", e))?;
        }
        // SAFETY: a configured handle, connected once.
        check(unsafe { rados_connect(r.0) }).map_err(|e| ("rados_connect", e))?;
        Ok(r)
    }
}

impl Drop for Rados {
    fn drop(&mut self) {
        // SAFETY: created by rados_create2; every I/O context of it holds
        // an Arc of this, so none outlives it.
        unsafe { rados_shutdown(self.0) }
    }
}

/// An I/O context: one pool.
#[derive(Debug)]
pub struct IoCtx {
    h: IoCtxT,
    _rados: Arc<Rados>,
}

// SAFETY: librados I/O contexts may be used from several threads at once
// for the operations made here; destroyed once, in Drop.
unsafe impl Send for IoCtx {}
// SAFETY: as above.
unsafe impl Sync for IoCtx {}

impl IoCtx {
    /// The pool `pool` of `rados`.
    pub fn new(rados: Arc<Rados>, pool: &str) -> Result<IoCtx, i32> {
        let p = c(pool)?;
        let mut h: IoCtxT = std::ptr::null_mut();
        // SAFETY: a connected cluster, a NUL-terminated name, `h` written.
        check(unsafe { rados_ioctx_create(rados.0, p.as_ptr(), &mut h) })?;
        Ok(IoCtx { h, _rados: rados })
    }

    /// Creates image `name` of `size` bytes (default features: layering,
    /// exclusive lock, object map, fast diff, deep flatten).
    pub fn create(&self, name: &str, size: u64) -> Result<(), i32> {
        let n = c(name)?;
        let mut order: c_int = 0;
        // SAFETY: a live context, a NUL-terminated name, `order` written
        // (0: the default object size).
        check(unsafe { rbd_create(self.h, n.as_ptr(), size, &mut order) }).map(drop)
    }

    /// Removes image `name`.
    pub fn remove(&self, name: &str) -> Result<(), i32> {
        let n = c(name)?;
        // SAFETY: a live context and a NUL-terminated name.
        check(unsafe { rbd_remove(self.h, n.as_ptr()) }).map(drop)
    }

    /// Clones snapshot `snap` of `parent` (protected) as `child`, in this
    /// pool.
    pub fn clone_image(&self, parent: &str, snap: &str, child: &str) -> Result<(), i32> {
        let (p, s, ch) = (c(parent)?, c(snap)?, c(child)?);
        let mut opts: OptionsT = std::ptr::null_mut();
        // SAFETY: `opts` is written by the call and destroyed below.
        unsafe { rbd_image_options_create(&mut opts) };
        // SAFETY: a live context used as parent and child pool, three
        // NUL-terminated names, default options.
        let r =
            check(unsafe { rbd_clone3(self.h, p.as_ptr(), s.as_ptr(), self.h, ch.as_ptr(), opts) });
        // SAFETY: created above, destroyed once.
        unsafe { rbd_image_options_destroy(opts) };
        r.map(drop)
    }
}

impl Drop for IoCtx {
    fn drop(&mut self) {
        // SAFETY: created by rados_ioctx_create; every image of it holds an
        // Arc of this context.
        unsafe { rados_ioctx_destroy(self.h) }
    }
}

/// An open image (or snapshot of one: read-only).
#[derive(Debug)]
pub struct Image {
    h: ImageT,
    _io: Arc<IoCtx>,
}

// SAFETY: librbd image handles take concurrent I/O from several threads;
// closed once, in Drop, after every request (each waits for, or owns what
// its completion needs).
unsafe impl Send for Image {}
// SAFETY: as above.
unsafe impl Sync for Image {}

/// What an asynchronous request's callback gets back: the buffer it kept
/// alive, and where to send it with the result.
struct Pending {
    buf: Vec<u8>,
    done: tokio::sync::oneshot::Sender<(isize, Vec<u8>)>,
}

extern "C" fn on_complete(comp: CompletionT, arg: *mut c_void) {
    // SAFETY: `arg` is the Box<Pending> leaked by `Image::submit` for
    // this completion; the callback runs once, so it is taken back once.
    let p = unsafe { Box::from_raw(arg.cast::<Pending>()) };
    // SAFETY: `comp` is complete (we are its callback); releasing it here
    // is what rbd-nbd does, and nothing uses it afterwards.
    let r = unsafe {
        let r = rbd_aio_get_return_value(comp);
        rbd_aio_release(comp);
        r
    };
    // A future that was dropped meanwhile: the buffer is freed here, after
    // librbd is done with it.
    let _ = p.done.send((r, p.buf));
}

impl Image {
    /// Opens image `name` of `io` (with `snap`: that snapshot, read-only).
    pub fn open(io: Arc<IoCtx>, name: &str, snap: Option<&str>) -> Result<Image, i32> {
        let n = c(name)?;
        let s = snap.map(c).transpose()?;
        let mut h: ImageT = std::ptr::null_mut();
        // SAFETY: a live context, NUL-terminated name and snapshot (or
        // NULL: the head), `h` written.
        check(unsafe {
            rbd_open(
                io.h,
                n.as_ptr(),
                &mut h,
                s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            )
        })?;
        Ok(Image { h, _io: io })
    }

    /// Its size in bytes.
    pub fn size(&self) -> Result<u64, i32> {
        let mut s = 0u64;
        // SAFETY: an open image, `s` written.
        check(unsafe { rbd_get_size(self.h, &mut s) })?;
        Ok(s)
    }

    /// Creates, protects, unprotects or removes snapshot `name`.
    pub fn snap(&self, op: SnapOp, name: &str) -> Result<(), i32> {
        let n = c(name)?;
        let f = match op {
            SnapOp::Create => rbd_snap_create,
            SnapOp::Protect => rbd_snap_protect,
            SnapOp::Unprotect => rbd_snap_unprotect,
            SnapOp::Remove => rbd_snap_remove,
        };
        // SAFETY: an open image and a NUL-terminated name.
        check(unsafe { f(self.h, n.as_ptr()) }).map(drop)
    }

    /// Takes the image's exclusive lock (a second writer elsewhere gets it
    /// only when this one lets go or is blocklisted).
    pub fn lock_exclusive(&self) -> Result<(), i32> {
        // SAFETY: an open image; 0 is RBD_LOCK_MODE_EXCLUSIVE.
        check(unsafe { rbd_lock_acquire(self.h, 0) }).map(drop)
    }

    /// Whether this handle holds the exclusive lock.
    pub fn owns_lock(&self) -> Result<bool, i32> {
        let mut o: c_int = 0;
        // SAFETY: an open image, `o` written.
        check(unsafe { rbd_is_exclusive_lock_owner(self.h, &mut o) })?;
        Ok(o != 0)
    }

    /// The image's metadata value of `key` (None: not set).
    pub fn metadata(&self, key: &str) -> Result<Option<String>, i32> {
        let k = c(key)?;
        let mut buf = vec![0u8; 4096];
        let mut len = buf.len();
        // SAFETY: an open image, a NUL-terminated key, a buffer of `len`
        // bytes; `len` is set to the value's size (with its NUL).
        let r = unsafe { rbd_metadata_get(self.h, k.as_ptr(), buf.as_mut_ptr().cast(), &mut len) };
        match r {
            0 => {
                let v = CStr::from_bytes_until_nul(&buf[..len.min(buf.len())])
                    .map_err(|_| libc::EINVAL)?;
                Ok(Some(v.to_string_lossy().into_owned()))
            }
            r if -r == libc::ENOENT => Ok(None),
            r => Err(-r),
        }
    }

    /// Sets the image's metadata `key` to `value` (at most 4095 bytes).
    pub fn set_metadata(&self, key: &str, value: &str) -> Result<(), i32> {
        if value.len() >= 4096 {
            return Err(libc::E2BIG);
        }
        let (k, v) = (c(key)?, c(value)?);
        // SAFETY: an open image, two NUL-terminated strings.
        check(unsafe { rbd_metadata_set(self.h, k.as_ptr(), v.as_ptr()) }).map(drop)
    }

    /// Runs `start` with a completion and waits for it: the caller's
    /// buffers stay borrowed (and valid) until librbd is done.
    fn wait(&self, start: impl FnOnce(CompletionT) -> c_int) -> Result<usize, i32> {
        let mut comp: CompletionT = std::ptr::null_mut();
        // SAFETY: no callback, no argument; `comp` written.
        check(unsafe { rbd_aio_create_completion(std::ptr::null_mut(), None, &mut comp) })?;
        let started = start(comp);
        if started < 0 {
            // SAFETY: created above, never submitted.
            unsafe { rbd_aio_release(comp) };
            return Err(-started);
        }
        // SAFETY: a submitted completion, waited for, read, released once.
        let r = unsafe {
            rbd_aio_wait_for_complete(comp);
            let r = rbd_aio_get_return_value(comp);
            rbd_aio_release(comp);
            r
        };
        if r < 0 {
            Err(-(r as i32))
        } else {
            Ok(r as usize)
        }
    }

    /// Reads `buf.len()` bytes at `off`, waiting.
    pub fn read(&self, buf: &mut [u8], off: u64) -> Result<usize, i32> {
        let (p, n) = (buf.as_mut_ptr().cast::<c_char>(), buf.len());
        // SAFETY: `buf` stays borrowed until `wait` returns, after the
        // completion; it has `n` bytes.
        self.wait(|comp| unsafe { rbd_aio_read2(self.h, off, n, p, comp, 0) })
    }

    /// Writes `buf` at `off`, waiting.
    pub fn write(&self, buf: &[u8], off: u64) -> Result<usize, i32> {
        let (p, n) = (buf.as_ptr().cast::<c_char>(), buf.len());
        // SAFETY: as in `read`; librbd only reads `buf`.
        self.wait(|comp| unsafe { rbd_aio_write2(self.h, off, n, p, comp, 0) })
    }

    /// Flushes librbd's cache to the cluster, waiting.
    pub fn flush(&self) -> Result<(), i32> {
        // SAFETY: an open image and a fresh completion.
        self.wait(|comp| unsafe { rbd_aio_flush(self.h, comp) })
            .map(drop)
    }

    /// Writes `len` zero bytes at `off` (deallocating where it can),
    /// waiting.
    pub fn write_zeroes(&self, off: u64, len: u64) -> Result<(), i32> {
        let n = usize::try_from(len).map_err(|_| libc::EINVAL)?;
        // SAFETY: an open image and a fresh completion.
        self.wait(|comp| unsafe { rbd_aio_write_zeroes(self.h, off, n, comp, 0, 0) })
            .map(drop)
    }

    /// Submits a request on an owned buffer; the future resolves from
    /// librbd's callback, with the buffer. Dropping the future early is
    /// safe: the callback still owns the buffer and frees it.
    async fn submit(
        &self,
        buf: Vec<u8>,
        start: impl FnOnce(CompletionT, *mut c_char, usize) -> c_int,
    ) -> Result<(usize, Vec<u8>), i32> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut pending = Box::new(Pending { buf, done: tx });
        let (p, n) = (pending.buf.as_mut_ptr().cast::<c_char>(), pending.buf.len());
        let arg = Box::into_raw(pending).cast::<c_void>();
        let mut comp: CompletionT = std::ptr::null_mut();
        // SAFETY: `arg` is the leaked Pending, taken back by `on_complete`
        // exactly once; `comp` written.
        let r = unsafe { rbd_aio_create_completion(arg, Some(on_complete), &mut comp) };
        if r < 0 {
            // SAFETY: no completion exists: the Pending is ours again.
            drop(unsafe { Box::from_raw(arg.cast::<Pending>()) });
            return Err(-r);
        }
        let started = start(comp, p, n);
        if started < 0 {
            // SAFETY: never submitted, so the callback will not run: the
            // completion and the Pending are released here.
            unsafe {
                rbd_aio_release(comp);
                drop(Box::from_raw(arg.cast::<Pending>()));
            }
            return Err(-started);
        }
        let (r, buf) = rx.await.map_err(|_| libc::EIO)?;
        if r < 0 {
            Err(-(r as i32))
        } else {
            Ok((r as usize, buf))
        }
    }

    /// Reads `len` bytes at `off` without blocking a thread.
    pub async fn read_async(&self, len: usize, off: u64) -> Result<Vec<u8>, i32> {
        let h = self.h;
        // SAFETY: the buffer (p, n) belongs to the Pending until the
        // callback; the image outlives the request (`self` is borrowed
        // until the future ends, and a dropped future's request completes
        // before `rbd_close` returns).
        let (_, buf) = self
            .submit(vec![0u8; len], |comp, p, n| unsafe {
                rbd_aio_read2(h, off, n, p, comp, 0)
            })
            .await?;
        Ok(buf)
    }

    /// Writes `data` at `off` without blocking a thread.
    pub async fn write_async(&self, data: Vec<u8>, off: u64) -> Result<(), i32> {
        let h = self.h;
        // SAFETY: as in `read_async`; librbd only reads the buffer.
        self.submit(data, |comp, p, n| unsafe {
            rbd_aio_write2(h, off, n, p, comp, 0)
        })
        .await
        .map(drop)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: opened by rbd_open, closed once; librbd waits for
        // requests in flight before the close returns.
        unsafe {
            rbd_close(self.h);
        }
    }
}

/// What [`Image::snap`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapOp {
    /// Creates it.
    Create,
    /// Protects it (clones need a protected parent).
    Protect,
    /// Unprotects it.
    Unprotect,
    /// Removes it.
    Remove,
}
