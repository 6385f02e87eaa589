//! Raw Ethernet through `pnet_datalink` (cargo feature `pnet`): the same
//! interface as `packet.rs`, on any system pnet supports (BPF on the BSDs
//! and macOS, `AF_PACKET` on Linux).
//!
//! pnet gives one blocking receiver and one sender per interface and hides
//! the descriptor, so this module differs from `packet.rs` where pnet has
//! no counterpart (README, "Dependencies", has the measurement):
//! - a reader thread per socket takes frames from pnet one at a time
//!   (`poll` + `recvfrom` each on Linux), drops those that are not AoE or
//!   that we sent (pnet binds to every ethertype and sees outgoing frames),
//!   and hands the rest over a bounded channel; `wait_readable` and
//!   `recv_batch` read that channel. One copy more per frame than `recvmmsg`.
//! - frames are sent one `sendto` each (after a `poll`): no `sendmmsg`.
//! - no `PACKET_QDISC_BYPASS` and no socket buffer sizes (no descriptor);
//!   `set_qdisc_bypass` says so, `set_buffers` does nothing.
//! - fanout (Linux only) without `PACKET_FANOUT_FLAG_IGNORE_OUTGOING`: the
//!   group is set when the channel is opened, so `join_fanout` reopens it.
//! - pnet does not report the MTU (`iface.rs`: sysfs on Linux, 1500 elsewhere).

#![allow(dead_code)]

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use netboot_aoe::wire::ETHERTYPE_AOE;
use pnet_datalink::{Channel, DataLinkReceiver, DataLinkSender};

/// Frames the reader thread may queue before it stops reading (then the
/// kernel's queue fills, and drops, as with a slow `recvmmsg` loop).
const QUEUE: usize = 1024;

/// How often a blocked reader thread looks whether its socket was closed.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// A pnet channel on one interface, filtered to AoE frames not sent by us.
pub struct PacketSocket {
    index: i32,
    /// Replaced by `join_fanout`.
    chan: RefCell<Chan>,
}

impl std::fmt::Debug for PacketSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketSocket")
            .field("index", &self.index)
            .field("backend", &"pnet_datalink")
            .finish_non_exhaustive()
    }
}

/// One pnet channel and its reader thread.
struct Chan {
    tx: Box<dyn DataLinkSender>,
    rx: Option<Receiver<Vec<u8>>>,
    /// Buffers handed back to the reader thread.
    free: SyncSender<Vec<u8>>,
    /// A frame taken by `wait_readable`, returned first by `recv_batch`.
    pending: Option<Vec<u8>>,
    /// Why the reader thread stopped, if it failed.
    failed: Arc<Mutex<Option<io::Error>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what}: not available with the pnet backend"),
    )
}

impl PacketSocket {
    /// Opens a pnet channel on interface `index`.
    pub fn open(index: i32) -> io::Result<PacketSocket> {
        Ok(PacketSocket {
            index,
            chan: RefCell::new(Chan::open(index, None)?),
        })
    }

    /// Joins a load-balancing fanout group (Linux only): reopens the
    /// channel with pnet's fanout option. Outgoing frames are spread over
    /// the group too (pnet sets no IGNORE_OUTGOING flag); the reader
    /// threads drop them.
    pub fn join_fanout(&self, group: u16) -> io::Result<()> {
        if !cfg!(target_os = "linux") {
            return Err(unsupported("PACKET_FANOUT"));
        }
        let new = Chan::open(self.index, Some(group))?;
        *self.chan.borrow_mut() = new;
        Ok(())
    }

    /// pnet cannot set `PACKET_QDISC_BYPASS`.
    pub fn set_qdisc_bypass(&self) -> io::Result<()> {
        Err(unsupported("PACKET_QDISC_BYPASS"))
    }

    /// pnet does not expose the descriptor: the kernel's buffer sizes stay
    /// the system defaults.
    pub fn set_buffers(&self, _bytes: usize) {}

    /// Waits up to `timeout_ms` (-1: forever) until a frame can be read.
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut c = self.chan.borrow_mut();
        if c.pending.is_some() {
            return Ok(true);
        }
        let got = if timeout_ms < 0 {
            c.frames()
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            c.frames()
                .recv_timeout(Duration::from_millis(timeout_ms as u64))
        };
        match got {
            Ok(f) => {
                c.pending = Some(f);
                Ok(true)
            }
            Err(RecvTimeoutError::Timeout) => Ok(false),
            Err(RecvTimeoutError::Disconnected) => Err(c.reader_error()),
        }
    }

    /// Copies up to `bufs.len()` queued frames without blocking; stores
    /// each length in `lens` and returns how many (0 if none was waiting).
    pub fn recv_batch(&self, bufs: &mut [Vec<u8>], lens: &mut [usize]) -> io::Result<usize> {
        let mut c = self.chan.borrow_mut();
        let n = bufs.len().min(lens.len());
        let mut got = 0;
        let mut next = c.pending.take();
        while got < n {
            let f = match next.take() {
                Some(f) => f,
                None => match c.frames().try_recv() {
                    Ok(f) => f,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) if got == 0 => return Err(c.reader_error()),
                    Err(TryRecvError::Disconnected) => break,
                },
            };
            // Longer frames are cut, as recvmmsg cuts them.
            let len = f.len().min(bufs[got].len());
            bufs[got][..len].copy_from_slice(&f[..len]);
            lens[got] = len;
            got += 1;
            let _ = c.free.try_send(f);
        }
        Ok(got)
    }

    /// Sends frames one by one; returns how many were sent. Frames the
    /// kernel refuses are skipped (and counted as sent), as in `packet.rs`.
    pub fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
        let mut c = self.chan.borrow_mut();
        let mut done = 0;
        while done < frames.len() {
            match c.tx.send_to(frames[done], None) {
                Some(Ok(())) => done += 1,
                Some(Err(e)) => match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::ENOBUFS) | Some(libc::EAGAIN) => {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    _ if done == 0 => return Err(e),
                    _ => done += 1,
                },
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "frame larger than pnet's write buffer",
                    ))
                }
            }
        }
        Ok(done)
    }

    /// Sends one frame.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_batch(&[frame]).map(|_| ())
    }
}

impl Chan {
    fn open(index: i32, fanout: Option<u16>) -> io::Result<Chan> {
        let iface = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i64::from(i.index) == i64::from(index))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no interface with index {index}"),
                )
            })?;
        let own = iface.mac.map(|m| m.octets()).unwrap_or_default();
        let config = pnet_datalink::Config {
            // One frame (jumbo included) on Linux; the BPF buffer, which
            // holds several, on the BSDs and macOS.
            read_buffer_size: 64 * 1024,
            write_buffer_size: 16 * 1024,
            read_timeout: Some(READ_TIMEOUT),
            promiscuous: false,
            linux_fanout: fanout.map(|group_id| pnet_datalink::FanoutOption {
                group_id,
                fanout_type: pnet_datalink::FanoutType::LB,
                defrag: false,
                rollover: false,
            }),
            ..pnet_datalink::Config::default()
        };
        let (tx, rx) = match pnet_datalink::channel(&iface, config)? {
            Channel::Ethernet(tx, rx) => (tx, rx),
            _ => return Err(unsupported("a non-Ethernet channel")),
        };
        let (frames_tx, frames_rx) = mpsc::sync_channel(QUEUE);
        let (free_tx, free_rx) = mpsc::sync_channel(QUEUE);
        let failed = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let failed = failed.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("pnet-rx".into())
                .spawn(move || read_loop(rx, own, &frames_tx, &free_rx, &failed, &stop))?
        };
        Ok(Chan {
            tx,
            rx: Some(frames_rx),
            free: free_tx,
            pending: None,
            failed,
            stop,
            reader: Some(reader),
        })
    }

    fn frames(&self) -> &Receiver<Vec<u8>> {
        self.rx.as_ref().expect("receiver present until drop")
    }

    fn reader_error(&self) -> io::Error {
        match self.failed.lock().ok().and_then(|mut f| f.take()) {
            Some(e) => e,
            None => io::Error::new(io::ErrorKind::BrokenPipe, "pnet reader stopped"),
        }
    }
}

impl Drop for Chan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // A reader blocked on a full queue sees the queue closed.
        drop(self.rx.take());
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

/// The reader thread: AoE frames not sent by us go to `out`.
fn read_loop(
    mut rx: Box<dyn DataLinkReceiver>,
    own: [u8; 6],
    out: &SyncSender<Vec<u8>>,
    free: &Receiver<Vec<u8>>,
    failed: &Mutex<Option<io::Error>>,
    stop: &AtomicBool,
) {
    let aoe = ETHERTYPE_AOE.to_be_bytes();
    while !stop.load(Ordering::Relaxed) {
        match rx.next() {
            Ok(frame) => {
                if frame.len() < 14 || frame[12..14] != aoe || frame[6..12] == own {
                    continue;
                }
                let mut b = free.try_recv().unwrap_or_default();
                b.clear();
                b.extend_from_slice(frame);
                if out.send(b).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                if let Ok(mut f) = failed.lock() {
                    *f = Some(e);
                }
                return;
            }
        }
    }
}
