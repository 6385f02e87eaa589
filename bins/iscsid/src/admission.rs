//! Who may connect and who may log in: the bounds that keep a hostile
//! client on the LAN from locking every other initiator out.
//!
//! * A connection that has not logged in yet is *pending*. Each client
//!   address may have `max_per_address` of them (more are closed at once),
//!   and all addresses together `max_pending`; when that is full, the oldest
//!   pending connection makes room for the new one (a real login takes
//!   milliseconds, so the oldest is the one stalling).
//! * A connection takes a *session slot* with its first Login Request and
//!   keeps it until it closes. When all `max_sessions` slots are taken, a
//!   new login takes the slot of (in this order) a login that has stalled
//!   for [`STALLED_LOGIN`], a session whose NOP-In ping has gone unanswered
//!   for [`UNANSWERED_PING`], or the newest session of the address holding
//!   the most when that address has at least two more than the newcomer's.
//!   Otherwise it is refused with Login status 0x0302 (out of resources).
//!
//! An evicted connection is told through its [`Slot::evicted`] future; it
//! lets its running commands finish (nothing acknowledged is lost) and
//! closes.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A login still running after this long may be evicted by a new one.
pub const STALLED_LOGIN: Duration = Duration::from_secs(2);
/// A session whose ping went unanswered this long may be evicted.
pub const UNANSWERED_PING: Duration = Duration::from_secs(1);

/// The limits (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_sessions: usize,
    pub max_pending: usize,
    pub max_per_address: usize,
}

/// One connection's place in the tables.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    addr: IpAddr,
    since: Instant,
    /// Full feature phase reached.
    logged_in: AtomicBool,
    /// Told to go.
    evicted: AtomicBool,
    /// Told to go because its initiator logged in again with its ISID.
    replaced: AtomicBool,
    /// Milliseconds after `since` (plus one) that the unanswered ping was
    /// sent; 0: none.
    ping_ms: AtomicU64,
    notify: Notify,
}

impl Slot {
    /// Resolves once this connection has been evicted.
    pub async fn evicted(&self) {
        while !self.evicted.load(Ordering::Acquire) {
            self.notify.notified().await;
        }
    }

    /// Records whether a NOP-In ping waits for its answer, and since when.
    pub fn set_ping(&self, sent: Option<Instant>) {
        let v = sent.map_or(0, |t| {
            t.saturating_duration_since(self.since).as_millis() as u64 + 1
        });
        self.ping_ms.store(v, Ordering::Relaxed);
    }

    fn ping_unanswered_since(&self) -> Option<Instant> {
        match self.ping_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.since + Duration::from_millis(ms - 1)),
        }
    }

    /// Tells the connection to go because its initiator logged in again
    /// with the same ISID (session reinstatement).
    pub(crate) fn replace(&self) {
        self.replaced.store(true, Ordering::Release);
        self.evict();
    }

    /// Whether it was told to go by [`Slot::replace`].
    pub fn replaced(&self) -> bool {
        self.replaced.load(Ordering::Acquire)
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.notify.notify_one();
    }
}

#[derive(Debug, Default)]
struct Tables {
    next_id: u64,
    /// Pending connections, oldest first.
    pending: BTreeMap<u64, Arc<Slot>>,
    pending_by_addr: HashMap<IpAddr, usize>,
    /// Connections holding a session slot (logging in or logged in).
    sessions: HashMap<u64, Arc<Slot>>,
}

/// The shared tables.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    tables: Mutex<Tables>,
}

/// Why a connection or a login is not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The address already has `max_per_address` pending connections.
    AddressBusy(usize),
    /// Every session slot is taken and none may be evicted.
    Full(usize),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::AddressBusy(n) => {
                write!(f, "{n} connections from this address not logged in yet")
            }
            Refused::Full(n) => write!(f, "all {n} sessions taken"),
        }
    }
}

/// A connection's registration; dropping it frees what it holds.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    slot: Arc<Slot>,
}

/// What a new login displaced, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Displaced {
    Nobody,
    StalledLogin(IpAddr),
    UnansweredSession(IpAddr),
    BusiestAddress(IpAddr),
}

impl Admission {
    pub fn new(limits: Limits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            tables: Mutex::new(Tables::default()),
        })
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // The tables stay consistent between statements: a panic elsewhere
        // does not leave them half updated.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection from `addr` as pending. When all pending
    /// places are taken, the oldest pending connection is evicted (returned
    /// for the log).
    pub fn connect(
        self: &Arc<Self>,
        addr: IpAddr,
        now: Instant,
    ) -> Result<(Ticket, Option<IpAddr>), Refused> {
        let mut t = self.tables();
        let n = t.pending_by_addr.get(&addr).copied().unwrap_or(0);
        if n >= self.limits.max_per_address {
            return Err(Refused::AddressBusy(n));
        }
        let mut displaced = None;
        if t.pending.len() >= self.limits.max_pending {
            // Evicted connections leave the table when they close; until
            // then they no longer count.
            let oldest = t
                .pending
                .values()
                .find(|s| !s.evicted.load(Ordering::Relaxed))
                .cloned();
            if let Some(o) = oldest {
                o.evict();
                Self::unpend(&mut t, &o);
                displaced = Some(o.addr);
            }
        }
        t.next_id += 1;
        let slot = Arc::new(Slot {
            id: t.next_id,
            addr,
            since: now,
            logged_in: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            replaced: AtomicBool::new(false),
            ping_ms: AtomicU64::new(0),
            notify: Notify::new(),
        });
        t.pending.insert(slot.id, slot.clone());
        *t.pending_by_addr.entry(addr).or_default() += 1;
        Ok((
            Ticket {
                admission: self.clone(),
                slot,
            },
            displaced,
        ))
    }

    fn unpend(t: &mut Tables, s: &Slot) {
        if t.pending.remove(&s.id).is_some() {
            if let Some(n) = t.pending_by_addr.get_mut(&s.addr) {
                *n -= 1;
                if *n == 0 {
                    t.pending_by_addr.remove(&s.addr);
                }
            }
        }
    }

    /// Gives `ticket` a session slot (at its first Login Request), evicting
    /// another connection when all are taken and one may go.
    pub fn begin_login(&self, ticket: &Ticket, now: Instant) -> Result<Displaced, Refused> {
        let mut t = self.tables();
        let me = &ticket.slot;
        if t.sessions.contains_key(&me.id) {
            return Ok(Displaced::Nobody);
        }
        let live = |s: &&Arc<Slot>| !s.evicted.load(Ordering::Relaxed);
        let taken = t.sessions.values().filter(live).count();
        let mut displaced = Displaced::Nobody;
        if taken >= self.limits.max_sessions {
            let victim = self.victim(&t, me.addr, now);
            let Some((v, why)) = victim else {
                return Err(Refused::Full(self.limits.max_sessions));
            };
            v.evict();
            Self::unpend(&mut t, &v);
            displaced = why;
        }
        t.sessions.insert(me.id, me.clone());
        Ok(displaced)
    }

    fn victim(&self, t: &Tables, newcomer: IpAddr, now: Instant) -> Option<(Arc<Slot>, Displaced)> {
        let live: Vec<&Arc<Slot>> = t
            .sessions
            .values()
            .filter(|s| !s.evicted.load(Ordering::Relaxed))
            .collect();
        let stalled = live
            .iter()
            .filter(|s| !s.logged_in.load(Ordering::Relaxed))
            .filter(|s| now.saturating_duration_since(s.since) >= STALLED_LOGIN)
            .min_by_key(|s| (s.since, s.id));
        if let Some(s) = stalled {
            return Some(((*s).clone(), Displaced::StalledLogin(s.addr)));
        }
        let unanswered = live
            .iter()
            .filter_map(|s| Some((s, s.ping_unanswered_since()?)))
            .filter(|(_, sent)| now.saturating_duration_since(*sent) >= UNANSWERED_PING)
            .min_by_key(|(s, sent)| (*sent, s.id));
        if let Some((s, _)) = unanswered {
            return Some(((*s).clone(), Displaced::UnansweredSession(s.addr)));
        }
        let mut per_addr: HashMap<IpAddr, usize> = HashMap::new();
        for s in &live {
            *per_addr.entry(s.addr).or_default() += 1;
        }
        let mine = per_addr.get(&newcomer).copied().unwrap_or(0);
        let (&busiest, &most) = per_addr.iter().max_by_key(|(a, n)| (**n, **a))?;
        if most < mine + 2 {
            return None;
        }
        // The address's newest: its long-running sessions stay.
        let s = live
            .iter()
            .filter(|s| s.addr == busiest)
            .max_by_key(|s| (!s.logged_in.load(Ordering::Relaxed), s.since, s.id))?;
        Some(((*s).clone(), Displaced::BusiestAddress(busiest)))
    }

    /// Number of pending connections and of session slots taken.
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        let t = self.tables();
        (t.pending.len(), t.sessions.len())
    }
}

impl Ticket {
    /// The connection's slot (for eviction and ping state).
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// The login succeeded: the connection no longer counts as pending.
    pub fn logged_in(&self) {
        self.slot.logged_in.store(true, Ordering::Relaxed);
        Admission::unpend(&mut self.admission.tables(), &self.slot);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut t = self.admission.tables();
        Admission::unpend(&mut t, &self.slot);
        t.sessions.remove(&self.slot.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(d: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, d])
    }

    fn adm(max_sessions: usize, max_pending: usize, per: usize) -> Arc<Admission> {
        Admission::new(Limits {
            max_sessions,
            max_pending,
            max_per_address: per,
        })
    }

    #[test]
    fn pending_connections_are_limited_per_address_and_the_oldest_makes_room() {
        let a = adm(10, 4, 2);
        let t0 = Instant::now();
        let (k1, _) = a.connect(ip(1), t0).unwrap();
        let (_k2, _) = a.connect(ip(1), t0).unwrap();
        assert_eq!(a.connect(ip(1), t0).unwrap_err(), Refused::AddressBusy(2));
        let (_k3, _) = a.connect(ip(2), t0).unwrap();
        let (_k4, _) = a.connect(ip(3), t0).unwrap();
        // Full: the oldest pending connection (k1) goes.
        let (_k5, displaced) = a.connect(ip(4), t0).unwrap();
        assert_eq!(displaced, Some(ip(1)));
        assert!(k1.slot.evicted.load(Ordering::Relaxed));
        assert_eq!(a.counts().0, 4);
        // Logging in frees the pending place; closing frees everything.
        drop(k1);
        assert_eq!(a.counts(), (4, 0));
    }

    #[test]
    fn a_new_address_displaces_the_busiest_when_full() {
        let a = adm(3, 100, 100);
        let t0 = Instant::now();
        let mut held = Vec::new();
        for d in [1, 1, 2] {
            let (k, _) = a.connect(ip(d), t0).unwrap();
            a.begin_login(&k, t0).unwrap();
            k.logged_in();
            held.push(k);
        }
        // Address 2 has one, address 1 two: 2 may not displace 1.
        let (k, _) = a.connect(ip(2), t0).unwrap();
        assert_eq!(a.begin_login(&k, t0).unwrap_err(), Refused::Full(3));
        drop(k);
        // A new address may.
        let (k, _) = a.connect(ip(9), t0).unwrap();
        assert_eq!(
            a.begin_login(&k, t0).unwrap(),
            Displaced::BusiestAddress(ip(1))
        );
        assert!(
            held[1].slot.evicted.load(Ordering::Relaxed),
            "the newest of address 1"
        );
        assert!(!held[0].slot.evicted.load(Ordering::Relaxed));
        // Now every address has one: nobody may displace anybody...
        let (k2, _) = a.connect(ip(8), t0).unwrap();
        assert_eq!(a.begin_login(&k2, t0).unwrap_err(), Refused::Full(3));
        // ...unless a session's ping has gone unanswered.
        held[2].slot.set_ping(Some(t0));
        let later = t0 + UNANSWERED_PING;
        assert_eq!(
            a.begin_login(&k2, later).unwrap(),
            Displaced::UnansweredSession(ip(2))
        );
        drop(k);
    }

    #[test]
    fn stalled_logins_go_first() {
        let a = adm(1, 100, 100);
        let t0 = Instant::now();
        let (k1, _) = a.connect(ip(1), t0).unwrap();
        a.begin_login(&k1, t0).unwrap();
        let (k2, _) = a.connect(ip(1), t0).unwrap();
        assert!(a.begin_login(&k2, t0 + Duration::from_millis(100)).is_err());
        assert_eq!(
            a.begin_login(&k2, t0 + STALLED_LOGIN).unwrap(),
            Displaced::StalledLogin(ip(1))
        );
    }
}
