//! A sans-IO AoE client (initiator).
//!
//! The shape is quinn-proto's: the caller feeds received frames with
//! [`Client::handle`], asks for frames to send with
//! [`Client::poll_transmit`], sleeps until [`Client::poll_timeout`], calls
//! [`Client::handle_timeout`] and collects results with
//! [`Client::poll_event`]. The client never sleeps and never reads a clock.
//!
//! * Discovery: [`Client::discover`] broadcasts a query config; each answer
//!   is an [`Event::Discovered`]. [`Client::attach`] picks the target for
//!   I/O.
//! * I/O: [`Client::read`], [`Client::write`], [`Client::flush`] and
//!   [`Client::identify`] return a [`RequestId`]; requests larger than one
//!   frame are split into commands of at most sectors-per-frame sectors,
//!   each with its own tag. A flush waits until every earlier command has
//!   been answered, so writes acknowledged before a successful flush are
//!   durable on the target.
//! * Window: at most `min(target buffer count, ClientConfig::max_window)`
//!   commands are outstanding; the window halves on a loss (not below
//!   `dup_threshold + 1`, so that fast retransmit keeps working) and grows
//!   by one per window of answers (AIMD), as the Linux aoe driver does. Losses of
//!   commands sent before the last cut are part of the same congestion
//!   signal and do not cut again (at most one halving per window, as in
//!   TCP's fast recovery, RFC 6582).
//! * Fast retransmit: on one link a target answers in order, so a command
//!   that is still unanswered after [`ClientConfig::dup_threshold`] commands
//!   sent after it were answered is taken as lost and sent again at once,
//!   without waiting for its time-out and without backing the time-out off.
//! * Retransmission: RFC 6298-style smoothed RTT and variance give the
//!   time-out, doubled on each expiry; replies to retransmitted commands
//!   give no RTT sample (Karn). After [`ClientConfig::max_retries`]
//!   retransmissions of one command its request fails with
//!   [`Error::Timeout`].
//! * Slow commands: a FLUSH CACHE may take the target seconds (fdatasync),
//!   so it has its own time-out of at least [`ClientConfig::slow_rto`], its
//!   expiry does not back off the time-out of the data commands, and its
//!   answer gives no RTT sample.
//!
//! (One file of ~1,000 lines on purpose: discovery, the windowed request
//! table and the retransmission timer share one table of outstanding tags,
//! and every transition is read beside the state it changes.)

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::ata::cmd;
use crate::wire::{
    self, AoeHeader, AtaFlags, AtaHeader, AtaStatus, Body, Command, ConfigCommand, ConfigHeader,
    EthernetHeader, Frame, MacAddr, ETHERTYPE_AOE, HEADER_LEN, SECTOR_SIZE,
};
use crate::{Error, ParseError};

/// Identifies a request until its [`Event::Done`].
pub type RequestId = u64;

/// Tags with this bit set belong to discovery queries.
const DISCOVERY_TAG: u32 = 0x8000_0000;

/// Tunables of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Retransmission time-out before the first RTT sample.
    pub rto_initial: Duration,
    /// Lower bound of the adaptive time-out.
    pub rto_min: Duration,
    /// Upper bound of the adaptive time-out (also after back-off).
    pub rto_max: Duration,
    /// Retransmissions of one command before its request fails.
    pub max_retries: u32,
    /// Most outstanding commands, whatever the target's buffer count.
    pub max_window: u16,
    /// Our interface MTU: caps the sectors per frame together with the
    /// target's own limit.
    pub mtu: usize,
    /// Answers to commands sent later after which an unanswered command is
    /// retransmitted without waiting for its time-out (fast retransmit);
    /// 0 disables it.
    pub dup_threshold: u32,
    /// Least time-out of slow commands (FLUSH CACHE), doubled on each
    /// retransmission up to `max(rto_max, slow_rto)`.
    pub slow_rto: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            rto_initial: Duration::from_millis(250),
            rto_min: Duration::from_millis(5),
            rto_max: Duration::from_secs(4),
            max_retries: 10,
            max_window: 256,
            mtu: 1500,
            dup_threshold: 3,
            slow_rto: Duration::from_secs(1),
        }
    }
}

/// A target as a query-config reply describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// The target's MAC address.
    pub mac: MacAddr,
    /// Shelf (major).
    pub shelf: u16,
    /// Slot (minor).
    pub slot: u8,
    /// Outstanding commands the target accepts.
    pub buffer_count: u16,
    /// Firmware version.
    pub firmware_version: u16,
    /// Most sectors per ATA command.
    pub sectors_per_frame: u8,
    /// AoE version.
    pub aoe_version: u8,
    /// Config string.
    pub config: Vec<u8>,
}

/// The result of a successful request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Data read.
    Read(Vec<u8>),
    /// All sectors written.
    Written,
    /// The target's cache was flushed.
    Flushed,
    /// The 512-byte IDENTIFY DEVICE data.
    Identify(Vec<u8>),
}

/// What the client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A target answered a discovery query.
    Discovered(TargetInfo),
    /// A request finished.
    Done {
        /// The request.
        id: RequestId,
        /// Its result.
        result: Result<Completion, Error>,
    },
}

/// Counters for tools and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Frames sent (including retransmissions).
    pub sent: u64,
    /// Retransmissions (after a time-out or fast).
    pub retransmits: u64,
    /// Retransmissions because later commands were answered first.
    pub fast_retransmits: u64,
    /// Commands whose time-out expired.
    pub timeouts: u64,
    /// Window cuts.
    pub window_cuts: u64,
    /// Retransmissions found needless: the command was answered twice, so
    /// its first answer was only late (reordered or slow), not lost.
    pub spurious: u64,
    /// Replies matched to an outstanding command.
    pub replies: u64,
    /// Received frames dropped by the test hook.
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Flush,
    Identify,
}

#[derive(Debug)]
struct Request {
    kind: Kind,
    data: Vec<u8>,
    frames_left: u32,
}

#[derive(Debug, Clone, Copy)]
struct Cmd {
    req: RequestId,
    ata: AtaHeader,
    offset: usize,
    len: usize,
    barrier: bool,
    /// A command the target may take long for (FLUSH CACHE).
    slow: bool,
}

#[derive(Debug)]
struct Inflight {
    cmd: Cmd,
    sent: Instant,
    deadline: Instant,
    retries: u32,
    retransmitted: bool,
    /// Position in send order of the last transmission.
    seq: u64,
    /// Answers to commands sent after this one (fast retransmit).
    skipped: u32,
    /// Position in send order of the first transmission.
    first_seq: u64,
    /// Retransmitted without a time-out (fast) or after one: with the
    /// window before the cut its loss caused.
    suspect: Option<Option<f64>>,
    /// One of its transmissions timed out.
    timed_out: bool,
}

/// A retransmitted command that was answered: a second answer shows that
/// the retransmission was needless.
#[derive(Debug, Clone, Copy)]
struct Answered {
    tag: u32,
    /// The window before the cut this retransmission caused.
    undo: Option<f64>,
    /// Commands sent after its first transmission and answered before it.
    distance: u32,
    /// A time-out (not only fast retransmit) was involved: the distance
    /// says nothing about reordering.
    timed_out: bool,
}

/// How many retransmitted, answered commands are remembered.
const ANSWERED_KEPT: usize = 64;

/// The client state machine for one attached target.
#[derive(Debug)]
pub struct Client {
    mac: MacAddr,
    cfg: ClientConfig,
    target: Option<TargetInfo>,
    spf: u8,
    next_tag: u32,
    next_id: RequestId,
    requests: HashMap<RequestId, Request>,
    pending: VecDeque<Cmd>,
    retransmit: VecDeque<u32>,
    inflight: HashMap<u32, Inflight>,
    deadlines: BTreeSet<(Instant, u32)>,
    /// Outstanding commands (not yet found lost) by send order.
    order: BTreeMap<u64, u32>,
    next_seq: u64,
    /// Send order of the newest command when the window was last cut:
    /// losses of older commands belong to that cut.
    recover: Option<u64>,
    /// Send order of the newest command when the time-out was last backed
    /// off.
    backoff: Option<u64>,
    /// Reordering seen on the link: answers to later commands that may
    /// arrive before an earlier command's answer without it being lost.
    reordering: u32,
    answered: VecDeque<Answered>,
    /// The latest first transmission (in send order) that was answered.
    highest_answered: Option<u64>,
    discovery: VecDeque<(u16, u8, u32)>,
    discovery_tags: HashSet<u32>,
    discovered: HashSet<(MacAddr, u16, u8)>,
    events: VecDeque<Event>,
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    cwnd: f64,
    drop_every: u64,
    rx_count: u64,
    stats: ClientStats,
}

impl Client {
    /// A client sending from `mac`.
    pub fn new(mac: MacAddr, cfg: ClientConfig) -> Client {
        let rto = cfg.rto_initial;
        Client {
            mac,
            cfg,
            target: None,
            spf: 1,
            next_tag: 1,
            next_id: 1,
            requests: HashMap::new(),
            pending: VecDeque::new(),
            retransmit: VecDeque::new(),
            inflight: HashMap::new(),
            deadlines: BTreeSet::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            recover: None,
            backoff: None,
            reordering: 0,
            answered: VecDeque::new(),
            highest_answered: None,
            discovery: VecDeque::new(),
            discovery_tags: HashSet::new(),
            discovered: HashSet::new(),
            events: VecDeque::new(),
            srtt: None,
            rttvar: Duration::ZERO,
            rto,
            cwnd: 1.0,
            drop_every: 0,
            rx_count: 0,
            stats: ClientStats::default(),
        }
    }

    /// Our MAC address.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// The attached target.
    pub fn target(&self) -> Option<&TargetInfo> {
        self.target.as_ref()
    }

    /// Sectors per command used with the attached target.
    pub fn sectors_per_frame(&self) -> u8 {
        self.spf
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// The current retransmission time-out.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// Outstanding-command limit in force now.
    pub fn window(&self) -> usize {
        (self.cwnd as usize).clamp(1, self.max_window())
    }

    /// The window is not cut below this: enough commands outstanding that
    /// a single loss is followed by `dup_threshold` answers and found by
    /// fast retransmit rather than a time-out (TCP keeps two segments).
    fn min_window(&self) -> f64 {
        let dup = self.dup_threshold().min(64) as usize;
        (dup + 1).min(self.max_window()) as f64
    }

    fn max_window(&self) -> usize {
        let bufcnt = self.target.as_ref().map_or(1, |t| t.buffer_count.max(1));
        usize::from(bufcnt.min(self.cfg.max_window.max(1)))
    }

    /// Test hook: drop every `n`th received frame before looking at it (0
    /// disables), to exercise retransmission.
    #[doc(hidden)]
    pub fn set_drop_every(&mut self, n: u64) {
        self.drop_every = n;
    }

    /// True if no request is waiting for an answer.
    pub fn is_idle(&self) -> bool {
        self.requests.is_empty()
    }

    /// Broadcasts a query config to `shelf.slot` (0xffff / 0xff: all).
    /// Answers arrive as [`Event::Discovered`], each target once per call.
    pub fn discover(&mut self, now: Instant, shelf: u16, slot: u8) {
        let _ = now;
        let tag = DISCOVERY_TAG | (self.take_tag() & !DISCOVERY_TAG);
        self.discovered.clear();
        self.discovery_tags.insert(tag);
        self.discovery.push_back((shelf, slot, tag));
    }

    /// Uses `target` for the following requests.
    pub fn attach(&mut self, target: TargetInfo) {
        let ours = crate::target::sectors_per_frame(self.cfg.mtu);
        self.spf = target.sectors_per_frame.min(ours).max(1);
        self.target = Some(target);
        self.cwnd = self.max_window() as f64;
    }

    fn take_tag(&mut self) -> u32 {
        let t = self.next_tag;
        self.next_tag = (self.next_tag + 1) & !DISCOVERY_TAG;
        if self.next_tag == 0 {
            self.next_tag = 1;
        }
        t
    }

    fn new_request(&mut self, kind: Kind, data: Vec<u8>, frames: u32) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        self.requests.insert(
            id,
            Request {
                kind,
                data,
                frames_left: frames,
            },
        );
        id
    }

    fn check_range(&self, lba: u64, sectors: u64) -> Result<(), Error> {
        if self.target.is_none() {
            return Err(Error::InvalidRequest("no target attached"));
        }
        if sectors == 0 {
            return Err(Error::InvalidRequest("zero sectors"));
        }
        match lba.checked_add(sectors) {
            Some(end) if end <= AtaHeader::MAX_LBA + 1 => Ok(()),
            _ => Err(Error::InvalidRequest("range past LBA48")),
        }
    }

    fn queue_io(&mut self, id: RequestId, lba: u64, sectors: u64, write: bool) {
        let spf = u64::from(self.spf);
        let mut s = 0;
        while s < sectors {
            let n = (sectors - s).min(spf);
            let first = lba + s;
            // LBA28 commands where they reach, LBA48 (EXT) beyond.
            let ext = first + n > crate::ata::LBA28_LIMIT;
            let (code, flags) = match (write, ext) {
                (false, false) => (cmd::READ_SECTORS, 0),
                (false, true) => (cmd::READ_SECTORS_EXT, AtaFlags::EXTENDED),
                (true, false) => (cmd::WRITE_SECTORS, AtaFlags::WRITE),
                (true, true) => (cmd::WRITE_SECTORS_EXT, AtaFlags::WRITE | AtaFlags::EXTENDED),
            };
            let mut lba_field = first;
            if !ext {
                // Device register: LBA mode (0x40) and the obsolete 0xa0
                // bits, over LBA bits 24-27.
                lba_field |= 0xe0 << 24;
            }
            self.pending.push_back(Cmd {
                req: id,
                ata: AtaHeader {
                    aflags: AtaFlags(flags),
                    err_feature: 0,
                    sector_count: n as u8,
                    cmd_status: code,
                    lba: lba_field,
                },
                offset: (s as usize) * SECTOR_SIZE,
                len: (n as usize) * SECTOR_SIZE,
                barrier: false,
                slow: false,
            });
            s += n;
        }
    }

    fn frames_for(&self, sectors: u64) -> u32 {
        sectors.div_ceil(u64::from(self.spf)) as u32
    }

    /// Reads `sectors` 512-byte sectors from `lba`.
    pub fn read(&mut self, lba: u64, sectors: u32) -> Result<RequestId, Error> {
        let sectors = u64::from(sectors);
        self.check_range(lba, sectors)?;
        let frames = self.frames_for(sectors);
        let id = self.new_request(Kind::Read, vec![0; sectors as usize * SECTOR_SIZE], frames);
        self.queue_io(id, lba, sectors, false);
        Ok(id)
    }

    /// Writes `data` (a multiple of 512 bytes) at `lba`.
    pub fn write(&mut self, lba: u64, data: Vec<u8>) -> Result<RequestId, Error> {
        if data.len() % SECTOR_SIZE != 0 {
            return Err(Error::InvalidRequest("data is not a multiple of 512 bytes"));
        }
        let sectors = (data.len() / SECTOR_SIZE) as u64;
        self.check_range(lba, sectors)?;
        let frames = self.frames_for(sectors);
        let id = self.new_request(Kind::Write, data, frames);
        self.queue_io(id, lba, sectors, true);
        Ok(id)
    }

    fn single(&mut self, kind: Kind, code: u8, flags: u8, count: u8) -> Result<RequestId, Error> {
        if self.target.is_none() {
            return Err(Error::InvalidRequest("no target attached"));
        }
        let id = self.new_request(kind, Vec::new(), 1);
        self.pending.push_back(Cmd {
            req: id,
            ata: AtaHeader {
                aflags: AtaFlags(flags),
                err_feature: 0,
                sector_count: count,
                cmd_status: code,
                lba: if flags & AtaFlags::EXTENDED != 0 {
                    0
                } else {
                    0xe0 << 24
                },
            },
            offset: 0,
            len: 0,
            barrier: kind == Kind::Flush,
            slow: kind == Kind::Flush,
        });
        Ok(id)
    }

    /// Flushes the target's cache once every earlier command is answered.
    ///
    /// Sends FLUSH CACHE (0xE7): vblade answers FLUSH CACHE EXT with ABRT.
    pub fn flush(&mut self) -> Result<RequestId, Error> {
        self.single(Kind::Flush, cmd::FLUSH_CACHE, 0, 0)
    }

    /// Asks for IDENTIFY DEVICE data.
    pub fn identify(&mut self) -> Result<RequestId, Error> {
        self.single(Kind::Identify, cmd::IDENTIFY_DEVICE, 0, 1)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Moves commands whose time-out expired to the retransmit queue and
    /// fails requests that ran out of retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, tag)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(inf) = self.inflight.get(&tag) else {
                continue;
            };
            self.stats.timeouts += 1;
            let (slow, seq) = (inf.cmd.slow, inf.seq);
            if !slow && self.backoff.is_none_or(|b| seq > b) {
                // One back-off per time-out: commands sent before the last
                // back-off had their deadlines from the old time-out, and
                // their expiry is the same signal.
                self.rto = (self.rto * 2).min(self.cfg.rto_max);
                self.backoff = self.next_seq.checked_sub(1);
            }
            if !slow {
                let undo = self.cut_window(seq);
                if let Some(inf) = self.inflight.get_mut(&tag) {
                    inf.suspect = Some(inf.suspect.map_or(undo, |u| u.or(undo)));
                    inf.timed_out = true;
                }
            }
            self.lost(tag);
        }
    }

    /// Outstanding commands that count against the window: those that no
    /// answer to a later command has passed yet. Passed ones are probably
    /// lost; letting new commands take their place (TCP's limited
    /// transmit, RFC 3042, and pipe, RFC 6675) brings the answers that
    /// confirm the loss, instead of a time-out when the window is small.
    /// They are the oldest in send order.
    fn pipe(&self) -> usize {
        if self.cfg.dup_threshold == 0 {
            return self.inflight.len();
        }
        let passed = self
            .order
            .values()
            .take_while(|t| self.inflight.get(t).is_some_and(|i| i.skipped > 0))
            .count();
        self.inflight.len() - passed
    }

    /// The fast-retransmit threshold in force: the configured one, raised
    /// to the reordering seen (up to half the largest window).
    fn dup_threshold(&self) -> u32 {
        if self.cfg.dup_threshold == 0 {
            return 0;
        }
        let cap = (self.max_window() / 2).max(1) as u32;
        self.cfg
            .dup_threshold
            .max(self.reordering.saturating_add(1).min(cap))
    }

    /// Halves the window for the loss of the command sent as `seq`, unless
    /// the window was already cut after it was sent. Returns the window
    /// before the cut, if there was one.
    fn cut_window(&mut self, seq: u64) -> Option<f64> {
        if self.recover.is_some_and(|r| seq <= r) {
            return None;
        }
        let before = self.cwnd;
        self.cwnd = (self.cwnd / 2.0).max(self.min_window());
        self.recover = self.next_seq.checked_sub(1);
        self.stats.window_cuts += 1;
        Some(before)
    }

    /// Queues the outstanding command `tag` for retransmission, or fails its
    /// request if it ran out of retries.
    fn lost(&mut self, tag: u32) {
        let Some(inf) = self.inflight.get(&tag) else {
            return;
        };
        self.order.remove(&inf.seq);
        self.deadlines.remove(&(inf.deadline, tag));
        if inf.retries >= self.cfg.max_retries {
            let (req, retries) = (inf.cmd.req, inf.retries);
            self.fail(req, Error::Timeout { retries });
            return;
        }
        if !self.retransmit.contains(&tag) {
            self.retransmit.push_back(tag);
        }
    }

    /// The time-out of a (re)transmission of `c` after `retries` earlier
    /// ones.
    fn timeout_for(&self, c: &Cmd, retries: u32) -> Duration {
        if c.slow {
            let cap = self.cfg.rto_max.max(self.cfg.slow_rto);
            let base = self.rto.max(self.cfg.slow_rto);
            base.saturating_mul(1 << retries.min(16)).min(cap)
        } else {
            self.rto
        }
    }

    fn fail(&mut self, req: RequestId, e: Error) {
        if self.requests.remove(&req).is_none() {
            return;
        }
        self.pending.retain(|c| c.req != req);
        let tags: Vec<u32> = self
            .inflight
            .iter()
            .filter(|(_, i)| i.cmd.req == req)
            .map(|(t, _)| *t)
            .collect();
        for t in tags {
            if let Some(i) = self.inflight.remove(&t) {
                self.deadlines.remove(&(i.deadline, t));
                self.order.remove(&i.seq);
            }
        }
        self.retransmit.retain(|t| self.inflight.contains_key(t));
        self.events.push_back(Event::Done {
            id: req,
            result: Err(e),
        });
    }

    /// Writes the next frame to send into `buf` (at least MTU + 14 bytes)
    /// and returns its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some((shelf, slot, tag)) = self.discovery.pop_front() {
            let f = Frame {
                eth: EthernetHeader {
                    dst: MacAddr::BROADCAST,
                    src: self.mac,
                    ethertype: ETHERTYPE_AOE,
                },
                aoe: AoeHeader::request(shelf, slot, Command::QUERY_CONFIG, tag),
                body: Body::Config(
                    ConfigHeader {
                        buffer_count: 0,
                        firmware_version: 0,
                        sectors_per_frame: 0,
                        aoe_version: wire::AOE_VERSION,
                        ccmd: ConfigCommand::READ,
                    },
                    &[],
                ),
            };
            self.stats.sent += 1;
            return f.emit(buf).ok();
        }
        while let Some(tag) = self.retransmit.pop_front() {
            let seq = self.next_seq;
            let Some(inf) = self.inflight.get(&tag) else {
                continue;
            };
            let timeout = self.timeout_for(&inf.cmd, inf.retries + 1);
            let Some(inf) = self.inflight.get_mut(&tag) else {
                continue;
            };
            inf.retries += 1;
            inf.retransmitted = true;
            inf.sent = now;
            inf.deadline = now + timeout;
            inf.seq = seq;
            inf.skipped = 0;
            let c = inf.cmd;
            self.next_seq += 1;
            self.order.insert(seq, tag);
            self.deadlines.insert((now + timeout, tag));
            self.stats.retransmits += 1;
            self.stats.sent += 1;
            return self.emit_cmd(&c, tag, buf);
        }
        let head = self.pending.front()?;
        if self.pipe() >= self.window()
            || self.inflight.len() >= self.max_window()
            || (head.barrier && !self.inflight.is_empty())
        {
            return None;
        }
        let c = self.pending.pop_front()?;
        let tag = self.take_tag();
        let deadline = now + self.timeout_for(&c, 0);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.inflight.insert(
            tag,
            Inflight {
                cmd: c,
                sent: now,
                deadline,
                retries: 0,
                retransmitted: false,
                seq,
                skipped: 0,
                first_seq: seq,
                suspect: None,
                timed_out: false,
            },
        );
        self.order.insert(seq, tag);
        self.deadlines.insert((deadline, tag));
        self.stats.sent += 1;
        self.emit_cmd(&c, tag, buf)
    }

    fn emit_cmd(&self, c: &Cmd, tag: u32, buf: &mut [u8]) -> Option<usize> {
        let t = self.target.as_ref()?;
        let req = self.requests.get(&c.req)?;
        let data: &[u8] = if req.kind == Kind::Write {
            req.data.get(c.offset..c.offset + c.len)?
        } else {
            &[]
        };
        Frame {
            eth: EthernetHeader {
                dst: t.mac,
                src: self.mac,
                ethertype: ETHERTYPE_AOE,
            },
            aoe: AoeHeader::request(t.shelf, t.slot, Command::ATA, tag),
            body: Body::Ata(c.ata, data),
        }
        .emit(buf)
        .ok()
    }

    /// The command sent as `seq` was answered: commands sent before it and
    /// still unanswered were skipped once more; those skipped
    /// `dup_threshold` times are lost. Slow commands (FLUSH) are left to
    /// their own time-out: a target may answer later commands while it
    /// syncs.
    fn fast_retransmit(&mut self, seq: u64) {
        let threshold = self.dup_threshold();
        if threshold == 0 {
            return;
        }
        let mut lost = Vec::new();
        for (&s, tag) in self.order.range(..seq) {
            if let Some(inf) = self.inflight.get_mut(tag) {
                if inf.cmd.slow {
                    continue;
                }
                inf.skipped += 1;
                if inf.skipped >= threshold {
                    lost.push((s, *tag));
                }
            }
        }
        for (s, tag) in lost {
            self.stats.fast_retransmits += 1;
            let undo = self.cut_window(s);
            if let Some(inf) = self.inflight.get_mut(&tag) {
                // A second fast retransmission keeps the first one's undo
                // (a cut, once undone, is not undone again).
                inf.suspect = Some(inf.suspect.flatten().or(undo));
            }
            self.lost(tag);
        }
    }

    /// A second answer to `tag`: if it was retransmitted, both the first
    /// transmission and the retransmission were answered, so the first
    /// answer was late, not lost. Undo the window cut that loss caused and,
    /// for a fast retransmission, raise the threshold to the reordering
    /// seen.
    fn duplicate(&mut self, tag: u32) {
        let Some(i) = self.answered.iter().position(|a| a.tag == tag) else {
            return;
        };
        let Some(a) = self.answered.remove(i) else {
            return;
        };
        self.stats.spurious += 1;
        if !a.timed_out {
            self.reordering = self.reordering.max(a.distance);
        }
        if let Some(before) = a.undo {
            self.cwnd = self.cwnd.max(before).min(self.max_window() as f64);
        }
    }

    fn sample_rtt(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        let rto = srtt + (self.rttvar * 4).max(Duration::from_millis(1));
        self.rto = rto.clamp(self.cfg.rto_min, self.cfg.rto_max);
    }

    /// Feeds one received frame. Frames that are not answers to us are
    /// ignored.
    pub fn handle(&mut self, now: Instant, frame: &[u8]) {
        self.rx_count += 1;
        if self.drop_every > 0 && self.rx_count % self.drop_every == 0 {
            self.stats.dropped += 1;
            return;
        }
        let Ok((eth, aoe, args)) = wire::parse_headers(frame) else {
            return;
        };
        if !aoe.flags.response || (eth.dst != self.mac && !eth.dst.is_broadcast()) {
            return;
        }
        if aoe.command == Command::QUERY_CONFIG {
            self.handle_config(&eth, &aoe, args);
            return;
        }
        if aoe.command != Command::ATA {
            return;
        }
        let Some(t) = &self.target else { return };
        if eth.src != t.mac || aoe.major != t.shelf || aoe.minor != t.slot {
            return;
        }
        let Some(inf) = self.inflight.remove(&aoe.tag) else {
            // A late duplicate of an answered command.
            self.duplicate(aoe.tag);
            return;
        };
        if let Some(undo) = inf.suspect {
            if self.answered.len() == ANSWERED_KEPT {
                self.answered.pop_front();
            }
            let distance = self
                .highest_answered
                .map_or(0, |h| h.saturating_sub(inf.first_seq));
            self.answered.push_back(Answered {
                tag: aoe.tag,
                undo,
                distance: distance.min(u64::from(u32::MAX)) as u32,
                timed_out: inf.timed_out,
            });
        }
        self.highest_answered = self.highest_answered.max(Some(inf.first_seq));
        self.deadlines.remove(&(inf.deadline, aoe.tag));
        self.retransmit.retain(|t| *t != aoe.tag);
        self.order.remove(&inf.seq);
        self.stats.replies += 1;
        if !inf.retransmitted && !inf.cmd.slow {
            self.sample_rtt(now.saturating_duration_since(inf.sent));
        }
        // An answer to a retransmitted command may be the late answer to
        // its first transmission: count it as overtaking only what was
        // sent before that.
        self.fast_retransmit(if inf.retransmitted {
            inf.first_seq
        } else {
            inf.seq
        });
        let maxw = self.max_window() as f64;
        self.cwnd = (self.cwnd + 1.0 / self.cwnd.max(1.0)).min(maxw);
        let req_id = inf.cmd.req;
        if aoe.flags.error {
            self.fail(req_id, Error::Aoe(aoe.error));
            return;
        }
        let h = match AtaHeader::parse(args) {
            Ok(h) => h,
            Err(e) => return self.fail(req_id, e.into()),
        };
        if AtaStatus(h.cmd_status).is_err() {
            self.fail(
                req_id,
                Error::Ata {
                    status: AtaStatus(h.cmd_status),
                    error: h.err_feature,
                },
            );
            return;
        }
        let data = &args[AtaHeader::LEN..];
        let Some(req) = self.requests.get_mut(&req_id) else {
            return;
        };
        match req.kind {
            Kind::Read => {
                let Some(src) = data.get(..inf.cmd.len) else {
                    return self.fail(req_id, ParseError::Truncated { field: "ata data" }.into());
                };
                req.data[inf.cmd.offset..inf.cmd.offset + inf.cmd.len].copy_from_slice(src);
            }
            Kind::Identify => {
                let Some(src) = data.get(..512) else {
                    return self.fail(
                        req_id,
                        ParseError::Truncated {
                            field: "identify data",
                        }
                        .into(),
                    );
                };
                req.data = src.to_vec();
            }
            Kind::Write | Kind::Flush => {}
        }
        req.frames_left -= 1;
        if req.frames_left == 0 {
            if let Some(req) = self.requests.remove(&req_id) {
                let result = match req.kind {
                    Kind::Read => Completion::Read(req.data),
                    Kind::Identify => Completion::Identify(req.data),
                    Kind::Write => Completion::Written,
                    Kind::Flush => Completion::Flushed,
                };
                self.events.push_back(Event::Done {
                    id: req_id,
                    result: Ok(result),
                });
            }
        }
    }

    fn handle_config(&mut self, eth: &EthernetHeader, aoe: &AoeHeader, args: &[u8]) {
        if !self.discovery_tags.contains(&aoe.tag) || aoe.flags.error {
            return;
        }
        let Ok((h, s)) = ConfigHeader::parse(args) else {
            return;
        };
        if !self.discovered.insert((eth.src, aoe.major, aoe.minor)) {
            return;
        }
        self.events.push_back(Event::Discovered(TargetInfo {
            mac: eth.src,
            shelf: aoe.major,
            slot: aoe.minor,
            buffer_count: h.buffer_count,
            firmware_version: h.firmware_version,
            sectors_per_frame: h.sectors_per_frame,
            aoe_version: h.aoe_version,
            config: s.to_vec(),
        }));
    }
}

/// Bytes a transmit buffer needs for an MTU: the Ethernet header plus the
/// MTU, at least 60.
pub fn tx_buffer_len(mtu: usize) -> usize {
    (mtu + wire::ETH_HEADER_LEN)
        .max(wire::MIN_FRAME_LEN)
        .max(HEADER_LEN)
}

#[cfg(test)]
mod tests;
