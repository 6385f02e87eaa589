//! Persistent reservations (SPC-4 5.13, PERSISTENT RESERVE IN/OUT) and
//! RESERVE(6)/RELEASE(6), with the access rules of SPC-4 table 63 and
//! SBC-3 table 13, and saving of the state to a file: a PERSISTENT RESERVE
//! OUT changes the state under the reservation mutex that every command
//! takes, then saves a snapshot under a mutex of its own
//! ([`PrSaver`]) and answers GOOD once that is durable.
//!
//! (Over 700 lines because of its tests: the code is about 200 lines.)

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{lock, Fail, LogicalUnit};
use crate::error::{Error, Result};
use crate::nexus::{Nexus, NexusKey};
use crate::wire::{be, op, Cdb, Sense};

/// A persistent reservation type (SPC-4 table 176).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrType {
    /// Write Exclusive.
    WriteExclusive = 1,
    /// Exclusive Access.
    ExclusiveAccess = 3,
    /// Write Exclusive, Registrants Only.
    WriteExclusiveRegistrantsOnly = 5,
    /// Exclusive Access, Registrants Only.
    ExclusiveAccessRegistrantsOnly = 6,
    /// Write Exclusive, All Registrants.
    WriteExclusiveAllRegistrants = 7,
    /// Exclusive Access, All Registrants.
    ExclusiveAccessAllRegistrants = 8,
}

impl PrType {
    /// The type from its code.
    pub fn from_code(code: u8) -> Option<PrType> {
        Some(match code {
            1 => PrType::WriteExclusive,
            3 => PrType::ExclusiveAccess,
            5 => PrType::WriteExclusiveRegistrantsOnly,
            6 => PrType::ExclusiveAccessRegistrantsOnly,
            7 => PrType::WriteExclusiveAllRegistrants,
            8 => PrType::ExclusiveAccessAllRegistrants,
            _ => return None,
        })
    }

    fn all_registrants(self) -> bool {
        matches!(
            self,
            PrType::WriteExclusiveAllRegistrants | PrType::ExclusiveAccessAllRegistrants
        )
    }

    fn registrants(self) -> bool {
        !matches!(self, PrType::WriteExclusive | PrType::ExclusiveAccess)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Registration {
    key: u64,
    nexus: NexusKey,
    rel_port: u16,
    protocol: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reservation {
    holder: NexusKey,
    typ: PrType,
}

/// The persistent part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct PrState {
    generation: u32,
    regs: Vec<Registration>,
    res: Option<Reservation>,
    aptpl: bool,
}

/// Everything behind the reservation mutex (taken by every command).
#[derive(Debug, Default)]
pub(super) struct PrLocked {
    /// The state commands see: the last durable one plus the changes of
    /// PERSISTENT RESERVE OUT commands whose save is still under way.
    pub(super) state: PrState,
    /// Holder of a RESERVE(6) reservation (not persistent).
    pub(super) reserve6: Option<NexusKey>,
    /// Version of `state`, bumped by every change (and by a rollback);
    /// never reused. Not the PRgeneration the initiators see.
    version: u64,
    /// How many failed saves rolled `state` back ([`Saved::ended`]).
    epoch: usize,
}

impl PrLocked {
    pub(super) fn new(state: PrState) -> PrLocked {
        PrLocked {
            state,
            ..PrLocked::default()
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: self.version,
            epoch: self.epoch,
            state: self.state.clone(),
        }
    }
}

/// The reservation state as one PERSISTENT RESERVE OUT left it.
#[derive(Debug)]
struct Snapshot {
    version: u64,
    epoch: usize,
    state: PrState,
}

/// The saving side of the reservation state: its own mutex, held across
/// the file write and fsyncs, which no command but PERSISTENT RESERVE OUT
/// waits for. Lock order: this one, then the reservation mutex.
#[derive(Debug)]
pub(super) struct PrSaver {
    saved: Mutex<Saved>,
    #[cfg(test)]
    pub(super) hook: Mutex<Option<SaveHook>>,
}

/// What is on disk.
#[derive(Debug)]
struct Saved {
    /// Version of the newest snapshot written (0: the state loaded at start).
    version: u64,
    /// That snapshot's state: what a failed save rolls memory back to.
    state: PrState,
    /// `version` at the end of each of the last [`ENDED_KEPT`] epochs
    /// (each failed save ends one); `ended[0]` is that of epoch
    /// `ended_base`. Bounded: a disk that keeps failing while initiators
    /// keep sending PERSISTENT RESERVE OUT cannot grow it.
    ended: std::collections::VecDeque<u64>,
    /// The epoch of `ended[0]`.
    ended_base: usize,
}

/// Failed saves remembered. A snapshot older than that (it waited through
/// more failed saves than this) counts as rolled back: the safe answer.
const ENDED_KEPT: usize = 1024;

impl Saved {
    /// Whether the change that left `snap` is durable: `Some(true)` if it
    /// or a later snapshot of the same history is on disk, `Some(false)` if
    /// a failed save rolled it back, `None` if it has yet to be written.
    fn outcome(&self, snap: &Snapshot) -> Option<bool> {
        if snap.epoch < self.ended_base {
            return Some(false);
        }
        match self.ended.get(snap.epoch - self.ended_base) {
            // A rollback ended its epoch; what was on disk then survived it.
            Some(&end) => Some(snap.version <= end),
            None if snap.version <= self.version => Some(true),
            None => None,
        }
    }
}

impl Saved {
    /// Ends the current epoch after a failed save (forgetting the oldest
    /// beyond [`ENDED_KEPT`]); returns the new epoch.
    fn end_epoch(&mut self) -> usize {
        if self.ended.len() == ENDED_KEPT {
            self.ended.pop_front();
            self.ended_base += 1;
        }
        self.ended.push_back(self.version);
        self.ended_base + self.ended.len()
    }
}

impl PrSaver {
    pub(super) fn new(loaded: PrState) -> PrSaver {
        PrSaver {
            saved: Mutex::new(Saved {
                version: 0,
                state: loaded,
                ended: std::collections::VecDeque::new(),
                ended_base: 0,
            }),
            #[cfg(test)]
            hook: Mutex::new(None),
        }
    }

    #[cfg(test)]
    fn hook(&self, stage: SaveStage, version: u64) {
        let hook = lock(&self.hook).clone();
        if let Some(h) = hook {
            (h.0)(stage, version);
        }
    }
}

/// Where a save is when the test hook runs.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SaveStage {
    /// Out of the reservation mutex, before the save mutex.
    Queued,
    /// Holding the save mutex, about to write the file.
    Writing,
}

/// A test hook run at each [`SaveStage`] with the snapshot's version (it
/// may block, to hold a save at that point).
#[cfg(test)]
#[derive(Clone)]
pub(super) struct SaveHook(pub(super) std::sync::Arc<dyn Fn(SaveStage, u64) + Send + Sync>);

#[cfg(test)]
impl std::fmt::Debug for SaveHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SaveHook")
    }
}

/// How a command is treated under a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Allowed whatever the reservation.
    Always,
    /// Reads: allowed under Write Exclusive types.
    Read,
    /// Writes and other medium changes.
    Write,
    /// RESERVE(6) / RELEASE(6): conflict with any persistent reservation.
    Legacy,
}

fn access(c: &Cdb) -> Access {
    match c.op() {
        op::INQUIRY
        | op::REPORT_LUNS
        | op::REQUEST_SENSE
        | op::MAINTENANCE_IN
        | op::PR_IN
        | op::PR_OUT
        | op::TEST_UNIT_READY
        | op::READ_CAPACITY_10 => Access::Always,
        op::SERVICE_ACTION_IN_16 if c.sa() == op::SA_READ_CAPACITY_16 => Access::Always,
        // START STOP UNIT with START=1 and POWER CONDITION=0.
        op::START_STOP_UNIT if c.b(4) & 0xf1 == 0x01 => Access::Always,
        op::PREVENT_ALLOW if c.b(4) & 0x03 == 0 => Access::Always,
        op::READ_6
        | op::READ_10
        | op::READ_12
        | op::READ_16
        | op::VERIFY_10
        | op::VERIFY_12
        | op::VERIFY_16
        | op::PRE_FETCH_10
        | op::PRE_FETCH_16
        | op::SERVICE_ACTION_IN_16
        | op::MODE_SENSE_6
        | op::MODE_SENSE_10
        | op::READ_DEFECT_DATA_10
        | op::READ_DEFECT_DATA_12 => Access::Read,
        op::RESERVE_6 | op::RELEASE_6 => Access::Legacy,
        _ => Access::Write,
    }
}

impl PrState {
    fn reg(&self, n: &Nexus) -> Option<&Registration> {
        self.regs.iter().find(|r| n.is(&r.nexus))
    }

    fn is_holder(&self, n: &Nexus) -> bool {
        match &self.res {
            Some(r) if r.typ.all_registrants() => self.reg(n).is_some(),
            Some(r) => n.is(&r.holder),
            None => false,
        }
    }

    /// SPC-4 table 63 / SBC-3 table 13 for a non-holder.
    fn allows(&self, n: &Nexus, a: Access) -> bool {
        let Some(res) = &self.res else {
            return true;
        };
        if a == Access::Always || self.is_holder(n) {
            return true;
        }
        if a == Access::Legacy {
            return false;
        }
        let registered = self.reg(n).is_some();
        match res.typ {
            PrType::WriteExclusive => a == Access::Read,
            PrType::ExclusiveAccess => false,
            PrType::WriteExclusiveRegistrantsOnly | PrType::WriteExclusiveAllRegistrants => {
                a == Access::Read || registered
            }
            PrType::ExclusiveAccessRegistrantsOnly | PrType::ExclusiveAccessAllRegistrants => {
                registered
            }
        }
    }

    /// Drops the registrations matching `f`; the reservation goes with its
    /// holder's registration (for all-registrants types, with the last
    /// registration). Returns the removed nexuses.
    fn unregister(&mut self, f: impl Fn(&Registration) -> bool) -> Vec<NexusKey> {
        let mut gone = Vec::new();
        self.regs.retain(|r| {
            if f(r) {
                gone.push(r.nexus.clone());
                false
            } else {
                true
            }
        });
        if let Some(res) = &self.res {
            let lost = if res.typ.all_registrants() {
                self.regs.is_empty()
            } else {
                gone.contains(&res.holder)
            };
            if lost {
                self.res = None;
            }
        }
        gone
    }

    fn escape(s: &str) -> String {
        let mut o = String::new();
        for b in s.bytes() {
            if b <= 0x20 || b >= 0x7f || b == b'%' {
                o.push_str(&format!("%{b:02x}"));
            } else {
                o.push(b as char);
            }
        }
        o
    }

    fn unescape(s: &str) -> Option<String> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok()
    }

    fn to_text(&self) -> String {
        let mut s = format!(
            "netboot-scsi-pr 1\ngeneration {}\naptpl {}\n",
            self.generation,
            u8::from(self.aptpl)
        );
        for r in &self.regs {
            s.push_str(&format!(
                "reg {:016x} {} {} {} {}\n",
                r.key,
                r.protocol,
                r.rel_port,
                Self::escape(&r.nexus.initiator),
                Self::escape(&r.nexus.target)
            ));
        }
        if let Some(res) = &self.res {
            s.push_str(&format!(
                "res {} {} {}\n",
                res.typ as u8,
                Self::escape(&res.holder.initiator),
                Self::escape(&res.holder.target)
            ));
        }
        s
    }

    fn from_text(text: &str, path: &Path) -> Result<PrState> {
        let bad = |line: usize, reason: &'static str| Error::PrStateCorrupt {
            path: path.to_owned(),
            line,
            reason,
        };
        let mut st = PrState::default();
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, "netboot-scsi-pr 1")) => {}
            _ => return Err(bad(1, "missing header")),
        }
        for (i, line) in lines {
            let n = i + 1;
            let f: Vec<&str> = line.split(' ').collect();
            let name = |s: &str| Self::unescape(s).ok_or_else(|| bad(n, "bad name"));
            match f.as_slice() {
                ["generation", g] => {
                    st.generation = g.parse().map_err(|_| bad(n, "bad generation"))?
                }
                ["aptpl", a] => st.aptpl = *a == "1",
                ["reg", key, proto, port, ini, tgt] => st.regs.push(Registration {
                    key: u64::from_str_radix(key, 16).map_err(|_| bad(n, "bad key"))?,
                    protocol: proto.parse().map_err(|_| bad(n, "bad protocol"))?,
                    rel_port: port.parse().map_err(|_| bad(n, "bad port"))?,
                    nexus: NexusKey {
                        initiator: name(ini)?,
                        target: name(tgt)?,
                    },
                }),
                ["res", typ, ini, tgt] => {
                    let typ = typ
                        .parse::<u8>()
                        .ok()
                        .and_then(PrType::from_code)
                        .ok_or_else(|| bad(n, "bad type"))?;
                    st.res = Some(Reservation {
                        typ,
                        holder: NexusKey {
                            initiator: name(ini)?,
                            target: name(tgt)?,
                        },
                    });
                }
                [""] => {}
                _ => return Err(bad(n, "unknown line")),
            }
        }
        Ok(st)
    }

    /// Loads the state saved at `path`; a missing file is an empty state.
    pub(super) fn load(path: &Path) -> Result<PrState> {
        match fs::read_to_string(path) {
            Ok(t) => PrState::from_text(&t, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PrState::default()),
            Err(source) => Err(Error::PrStateIo {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Saves durably: temporary file, fsync, rename, fsync of the directory.
    fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = PathBuf::from(path);
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".tmp");
        tmp.set_file_name(name);
        {
            let mut f = File::create(&tmp)?;
            f.write_all(self.to_text().as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// Builds a TransportID (SPC-4 7.6.4) for READ FULL STATUS: the iSCSI
/// format with the initiator port name (format 01b when it carries an
/// ISID, `,i,0x`).
fn transport_id(r: &Registration) -> Vec<u8> {
    let name = r.nexus.initiator.as_bytes();
    let format = if r.nexus.initiator.contains(",i,0x") {
        0x40
    } else {
        0
    };
    let mut v = vec![format | (r.protocol & 0x0f), 0, 0, 0];
    v.extend_from_slice(name);
    v.push(0);
    while v.len() % 4 != 0 || v.len() < 24 {
        v.push(0);
    }
    let n = (v.len() - 4).min(0xffff) as u16;
    v[2..4].copy_from_slice(&n.to_be_bytes());
    v
}

impl LogicalUnit {
    /// Returns RESERVATION CONFLICT if a reservation forbids `c` to `n`.
    pub(super) fn check_reservations(&self, n: &Nexus, c: &Cdb) -> std::result::Result<(), Fail> {
        let pr = lock(&self.pr);
        let a = access(c);
        if let Some(holder) = &pr.reserve6 {
            let allowed = n.is(holder)
                || matches!(
                    c.op(),
                    op::INQUIRY
                        | op::REPORT_LUNS
                        | op::REQUEST_SENSE
                        | op::RELEASE_6
                        | op::PR_IN
                        | op::MAINTENANCE_IN
                );
            if !allowed {
                return Err(Fail::Conflict);
            }
        }
        if a == Access::Legacy && pr.state.res.is_some() {
            return Err(Fail::Conflict);
        }
        if pr.state.allows(n, a) {
            Ok(())
        } else {
            Err(Fail::Conflict)
        }
    }

    /// RESERVE(6).
    pub(super) fn reserve6(&self, n: &Nexus) -> std::result::Result<(), Fail> {
        let mut pr = lock(&self.pr);
        match &pr.reserve6 {
            Some(h) if !n.is(h) => Err(Fail::Conflict),
            _ => {
                pr.reserve6 = Some(n.key());
                Ok(())
            }
        }
    }

    /// RELEASE(6): releases the nexus's own reservation; GOOD otherwise.
    pub(super) fn release6(&self, n: &Nexus) {
        let mut pr = lock(&self.pr);
        if pr.reserve6.as_ref().is_some_and(|h| n.is(h)) {
            pr.reserve6 = None;
        }
    }

    /// PERSISTENT RESERVE IN (SPC-4 6.15).
    pub(super) fn pr_in(&self, c: &Cdb) -> std::result::Result<Vec<u8>, Sense> {
        let alloc = usize::from(c.u16(7));
        let st = lock(&self.pr).state.clone();
        let mut v = Vec::new();
        match c.sa() {
            0 => {
                v.extend_from_slice(&st.generation.to_be_bytes());
                v.extend_from_slice(&((st.regs.len() * 8) as u32).to_be_bytes());
                for r in &st.regs {
                    v.extend_from_slice(&r.key.to_be_bytes());
                }
            }
            1 => {
                v.extend_from_slice(&st.generation.to_be_bytes());
                match &st.res {
                    Some(res) => {
                        v.extend_from_slice(&16u32.to_be_bytes());
                        let key = if res.typ.all_registrants() {
                            0
                        } else {
                            st.regs
                                .iter()
                                .find(|r| r.nexus == res.holder)
                                .map_or(0, |r| r.key)
                        };
                        v.extend_from_slice(&key.to_be_bytes());
                        v.extend_from_slice(&[0, 0, 0, 0, 0, res.typ as u8, 0, 0]);
                    }
                    None => v.extend_from_slice(&0u32.to_be_bytes()),
                }
            }
            2 => {
                v.extend_from_slice(&8u16.to_be_bytes());
                // CRH, PTPL_C (state can be saved) if a path is configured.
                v.push(0x10 | u8::from(self.opts.pr_path.is_some()));
                // TMV (type mask valid), PTPL_A.
                v.push(0x80 | u8::from(st.aptpl));
                // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX; EX_AC_AR.
                v.extend_from_slice(&[0x80 | 0x40 | 0x20 | 0x08 | 0x02, 0x01, 0, 0]);
            }
            3 => {
                v.extend_from_slice(&st.generation.to_be_bytes());
                v.extend_from_slice(&[0; 4]);
                for r in &st.regs {
                    let holder = match &st.res {
                        Some(res) if res.typ.all_registrants() => true,
                        Some(res) => res.holder == r.nexus,
                        None => false,
                    };
                    v.extend_from_slice(&r.key.to_be_bytes());
                    v.extend_from_slice(&[0; 4]);
                    v.push(u8::from(holder));
                    v.push(if holder {
                        st.res.as_ref().map_or(0, |x| x.typ as u8)
                    } else {
                        0
                    });
                    v.extend_from_slice(&[0; 4]);
                    v.extend_from_slice(&r.rel_port.to_be_bytes());
                    let tid = transport_id(r);
                    v.extend_from_slice(&(tid.len() as u32).to_be_bytes());
                    v.extend_from_slice(&tid);
                }
                let n = (v.len() - 8) as u32;
                v[4..8].copy_from_slice(&n.to_be_bytes());
            }
            _ => return Err(Sense::invalid_field_in_cdb(1, Some(4))),
        }
        v.truncate(alloc);
        Ok(v)
    }

    /// PERSISTENT RESERVE OUT (SPC-4 6.16, 5.13.5-5.13.11).
    ///
    /// The change is made under the reservation mutex, in memory (other
    /// commands see it from then on); with a state file, the mutex is let go
    /// and the snapshot saved under the save mutex ([`LogicalUnit::save_pr`])
    /// before GOOD: no command but another PERSISTENT RESERVE OUT waits for
    /// the fsyncs. A command that changes nothing still waits until the state
    /// it answered from is durable. Unit attentions are established once the
    /// change is durable.
    pub(super) fn pr_out(&self, n: &Nexus, c: &Cdb, data: &[u8]) -> std::result::Result<(), Fail> {
        let sa = c.sa();
        if sa > 6 {
            // REGISTER AND MOVE and reserved service actions.
            return Err(Sense::invalid_field_in_cdb(1, Some(4)).into());
        }
        let scope = c.b(2) >> 4;
        let type_code = c.b(2) & 0x0f;
        let plen = c.u32(5) as usize;
        if plen != 24 {
            return Err(Sense::param_list_length().into());
        }
        let p = data.get(..24).ok_or_else(Sense::param_list_length)?;
        let key = be(p, 0, 8).unwrap_or(0);
        let sa_key = be(p, 8, 8).unwrap_or(0);
        let flags = p[20];
        if flags & 0x08 != 0 {
            // SPEC_I_PT is not supported.
            return Err(Sense::invalid_field_in_param(20, Some(3)).into());
        }
        if flags & 0x04 != 0 {
            // ALL_TG_PT is not supported (ATP_C 0).
            return Err(Sense::invalid_field_in_param(20, Some(2)).into());
        }
        let aptpl = flags & 0x01 != 0;
        let typ = PrType::from_code(type_code);
        if matches!(sa, 1 | 2 | 4 | 5) && scope != 0 {
            return Err(Sense::invalid_field_in_cdb(2, Some(7)).into());
        }
        let mut pr = lock(&self.pr);
        if pr.reserve6.as_ref().is_some_and(|h| !n.is(h)) {
            return Err(Fail::Conflict);
        }
        let mut st = pr.state.clone();
        let uas = pr_change(&mut st, n, sa, typ, key, sa_key, aptpl)?;
        if st != pr.state {
            pr.state = st;
            pr.version += 1;
        }
        let snap = self.opts.pr_path.is_some().then(|| pr.snapshot());
        drop(pr);
        if let (Some(path), Some(snap)) = (&self.opts.pr_path, snap) {
            if !self.save_pr(path, snap) {
                return Err(Sense::internal_failure().into());
            }
        }
        for (k, asc, ascq) in uas {
            self.establish_ua(|_, nk| *nk == k, asc, ascq);
        }
        Ok(())
    }

    /// Makes the change that left `snap` durable; false if that failed.
    ///
    /// Under the save mutex: a snapshot that a newer one already on disk
    /// includes is not written again (so the last of several PERSISTENT
    /// RESERVE OUTs is what stays on disk); otherwise it is written
    /// (temporary file, fsync, rename, directory fsync).
    ///
    /// A failed write rolls the in-memory state back to the last state
    /// written (the one initiators were last told GOOD about) and starts a
    /// new epoch: every change made since that state, the failed one and
    /// those queued behind it, which were built on it, fails too. The file
    /// then holds the old or (rename done, directory fsync failed) the
    /// failed state; the next PERSISTENT RESERVE OUT rewrites it, even one
    /// that changes nothing, as the rollback gave memory a new version.
    fn save_pr(&self, path: &Path, snap: Snapshot) -> bool {
        #[cfg(test)]
        self.pr_save.hook(SaveStage::Queued, snap.version);
        let mut saved = lock(&self.pr_save.saved);
        if let Some(durable) = saved.outcome(&snap) {
            return durable;
        }
        #[cfg(test)]
        self.pr_save.hook(SaveStage::Writing, snap.version);
        if snap.state.save(path).is_ok() {
            saved.version = snap.version;
            saved.state = snap.state;
            return true;
        }
        let mut pr = lock(&self.pr);
        pr.state = saved.state.clone();
        pr.version += 1;
        pr.epoch = saved.end_epoch();
        false
    }
}

/// Applies a PERSISTENT RESERVE OUT with service action `sa` to `st`;
/// returns the (nexus, ASC, ASCQ) unit attentions to establish once the
/// change is durable. On `Err` `st` is to be thrown away.
fn pr_change(
    st: &mut PrState,
    n: &Nexus,
    sa: u8,
    typ: Option<PrType>,
    key: u64,
    sa_key: u64,
    aptpl: bool,
) -> std::result::Result<Vec<(NexusKey, u8, u8)>, Fail> {
    let needs_type = matches!(sa, 1 | 2 | 4 | 5);
    // (nexus, ASC, ASCQ) unit attentions to establish on success.
    let mut uas: Vec<(NexusKey, u8, u8)> = Vec::new();
    let me = n.key();
    let my_reg = st.reg(n).cloned();
    match sa {
        // REGISTER, REGISTER AND IGNORE EXISTING KEY.
        0 | 6 => {
            match &my_reg {
                None => {
                    if sa == 0 && key != 0 {
                        return Err(Fail::Conflict);
                    }
                    if sa_key == 0 {
                        return Ok(Vec::new());
                    }
                    st.regs.push(Registration {
                        key: sa_key,
                        nexus: me.clone(),
                        rel_port: n.relative_target_port,
                        protocol: n.protocol_id,
                    });
                }
                Some(r) => {
                    if sa == 0 && key != r.key {
                        return Err(Fail::Conflict);
                    }
                    if sa_key == 0 {
                        let res_before = st.res.clone();
                        st.unregister(|x| x.nexus == me);
                        if let (Some(r), None) = (&res_before, &st.res) {
                            if r.typ.registrants() {
                                for x in &st.regs {
                                    uas.push((x.nexus.clone(), 0x2a, 0x04));
                                }
                            }
                        }
                    } else if let Some(x) = st.regs.iter_mut().find(|x| x.nexus == me) {
                        x.key = sa_key;
                    }
                }
            }
            st.aptpl = aptpl;
            st.generation = st.generation.wrapping_add(1);
        }
        1..=5 => {
            let Some(r) = &my_reg else {
                return Err(Fail::Conflict);
            };
            if key != r.key {
                return Err(Fail::Conflict);
            }
            if needs_type && typ.is_none() {
                return Err(Sense::invalid_field_in_cdb(2, Some(3)).into());
            }
            match sa {
                // RESERVE
                1 => {
                    let typ = typ.unwrap_or(PrType::WriteExclusive);
                    match &st.res {
                        None => {
                            st.res = Some(Reservation {
                                holder: me.clone(),
                                typ,
                            })
                        }
                        Some(res) => {
                            if !st.is_holder(n) || res.typ != typ {
                                return Err(Fail::Conflict);
                            }
                            return Ok(Vec::new());
                        }
                    }
                }
                // RELEASE
                2 => {
                    let Some(res) = st.res.clone() else {
                        return Ok(Vec::new());
                    };
                    if !st.is_holder(n) {
                        return Ok(Vec::new());
                    }
                    if Some(res.typ) != typ {
                        // INVALID RELEASE OF PERSISTENT RESERVATION.
                        return Err(Sense::new(crate::SenseKey::IllegalRequest, 0x26, 0x04).into());
                    }
                    st.res = None;
                    if res.typ.registrants() {
                        for x in st.regs.iter().filter(|x| x.nexus != me) {
                            uas.push((x.nexus.clone(), 0x2a, 0x04));
                        }
                    }
                }
                // CLEAR
                3 => {
                    for x in st.regs.iter().filter(|x| x.nexus != me) {
                        uas.push((x.nexus.clone(), 0x2a, 0x03));
                    }
                    st.regs.clear();
                    st.res = None;
                    st.generation = st.generation.wrapping_add(1);
                }
                // PREEMPT, PREEMPT AND ABORT
                _ => {
                    let typ = typ.unwrap_or(PrType::WriteExclusive);
                    let res = st.res.clone();
                    let holder_key = res.as_ref().and_then(|res| {
                        if res.typ.all_registrants() {
                            None
                        } else {
                            st.regs
                                .iter()
                                .find(|x| x.nexus == res.holder)
                                .map(|x| x.key)
                        }
                    });
                    match res {
                        Some(res) if res.typ.all_registrants() && sa_key == 0 => {
                            let gone = st.unregister(|x| x.nexus != me);
                            for g in gone {
                                uas.push((g, 0x2a, 0x05));
                            }
                            st.res = Some(Reservation {
                                holder: me.clone(),
                                typ,
                            });
                        }
                        Some(res) if !res.typ.all_registrants() && holder_key == Some(sa_key) => {
                            let gone = st.unregister(|x| x.key == sa_key && x.nexus != me);
                            for g in &gone {
                                uas.push((g.clone(), 0x2a, 0x05));
                            }
                            if res.typ != typ {
                                for x in st.regs.iter().filter(|x| x.nexus != me) {
                                    uas.push((x.nexus.clone(), 0x2a, 0x04));
                                }
                            }
                            st.res = Some(Reservation {
                                holder: me.clone(),
                                typ,
                            });
                        }
                        _ => {
                            if sa_key == 0 {
                                return Err(Sense::invalid_field_in_param(8, None).into());
                            }
                            let gone = st.unregister(|x| x.key == sa_key);
                            if gone.is_empty() {
                                return Err(Fail::Conflict);
                            }
                            for g in gone {
                                if g != me {
                                    uas.push((g, 0x2a, 0x05));
                                }
                            }
                        }
                    }
                    st.generation = st.generation.wrapping_add(1);
                }
            }
        }
        _ => return Err(Sense::invalid_field_in_cdb(1, Some(4)).into()),
    }
    Ok(uas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_text_roundtrip() {
        let st = PrState {
            generation: 7,
            aptpl: true,
            regs: vec![Registration {
                key: 0xdead_beef,
                nexus: NexusKey {
                    initiator: "iqn.x:a b%,i,0x1".into(),
                    target: "iqn.t,t,0x1".into(),
                },
                rel_port: 2,
                protocol: 5,
            }],
            res: Some(Reservation {
                holder: NexusKey {
                    initiator: "iqn.x:a b%,i,0x1".into(),
                    target: "iqn.t,t,0x1".into(),
                },
                typ: PrType::ExclusiveAccessRegistrantsOnly,
            }),
        };
        let p = Path::new("x");
        assert_eq!(PrState::from_text(&st.to_text(), p).unwrap(), st);
        assert!(PrState::from_text("garbage\n", p).is_err());
        assert!(PrState::from_text("netboot-scsi-pr 1\nres 2 a b\n", p).is_err());
    }

    /// Failed saves are remembered up to ENDED_KEPT; a snapshot from an
    /// epoch before those counts as rolled back.
    #[test]
    fn remembered_rollbacks_are_bounded() {
        let snap = |epoch, version| Snapshot {
            version,
            epoch,
            state: PrState::default(),
        };
        let mut saved = Saved {
            version: 5,
            state: PrState::default(),
            ended: std::collections::VecDeque::new(),
            ended_base: 0,
        };
        for e in 0..ENDED_KEPT + 10 {
            saved.version = 5 + e as u64;
            assert_eq!(saved.end_epoch(), e + 1);
        }
        assert_eq!(saved.ended.len(), ENDED_KEPT);
        assert_eq!(saved.outcome(&snap(3, 1)), Some(false), "forgotten epoch");
        let e = ENDED_KEPT;
        assert_eq!(saved.outcome(&snap(e, 5 + e as u64)), Some(true));
        assert_eq!(saved.outcome(&snap(e, 6 + e as u64)), Some(false));
        assert_eq!(
            saved.outcome(&snap(ENDED_KEPT + 10, saved.version + 1)),
            None,
            "current epoch, unsaved"
        );
    }
}
