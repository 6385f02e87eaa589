//! The target side of the full feature phase (RFC 7143 §3.2, §4.2, §11),
//! sans-IO, for one connection of a normal session at ErrorRecoveryLevel 0.
//!
//! [`TargetSession`] is fed the PDUs the initiator sends ([`TargetSession::handle_pdu`])
//! and time ([`TargetSession::handle_timeout`]); it returns the PDUs to send
//! ([`TargetSession::poll_pdu`]) and the work for the SCSI layer
//! ([`TargetSession::poll_event`]). The caller executes each
//! [`Event::Execute`] however it likes (on a thread pool: commands of one
//! session run concurrently, the disk is not a lock) and reports the result
//! with [`TargetSession::handle_completion`].
//!
//! What it does:
//! * command numbering: ExpCmdSN/MaxCmdSN window, immediate commands,
//!   out-of-window commands dropped (§4.2.2.1), StatSN on every response;
//! * writes: immediate data, unsolicited Data-Out up to FirstBurstLength,
//!   R2T for the rest in MaxBurstLength pieces with at most
//!   MaxOutstandingR2T outstanding per task, and a per-session budget of
//!   solicited bytes so that memory stays bounded whatever the initiator
//!   announces;
//! * reads: Data-In in pieces of the initiator's MaxRecvDataSegmentLength,
//!   F bit at every MaxBurstLength, status in the last Data-In when there is
//!   no sense data (§11.7.4), residual counts (§11.4.5);
//! * NOP-Out answered, NOP-In pings on an idle connection and a time-out for
//!   a dead initiator; Text requests (SendTargets) in full feature phase;
//!   task management (ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL
//!   UNIT RESET, TARGET WARM/COLD RESET); Logout; Reject for what ERL 0 does
//!   not support (SNACK) and for malformed requests.
//!
//! (One file of ~950 lines on purpose: the command window, R2T and
//! Data-Out tracking, task management and NOP pings share the task table
//! of one connection.)

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::discovery::{SeqNums, TextResponder};
use crate::login::{LoginResult, TargetConfig};
use crate::negotiate::{Role, SessionParams};
use crate::wire::{
    Ahs, Bhs, DataIn, DataOut, LogoutRequest, LogoutResponse, LogoutResponseCode, NopIn, NopOut,
    Pdu, R2t, Reject, RejectReason, ScsiCommand, ScsiResponse, ScsiResponseCode, TaskMgmtRequest,
    TaskMgmtResponse, TmFunction, TmResponse, RESERVED_TAG,
};
use crate::{Error, ParseError};

pub use netboot_scsi::Status;

/// Limits and timers of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Largest Expected Data Transfer Length accepted for one command;
    /// larger commands end with CHECK CONDITION before any data is taken.
    /// Set it to what the SCSI layer reports (the default, 8 MiB, is
    /// `netboot-scsi`'s `LuOptions::max_transfer_bytes` default).
    pub max_transfer: u32,
    /// Write data solicited with R2T but not yet executed, per session.
    pub r2t_budget: u32,
    /// Idle time before a NOP-In ping.
    pub nop_interval: Duration,
    /// Time a ping may go unanswered before the initiator counts as dead.
    pub nop_timeout: Duration,
    /// Idle time before the session's first ping, when shorter than
    /// `nop_interval` (None: `nop_interval`). An early first ping tells an
    /// initiator that answers pings (Linux, libiscsi) from one that does
    /// not (iPXE) before anyone needs to [`probe`](TargetSession::probe)
    /// it; netbootd sets it.
    pub first_ping: Option<Duration>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_transfer: 8 << 20,
            r2t_budget: 32 << 20,
            nop_interval: Duration::from_secs(10),
            nop_timeout: Duration::from_secs(20),
            first_ping: None,
        }
    }
}

/// Work for the SCSI layer, or a connection-level request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Execute a SCSI command and call [`TargetSession::handle_completion`] with `id`.
    Execute {
        /// Handle for [`TargetSession::handle_completion`].
        id: u64,
        /// Logical unit number (flat, as the initiator encoded it).
        lun: u64,
        /// The CDB (16 bytes, plus any extended CDB from the AHS).
        cdb: Bytes,
        /// Write data, complete.
        data_out: Bytes,
        /// Expected Data Transfer Length for reads (bytes the initiator takes).
        read_len: u32,
    },
    /// LOGICAL UNIT RESET: reset the unit's state for every nexus.
    LunReset(u64),
    /// TARGET WARM/COLD RESET.
    TargetReset,
}

/// The SCSI layer's answer to [`Event::Execute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// SCSI status.
    pub status: Status,
    /// Sense data for CHECK CONDITION.
    pub sense: Option<Bytes>,
    /// Data for the initiator (may be longer than it expects: the rest is
    /// reported as overflow residual).
    pub data_in: Bytes,
    /// For a write: the bytes of Data-Out the command asked for (its SCSI
    /// transfer length), so that a difference to the Expected Data Transfer
    /// Length is reported as residual (§11.4.5.2).
    pub write_len: Option<u64>,
}

/// Whether a write task still waits for data, or runs.
#[derive(Debug)]
enum Phase {
    Collecting,
    Executing,
}

#[derive(Debug)]
struct Task {
    itt: u32,
    lun: u64,
    cdb: Bytes,
    read: bool,
    edtl: u32,
    phase: Phase,
    data: BytesMut,
    received: u32,
    /// End of the unsolicited region (immediate + unsolicited Data-Out).
    unsolicited_end: u32,
    /// Next offset to solicit with an R2T.
    next_r2t: u32,
    /// Outstanding R2Ts: TTT -> (offset, length, received, next DataSN).
    r2ts: HashMap<u32, (u32, u32, u32, u32)>,
    /// Next DataSN and offset of the unsolicited Data-Out sequence.
    unsol_data_sn: u32,
    unsol_next: u32,
    r2t_sn: u32,
    /// Bytes of this task counted against the session's R2T budget.
    budget: u32,
    aborted: bool,
    /// ABORT TASK requests (their ITTs) that arrived while the command ran:
    /// its disk I/O cannot be taken back, so it completes and they are
    /// answered "task does not exist" after its response.
    abort_waiters: Vec<u32>,
}

/// One connection of a normal session in full feature phase.
#[derive(Debug)]
pub struct TargetSession {
    /// Commands the initiator may queue ([`TargetConfig::cmd_window`]).
    queue_depth: u32,
    cfg: SessionConfig,
    target: Arc<TargetConfig>,
    params: SessionParams,
    stat_sn: u32,
    exp_cmd_sn: u32,
    max_cmd_sn: u32,
    /// Commands that arrived ahead of ExpCmdSN.
    pending: BTreeMap<u32, Pdu>,
    tasks: HashMap<u32, Task>,
    /// Execute ids -> ITT.
    running: HashMap<u64, u32>,
    next_id: u64,
    next_ttt: u32,
    /// Solicited write bytes in flight or collected, not yet executed.
    budget_used: u32,
    /// Tasks waiting for R2T budget, in arrival order.
    r2t_wait: VecDeque<u32>,
    out: VecDeque<Pdu>,
    events: VecDeque<Event>,
    text: TextResponder,
    last_rx: Instant,
    ping: Option<Ping>,
    /// The initiator answered a ping once: it is one that answers (iPXE
    /// never does, and must not be given up on a probe's short deadline).
    answers_pings: bool,
    /// The TTT of the last ping sent (0: none yet).
    last_ping_ttt: u32,
    closing: bool,
    closed: bool,
}

/// A NOP-In ping waiting for its answer.
#[derive(Debug, Clone, Copy)]
struct Ping {
    sent: Instant,
    /// When the initiator counts as gone if no answer came.
    deadline: Instant,
}

/// Serial number arithmetic (RFC 1982) on 32 bits: `a < b`.
fn sn_lt(a: u32, b: u32) -> bool {
    a != b && (b.wrapping_sub(a) as i32) > 0
}

impl TargetSession {
    /// Starts the full feature phase after a successful login, at `now`:
    /// a connection that sends nothing from then on is pinged after
    /// [`SessionConfig::nop_interval`] and given up after
    /// [`SessionConfig::nop_timeout`] more.
    pub fn new(
        login: &LoginResult,
        target: Arc<TargetConfig>,
        cfg: SessionConfig,
        now: Instant,
    ) -> Self {
        let exp_cmd_sn = login.cmd_sn;
        // One window for the login's MaxCmdSN and the session's.
        let queue_depth = target.cmd_window.max(1);
        TargetSession {
            max_cmd_sn: exp_cmd_sn.wrapping_add(queue_depth - 1),
            queue_depth,
            cfg,
            target,
            params: login.params.clone(),
            stat_sn: login.stat_sn,
            exp_cmd_sn,
            pending: BTreeMap::new(),
            tasks: HashMap::new(),
            running: HashMap::new(),
            next_id: 1,
            next_ttt: 1,
            budget_used: 0,
            r2t_wait: VecDeque::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            text: TextResponder::default(),
            last_rx: now,
            ping: None,
            answers_pings: false,
            last_ping_ttt: 0,
            closing: false,
            closed: false,
        }
    }

    /// The negotiated parameters.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// Largest data segment this side may send.
    fn max_send(&self) -> u32 {
        self.params
            .max_send_data_segment_length(Role::Target)
            .clamp(512, 0x00ff_ffff)
    }

    fn sn(&mut self, advance: bool) -> SeqNums {
        let s = SeqNums {
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn,
        };
        if advance {
            self.stat_sn = self.stat_sn.wrapping_add(1);
        }
        s
    }

    /// Recomputes MaxCmdSN from the free queue slots; it never shrinks.
    fn update_window(&mut self) {
        let busy = self.tasks.len() as u32;
        let free = self.queue_depth.saturating_sub(busy).max(1);
        let candidate = self.exp_cmd_sn.wrapping_add(free - 1);
        if sn_lt(self.max_cmd_sn, candidate) {
            self.max_cmd_sn = candidate;
        }
    }

    fn reject(&mut self, pdu: &Pdu, reason: RejectReason) {
        let mut raw = [0u8; crate::wire::BHS_LEN];
        pdu.header.emit(&mut raw);
        let sn = self.sn(true);
        self.out.push_back(Pdu::with_data(
            Reject {
                reason,
                stat_sn: sn.stat_sn,
                exp_cmd_sn: sn.exp_cmd_sn,
                max_cmd_sn: sn.max_cmd_sn,
                data_sn: 0,
            },
            Bytes::copy_from_slice(&raw),
        ));
    }

    /// Feeds one PDU from the initiator. An `Err` is fatal for the
    /// connection (ERL 0): close it.
    pub fn handle_pdu(&mut self, now: Instant, pdu: Pdu) -> Result<(), Error> {
        self.last_rx = self.last_rx.max(now);
        if self.closed {
            return Ok(());
        }
        // Anything the initiator sends after a ping shows it is alive (a
        // busy one may answer the ping behind its commands).
        if let Some(p) = self.ping {
            if now >= p.sent {
                self.ping = None;
            }
        }
        // Every request carries ExpStatSN: nothing to do with it at ERL 0.
        match pdu.header {
            Bhs::ScsiCommand(c) if c.immediate => {
                self.scsi_command(c, &pdu);
            }
            Bhs::ScsiCommand(c) => self.ordered(c.cmd_sn, pdu),
            Bhs::DataOut(d) => self.data_out(d, pdu.data)?,
            Bhs::NopOut(n) => self.nop_out(n, &pdu),
            Bhs::TaskMgmtRequest(t) => {
                if !t.immediate && !self.take_cmd_sn(t.cmd_sn) {
                    return Ok(());
                }
                self.task_mgmt(t);
            }
            Bhs::TextRequest(t) => {
                if !t.immediate && !self.take_cmd_sn(t.cmd_sn) {
                    return Ok(());
                }
                let max = self.max_send() as usize;
                let sn = self.sn(true);
                match self.text.handle(&pdu, &self.target, &self.params, max, sn) {
                    Ok(resp) => self.out.push_back(resp),
                    Err(_) => {
                        // The StatSN went to the Reject instead.
                        self.stat_sn = self.stat_sn.wrapping_sub(1);
                        self.reject(&pdu, RejectReason::ProtocolError);
                    }
                }
            }
            Bhs::LogoutRequest(l) => {
                if !l.immediate && !self.take_cmd_sn(l.cmd_sn) {
                    return Ok(());
                }
                self.logout(l);
            }
            Bhs::SnackRequest(_) => self.reject(&pdu, RejectReason::CommandNotSupported),
            Bhs::LoginRequest(_) => self.reject(&pdu, RejectReason::ProtocolError),
            Bhs::Vendor(_) => self.reject(&pdu, RejectReason::CommandNotSupported),
            // Target-to-initiator opcodes from an initiator.
            _ => self.reject(&pdu, RejectReason::ProtocolError),
        }
        Ok(())
    }

    /// Accepts a non-immediate command's CmdSN if it is the next one.
    fn take_cmd_sn(&mut self, cmd_sn: u32) -> bool {
        if cmd_sn == self.exp_cmd_sn {
            self.exp_cmd_sn = self.exp_cmd_sn.wrapping_add(1);
            self.update_window();
            true
        } else {
            false
        }
    }

    /// Orders non-immediate SCSI commands by CmdSN.
    fn ordered(&mut self, cmd_sn: u32, pdu: Pdu) {
        if sn_lt(cmd_sn, self.exp_cmd_sn) || sn_lt(self.max_cmd_sn, cmd_sn) {
            // Outside the window: silently ignored (§4.2.2.1).
            return;
        }
        if cmd_sn != self.exp_cmd_sn {
            self.pending.insert(cmd_sn, pdu);
            return;
        }
        self.exp_cmd_sn = self.exp_cmd_sn.wrapping_add(1);
        if let Bhs::ScsiCommand(c) = pdu.header {
            self.scsi_command(c, &pdu);
        }
        while let Some(next) = self.pending.remove(&self.exp_cmd_sn) {
            self.exp_cmd_sn = self.exp_cmd_sn.wrapping_add(1);
            if let Bhs::ScsiCommand(c) = next.header {
                self.scsi_command(c, &next);
            }
        }
        self.update_window();
    }

    fn scsi_command(&mut self, c: ScsiCommand, pdu: &Pdu) {
        if self.tasks.contains_key(&c.itt) || c.itt == RESERVED_TAG {
            return self.reject(pdu, RejectReason::TaskInProgress);
        }
        let mut cdb = BytesMut::from(&c.cdb[..]);
        for a in &pdu.ahs {
            if let Ahs::ExtendedCdb(ext) = a {
                cdb.extend_from_slice(ext);
            }
        }
        let cdb = cdb.freeze();
        if c.write && c.expected_data_transfer_length > self.cfg.max_transfer {
            // INVALID FIELD IN CDB: the write would have more data
            // solicited than the block limits VPD page allows. A read's
            // EDTL only caps the data sent (a READ of one block with EDTL
            // 0xFFFFFFFF gets its block and an underflow residual, RFC 7143
            // §11.4.5.2); its size is the SCSI layer's to check.
            return self.respond_sense(c.itt, &invalid_field_in_cdb(), 0);
        }
        if c.write && c.read {
            // Bidirectional commands are not supported by this target.
            return self.respond_sense(c.itt, &invalid_field_in_cdb(), 0);
        }
        let mut task = Task {
            itt: c.itt,
            lun: c.lun,
            cdb,
            read: c.read,
            edtl: c.expected_data_transfer_length,
            phase: Phase::Collecting,
            data: BytesMut::new(),
            received: 0,
            unsolicited_end: 0,
            next_r2t: 0,
            r2ts: HashMap::new(),
            unsol_data_sn: 0,
            unsol_next: 0,
            r2t_sn: 0,
            budget: 0,
            aborted: false,
            abort_waiters: Vec::new(),
        };
        if !c.write || task.edtl == 0 {
            if !pdu.data.is_empty() && !c.write {
                // Immediate data on a command without the W bit.
                return self.reject(pdu, RejectReason::ProtocolError);
            }
            self.tasks.insert(c.itt, task);
            return self.execute(c.itt);
        }
        let immediate = pdu.data.len() as u32;
        let first_burst = self.params.first_burst_length.min(task.edtl);
        if immediate > first_burst || (immediate > 0 && !self.params.immediate_data) {
            return self.reject(pdu, RejectReason::ProtocolError);
        }
        if immediate > 0 {
            task.data.extend_from_slice(&pdu.data);
            task.received = immediate;
        }
        task.unsol_next = immediate;
        // Unsolicited Data-Out follows unless InitialR2T=Yes or F=1.
        task.unsolicited_end = if !self.params.initial_r2t && !c.final_ {
            first_burst
        } else {
            immediate
        };
        task.next_r2t = task.unsolicited_end;
        self.tasks.insert(c.itt, task);
        self.solicit(c.itt);
        self.maybe_execute(c.itt);
    }

    /// Sends R2Ts for a task as far as its own limit and the session budget allow.
    fn solicit(&mut self, itt: u32) {
        let max_burst = self.params.max_burst_length.max(512);
        let max_out = u32::from(self.params.max_outstanding_r2t.max(1));
        loop {
            let Some(t) = self.tasks.get(&itt) else {
                return;
            };
            if t.next_r2t >= t.edtl || t.r2ts.len() as u32 >= max_out || t.aborted {
                return;
            }
            let len = (t.edtl - t.next_r2t).min(max_burst);
            if self.budget_used.saturating_add(len) > self.cfg.r2t_budget && self.budget_used > 0 {
                if !self.r2t_wait.contains(&itt) {
                    self.r2t_wait.push_back(itt);
                }
                return;
            }
            let ttt = self.next_ttt;
            self.next_ttt = match self.next_ttt.wrapping_add(1) {
                RESERVED_TAG => 1,
                n => n,
            };
            self.budget_used += len;
            let sn = self.sn(false);
            let Some(t) = self.tasks.get_mut(&itt) else {
                return;
            };
            let offset = t.next_r2t;
            t.next_r2t += len;
            t.budget += len;
            t.r2ts.insert(ttt, (offset, len, 0, 0));
            let r2t_sn = t.r2t_sn;
            t.r2t_sn += 1;
            self.out.push_back(Pdu::new(R2t {
                lun: t.lun,
                itt,
                ttt,
                stat_sn: sn.stat_sn,
                exp_cmd_sn: sn.exp_cmd_sn,
                max_cmd_sn: sn.max_cmd_sn,
                r2t_sn,
                buffer_offset: offset,
                desired_data_transfer_length: len,
            }));
        }
    }

    fn data_out(&mut self, d: DataOut, data: Bytes) -> Result<(), Error> {
        let Some(t) = self.tasks.get_mut(&d.itt) else {
            // Data for a task that ended (aborted, or refused): dropped.
            return Ok(());
        };
        if !matches!(t.phase, Phase::Collecting) {
            return Ok(());
        }
        let len = data.len() as u32;
        let bad = |field: &'static str, value: u32| -> Error {
            ParseError::InvalidField {
                field,
                value: value.into(),
            }
            .into()
        };
        let Some(end) = d.buffer_offset.checked_add(len).filter(|&e| e <= t.edtl) else {
            return Err(bad("Buffer Offset", d.buffer_offset));
        };
        // DataPDUInOrder and DataSequenceInOrder are Yes: within a sequence,
        // DataSN counts from 0 and offsets follow each other (§11.7.5). At
        // ERL 0 a violation ends the connection.
        if d.ttt == RESERVED_TAG {
            if end > t.unsolicited_end {
                return Err(bad("Buffer Offset", d.buffer_offset));
            }
            if d.data_sn != t.unsol_data_sn {
                return Err(bad("DataSN", d.data_sn));
            }
            if d.buffer_offset != t.unsol_next {
                return Err(bad("Buffer Offset", d.buffer_offset));
            }
            t.unsol_data_sn += 1;
            t.unsol_next = end;
        } else {
            let Some(r) = t.r2ts.get_mut(&d.ttt) else {
                return Err(bad("Target Transfer Tag", d.ttt));
            };
            if d.buffer_offset != r.0 + r.2 || end > r.0 + r.1 {
                return Err(bad("Buffer Offset", d.buffer_offset));
            }
            if d.data_sn != r.3 {
                return Err(bad("DataSN", d.data_sn));
            }
            r.2 += len;
            r.3 += 1;
            if r.2 >= r.1 {
                t.r2ts.remove(&d.ttt);
            }
        }
        let off = d.buffer_offset as usize;
        if t.data.len() < end as usize {
            t.data.resize(end as usize, 0);
        }
        t.data[off..end as usize].copy_from_slice(&data);
        t.received = t.received.saturating_add(len);
        let itt = d.itt;
        self.solicit(itt);
        self.maybe_execute(itt);
        Ok(())
    }

    fn maybe_execute(&mut self, itt: u32) {
        let done = self
            .tasks
            .get(&itt)
            .is_some_and(|t| matches!(t.phase, Phase::Collecting) && t.received >= t.edtl);
        if done {
            self.execute(itt);
        }
    }

    fn execute(&mut self, itt: u32) {
        let id = self.next_id;
        self.next_id += 1;
        let Some(t) = self.tasks.get_mut(&itt) else {
            return;
        };
        t.phase = Phase::Executing;
        let data_out = std::mem::take(&mut t.data).freeze();
        self.running.insert(id, itt);
        self.events.push_back(Event::Execute {
            id,
            lun: t.lun,
            cdb: t.cdb.clone(),
            data_out,
            read_len: if t.read { t.edtl } else { 0 },
        });
    }

    /// Reports the result of [`Event::Execute`] `id`. Results for aborted
    /// tasks are dropped, as §4.2.3 asks.
    pub fn handle_completion(&mut self, id: u64, c: Completion) {
        let Some(itt) = self.running.remove(&id) else {
            return;
        };
        let Some(mut t) = self.tasks.remove(&itt) else {
            return;
        };
        self.release_budget(t.budget);
        self.update_window();
        let waiters = std::mem::take(&mut t.abort_waiters);
        if !t.aborted && !self.closed {
            self.respond_task(itt, t, c);
        }
        for tmf in waiters {
            self.tmf_response(tmf, TmResponse::TaskDoesNotExist);
        }
    }

    /// Sends the Data-In and/or SCSI Response of a completed task.
    fn respond_task(&mut self, itt: u32, t: Task, c: Completion) {
        let edtl = t.edtl;
        let produced = c.data_in.len() as u64;
        let send = if t.read {
            c.data_in.slice(..(produced.min(u64::from(edtl)) as usize))
        } else {
            Bytes::new()
        };
        // Residuals (§11.4.5): for reads, data produced against EDTL; for
        // writes, data the command wanted against what was sent is not
        // known here, so only a short EDTL read counts.
        // For reads the data produced is compared with EDTL, for writes the
        // data the command wanted.
        let wanted = if t.read { Some(produced) } else { c.write_len };
        let (overflow, underflow, residual) = match wanted {
            Some(w) if w > u64::from(edtl) => (
                true,
                false,
                (w - u64::from(edtl)).min(u64::from(u32::MAX)) as u32,
            ),
            Some(w) if w < u64::from(edtl) => (false, true, edtl - w as u32),
            _ => (false, false, 0),
        };
        let status_in_data = c.sense.is_none() && !send.is_empty();
        let max_seg = self.max_send() as usize;
        let max_burst = self.params.max_burst_length.max(512) as usize;
        let mut offset = 0usize;
        let mut data_sn = 0u32;
        while offset < send.len() {
            let burst_left = max_burst - (offset % max_burst);
            let n = (send.len() - offset).min(max_seg).min(burst_left);
            let last = offset + n == send.len();
            let final_ = last || n == burst_left;
            let with_status = last && status_in_data;
            let sn = self.sn(with_status);
            self.out.push_back(Pdu::with_data(
                DataIn {
                    final_,
                    acknowledge: false,
                    overflow: with_status && overflow,
                    underflow: with_status && underflow,
                    status: with_status.then_some(c.status.code()),
                    lun: t.lun,
                    itt,
                    ttt: RESERVED_TAG,
                    stat_sn: if with_status { sn.stat_sn } else { 0 },
                    exp_cmd_sn: sn.exp_cmd_sn,
                    max_cmd_sn: sn.max_cmd_sn,
                    data_sn,
                    buffer_offset: offset as u32,
                    residual_count: if with_status { residual } else { 0 },
                },
                send.slice(offset..offset + n),
            ));
            data_sn += 1;
            offset += n;
        }
        if status_in_data {
            return;
        }
        let data = match &c.sense {
            Some(s) => {
                let mut d = BytesMut::with_capacity(2 + s.len());
                d.extend_from_slice(&(s.len().min(0xffff) as u16).to_be_bytes());
                d.extend_from_slice(&s[..s.len().min(0xffff)]);
                d.freeze()
            }
            None => Bytes::new(),
        };
        let sn = self.sn(true);
        self.out.push_back(Pdu::with_data(
            ScsiResponse {
                bidi_overflow: false,
                bidi_underflow: false,
                overflow,
                underflow,
                response: ScsiResponseCode::CommandCompleted,
                status: c.status.code(),
                itt,
                snack_tag: 0,
                stat_sn: sn.stat_sn,
                exp_cmd_sn: sn.exp_cmd_sn,
                max_cmd_sn: sn.max_cmd_sn,
                exp_data_sn: data_sn,
                bidi_read_residual_count: 0,
                residual_count: residual,
            },
            data,
        ));
    }

    fn release_budget(&mut self, n: u32) {
        self.budget_used = self.budget_used.saturating_sub(n);
        while let Some(itt) = self.r2t_wait.pop_front() {
            let before = self.budget_used;
            self.solicit(itt);
            if self.r2t_wait.contains(&itt) && self.budget_used == before {
                break;
            }
        }
    }

    /// Ends a task at once with CHECK CONDITION and `sense`.
    fn respond_sense(&mut self, itt: u32, sense: &[u8], residual: u32) {
        let mut d = BytesMut::with_capacity(2 + sense.len());
        d.extend_from_slice(&(sense.len() as u16).to_be_bytes());
        d.extend_from_slice(sense);
        let sn = self.sn(true);
        self.out.push_back(Pdu::with_data(
            ScsiResponse {
                bidi_overflow: false,
                bidi_underflow: false,
                overflow: false,
                underflow: residual > 0,
                response: ScsiResponseCode::CommandCompleted,
                status: Status::CheckCondition.code(),
                itt,
                snack_tag: 0,
                stat_sn: sn.stat_sn,
                exp_cmd_sn: sn.exp_cmd_sn,
                max_cmd_sn: sn.max_cmd_sn,
                exp_data_sn: 0,
                bidi_read_residual_count: 0,
                residual_count: residual,
            },
            d.freeze(),
        ));
    }

    fn nop_out(&mut self, n: NopOut, pdu: &Pdu) {
        if n.ttt != RESERVED_TAG {
            // The answer to our last ping (which anything else it sent may
            // have answered first).
            if n.ttt == self.last_ping_ttt {
                self.answers_pings = true;
            }
            return;
        }
        if !n.immediate && !self.take_cmd_sn(n.cmd_sn) {
            return;
        }
        if n.itt == RESERVED_TAG {
            // A ping that wants no answer.
            return;
        }
        let sn = self.sn(true);
        self.out.push_back(Pdu::with_data(
            NopIn {
                lun: n.lun,
                itt: n.itt,
                ttt: RESERVED_TAG,
                stat_sn: sn.stat_sn,
                exp_cmd_sn: sn.exp_cmd_sn,
                max_cmd_sn: sn.max_cmd_sn,
            },
            pdu.data
                .slice(..pdu.data.len().min(self.max_send() as usize)),
        ));
    }

    fn abort_where(&mut self, f: impl Fn(&Task) -> bool) -> usize {
        let mut n = 0;
        let mut freed = 0;
        let itts: Vec<u32> = self
            .tasks
            .values()
            .filter(|t| f(t))
            .map(|t| t.itt)
            .collect();
        for itt in itts {
            let executing = matches!(self.tasks[&itt].phase, Phase::Executing);
            if executing {
                // The result is dropped when it comes.
                if let Some(t) = self.tasks.get_mut(&itt) {
                    t.aborted = true;
                }
            } else if let Some(t) = self.tasks.remove(&itt) {
                freed += t.budget;
            }
            self.r2t_wait.retain(|&w| w != itt);
            n += 1;
        }
        self.release_budget(freed);
        self.update_window();
        n
    }

    fn task_mgmt(&mut self, t: TaskMgmtRequest) {
        let response = match t.function {
            TmFunction::AbortTask => {
                let found = self
                    .tasks
                    .get(&t.referenced_task_tag)
                    .is_some_and(|x| x.lun == t.lun && !x.aborted);
                let r = t.referenced_task_tag;
                let executing = self
                    .tasks
                    .get(&r)
                    .is_some_and(|x| matches!(x.phase, Phase::Executing));
                if found && executing {
                    // Answered when the command completes.
                    if let Some(x) = self.tasks.get_mut(&r) {
                        x.abort_waiters.push(t.itt);
                    }
                    return;
                } else if found {
                    // Still collecting data: nothing has happened yet.
                    self.abort_where(|x| x.itt == r);
                    TmResponse::Complete
                } else {
                    // Completed already (its response is out) or never
                    // seen: the initiator learns that nothing was aborted.
                    TmResponse::TaskDoesNotExist
                }
            }
            TmFunction::AbortTaskSet | TmFunction::ClearTaskSet => {
                let lun = t.lun;
                self.abort_where(|x| x.lun == lun);
                TmResponse::Complete
            }
            TmFunction::LogicalUnitReset => {
                let lun = t.lun;
                self.abort_where(|x| x.lun == lun);
                self.events.push_back(Event::LunReset(lun));
                TmResponse::Complete
            }
            TmFunction::TargetWarmReset | TmFunction::TargetColdReset => {
                self.abort_where(|_| true);
                self.events.push_back(Event::TargetReset);
                if t.function == TmFunction::TargetColdReset {
                    self.closing = true;
                }
                TmResponse::Complete
            }
            TmFunction::TaskReassign => TmResponse::ReassignmentNotSupported,
            _ => TmResponse::NotSupported,
        };
        self.tmf_response(t.itt, response);
    }

    fn tmf_response(&mut self, itt: u32, response: TmResponse) {
        let sn = self.sn(true);
        self.out.push_back(Pdu::new(TaskMgmtResponse {
            response,
            itt,
            stat_sn: sn.stat_sn,
            exp_cmd_sn: sn.exp_cmd_sn,
            max_cmd_sn: sn.max_cmd_sn,
        }));
    }

    fn logout(&mut self, l: LogoutRequest) {
        // One connection per session: every reason closes it.
        self.abort_where(|_| true);
        let sn = self.sn(true);
        self.out.push_back(Pdu::new(LogoutResponse {
            response: LogoutResponseCode::Closed,
            itt: l.itt,
            stat_sn: sn.stat_sn,
            exp_cmd_sn: sn.exp_cmd_sn,
            max_cmd_sn: sn.max_cmd_sn,
            time2wait: 0,
            time2retain: 0,
        }));
        self.closing = true;
    }

    /// Next PDU to send.
    pub fn poll_pdu(&mut self) -> Option<Pdu> {
        let p = self.out.pop_front();
        if p.is_none() && self.closing {
            self.closed = true;
        }
        p
    }

    /// Next event for the caller.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True once a Logout (or cold reset) was answered and everything sent:
    /// close the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// When [`TargetSession::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        match self.ping {
            Some(p) => Some(p.deadline),
            None => Some(self.last_rx + self.idle_interval()),
        }
    }

    /// Idle time before the next ping: the first one may come earlier.
    fn idle_interval(&self) -> Duration {
        match self.cfg.first_ping {
            Some(f) if self.last_ping_ttt == 0 => f.min(self.cfg.nop_interval),
            _ => self.cfg.nop_interval,
        }
    }

    /// Sends a NOP-In ping on an idle connection; returns an error when a
    /// ping went unanswered (the initiator is gone: close the connection).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        if let Some(p) = self.ping {
            if now >= p.deadline {
                return Err(Error::Protocol("NOP-In ping unanswered".into()));
            }
            return Ok(());
        }
        if now >= self.last_rx + self.idle_interval() {
            self.send_ping(now, now + self.cfg.nop_timeout);
        }
        Ok(())
    }

    /// Pings the initiator now, busy or idle: whoever suspects it is gone
    /// (netbootd, when the PC asks DHCP for a new boot) learns it from
    /// [`handle_timeout`](Self::handle_timeout)'s error if nothing at all
    /// comes from it within `timeout`, instead of after the idle interval
    /// and the usual time-out. An initiator that never answered a ping
    /// (iPXE ignores them) keeps the usual time-out, silence from it
    /// proving little, unless it has been silent for `nop_interval`
    /// already (an iPXE whose OS took the disk over, or a PC switched
    /// off). A ping already waiting gets the earlier deadline.
    pub fn probe(&mut self, now: Instant, timeout: Duration) {
        if self.closed {
            return;
        }
        let idle = now.saturating_duration_since(self.last_rx) >= self.cfg.nop_interval;
        let deadline = if self.answers_pings || idle {
            now + timeout
        } else {
            now + self.cfg.nop_timeout
        };
        match &mut self.ping {
            Some(p) => p.deadline = p.deadline.min(deadline),
            None => self.send_ping(now, deadline),
        }
    }

    /// Whether the initiator answered a NOP-In ping in this session.
    pub fn answers_pings(&self) -> bool {
        self.answers_pings
    }

    fn send_ping(&mut self, now: Instant, deadline: Instant) {
        let ttt = self.next_ttt;
        self.next_ttt = match self.next_ttt.wrapping_add(1) {
            RESERVED_TAG => 1,
            n => n,
        };
        let sn = self.sn(false);
        self.out.push_back(Pdu::new(NopIn {
            lun: 0,
            itt: RESERVED_TAG,
            ttt,
            stat_sn: sn.stat_sn,
            exp_cmd_sn: sn.exp_cmd_sn,
            max_cmd_sn: sn.max_cmd_sn,
        }));
        self.last_ping_ttt = ttt;
        self.ping = Some(Ping {
            sent: now,
            deadline,
        });
    }

    /// When the NOP-In ping now waiting for its answer was sent, if one is.
    pub fn ping_sent(&self) -> Option<Instant> {
        self.ping.map(|p| p.sent)
    }

    /// Tasks in the session (collecting data or executing).
    pub fn tasks(&self) -> usize {
        self.tasks.len()
    }
}

/// Fixed-format sense: ILLEGAL REQUEST, INVALID FIELD IN CDB (without a
/// field pointer: the session refuses a command for its Expected Data
/// Transfer Length, a field of the PDU, not of the CDB).
fn invalid_field_in_cdb() -> Vec<u8> {
    netboot_scsi::Sense::new(netboot_scsi::SenseKey::IllegalRequest, 0x24, 0x00).to_bytes(false)
}

impl Default for Completion {
    /// GOOD, no data.
    fn default() -> Self {
        Completion {
            status: Status::Good,
            sense: None,
            data_in: Bytes::new(),
            write_len: None,
        }
    }
}

#[cfg(test)]
mod tests;
