//! The table of targets a running server serves. `iscsid` fills it once
//! from its configuration; `netbootd` adds a target when a PC appears and
//! removes it when the PC goes, without a restart.
//!
//! A connection sees the table as it is when its login starts; a session
//! keeps the logical units it logged in to after its target is removed (the
//! disk is closed when the last session of it ends).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;
use tracing::warn;

use netboot_iscsi::login::TargetEntry;

use crate::luns::Luns;

/// What happened to a session, for whoever watches the server (boot stages
/// in `netbootd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    /// The target logged in to (as configured, not as typed by the
    /// initiator).
    pub target: String,
    /// The initiator's name.
    pub initiator: String,
    /// The initiator's address.
    pub peer: SocketAddr,
    /// Login or logout.
    pub kind: SessionEventKind,
}

/// The kind of a [`SessionEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEventKind {
    /// The session reached the full feature phase.
    LoggedIn,
    /// The session ended (logout, close, error, shutdown).
    Ended,
}

type Observer = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

/// A request to ping the sessions of one target now (see
/// [`Targets::probe`]).
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// The target, lower case.
    pub target: String,
    /// How long a session has to answer.
    pub timeout: Duration,
}

/// Probes not yet seen by a session before older ones are dropped for it
/// (a session that misses one is still pinged when idle, as always).
const PROBE_QUEUE: usize = 64;

/// What the sessions of one target did since the server started (kept
/// when the target is replaced, or removed and added again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Io {
    /// SCSI commands executed.
    pub commands: u64,
    /// Bytes sent to initiators (data-in).
    pub read_bytes: u64,
    /// Bytes written by initiators (data-out of commands that succeeded).
    pub written_bytes: u64,
    /// When the last command completed, in Unix seconds.
    pub last: Option<u64>,
}

/// The live counters behind [`Io`].
#[derive(Debug, Default)]
pub(crate) struct IoCounters {
    commands: AtomicU64,
    read_bytes: AtomicU64,
    written_bytes: AtomicU64,
    last: AtomicU64,
}

impl IoCounters {
    /// Counts one completed command.
    pub(crate) fn count(&self, read: usize, written: usize) {
        self.commands.fetch_add(1, Relaxed);
        self.read_bytes.fetch_add(read as u64, Relaxed);
        self.written_bytes.fetch_add(written as u64, Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last.store(now, Relaxed);
    }

    fn get(&self) -> Io {
        Io {
            commands: self.commands.load(Relaxed),
            read_bytes: self.read_bytes.load(Relaxed),
            written_bytes: self.written_bytes.load(Relaxed),
            last: Some(self.last.load(Relaxed)).filter(|&t| t > 0),
        }
    }
}

#[derive(Default)]
struct Table {
    /// Login entries, in insertion order (SendTargets lists them so).
    entries: Vec<TargetEntry>,
    /// By lower-case name (IQNs compare case-insensitively).
    luns: HashMap<String, Arc<Luns>>,
    /// By lower-case name: every target a session logged in to.
    io: HashMap<String, Arc<IoCounters>>,
}

/// The targets of a server, shared by the server and whoever changes them.
/// Cloning gives another handle to the same table.
#[derive(Clone)]
pub struct Targets {
    table: Arc<RwLock<Table>>,
    observer: Arc<RwLock<Option<Observer>>>,
    probes: broadcast::Sender<Probe>,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            table: Arc::default(),
            observer: Arc::default(),
            probes: broadcast::channel(PROBE_QUEUE).0,
        }
    }
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Flushes the disks of a target taken out of the table: what its
/// sessions wrote is on disk before anyone opens its files again.
fn flush(name: &str, luns: Option<Arc<Luns>>) {
    if let Some(l) = luns {
        if let Err(e) = l.flush() {
            warn!(target = name, "flush of the replaced disks failed: {e}");
        }
    }
}

impl Targets {
    /// Adds the target `entry` with its logical units, replacing one of the
    /// same name (sessions already logged in to the old one keep it; its
    /// disks are flushed). Blocking: the flush is disk I/O.
    pub fn insert(&self, entry: TargetEntry, luns: Luns) {
        let key = entry.name.to_ascii_lowercase();
        let old = {
            let mut t = self.write();
            t.entries
                .retain(|e| !e.name.eq_ignore_ascii_case(&entry.name));
            t.entries.push(entry);
            t.luns.insert(key.clone(), Arc::new(luns))
        };
        flush(&key, old);
    }

    /// Removes the target `name`; false if there was none. New logins to it
    /// fail; open sessions keep their disks until they end (they are
    /// flushed now). Blocking: the flush is disk I/O.
    pub fn remove(&self, name: &str) -> bool {
        let old = {
            let mut t = self.write();
            t.entries.retain(|e| !e.name.eq_ignore_ascii_case(name));
            t.luns.remove(&name.to_ascii_lowercase())
        };
        let was = old.is_some();
        flush(name, old);
        was
    }

    /// Whether a target `name` is served.
    pub fn contains(&self, name: &str) -> bool {
        self.read().luns.contains_key(&name.to_ascii_lowercase())
    }

    /// The names of the targets, in insertion order.
    pub fn names(&self) -> Vec<String> {
        self.read().entries.iter().map(|e| e.name.clone()).collect()
    }

    /// Calls `f` on every login and every end of a session (from the
    /// session's task: `f` must not block).
    pub fn observe(&self, f: impl Fn(&SessionEvent) + Send + Sync + 'static) {
        *self.observer.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(f));
    }

    /// Pings every open session of target `name` now; a session from which
    /// nothing comes within `timeout` is closed (its
    /// [`SessionEventKind::Ended`] follows), unless its initiator never
    /// answered a ping (iPXE), which keeps the usual time-out (see
    /// `TargetSession::probe`). For whoever believes the initiator is gone:
    /// `netbootd`, when a PC asks DHCP for a new boot while a session of its
    /// disk is still open (a PC reset without a logout leaves one until the
    /// idle ping gives up). A live initiator answers and keeps its session.
    pub fn probe(&self, name: &str, timeout: Duration) {
        // No receiver (no session open) is not an error.
        let _ = self.probes.send(Probe {
            target: name.to_ascii_lowercase(),
            timeout,
        });
    }

    /// What the sessions of target `name` did (None: no session logged in
    /// to it yet).
    pub fn io(&self, name: &str) -> Option<Io> {
        self.read()
            .io
            .get(&name.to_ascii_lowercase())
            .map(|c| c.get())
    }

    /// The counters a session of target `name` counts into.
    pub(crate) fn io_counters(&self, name: &str) -> Arc<IoCounters> {
        self.write()
            .io
            .entry(name.to_ascii_lowercase())
            .or_default()
            .clone()
    }

    pub(crate) fn probes(&self) -> broadcast::Receiver<Probe> {
        self.probes.subscribe()
    }

    pub(crate) fn notify(&self, ev: SessionEvent) {
        let o = self
            .observer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(o) = o {
            o(&ev);
        }
    }

    pub(crate) fn entries(&self) -> Vec<TargetEntry> {
        self.read().entries.clone()
    }

    pub(crate) fn luns(&self, name: &str) -> Option<Arc<Luns>> {
        self.read().luns.get(&name.to_ascii_lowercase()).cloned()
    }

    pub(crate) fn all_luns(&self) -> Vec<Arc<Luns>> {
        self.read().luns.values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }
}
