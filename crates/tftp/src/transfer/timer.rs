//! Retransmission timing: one timer for every packet a transfer repeats.
//!
//! A [`Retransmit`] holds the adaptive time-out (RFC 6298, with Karn's rule:
//! no round-trip sample from a packet that was sent again), the deadline and
//! the retry count. Both engines arm it when they send, report progress when
//! the peer moves on, and ask it what an expired deadline means.

use std::time::{Duration, Instant};

use crate::Error;

/// Retransmission timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time-out before the first RTT sample.
    pub initial_rto: Duration,
    /// Lower bound of the adaptive time-out.
    pub min_rto: Duration,
    /// Upper bound of the adaptive time-out (and of back-off). A negotiated
    /// `timeout` option replaces it.
    pub max_rto: Duration,
    /// Retransmissions at the full time-out before the transfer is
    /// abandoned (quicker adaptive retransmissions come on top).
    pub retries: u32,
    /// How long a receiver lingers after the final ACK to answer a
    /// retransmitted last block (the final ACK may have been lost).
    pub dally: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(50),
            max_rto: Duration::from_secs(5),
            retries: 6,
            dally: Duration::from_secs(2),
        }
    }
}

/// Adaptive retransmission time-out after RFC 6298.
#[derive(Debug, Clone)]
struct Rto {
    srtt: Option<Duration>,
    rttvar: Duration,
    current: Duration,
    min: Duration,
    max: Duration,
}

impl Rto {
    fn new(t: &Timing, max: Duration) -> Self {
        let max = max.max(t.min_rto);
        Rto {
            srtt: None,
            rttvar: Duration::ZERO,
            current: t.initial_rto.clamp(t.min_rto, max),
            min: t.min_rto,
            max,
        }
    }

    fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let s = self.srtt.unwrap_or(rtt);
        self.current = (s + self.rttvar * 4).clamp(self.min, self.max);
    }

    fn backoff(&mut self) {
        self.current = (self.current * 2).min(self.max);
    }
}

/// The retransmission timer of one transfer.
#[derive(Debug, Clone)]
pub(super) struct Retransmit {
    timing: Timing,
    rto: Rto,
    deadline: Option<Instant>,
    /// Retransmissions at the full time-out since the last progress.
    retries: u32,
    /// When the oldest unanswered packet was first sent (for RTT samples).
    sent_at: Option<Instant>,
    /// A retransmission happened since `sent_at` (Karn: no sample).
    retransmitted: bool,
}

impl Retransmit {
    /// A timer for `timing`, its ceiling the negotiated `timeout` if any.
    pub(super) fn new(timing: Timing, timeout: Option<Duration>) -> Self {
        Retransmit {
            rto: Rto::new(&timing, timeout.unwrap_or(timing.max_rto)),
            timing,
            deadline: None,
            retries: 0,
            sent_at: None,
            retransmitted: false,
        }
    }

    /// Starts the adaptive time-out afresh after negotiation settled the
    /// ceiling (`timeout`, or the configured maximum).
    pub(super) fn renegotiate(&mut self, timeout: Option<Duration>) {
        self.rto = Rto::new(&self.timing, timeout.unwrap_or(self.timing.max_rto));
    }

    /// The timing it was made with.
    pub(super) fn timing(&self) -> &Timing {
        &self.timing
    }

    /// A packet was sent: the deadline is one time-out from now.
    pub(super) fn arm(&mut self, now: Instant) {
        self.deadline = Some(now + self.rto.current);
    }

    /// Like [`arm`](Self::arm), unless a deadline is already running (a
    /// window's later blocks share its first block's deadline).
    pub(super) fn arm_if_idle(&mut self, now: Instant) {
        if self.deadline.is_none() {
            self.arm(now);
        }
    }

    /// A deadline of its own, e.g. the receiver's dally after the last ACK.
    pub(super) fn arm_at(&mut self, at: Instant) {
        self.deadline = Some(at);
    }

    /// Nothing to wait for.
    pub(super) fn disarm(&mut self) {
        self.deadline = None;
    }

    /// The deadline, if armed.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Notes when the oldest unanswered packet went out, for an RTT sample.
    pub(super) fn note_sent(&mut self, now: Instant) {
        self.sent_at.get_or_insert(now);
    }

    /// The peer answered: an RTT sample (unless that packet was repeated),
    /// and the retry count starts again.
    pub(super) fn progress(&mut self, now: Instant) {
        if let (Some(at), false) = (self.sent_at.take(), self.retransmitted) {
            self.rto.sample(now.saturating_duration_since(at));
        }
        self.retransmitted = false;
        self.retries = 0;
    }

    /// True, and disarmed, when the deadline has passed at `now`.
    pub(super) fn take_due(&mut self, now: Instant) -> bool {
        if self.deadline.is_none_or(|d| now < d) {
            return false;
        }
        self.deadline = None;
        true
    }

    /// After a deadline passed: `Ok` to send again (the time-out backs off),
    /// or the time-out error once the retries are used up.
    pub(super) fn retry(&mut self) -> Result<(), Error> {
        if self.retries >= self.timing.retries {
            return Err(Error::Timeout {
                retries: self.retries,
            });
        }
        // Early, fast retransmissions (an adaptive time-out below the
        // initial one) do not count against the retry limit: a transfer is
        // abandoned only after `retries` waits of the full time-out, never
        // after a few milliseconds of silence.
        if self.rto.current >= self.timing.initial_rto.min(self.rto.max) {
            self.retries += 1;
        }
        self.rto.backoff();
        self.retransmitted = true;
        Ok(())
    }
}
