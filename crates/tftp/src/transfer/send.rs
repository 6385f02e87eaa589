//! The sending engine: a server answering RRQ, or a client's WRQ.

use std::net::SocketAddr;
use std::time::Instant;

use crate::wire::{
    opcode, ErrorCode, Mode, Options, Packet, Request, DATA_HEADER_LEN, MAX_BLKSIZE,
};
use crate::{EmitError, Error};

use super::link::{io_error, Control, Link};
use super::negotiate::{check_oack, encode_request, negotiate, params_from_oack};
use super::timer::{Retransmit, Timing};
use super::{Params, ReadSource, Rollover, ServerConfig, Transfer, Transmit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendPhase {
    /// Waiting for ACK 0 of the control packet (OACK or WRQ).
    Control,
    /// Sending data.
    Data,
}

/// Sends a file: a server's answer to RRQ, or a client's WRQ.
#[derive(Debug)]
pub struct SendTransfer<S> {
    link: Link,
    source: S,
    phase: SendPhase,
    control: Option<Control>,
    send_control: bool,
    /// Client: options asked for, to check the OACK against.
    asked: Options,
    params: Params,
    /// First block index not yet acknowledged (blocks start at 1).
    base: u64,
    /// Next block index to send.
    next: u64,
    /// One past the highest block index ever sent.
    sent_high: u64,
    /// Index of the final (short) block, once read.
    last: Option<u64>,
    /// Payload length of the final block.
    last_len: usize,
    timer: Retransmit,
}

impl<S: ReadSource> SendTransfer<S> {
    /// A server's answer to a read request from `peer`. `size` is the file
    /// size when known (used for `tsize`). Does not check `req.mode`: refuse
    /// `mail` before, and wrap `source` in
    /// [`NetasciiSource`](crate::netascii::NetasciiSource) for netascii.
    pub fn server(
        peer: SocketAddr,
        req: &Request<'_>,
        source: S,
        size: Option<u64>,
        cfg: &ServerConfig,
    ) -> Self {
        let (oack, params) = negotiate(req, cfg, true, size);
        let mut t = Self::new(Link::new(peer, true), source, params, cfg.timing);
        if !oack.is_empty() {
            t.phase = SendPhase::Control;
            t.control = Some(Control::Oack(oack));
            t.send_control = true;
        }
        t
    }

    /// A client's write request to the server at `server` (its listening port).
    pub fn client_put(
        server: SocketAddr,
        filename: &str,
        mode: Mode,
        options: Options,
        source: S,
        timing: Timing,
        rollover: Rollover,
    ) -> Self {
        let mut t = Self::new(
            Link::new(server, false),
            source,
            Params::default_with(rollover),
            timing,
        );
        t.phase = SendPhase::Control;
        t.asked = options;
        t.control = Some(Control::Request(encode_request(
            true, filename, mode, options,
        )));
        t.send_control = true;
        t
    }

    fn new(link: Link, source: S, params: Params, timing: Timing) -> Self {
        SendTransfer {
            link,
            source,
            phase: SendPhase::Data,
            control: None,
            send_control: false,
            asked: Options::default(),
            params,
            base: 1,
            next: 1,
            sent_high: 1,
            last: None,
            last_len: 0,
            timer: Retransmit::new(timing, params.timeout),
        }
    }

    /// The negotiated parameters.
    pub fn params(&self) -> Params {
        self.params
    }

    fn start_data(&mut self, now: Instant) {
        self.timer.progress(now);
        self.timer.disarm();
        self.phase = SendPhase::Data;
        self.control = None;
        self.send_control = false;
    }

    fn on_ack(&mut self, now: Instant, wire: u16) {
        if self.phase == SendPhase::Control {
            if wire == 0 {
                self.start_data(now);
            }
            return;
        }
        // Acks for blocks before `base` are duplicates: ignored, never a
        // resend (the Sorcerer's Apprentice bug). Only time-outs resend.
        let hi = self.sent_high - 1;
        let Some(j) = self.params.rollover.index_in(wire, self.base, hi) else {
            return;
        };
        self.timer.progress(now);
        self.timer.disarm();
        self.base = j + 1;
        self.source
            .release((self.base - 1) * u64::from(self.params.blksize));
        if self.last == Some(j) {
            self.link.outcome = Some(Ok(()));
            return;
        }
        // An ack short of what was sent means the receiver lost the block
        // after `j`: go back and send from there (RFC 7440).
        if j + 1 < self.next {
            self.next = self.base;
        }
        self.next = self.next.max(self.base);
    }
}

impl<S: ReadSource> Transfer for SendTransfer<S> {
    fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if !self.link.accept(from) || self.link.finished() {
            return;
        }
        match Packet::parse(datagram) {
            Ok(Packet::Ack { block }) => self.on_ack(now, block),
            Ok(Packet::Oack(o)) if self.phase == SendPhase::Control && self.link.locked => {
                // Only a client (WRQ) gets an OACK.
                if !matches!(self.control, Some(Control::Request(_))) {
                    return self.link.fail(Error::Protocol("unexpected OACK".into()));
                }
                match check_oack(&self.asked, &o) {
                    Ok(()) => {
                        self.params = params_from_oack(&o, self.params.rollover);
                        self.timer.renegotiate(self.params.timeout);
                        self.start_data(now);
                    }
                    Err(e) => self.link.fail(e.into()),
                }
            }
            Ok(Packet::Error { code, message }) => self.link.peer_error(code, message),
            Ok(p) => self.link.fail(Error::Protocol(format!(
                "unexpected packet with opcode {} while sending",
                p.opcode()
            ))),
            Err(e) => self.link.fail(e.into()),
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.link.poll_errors(buf) {
            return Some(t);
        }
        if self.link.finished() {
            return None;
        }
        let dest = self.link.peer;
        if self.phase == SendPhase::Control {
            if !self.send_control {
                return None;
            }
            self.send_control = false;
            let len = self.control.as_ref()?.emit(self.params.rollover, buf);
            self.timer.arm(now);
            self.timer.note_sent(now);
            return Some(Transmit { dest, len });
        }
        let window_end = self.base + u64::from(self.params.windowsize);
        if self.next >= window_end || self.last.is_some_and(|l| self.next > l) {
            return None;
        }
        let blksize = usize::from(self.params.blksize);
        if buf.len() < DATA_HEADER_LEN + blksize {
            self.link.fail(
                EmitError::BufferTooSmall {
                    need: DATA_HEADER_LEN + blksize,
                    have: buf.len(),
                }
                .into(),
            );
            return self.link.poll_errors(buf);
        }
        let index = self.next;
        let offset = (index - 1) * blksize as u64;
        let n = match self
            .source
            .read_at(offset, &mut buf[DATA_HEADER_LEN..DATA_HEADER_LEN + blksize])
        {
            Ok(n) => n,
            Err(e) => {
                self.link.fail(io_error("read", e));
                return self.link.poll_errors(buf);
            }
        };
        if n < blksize {
            self.last = Some(index);
            self.last_len = n;
        }
        buf[..2].copy_from_slice(&opcode::DATA.to_be_bytes());
        buf[2..4].copy_from_slice(&self.params.rollover.wire(index).to_be_bytes());
        self.next += 1;
        self.sent_high = self.sent_high.max(self.next);
        self.timer.arm_if_idle(now);
        self.timer.note_sent(now);
        Some(Transmit {
            dest,
            len: DATA_HEADER_LEN + n,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.link.finished() {
            None
        } else {
            self.timer.deadline()
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.link.finished() || !self.timer.take_due(now) {
            return;
        }
        if let Err(e) = self.timer.retry() {
            return self.link.fail(e);
        }
        match self.phase {
            SendPhase::Control => self.send_control = true,
            SendPhase::Data => self.next = self.base,
        }
    }

    fn outcome(&self) -> Option<&Result<(), Error>> {
        self.link.outcome.as_ref()
    }

    fn is_done(&self) -> bool {
        self.link.finished() && self.link.stray.is_none() && self.link.error_out.is_none()
    }

    fn max_datagram_len(&self) -> usize {
        let ctl = match &self.control {
            Some(Control::Request(b)) => b.len(),
            _ => 0,
        };
        (DATA_HEADER_LEN + usize::from(MAX_BLKSIZE.min(self.params.blksize))).max(ctl.max(512))
    }

    fn bytes(&self) -> u64 {
        let blocks = self.base - 1;
        if self.link.outcome.as_ref().is_some_and(|r| r.is_ok()) {
            (blocks - 1) * u64::from(self.params.blksize) + self.last_len as u64
        } else {
            blocks * u64::from(self.params.blksize)
        }
    }

    fn abort(&mut self, code: ErrorCode, message: &str) {
        self.link.fail(Error::Refused {
            code,
            message: message.into(),
        });
    }
}
