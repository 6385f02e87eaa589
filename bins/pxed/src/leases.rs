//! Address leases of the optional authoritative mode (`--range`): which
//! client has which address until when, kept on disk so that a restart
//! hands every client the address it had.
//!
//! The pool is pure logic over a clock passed in (unix seconds); [`save`]
//! and [`load`] do the file I/O (write to a temporary file, fsync, rename,
//! fsync the directory: a lease that was ACKed is on disk).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How long an OFFERed address stays reserved for the client it was
/// offered to. Clients REQUEST within a second or so (UEFI firmware
/// collects offers for 4 s first), and a lapsed offer is still ACKed if
/// nobody took the address meanwhile; a long hold would let a burst of
/// DISCOVERs from made-up MACs (which never REQUEST) keep a small range
/// empty for everyone else. Like small servers (dnsmasq holds none), a few
/// seconds.
pub const OFFER_HOLD_SECS: u64 = 6;
/// How long a DECLINEd address (someone else uses it) is not handed out.
pub const DECLINE_HOLD_SECS: u64 = 600;

/// One address's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The client: option 61 if it sent one, else its hardware address, in hex.
    pub client: String,
    /// The address.
    pub ip: Ipv4Addr,
    /// Unix time when the lease (or offer, or decline hold) ends.
    pub expires: u64,
    /// `bound` (ACKed), `offered` or `declined`.
    pub state: State,
}

/// What an address is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Offered, not yet requested.
    Offered,
    /// Requested and ACKed.
    Bound,
    /// A client saw the address in use (DHCPDECLINE).
    Declined,
}

/// Why a REQUEST gets a NAK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The address is outside the range.
    OutOfRange(Ipv4Addr),
    /// The address is leased to another client.
    Taken(Ipv4Addr),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::OutOfRange(ip) => write!(f, "{ip} is outside the range"),
            Refusal::Taken(ip) => write!(f, "{ip} is leased to another client"),
        }
    }
}

/// What the pool's addresses are doing (see [`Pool::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Offered, not yet requested.
    pub offered: usize,
    /// Leased.
    pub bound: usize,
    /// Kept out after a DECLINE.
    pub declined: usize,
    /// Addresses in the range.
    pub size: u64,
}

/// The address pool.
#[derive(Debug, Clone)]
pub struct Pool {
    start: u32,
    end: u32,
    lease_secs: u64,
    leases: BTreeMap<Ipv4Addr, Lease>,
}

impl Pool {
    /// A pool of `start..=end`, leases of `lease_secs`.
    pub fn new(start: Ipv4Addr, end: Ipv4Addr, lease_secs: u64) -> Pool {
        Pool {
            start: u32::from(start),
            end: u32::from(end),
            lease_secs,
            leases: BTreeMap::new(),
        }
    }

    fn in_range(&self, ip: Ipv4Addr) -> bool {
        (self.start..=self.end).contains(&u32::from(ip))
    }

    /// Drops ended leases, offers and decline holds.
    fn expire(&mut self, now: u64) {
        self.leases.retain(|_, l| l.expires > now);
    }

    fn held_by(&self, client: &str) -> Option<Ipv4Addr> {
        self.leases
            .values()
            .find(|l| l.client == client && l.state != State::Declined)
            .map(|l| l.ip)
    }

    fn free(&self, ip: Ipv4Addr, client: &str) -> bool {
        self.in_range(ip)
            && self
                .leases
                .get(&ip)
                .is_none_or(|l| l.client == client && l.state != State::Declined)
    }

    /// The address to OFFER a client: the one it holds, else the one it
    /// asks for (option 50) if free, else the lowest free one. `None` when
    /// the pool is exhausted.
    pub fn offer(
        &mut self,
        client: &str,
        requested: Option<Ipv4Addr>,
        now: u64,
    ) -> Option<Ipv4Addr> {
        self.expire(now);
        let ip = self
            .held_by(client)
            .or_else(|| requested.filter(|&r| self.free(r, client)))
            .or_else(|| {
                (self.start..=self.end)
                    .map(Ipv4Addr::from)
                    .find(|&ip| self.free(ip, client))
            })?;
        let bound = self
            .leases
            .get(&ip)
            .is_some_and(|l| l.state == State::Bound);
        if !bound {
            self.leases.insert(
                ip,
                Lease {
                    client: client.to_owned(),
                    ip,
                    expires: now + OFFER_HOLD_SECS,
                    state: State::Offered,
                },
            );
        }
        Some(ip)
    }

    /// A REQUEST for `ip`: binds it (ACK) or says why not (NAK).
    pub fn request(&mut self, client: &str, ip: Ipv4Addr, now: u64) -> Result<Lease, Refusal> {
        self.expire(now);
        if !self.in_range(ip) {
            return Err(Refusal::OutOfRange(ip));
        }
        if !self.free(ip, client) {
            return Err(Refusal::Taken(ip));
        }
        // One address per client.
        self.leases
            .retain(|a, l| !(l.client == client && *a != ip && l.state != State::Declined));
        let lease = Lease {
            client: client.to_owned(),
            ip,
            expires: now + self.lease_secs,
            state: State::Bound,
        };
        self.leases.insert(ip, lease.clone());
        Ok(lease)
    }

    /// A RELEASE: the client gives its address back.
    pub fn release(&mut self, client: &str, ip: Ipv4Addr) -> bool {
        match self.leases.get(&ip) {
            Some(l) if l.client == client => {
                self.leases.remove(&ip);
                true
            }
            _ => false,
        }
    }

    /// A DECLINE: the address is in use by someone else; keep it out of
    /// the pool for a while.
    pub fn decline(&mut self, client: &str, ip: Ipv4Addr, now: u64) -> bool {
        if !self.in_range(ip) || self.leases.get(&ip).is_some_and(|l| l.client != client) {
            return false;
        }
        self.leases.insert(
            ip,
            Lease {
                client: client.to_owned(),
                ip,
                expires: now + DECLINE_HOLD_SECS,
                state: State::Declined,
            },
        );
        true
    }

    /// How many addresses are offered, bound and declined (after dropping
    /// what has ended at `now`), and the size of the range.
    pub fn usage(&mut self, now: u64) -> Usage {
        self.expire(now);
        let count = |s: State| self.leases.values().filter(|l| l.state == s).count();
        Usage {
            offered: count(State::Offered),
            bound: count(State::Bound),
            declined: count(State::Declined),
            size: u64::from(self.end - self.start) + 1,
        }
    }

    /// The bound leases (what is saved).
    pub fn bound(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values().filter(|l| l.state == State::Bound)
    }

    /// Puts saved leases back (those in range and not ended).
    pub fn restore(&mut self, leases: Vec<Lease>, now: u64) -> usize {
        let mut n = 0;
        for l in leases {
            if l.state == State::Bound && l.expires > now && self.in_range(l.ip) {
                self.leases.insert(l.ip, l);
                n += 1;
            }
        }
        n
    }
}

/// The on-disk form.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseFile {
    leases: Vec<Lease>,
}

/// Reads saved leases; a missing file is no leases.
pub fn load(path: &Path) -> Result<Vec<Lease>, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice::<LeaseFile>(&b)
            .map(|f| f.leases)
            .map_err(|e| format!("lease file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("lease file {}: {e}", path.display())),
    }
}

/// Writes the bound leases durably: temporary file, fsync, rename over the
/// old file, fsync the directory.
pub fn save(pool: &Pool, path: &Path) -> std::io::Result<()> {
    let file = LeaseFile {
        leases: pool.bound().cloned().collect(),
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn offers_lowest_free_and_keeps_a_client_on_its_address() {
        let mut p = Pool::new(ip("10.0.0.10"), ip("10.0.0.12"), 3600);
        assert_eq!(p.offer("aa", None, 0), Some(ip("10.0.0.10")));
        assert_eq!(p.offer("bb", None, 0), Some(ip("10.0.0.11")));
        // The same client gets the same offer.
        assert_eq!(p.offer("aa", None, 1), Some(ip("10.0.0.10")));
        // A requested free address is honoured.
        assert_eq!(
            p.offer("cc", Some(ip("10.0.0.12")), 1),
            Some(ip("10.0.0.12"))
        );
        // Exhausted.
        assert_eq!(p.offer("dd", None, 1), None);
        assert_eq!(
            p.usage(1),
            Usage {
                offered: 3,
                bound: 0,
                declined: 0,
                size: 3
            }
        );
        // Offers lapse, after a few seconds.
        const { assert!(OFFER_HOLD_SECS <= 10) };
        // bb's offer (made at 0) has lapsed; aa's and cc's (made again or
        // first at 1) have not.
        assert_eq!(p.offer("dd", None, OFFER_HOLD_SECS), Some(ip("10.0.0.11")));
        assert_eq!(p.offer("ee", None, OFFER_HOLD_SECS), None);
        assert_eq!(
            p.offer("ee", None, 1 + OFFER_HOLD_SECS),
            Some(ip("10.0.0.10"))
        );
    }

    #[test]
    fn request_binds_or_refuses() {
        let mut p = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        let o = p.offer("aa", None, 0).unwrap();
        let l = p.request("aa", o, 5).unwrap();
        assert_eq!((l.ip, l.expires, l.state), (o, 3605, State::Bound));
        assert_eq!(p.request("bb", o, 6), Err(Refusal::Taken(o)));
        assert_eq!(
            p.request("bb", ip("10.0.1.1"), 6),
            Err(Refusal::OutOfRange(ip("10.0.1.1")))
        );
        // Moving to another address frees the old one.
        p.request("aa", ip("10.0.0.15"), 7).unwrap();
        assert_eq!(p.bound().count(), 1);
        assert!(p.release("aa", ip("10.0.0.15")));
        assert_eq!(p.bound().count(), 0);
        // Declined addresses are skipped.
        assert!(p.decline("cc", ip("10.0.0.10"), 10));
        assert_eq!(p.offer("dd", None, 11), Some(ip("10.0.0.11")));
        assert_eq!(
            p.offer("ee", None, 11 + DECLINE_HOLD_SECS),
            Some(ip("10.0.0.10"))
        );
    }

    #[test]
    fn leases_survive_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/leases.json");
        let mut p = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        p.request("aa", ip("10.0.0.13"), 0).unwrap();
        p.offer("bb", None, 0).unwrap(); // offers are not saved
        save(&p, &path).unwrap();
        let mut q = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        assert_eq!(q.restore(load(&path).unwrap(), 100), 1);
        assert_eq!(q.offer("aa", None, 100), Some(ip("10.0.0.13")));
        // Ended leases and leases outside a new range are dropped.
        let mut r = Pool::new(ip("10.0.0.10"), ip("10.0.0.12"), 3600);
        assert_eq!(r.restore(load(&path).unwrap(), 100), 0);
        assert_eq!(q.restore(load(&path).unwrap(), 4000), 0);
        assert!(load(&dir.path().join("none.json")).unwrap().is_empty());
        std::fs::write(&path, b"{").unwrap();
        assert!(load(&path).unwrap_err().contains("lease file"));
    }
}
