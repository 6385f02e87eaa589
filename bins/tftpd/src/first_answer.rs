//! Gives up early on a transfer whose client never answers at all.
//!
//! A transfer's retry budget (`--retries` waits of up to 4x `--timeout`:
//! about 23 s by default) is there for clients that went quiet in the
//! middle of a transfer. A client that never acknowledges the first DATA
//! (or OACK, or for an upload never sends DATA 1) is most likely gone, or
//! never was there (a spoofed or flooded request); holding its transfer
//! slot, socket and file for the whole budget lets a few hundred such
//! requests lock real clients out. [`FirstAnswer`] ends such a transfer
//! after a short patience instead; once the client has sent anything from
//! its transfer ID, the transfer's own time-outs apply unchanged.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netboot_tftp::transfer::{Transfer, Transmit};
use netboot_tftp::wire::ErrorCode;
use netboot_tftp::Error;

/// How many initial time-outs (`--timeout`) a client may leave the first
/// packet unanswered: 3 (3 s by default; the first packet goes out at 0 s
/// and again at 1 s).
pub const PATIENCE_IN_TIMEOUTS: u32 = 3;

/// The least patience, whatever `--timeout` says: slow firmware may take
/// a few hundred milliseconds to answer an OACK.
pub const MIN_PATIENCE: Duration = Duration::from_secs(1);

/// The patience for a transfer whose initial time-out is `initial_rto`.
pub fn patience(initial_rto: Duration) -> Duration {
    (initial_rto * PATIENCE_IN_TIMEOUTS).max(MIN_PATIENCE)
}

/// A transfer that is abandoned when its client has not answered at all by
/// a deadline.
#[derive(Debug)]
pub struct FirstAnswer<T> {
    inner: T,
    peer: SocketAddr,
    /// Until the client's first datagram; `None` once it answered.
    deadline: Option<Instant>,
    gave_up: bool,
}

impl<T: Transfer> FirstAnswer<T> {
    /// `inner` with `patience` from `now` for `peer`'s first answer.
    pub fn new(inner: T, peer: SocketAddr, now: Instant, patience: Duration) -> Self {
        FirstAnswer {
            inner,
            peer,
            deadline: Some(now + patience),
            gave_up: false,
        }
    }

    /// True when the transfer was ended because the client never answered.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }
}

impl<T: Transfer> Transfer for FirstAnswer<T> {
    fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if from == self.peer {
            self.deadline = None;
        }
        self.inner.handle(now, from, datagram);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.inner.poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let inner = self.inner.poll_timeout();
        match (inner, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            // A finished transfer needs no deadline of ours.
            (None, _) => None,
            (a, None) => a,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.deadline {
            if now >= d && self.inner.outcome().is_none() {
                self.deadline = None;
                self.gave_up = true;
                self.inner
                    .abort(ErrorCode::NotDefined, "Transfer timed out: no answer");
                return;
            }
        }
        self.inner.handle_timeout(now);
    }

    fn outcome(&self) -> Option<&Result<(), Error>> {
        self.inner.outcome()
    }

    fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    fn max_datagram_len(&self) -> usize {
        self.inner.max_datagram_len()
    }

    fn bytes(&self) -> u64 {
        self.inner.bytes()
    }

    fn abort(&mut self, code: ErrorCode, message: &str) {
        self.inner.abort(code, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netboot_tftp::transfer::{SendTransfer, ServerConfig};
    use netboot_tftp::wire::{Mode, Options, Request};

    const PATIENCE: Duration = Duration::from_secs(3);

    fn transfer(now: Instant) -> (FirstAnswer<SendTransfer<Vec<u8>>>, SocketAddr) {
        let peer: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        let req = Request {
            filename: "f",
            mode: Mode::Octet,
            options: Options::default(),
        };
        let data = vec![7u8; 2000];
        let inner = SendTransfer::server(peer, &req, data, Some(2000), &ServerConfig::default());
        (FirstAnswer::new(inner, peer, now, PATIENCE), peer)
    }

    /// Steps `t` through its time-outs up to `until` after `start`; returns
    /// when each datagram was sent and its opcode.
    fn run(t: &mut impl Transfer, start: Instant, until: Duration) -> Vec<(Duration, u16)> {
        let mut buf = vec![0u8; 1024];
        let mut sent = Vec::new();
        let mut now = start;
        loop {
            while t.poll_transmit(now, &mut buf).is_some() {
                sent.push((now - start, u16::from_be_bytes([buf[0], buf[1]])));
            }
            match t.poll_timeout() {
                Some(d) if d - start <= until => {
                    now = d;
                    t.handle_timeout(now);
                }
                _ => return sent,
            }
        }
    }

    #[test]
    fn patience_is_three_time_outs_and_at_least_a_second() {
        assert_eq!(patience(Duration::from_secs(1)), Duration::from_secs(3));
        assert_eq!(patience(Duration::from_millis(200)), Duration::from_secs(1));
        assert_eq!(patience(Duration::from_secs(5)), Duration::from_secs(15));
    }

    #[test]
    fn a_silent_client_is_given_up_at_the_deadline() {
        let start = Instant::now();
        let (mut t, _) = transfer(start);
        let sent = run(&mut t, start, Duration::from_secs(60));
        // DATA 1 at 0 s and 1 s (the default 1 s time-out), then ERROR at 3 s.
        assert_eq!(
            sent,
            vec![
                (Duration::ZERO, 3),
                (Duration::from_secs(1), 3),
                (PATIENCE, 5)
            ]
        );
        assert!(t.gave_up());
        assert!(matches!(t.outcome(), Some(Err(_))));
        assert!(t.is_done());
    }

    #[test]
    fn an_answering_client_gets_the_full_retry_budget() {
        let start = Instant::now();
        let (mut t, peer) = transfer(start);
        let mut buf = vec![0u8; 1024];
        assert!(t.poll_transmit(start, &mut buf).is_some());
        // ACK 1 at 10 ms, then silence.
        t.handle(start + Duration::from_millis(10), peer, &[0, 4, 0, 1]);
        let sent = run(&mut t, start, Duration::from_secs(120));
        assert!(!t.gave_up());
        assert!(
            matches!(t.outcome(), Some(Err(Error::Timeout { .. }))),
            "{:?}",
            t.outcome()
        );
        let (last, op) = *sent.last().unwrap();
        assert_eq!(op, 5, "ERROR at the end");
        assert!(last > Duration::from_secs(10), "given up at {last:?}");
    }

    #[test]
    fn a_stranger_does_not_count_as_an_answer() {
        let start = Instant::now();
        let (mut t, _) = transfer(start);
        let mut buf = vec![0u8; 1024];
        assert!(t.poll_transmit(start, &mut buf).is_some());
        let stranger: SocketAddr = "127.0.0.3:4000".parse().unwrap();
        t.handle(start, stranger, &[0, 4, 0, 1]);
        let sent = run(&mut t, start, Duration::from_secs(60));
        assert!(t.gave_up());
        assert_eq!(sent.last(), Some(&(PATIENCE, 5)));
    }
}
