//! Address leases of an authoritative DHCP server (RFC 2131 §4.3): which
//! client has which address until when.
//!
//! The [`Pool`] is pure logic over a clock passed in as unix seconds: no
//! file, no system clock. A daemon keeps its bound leases across restarts
//! by writing [`Pool::bound`] somewhere durable and handing them back to
//! [`Pool::restore`]; with the `serde` feature, [`Lease`] and [`State`]
//! serialize (`pxed` writes them as JSON).
//!
//! [`AuthoritativeServer`](crate::authoritative::AuthoritativeServer)
//! answers DHCP messages from a pool.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

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
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
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
        let ip = self.pick(client, requested, now)?;
        self.hold(client, ip, now);
        Some(ip)
    }

    /// The first half of [`Pool::offer`]: which address, with nothing
    /// reserved yet (only what ended by `now` is dropped).
    pub(crate) fn pick(
        &mut self,
        client: &str,
        requested: Option<Ipv4Addr>,
        now: u64,
    ) -> Option<Ipv4Addr> {
        self.expire(now);
        self.held_by(client)
            .or_else(|| requested.filter(|&r| self.free(r, client)))
            .or_else(|| {
                (self.start..=self.end)
                    .map(Ipv4Addr::from)
                    .find(|&ip| self.free(ip, client))
            })
    }

    /// The second half of [`Pool::offer`]: reserves `ip`, which
    /// [`Pool::pick`] chose for `client`, for [`OFFER_HOLD_SECS`] (a bound
    /// lease stays as it is).
    pub(crate) fn hold(&mut self, client: &str, ip: Ipv4Addr, now: u64) {
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
    }

    /// A REQUEST for `ip`: binds it (ACK) or says why not (NAK).
    pub fn request(&mut self, client: &str, ip: Ipv4Addr, now: u64) -> Result<Lease, Refusal> {
        self.check(client, ip, now)?;
        Ok(self.bind(client, ip, now))
    }

    /// The first half of [`Pool::request`]: whether `client` may have
    /// `ip`, with nothing changed (only what ended by `now` is dropped).
    pub(crate) fn check(&mut self, client: &str, ip: Ipv4Addr, now: u64) -> Result<(), Refusal> {
        self.expire(now);
        if !self.in_range(ip) {
            return Err(Refusal::OutOfRange(ip));
        }
        if !self.free(ip, client) {
            return Err(Refusal::Taken(ip));
        }
        Ok(())
    }

    /// The second half of [`Pool::request`]: binds `ip`, which
    /// [`Pool::check`] allowed, to `client`.
    pub(crate) fn bind(&mut self, client: &str, ip: Ipv4Addr, now: u64) -> Lease {
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
        lease
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
            // 0 for a range given backwards (which holds no address).
            size: (u64::from(self.end) + 1).saturating_sub(u64::from(self.start)),
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
    fn saved_leases_come_back_if_in_range_and_not_ended() {
        let mut p = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        p.request("aa", ip("10.0.0.13"), 0).unwrap();
        p.offer("bb", None, 0).unwrap(); // offers are not saved
        let saved: Vec<Lease> = p.bound().cloned().collect();
        assert_eq!(saved.len(), 1);
        let mut q = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        assert_eq!(q.restore(saved.clone(), 100), 1);
        assert_eq!(q.offer("aa", None, 100), Some(ip("10.0.0.13")));
        // Ended leases and leases outside a new range are dropped.
        let mut r = Pool::new(ip("10.0.0.10"), ip("10.0.0.12"), 3600);
        assert_eq!(r.restore(saved.clone(), 100), 0);
        let mut s = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        assert_eq!(s.restore(saved, 4000), 0);
    }

    #[test]
    fn a_backwards_range_is_empty() {
        let mut p = Pool::new(ip("10.0.0.20"), ip("10.0.0.10"), 3600);
        assert_eq!(p.offer("aa", None, 0), None);
        assert_eq!(p.usage(0).size, 0);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn states_serialize_in_lowercase() {
        let l = Lease {
            client: "hw:52:54:00:00:00:01".into(),
            ip: ip("10.0.0.13"),
            expires: 3600,
            state: State::Bound,
        };
        let t = toml::to_string(&l).unwrap();
        assert!(t.contains("state = \"bound\""), "{t}");
        assert_eq!(toml::from_str::<Lease>(&t).unwrap(), l);
    }
}
