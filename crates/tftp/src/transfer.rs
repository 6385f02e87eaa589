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

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::{
    emit_error, opcode, ErrorCode, Mode, Options, Packet, Request, DATA_HEADER_LEN,
    DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE,
};
use crate::Error;

/// Where a sender reads file data from.
pub trait ReadSource {
    /// Reads up to `buf.len()` bytes at `offset` of the transfer stream,
    /// filling `buf` completely unless the stream ends. Returns the count.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// The peer has acknowledged everything before `upto`: it will not be
    /// read again. Sources that buffer (netascii) drop it.
    fn release(&mut self, upto: u64) {
        let _ = upto;
    }
}

/// Where a receiver writes file data to. Data arrives strictly in order.
pub trait WriteSink {
    /// Writes `data` at `offset` of the transfer stream.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// The last block has arrived. Called before the final ACK is sent, so a
    /// sink that makes the data durable here (fsync, rename) guarantees that
    /// an acknowledged upload is never lost.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ReadSource for &[u8] {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

impl ReadSource for Vec<u8> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }
}

#[cfg(unix)]
impl ReadSource for std::fs::File {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match FileExt::read_at(self, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

impl WriteSink for Vec<u8> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let off = usize::try_from(offset).map_err(|_| io::ErrorKind::OutOfMemory)?;
        let end = off
            .checked_add(data.len())
            .ok_or(io::ErrorKind::OutOfMemory)?;
        if self.len() < end {
            self.resize(end, 0);
        }
        self[off..end].copy_from_slice(data);
        Ok(())
    }
}

#[cfg(unix)]
impl WriteSink for std::fs::File {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.write_all_at(data, offset)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// What block number follows 65535 (RFC 1350 leaves it open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rollover {
    /// 65535 is followed by 0 (most clients and servers, curl, iPXE).
    #[default]
    Zero,
    /// 65535 is followed by 1 (some old clients).
    One,
}

impl Rollover {
    /// The wire block number of block `index` (block 1 is the first DATA).
    pub fn wire(self, index: u64) -> u16 {
        match self {
            Rollover::Zero => index as u16,
            Rollover::One if index == 0 => 0,
            Rollover::One => ((index - 1) % 65535 + 1) as u16,
        }
    }

    /// The index in `lo..=hi` whose wire number is `wire`, if any.
    /// `hi - lo` must be below 65535.
    fn index_in(self, wire: u16, lo: u64, hi: u64) -> Option<u64> {
        let j = match self {
            Rollover::Zero => lo + u64::from(wire.wrapping_sub(self.wire(lo))),
            Rollover::One if lo == 0 => u64::from(wire),
            Rollover::One => {
                if wire == 0 {
                    return None;
                }
                let d = (i64::from(wire) - i64::from(self.wire(lo))).rem_euclid(65535);
                lo + d as u64
            }
        };
        (j <= hi).then_some(j)
    }
}

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

/// Server-side limits and policy for option negotiation.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest block size granted.
    pub blksize_max: u16,
    /// Largest window granted.
    pub windowsize_max: u16,
    /// Retransmission timing.
    pub timing: Timing,
    /// Block number after 65535.
    pub rollover: Rollover,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            blksize_max: MAX_BLKSIZE,
            windowsize_max: 64,
            timing: Timing::default(),
            rollover: Rollover::Zero,
        }
    }
}

/// Transfer parameters after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Block size in bytes.
    pub blksize: u16,
    /// Blocks per window.
    pub windowsize: u16,
    /// Negotiated `timeout`, if any.
    pub timeout: Option<Duration>,
    /// Block number after 65535.
    pub rollover: Rollover,
}

impl Params {
    fn default_with(rollover: Rollover) -> Self {
        Params {
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            timeout: None,
            rollover,
        }
    }
}

/// Decides what a server grants: returns the OACK options (empty when the
/// client asked for nothing the server knows, in which case no OACK is sent)
/// and the transfer parameters.
///
/// `tsize` is the file size for a read request in octet mode (`None` when not
/// known, e.g. netascii, so the option is left out of the OACK; also left out
/// for an empty file, which curl would refuse); for a write request the
/// client's value is echoed as RFC 2349 says.
pub fn negotiate(
    req: &Request<'_>,
    cfg: &ServerConfig,
    is_read: bool,
    tsize: Option<u64>,
) -> (Options, Params) {
    let o = &req.options;
    let mut oack = Options::default();
    let mut p = Params::default_with(cfg.rollover);
    if let Some(b) = o.blksize {
        let b = b.min(cfg.blksize_max.max(MIN_BLKSIZE));
        oack.blksize = Some(b);
        p.blksize = b;
    }
    if let Some(w) = o.windowsize {
        let w = w.min(cfg.windowsize_max.max(1));
        oack.windowsize = Some(w);
        p.windowsize = w;
    }
    if let Some(t) = o.timeout {
        oack.timeout = Some(t);
        p.timeout = Some(Duration::from_secs(u64::from(t)));
    }
    if o.tsize.is_some() {
        // An empty file's tsize is left out: curl refuses `tsize=0` in an
        // OACK, and RFC 2349 lets a server decline the option.
        oack.tsize = if is_read {
            tsize.filter(|&t| t > 0)
        } else {
            o.tsize
        };
    }
    (oack, p)
}

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

/// Peer address bookkeeping shared by both engines.
#[derive(Debug, Clone)]
struct Link {
    peer: SocketAddr,
    /// False for a client until the server's first answer fixes its port.
    locked: bool,
    /// A stranger to send ERROR 5 to (one at a time, so a flood costs nothing).
    stray: Option<SocketAddr>,
    /// An ERROR to send to the peer before stopping.
    error_out: Option<(ErrorCode, String)>,
    outcome: Option<Result<(), Error>>,
}

impl Link {
    fn new(peer: SocketAddr, locked: bool) -> Self {
        Link {
            peer,
            locked,
            stray: None,
            error_out: None,
            outcome: None,
        }
    }

    /// Checks the sender's transfer ID; strangers get ERROR 5 and are ignored.
    fn accept(&mut self, from: SocketAddr) -> bool {
        if from == self.peer {
            return true;
        }
        if !self.locked && from.ip() == self.peer.ip() {
            self.peer = from;
            self.locked = true;
            return true;
        }
        self.stray = Some(from);
        false
    }

    /// Ends the transfer with `err`, telling the peer with ERROR.
    fn fail(&mut self, err: Error) {
        if self.outcome.is_none() {
            let code = err.tftp_code();
            let msg = match &err {
                Error::Timeout { .. } => "Transfer timed out".to_owned(),
                Error::Io(_) => "I/O error".to_owned(),
                e => e.to_string(),
            };
            self.error_out = Some((code, msg));
            self.outcome = Some(Err(err));
        }
    }

    /// Ends the transfer because the peer sent ERROR (no reply).
    fn peer_error(&mut self, code: ErrorCode, message: &str) {
        if self.outcome.is_none() {
            self.outcome = Some(Err(Error::Peer {
                code,
                message: message.chars().take(256).collect(),
            }));
        }
    }

    /// Emits pending ERROR 5 or ERROR-to-peer packets.
    fn poll_errors(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(dest) = self.stray.take() {
            let len = emit_error(ErrorCode::UnknownTid, "Unknown transfer ID", buf);
            return Some(Transmit { dest, len });
        }
        if let Some((code, msg)) = self.error_out.take() {
            let len = emit_error(code, &msg, buf);
            return Some(Transmit {
                dest: self.peer,
                len,
            });
        }
        None
    }

    fn finished(&self) -> bool {
        self.outcome.is_some()
    }
}

fn io_error(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            Error::Refused {
                code: ErrorCode::DiskFull,
                message: "Disk full or allocation exceeded".into(),
            }
        }
        _ => Error::Io(e.to_string()),
    }
}

/// The control packet a transfer retransmits on time-out.
#[derive(Debug, Clone)]
enum Control {
    /// Client: the request bytes (RRQ/WRQ), sent to the server's listening port.
    Request(Vec<u8>),
    /// Server: the OACK.
    Oack(Options),
    /// Receiver: the ACK of block `index`.
    Ack(u64),
}

impl Control {
    fn emit(&self, rollover: Rollover, buf: &mut [u8]) -> usize {
        let r = match self {
            Control::Request(b) => {
                if buf.len() < b.len() {
                    return 0;
                }
                buf[..b.len()].copy_from_slice(b);
                return b.len();
            }
            Control::Oack(o) => Packet::Oack(*o).emit(buf),
            Control::Ack(i) => Packet::Ack {
                block: rollover.wire(*i),
            }
            .emit(buf),
        };
        r.unwrap_or(0)
    }
}

fn encode_request(write: bool, filename: &str, mode: Mode, options: Options) -> Vec<u8> {
    let r = Request {
        filename,
        mode,
        options,
    };
    let p = if write {
        Packet::Wrq(r)
    } else {
        Packet::Rrq(r)
    };
    let mut v = vec![0u8; p.buffer_len()];
    let n = p.emit(&mut v).unwrap_or(0);
    v.truncate(n);
    v
}

/// Checks a server's OACK against what the client asked for (RFC 2347: a
/// server may only lower what was asked, and only answer what was asked).
fn check_oack(asked: &Options, got: &Options) -> Result<(), Error> {
    let bad = |name: &str, v: u64| Error::InvalidOption {
        name: name.into(),
        value: v.to_string(),
    };
    if let Some(b) = got.blksize {
        if asked.blksize.is_none_or(|a| b > a) {
            return Err(bad("blksize", b.into()));
        }
    }
    if let Some(w) = got.windowsize {
        if asked.windowsize.is_none_or(|a| w > a) {
            return Err(bad("windowsize", w.into()));
        }
    }
    if let Some(t) = got.timeout {
        if asked.timeout != Some(t) {
            return Err(bad("timeout", t.into()));
        }
    }
    if let (Some(t), None) = (got.tsize, asked.tsize) {
        return Err(bad("tsize", t));
    }
    Ok(())
}

fn params_from_oack(o: &Options, rollover: Rollover) -> Params {
    Params {
        blksize: o.blksize.unwrap_or(DEFAULT_BLKSIZE),
        windowsize: o.windowsize.unwrap_or(1),
        timeout: o.timeout.map(|t| Duration::from_secs(u64::from(t))),
        rollover,
    }
}

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
    timing: Timing,
    rto: Rto,
    deadline: Option<Instant>,
    /// When the oldest unacked packet was first sent (for RTT samples).
    sent_at: Option<Instant>,
    /// A retransmission happened since `sent_at` (Karn: no sample).
    retransmitted: bool,
    retries: u32,
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
        let max = params.timeout.unwrap_or(timing.max_rto);
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
            rto: Rto::new(&timing, max),
            timing,
            deadline: None,
            sent_at: None,
            retransmitted: false,
            retries: 0,
        }
    }

    /// The negotiated parameters.
    pub fn params(&self) -> Params {
        self.params
    }

    fn start_data(&mut self, now: Instant) {
        if let (Some(at), false) = (self.sent_at, self.retransmitted) {
            self.rto.sample(now.saturating_duration_since(at));
        }
        self.phase = SendPhase::Data;
        self.control = None;
        self.send_control = false;
        self.deadline = None;
        self.sent_at = None;
        self.retransmitted = false;
        self.retries = 0;
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
        if let (Some(at), false) = (self.sent_at, self.retransmitted) {
            self.rto.sample(now.saturating_duration_since(at));
        }
        self.base = j + 1;
        self.retries = 0;
        self.retransmitted = false;
        self.source
            .release((self.base - 1) * u64::from(self.params.blksize));
        if self.last == Some(j) {
            self.link.outcome = Some(Ok(()));
            self.deadline = None;
            return;
        }
        // An ack short of what was sent means the receiver lost the block
        // after `j`: go back and send from there (RFC 7440).
        if j + 1 < self.next {
            self.next = self.base;
        }
        self.next = self.next.max(self.base);
        self.deadline = None;
        self.sent_at = None;
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
                        let max = self.params.timeout.unwrap_or(self.timing.max_rto);
                        self.rto = Rto::new(&self.timing, max);
                        self.start_data(now);
                    }
                    Err(e) => self.link.fail(e),
                }
            }
            Ok(Packet::Error { code, message }) => self.link.peer_error(code, message),
            Ok(p) => self.link.fail(Error::Protocol(format!(
                "unexpected packet with opcode {} while sending",
                p.opcode()
            ))),
            Err(e) => self.link.fail(e),
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
            self.deadline = Some(now + self.rto.current);
            self.sent_at.get_or_insert(now);
            return Some(Transmit { dest, len });
        }
        let window_end = self.base + u64::from(self.params.windowsize);
        if self.next >= window_end || self.last.is_some_and(|l| self.next > l) {
            return None;
        }
        let blksize = usize::from(self.params.blksize);
        if buf.len() < DATA_HEADER_LEN + blksize {
            self.link.fail(Error::Io(format!(
                "send buffer of {} bytes too small",
                buf.len()
            )));
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
                self.link.fail(io_error(e));
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
        if self.deadline.is_none() {
            self.deadline = Some(now + self.rto.current);
        }
        self.sent_at.get_or_insert(now);
        Some(Transmit {
            dest,
            len: DATA_HEADER_LEN + n,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.link.finished() {
            None
        } else {
            self.deadline
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.link.finished() || self.deadline.is_none_or(|d| now < d) {
            return;
        }
        self.deadline = None;
        if self.retries >= self.timing.retries {
            return self.link.fail(Error::Timeout {
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
    timing: Timing,
    rto: Rto,
    deadline: Option<Instant>,
    retries: u32,
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
        let max = params.timeout.unwrap_or(timing.max_rto);
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
            rto: Rto::new(&timing, max),
            timing,
            deadline: None,
            retries: 0,
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
            return self.link.fail(io_error(e));
        }
        self.bytes += data.len() as u64;
        self.expected += 1;
        self.in_window += 1;
        self.gap_acked = false;
        self.retries = 0;
        self.deadline = Some(now + self.rto.current);
        if data.len() < blksize {
            if let Err(e) = self.sink.finish() {
                return self.link.fail(io_error(e));
            }
            self.link.outcome = Some(Ok(()));
            self.phase = RecvPhase::Dally;
            self.deadline = Some(now + self.timing.dally);
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
                    self.rto = Rto::new(&self.timing, self.timing.max_rto);
                }
                self.on_data(now, block, data)
            }
            Ok(Packet::Oack(o)) if self.phase == RecvPhase::Request => {
                match check_oack(&self.asked, &o) {
                    Ok(()) => {
                        self.params = params_from_oack(&o, self.params.rollover);
                        let max = self.params.timeout.unwrap_or(self.timing.max_rto);
                        self.rto = Rto::new(&self.timing, max);
                        self.oack = Some(o);
                        self.phase = RecvPhase::Data;
                        self.retries = 0;
                        self.ack(0);
                    }
                    Err(e) => self.link.fail(e),
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
            Err(e) if self.phase != RecvPhase::Dally => self.link.fail(e),
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
            self.deadline = Some(now + self.rto.current);
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
            self.deadline
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| now < d) {
            return;
        }
        self.deadline = None;
        if self.phase == RecvPhase::Dally {
            // Lingered long enough: the final ACK arrived or the peer gave up.
            self.phase = RecvPhase::Data;
            return;
        }
        if self.link.finished() {
            return;
        }
        if self.retries >= self.timing.retries {
            return self.link.fail(Error::Timeout {
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

#[cfg(test)]
mod tests;
