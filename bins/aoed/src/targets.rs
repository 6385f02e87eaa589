//! The table of exported disks, which a program that runs the target (as
//! `netbootd` does) may change while [`serve_targets`](crate::serve_targets)
//! runs: the worker threads take a snapshot of it for every batch of
//! frames, so a disk added or removed counts from the next batch on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use netboot_aoe::target::Target;
use netboot_aoe::wire::MacAddr;
use tracing::warn;

/// What happened at an exported disk, for an observer
/// ([`Targets::observe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The disk's name in the table.
    pub name: String,
    /// The initiator's MAC.
    pub mac: MacAddr,
    /// What.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A query config came in and was answered: an initiator looks for
    /// its disks (iPXE attaching a disk, or an operating system's driver
    /// discovering them).
    Discovered,
    /// The first read or write after [`Targets::arm`].
    FirstIo,
}

/// What the initiators did with a disk since it was added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Io {
    /// Frames answered.
    pub replies: u64,
    /// Sectors read.
    pub sectors_read: u64,
    /// Sectors written.
    pub sectors_written: u64,
    /// When the last read, write or flush came in, in Unix seconds.
    pub last: Option<u64>,
}

/// One disk of the table.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Arc<str>,
    pub(crate) target: Arc<Target>,
    pub(crate) watch: Arc<Watch>,
}

#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Report the next read or write ([`EventKind::FirstIo`]).
    armed: AtomicBool,
    /// Unix seconds of the last read, write or flush (0: none).
    last_io: AtomicU64,
}

type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct Inner {
    /// The current table; workers clone the `Arc` once a batch.
    table: RwLock<Arc<[Entry]>>,
    observer: RwLock<Option<Observer>>,
    /// Disks added since the workers last looked: announced then.
    announce: Mutex<VecDeque<Arc<Target>>>,
}

/// The exported disks, shared by the caller and the workers (cheap to
/// clone). Disks are keyed by a name of the caller's choosing; several
/// may share one shelf.slot when their MAC mask lists do not overlap
/// (`netbootd` gives every PC the same address, each its own disk).
#[derive(Clone, Default)]
pub struct Targets {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<Arc<str>> = self.snapshot().iter().map(|e| e.name.clone()).collect();
        f.debug_struct("Targets").field("names", &names).finish()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Targets {
    /// Adds `target` as `name`, replacing the disk of that name (its disk
    /// is flushed; frames of a batch already taken may still reach it). It
    /// is announced to the segment. Blocking: the flush is disk I/O.
    pub fn insert(&self, name: &str, target: Target) {
        let target = Arc::new(target);
        let old = {
            let mut t = self.write();
            let mut v: Vec<Entry> = t.iter().filter(|e| &*e.name != name).cloned().collect();
            let old = t.iter().find(|e| &*e.name == name).cloned();
            v.push(Entry {
                name: name.into(),
                target: target.clone(),
                watch: Arc::default(),
            });
            *t = v.into();
            old
        };
        self.inner
            .announce
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(target);
        flush(old);
    }

    /// Removes the disk `name` (flushed); false if there was none.
    /// Blocking: the flush is disk I/O.
    pub fn remove(&self, name: &str) -> bool {
        let old = {
            let mut t = self.write();
            let old = t.iter().find(|e| &*e.name == name).cloned();
            if old.is_some() {
                let v: Vec<Entry> = t.iter().filter(|e| &*e.name != name).cloned().collect();
                *t = v.into();
            }
            old
        };
        let was = old.is_some();
        flush(old);
        was
    }

    /// Whether a disk `name` is exported.
    pub fn contains(&self, name: &str) -> bool {
        self.snapshot().iter().any(|e| &*e.name == name)
    }

    /// The target of disk `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Target>> {
        self.snapshot()
            .iter()
            .find(|e| &*e.name == name)
            .map(|e| e.target.clone())
    }

    /// The names of the disks, in the order they were added.
    pub fn names(&self) -> Vec<String> {
        self.snapshot().iter().map(|e| e.name.to_string()).collect()
    }

    /// Calls `f` for every [`Event`], from a worker thread: `f` must not
    /// block.
    pub fn observe(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        *self
            .inner
            .observer
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(f));
    }

    /// Reports the next read or write of disk `name` as
    /// [`EventKind::FirstIo`] (once).
    pub fn arm(&self, name: &str) {
        if let Some(e) = self.snapshot().iter().find(|e| &*e.name == name) {
            e.watch.armed.store(true, Ordering::Relaxed);
        }
    }

    /// What the initiators did with disk `name` (None: no such disk).
    pub fn io(&self, name: &str) -> Option<Io> {
        let t = self.snapshot();
        let e = t.iter().find(|e| &*e.name == name)?;
        let s = e.target.stats();
        let last = e.watch.last_io.load(Ordering::Relaxed);
        Some(Io {
            replies: s.replies.load(Ordering::Relaxed),
            sectors_read: s.sectors_read.load(Ordering::Relaxed),
            sectors_written: s.sectors_written.load(Ordering::Relaxed),
            last: (last > 0).then_some(last),
        })
    }

    pub(crate) fn snapshot(&self) -> Arc<[Entry]> {
        self.inner
            .table
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Disks added since the last call.
    pub(crate) fn take_announcements(&self) -> Vec<Arc<Target>> {
        self.inner
            .announce
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }

    /// A request for disk `e` from `mac` was accepted: `op` is what it
    /// asks. Called by the workers once per accepted frame.
    pub(crate) fn saw(&self, e: &Entry, mac: MacAddr, op: &netboot_aoe::target::Op, now: u64) {
        use netboot_aoe::target::Op;
        let kind = match op {
            Op::Read { .. } | Op::Write { .. } | Op::Flush => {
                if e.watch.last_io.load(Ordering::Relaxed) != now {
                    e.watch.last_io.store(now, Ordering::Relaxed);
                }
                if matches!(op, Op::Flush) || !e.watch.armed.swap(false, Ordering::Relaxed) {
                    return;
                }
                EventKind::FirstIo
            }
            Op::Config(..) => EventKind::Discovered,
            _ => return,
        };
        let o = self
            .inner
            .observer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(o) = o {
            o(&Event {
                name: e.name.to_string(),
                mac,
                kind,
            });
        }
    }

    /// Unix seconds, for [`saw`](Self::saw) (once a batch).
    pub(crate) fn now() -> u64 {
        unix_now()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Arc<[Entry]>> {
        self.inner.table.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Flushes the disk of an entry taken out of the table.
fn flush(old: Option<Entry>) {
    if let Some(e) = old {
        if let Err(err) = e.target.disk().flush() {
            warn!(name = %e.name, "flush of a removed disk failed: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netboot_aoe::target::TargetConfig;

    fn target(slot: u8) -> Target {
        let disk = Arc::new(netboot_blockdev::MemDisk::new(1 << 20, 512));
        Target::new(disk, TargetConfig::new(0, slot)).unwrap()
    }

    #[test]
    fn disks_come_and_go_by_name_and_report_their_first_io() {
        let t = Targets::default();
        t.insert("a", target(0));
        t.insert("b", target(0));
        t.insert("a", target(1));
        assert_eq!(t.names(), ["b", "a"]);
        assert_eq!(t.snapshot()[1].target.slot(), 1, "replaced");
        assert_eq!(t.take_announcements().len(), 3);
        assert!(t.take_announcements().is_empty());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        t.observe(move |e| s.lock().unwrap().push((e.name.clone(), e.kind)));
        let snap = t.snapshot();
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let read = netboot_aoe::target::Op::Read { lba: 0, count: 1 };
        t.saw(&snap[1], mac, &read, 100);
        t.arm("a");
        t.saw(&snap[1], mac, &read, 101);
        t.saw(&snap[1], mac, &read, 102);
        let config =
            netboot_aoe::target::Op::Config(netboot_aoe::wire::ConfigCommand::READ, Vec::new());
        t.saw(&snap[0], mac, &config, 103);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("a".to_owned(), EventKind::FirstIo),
                ("b".to_owned(), EventKind::Discovered)
            ]
        );
        assert_eq!(t.io("a").unwrap().last, Some(102));
        assert_eq!(t.io("b").unwrap().last, None);
        assert!(t.remove("b") && !t.remove("b"));
        assert!(!t.contains("b") && t.contains("a"));
    }
}
