//! The receiving engine: a server answering WRQ, or a client's RRQ.

use std::net::SocketAddr;
use std::time::Instant;

use crate::wire::{ErrorCode, Mode, Options, Packet, Request};
use crate::Error;

use super::link::{io_error, Control, Link};
use super::negotiate::{check_oack, encode_request, negotiate, params_from_oack};
use super::timer::{Retransmit, Timing};
use super::{Params, Rollover, ServerConfig, Transfer, Transmit, WriteSink};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvPhase {
    /// Client: request sent, no answer yet.
    Request,
    /// Receiving data.
    Data,
    /// Final block received and acked; answering a retransmitted last block.
    Dally,
}

/// Receives a file: a server's answer to WRQ, or a client's RRQ.
#[derive(Debug)]
pub struct ReceiveTransfer<K> {
    link: Link,
    sink: K,
    phase: RecvPhase,
    control: Control,
    send_control: bool,
    asked: Options,
    params: Params,
    /// Options the server acknowledged (client), for `tsize`.
    oack: Option<Options>,
    /// Next block index expected.
    expected: u64,
    /// Blocks received since the last ACK.
    in_window: u16,
    /// An ACK for a gap was already sent since the last progress.
    gap_acked: bool,
    bytes: u64,
    timer: Retransmit,
}

impl<K: WriteSink> ReceiveTransfer<K> {
    /// A server's answer to a write request from `peer`. Wrap `sink` in
    /// [`NetasciiSink`](crate::netascii::NetasciiSink) for netascii.
    pub fn server(peer: SocketAddr, req: &Request<'_>, sink: K, cfg: &ServerConfig) -> Self {
        let (oack, params) = negotiate(req, cfg, false, None);
        let control = if oack.is_empty() {
            Control::Ack(0)
        } else {
            Control::Oack(oack)
        };
        let mut t = Self::new(Link::new(peer, true), sink, params, cfg.timing, control);
        t.phase = RecvPhase::Data;
        t
    }

    /// A client's read request to the server at `server` (its listening port).
    pub fn client_get(
        server: SocketAddr,
        filename: &str,
        mode: Mode,
        options: Options,
        sink: K,
        timing: Timing,
        rollover: Rollover,
    ) -> Self {
        let req = encode_request(false, filename, mode, options);
        let mut t = Self::new(
            Link::new(server, false),
            sink,
            Params::default_with(rollover),
            timing,
            Control::Request(req),
        );
        t.asked = options;
        t
    }

    fn new(link: Link, sink: K, params: Params, timing: Timing, control: Control) -> Self {
        ReceiveTransfer {
            link,
            sink,
            phase: RecvPhase::Request,
            control,
            send_control: true,
            asked: Options::default(),
            params,
            oack: None,
            expected: 1,
            in_window: 0,
            gap_acked: false,
            bytes: 0,
            timer: Retransmit::new(timing, params.timeout),
        }
    }

    /// The negotiated parameters.
    pub fn params(&self) -> Params {
        self.params
    }

    /// The options the server acknowledged (client side), e.g. its `tsize`.
    pub fn oack(&self) -> Option<&Options> {
        self.oack.as_ref()
    }

    /// The sink, e.g. to take the received bytes out of a `Vec`.
    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// Consumes the transfer, returning the sink.
    pub fn into_sink(self) -> K {
        self.sink
    }

    fn ack(&mut self, index: u64) {
        self.control = Control::Ack(index);
        self.send_control = true;
    }

    fn on_data(&mut self, now: Instant, wire: u16, data: &[u8]) {
        let blksize = usize::from(self.params.blksize);
        if self.phase == RecvPhase::Dally {
            if wire == self.params.rollover.wire(self.expected - 1) {
                self.send_control = true;
            }
            return;
        }
        if wire != self.params.rollover.wire(self.expected) {
            // Duplicate of the newest block we have: our ACK was lost, say it
            // again. A gap: ack the last in-order block once (RFC 7440).
            let newest = self.params.rollover.wire(self.expected - 1);
            if (wire == newest && self.expected > 1) || !self.gap_acked {
                self.gap_acked = true;
                self.in_window = 0;
                self.ack(self.expected - 1);
            }
            return;
        }
        if data.len() > blksize {
            return self.link.fail(Error::Protocol(format!(
                "DATA block of {} bytes exceeds blksize {}",
                data.len(),
                blksize
            )));
        }
        if let Err(e) = self.sink.write_at(self.bytes, data) {
            return self.link.fail(io_error("write", e));
        }
        self.bytes += data.len() as u64;
        self.expected += 1;
        self.in_window += 1;
        self.gap_acked = false;
        self.timer.progress(now);
        self.timer.arm(now);
        if data.len() < blksize {
            if let Err(e) = self.sink.finish() {
                return self.link.fail(io_error("finish", e));
            }
            self.link.outcome = Some(Ok(()));
            self.phase = RecvPhase::Dally;
            self.timer.arm_at(now + self.timer.timing().dally);
            self.ack(self.expected - 1);
        } else if self.in_window >= self.params.windowsize {
            self.in_window = 0;
            self.ack(self.expected - 1);
        }
    }
}

impl<K: WriteSink> Transfer for ReceiveTransfer<K> {
    fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if !self.link.accept(from) {
            return;
        }
        if self.link.finished() && self.phase != RecvPhase::Dally {
            return;
        }
        match Packet::parse(datagram) {
            Ok(Packet::Data { block, data }) => {
                if self.phase == RecvPhase::Request {
                    // The server took none of our options.
                    self.phase = RecvPhase::Data;
                    self.timer.renegotiate(None);
                }
                self.on_data(now, block, data)
            }
            Ok(Packet::Oack(o)) if self.phase == RecvPhase::Request => {
                match check_oack(&self.asked, &o) {
                    Ok(()) => {
                        self.params = params_from_oack(&o, self.params.rollover);
                        self.timer.renegotiate(self.params.timeout);
                        self.timer.progress(now);
                        self.oack = Some(o);
                        self.phase = RecvPhase::Data;
                        self.ack(0);
                    }
                    Err(e) => self.link.fail(e.into()),
                }
            }
            Ok(Packet::Oack(_)) => {
                // Our ACK 0 was lost and the server repeats its OACK.
                if self.expected == 1 && self.oack.is_some() {
                    self.ack(0);
                }
            }
            Ok(Packet::Error { code, message }) => {
                if self.phase != RecvPhase::Dally {
                    self.link.peer_error(code, message)
                }
            }
            Ok(p) if self.phase == RecvPhase::Dally => {
                let _ = p;
            }
            Ok(p) => self.link.fail(Error::Protocol(format!(
                "unexpected packet with opcode {} while receiving",
                p.opcode()
            ))),
            Err(e) if self.phase != RecvPhase::Dally => self.link.fail(e.into()),
            Err(_) => {}
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.link.poll_errors(buf) {
            return Some(t);
        }
        if (self.link.finished() && self.phase != RecvPhase::Dally) || !self.send_control {
            return None;
        }
        self.send_control = false;
        let len = self.control.emit(self.params.rollover, buf);
        if self.phase != RecvPhase::Dally {
            self.timer.arm(now);
        }
        Some(Transmit {
            dest: self.link.peer,
            len,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.link.finished() && self.phase != RecvPhase::Dally {
            None
        } else {
            self.timer.deadline()
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if !self.timer.take_due(now) {
            return;
        }
        if self.phase == RecvPhase::Dally {
            // Lingered long enough: the final ACK arrived or the peer gave up.
            self.phase = RecvPhase::Data;
            return;
        }
        if self.link.finished() {
            return;
        }
        if let Err(e) = self.timer.retry() {
            return self.link.fail(e);
        }
        self.gap_acked = false;
        self.in_window = 0;
        self.send_control = true;
    }

    fn outcome(&self) -> Option<&Result<(), Error>> {
        self.link.outcome.as_ref()
    }

    fn is_done(&self) -> bool {
        self.link.finished()
            && self.phase != RecvPhase::Dally
            && self.link.stray.is_none()
            && self.link.error_out.is_none()
    }

    fn max_datagram_len(&self) -> usize {
        match &self.control {
            Control::Request(b) => b.len().max(512),
            _ => 512,
        }
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn abort(&mut self, code: ErrorCode, message: &str) {
        if self.phase == RecvPhase::Dally {
            self.phase = RecvPhase::Data;
            return;
        }
        self.link.fail(Error::Refused {
            code,
            message: message.into(),
        });
    }
}
