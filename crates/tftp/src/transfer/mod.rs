//! Sans-IO transfer state machines.
//!
//! A transfer is a value: it never sleeps, never touches a socket and never
//! reads the clock. The caller feeds it datagrams ([`Transfer::handle`]) and
//! time ([`Transfer::handle_timeout`]), and sends what
//! [`Transfer::poll_transmit`] writes into its buffer. The same two engines
//! serve both roles:
//!
//! * [`SendTransfer`]: sends a file. A server answering a read request
//!   ([`SendTransfer::server`]), or a client putting a file
//!   ([`SendTransfer::client_put`]).
//! * [`ReceiveTransfer`]: receives a file. A server answering a write request
//!   ([`ReceiveTransfer::server`]), or a client getting a file
//!   ([`ReceiveTransfer::client_get`]).
//!
//! What they implement: option negotiation and OACK (RFC 2347), block sizes
//! (RFC 2348), `timeout` and `tsize` (RFC 2349), windows (RFC 7440), block
//! number rollover past 65535, retransmission on time-out only (a duplicate
//! ACK never triggers a resend: no Sorcerer's Apprentice), an adaptive
//! retransmission time-out (RFC 6298 style, Karn's rule), a retry limit, and
//! ERROR 5 to datagrams from any address but the peer's transfer ID without
//! disturbing the transfer.
//!
//! The file itself is reached through [`ReadSource`] and [`WriteSink`], with
//! positional offsets, so that a window can be re-read for retransmission
//! instead of being kept in memory.

//!
//! The module's parts: [`negotiate`](negotiate()) and the option checks
//! (`negotiate.rs`), one retransmission timer that both engines use
//! (`timer.rs`), the peer's transfer ID and the packets a transfer repeats
//! (`link.rs`), the two engines (`send.rs`, `receive.rs`) and the file side
//! (`storage.rs`).

use std::net::SocketAddr;
use std::time::Instant;

use crate::wire::ErrorCode;
use crate::Error;

mod link;
mod negotiate;
mod receive;
mod send;
mod storage;
mod timer;

pub use negotiate::{negotiate, Params, Rollover, ServerConfig};
pub use receive::ReceiveTransfer;
pub use send::SendTransfer;
pub use storage::{ReadSource, WriteSink};
pub use timer::Timing;

/// A datagram to send: `len` bytes at the start of the caller's buffer, to `dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address.
    pub dest: SocketAddr,
    /// Length of the datagram in the buffer.
    pub len: usize,
}

/// The driver interface shared by all transfers (the quinn-proto shape).
pub trait Transfer {
    /// Feeds a datagram received on the transfer's socket from `from`.
    fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]);
    /// Writes the next datagram to send into `buf`, if any. Call until `None`
    /// after every `handle` and `handle_timeout`. `buf` must hold at least
    /// [`Transfer::max_datagram_len`] bytes.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;
    /// When [`Transfer::handle_timeout`] should be called next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Tells the transfer the time; retransmits or gives up as due.
    fn handle_timeout(&mut self, now: Instant);
    /// The result, once known (a receiver knows it before it stops dallying).
    fn outcome(&self) -> Option<&Result<(), Error>>;
    /// True when nothing remains to send or wait for: drop the transfer.
    fn is_done(&self) -> bool;
    /// Largest datagram this transfer emits.
    fn max_datagram_len(&self) -> usize;
    /// File bytes transferred so far (acknowledged or received).
    fn bytes(&self) -> u64;
    /// Ends the transfer now, sending ERROR `code` with `message`.
    fn abort(&mut self, code: ErrorCode, message: &str);
}

#[cfg(test)]
mod tests;
