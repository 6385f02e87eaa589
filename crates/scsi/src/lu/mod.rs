//! A logical unit: SBC-3 direct-access block device emulation on a
//! [`BlockDevice`].

mod inquiry;
mod io;
mod mode;
mod pr;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use netboot_blockdev::BlockDevice;

use crate::error::{Error, Result};
use crate::nexus::{Nexus, NexusKey};
use crate::response::{Response, Status};
use crate::wire::cdb::{cdb_len, lookup};
use crate::wire::{op, Cdb, Sense};

pub use pr::PrType;

/// Who the logical unit says it is (INQUIRY, VPD pages 0x80 and 0x83).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// T10 vendor identification, up to 8 printable ASCII characters.
    pub vendor: String,
    /// Product identification, up to 16 characters.
    pub product: String,
    /// Product revision level, up to 4 characters.
    pub revision: String,
    /// Unit serial number (VPD 0x80), 1 to 64 printable ASCII characters
    /// without spaces.
    pub serial: String,
    /// NAA designator (VPD 0x83). The top nibble is the NAA type: 5 (IEEE
    /// registered, 8 bytes) or 3 (locally assigned, 8 bytes) are sent as
    /// is; 6 (IEEE registered extended) is sent as 16 bytes, this value
    /// followed by a 64-bit extension derived from the serial number.
    pub naa: u64,
}

impl Identity {
    /// Vendor `NETBOOT`, product `VIRTUAL-DISK`, revision `0001`, the given
    /// serial, and a locally assigned (NAA 3) designator derived from it.
    pub fn new(serial: impl Into<String>) -> Identity {
        let serial = serial.into();
        let naa = (0x3 << 60) | (fnv1a(serial.as_bytes()) & ((1 << 60) - 1));
        Identity {
            vendor: "NETBOOT".into(),
            product: "VIRTUAL-DISK".into(),
            revision: "0001".into(),
            serial,
            naa,
        }
    }

    /// [`Identity::new`] with a serial derived from `name` (e.g. a target
    /// and LUN, `iqn.2026-01.org.example:pc042/0`): 16 hex digits of its
    /// FNV-1a hash, the same at every start, so that initiators (and
    /// Windows) recognise the disk across restarts.
    pub fn for_name(name: &str) -> Identity {
        Identity::new(format!("{:016x}", fnv1a(name.as_bytes())))
    }

    /// Checks lengths and characters of the text fields.
    pub fn validate(&self) -> Result<()> {
        fn check(field: &'static str, s: &str, max: usize, spaces: bool) -> Result<()> {
            if s.len() > max {
                return Err(Error::InvalidIdentity {
                    field,
                    reason: "too long",
                });
            }
            if !s
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) || (spaces && b == b' '))
            {
                return Err(Error::InvalidIdentity {
                    field,
                    reason: "not printable ASCII",
                });
            }
            Ok(())
        }
        check("vendor", &self.vendor, 8, true)?;
        check("product", &self.product, 16, true)?;
        check("revision", &self.revision, 4, true)?;
        check("serial", &self.serial, 64, false)?;
        if self.serial.is_empty() {
            return Err(Error::InvalidIdentity {
                field: "serial",
                reason: "empty",
            });
        }
        Ok(())
    }
}

/// 64-bit FNV-1a (stable across builds, unlike `DefaultHasher`).
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Behaviour and limits of a logical unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuOptions {
    /// Where persistent-reservation state is saved (written to a temporary
    /// file, fsynced and renamed, and the directory fsynced, before
    /// PERSISTENT RESERVE OUT completes with GOOD; outside the mutex other
    /// commands take, so I/O does not wait for it) and loaded from on
    /// creation. `None`: reservations live in memory.
    pub pr_path: Option<PathBuf>,
    /// Initial WCE bit of the caching mode page. With WCE clear every
    /// write is flushed before GOOD.
    pub write_cache: bool,
    /// Thin provisioning: UNMAP, WRITE SAME with UNMAP, LBPME, VPD 0xB2.
    pub thin_provisioning: bool,
    /// Refuse writes even if the device accepts them.
    pub read_only: bool,
    /// Report a removable medium (RMB): START STOP UNIT with LOEJ ejects
    /// and loads it, PREVENT ALLOW MEDIUM REMOVAL locks it.
    pub removable: bool,
    /// Establish a POWER ON unit attention for every I_T nexus on its
    /// first command.
    pub power_on_ua: bool,
    /// Largest READ/WRITE/VERIFY/COMPARE transfer in bytes (VPD 0xB0).
    pub max_transfer_bytes: u32,
    /// Largest UNMAP LBA count per descriptor (VPD 0xB0).
    pub max_unmap_blocks: u32,
    /// Largest number of UNMAP block descriptors (VPD 0xB0).
    pub max_unmap_descriptors: u32,
    /// Largest WRITE SAME in blocks (VPD 0xB0).
    pub max_write_same_blocks: u64,
    /// Largest COMPARE AND WRITE in blocks (VPD 0xB0), 1..=255.
    pub max_compare_write_blocks: u8,
    /// Medium rotation rate (VPD 0xB1): 1 = non-rotating.
    pub rotation_rate: u16,
    /// Report 4096-byte physical blocks on 512-byte logical blocks (READ
    /// CAPACITY(16) exponent 3). Off by default: libiscsi's
    /// GetLBAStatus.UnmapSingle then expects answers at physical-block
    /// granularity that SBC-3 does not allow.
    pub physical_4k: bool,
}

impl Default for LuOptions {
    fn default() -> LuOptions {
        LuOptions {
            pr_path: None,
            write_cache: true,
            thin_provisioning: true,
            read_only: false,
            removable: false,
            power_on_ua: true,
            max_transfer_bytes: 8 << 20,
            max_unmap_blocks: 1 << 20,
            max_unmap_descriptors: 256,
            max_write_same_blocks: 1 << 20,
            max_compare_write_blocks: 128,
            rotation_rate: 1,
            physical_4k: false,
        }
    }
}

/// Why a command did not complete with GOOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    /// CHECK CONDITION with this sense.
    Check(Sense),
    /// RESERVATION CONFLICT.
    Conflict,
}

impl From<Sense> for Fail {
    fn from(s: Sense) -> Fail {
        Fail::Check(s)
    }
}

pub(crate) type CmdResult = std::result::Result<Vec<u8>, Fail>;

/// Locks a mutex, ignoring poisoning (state stays consistent because every
/// critical section either completes or changes nothing).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
struct UaState {
    /// Nexuses that have sent a command, with their port names.
    seen: HashMap<u64, NexusKey>,
    /// Pending unit attentions (ASC, ASCQ), oldest first.
    pending: HashMap<u64, VecDeque<(u8, u8)>>,
}

/// Bound on queued unit attentions per nexus.
const MAX_UA: usize = 16;

#[derive(Debug)]
struct MediaState {
    loaded: bool,
    prevent: HashSet<NexusKey>,
}

/// Locks of LBA ranges: COMPARE AND WRITE holds its range across read,
/// compare and write; every other write takes its range for the duration
/// of the write, so it cannot slip in between.
#[derive(Debug, Default)]
struct RangeLock {
    held: Mutex<Vec<(u64, u64)>>,
    cv: Condvar,
}

struct RangeGuard<'a> {
    lock: &'a RangeLock,
    range: (u64, u64),
}

impl RangeLock {
    /// Waits until no held range overlaps `start..end`, then holds it.
    fn lock(&self, start: u64, end: u64) -> RangeGuard<'_> {
        let mut held = lock(&self.held);
        while held.iter().any(|&(s, e)| s < end && start < e) {
            held = self.cv.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        held.push((start, end));
        RangeGuard {
            lock: self,
            range: (start, end),
        }
    }
}

impl Drop for RangeGuard<'_> {
    fn drop(&mut self) {
        let mut held = lock(&self.lock.held);
        if let Some(i) = held.iter().position(|&r| r == self.range) {
            held.swap_remove(i);
        }
        drop(held);
        self.lock.cv.notify_all();
    }
}

/// A SCSI logical unit (direct-access block device, SBC-3) backed by a
/// [`BlockDevice`].
///
/// [`LogicalUnit::execute`] takes `&self`: commands from several threads
/// run concurrently. The disk is not locked; mode pages, reservations,
/// unit attentions and media state each sit behind their own mutex, held
/// only for bookkeeping, never across disk I/O (except COMPARE AND WRITE's
/// range lock, and the save mutex of the reservation state file, which
/// only PERSISTENT RESERVE OUT takes).
#[derive(Debug)]
pub struct LogicalUnit {
    dev: Arc<dyn BlockDevice>,
    ident: Identity,
    opts: LuOptions,
    block_size: u32,
    blocks: u64,
    mode: Mutex<mode::ModeState>,
    // Hot bits of the mode pages, read on every command without locking.
    wce: AtomicBool,
    d_sense: AtomicBool,
    swp: AtomicBool,
    pr: Mutex<pr::PrLocked>,
    pr_save: pr::PrSaver,
    ua: Mutex<UaState>,
    media: Mutex<MediaState>,
    ranges: RangeLock,
}

impl LogicalUnit {
    /// A logical unit on `dev`. Loads persistent-reservation state from
    /// `opts.pr_path` if the file exists.
    pub fn new(dev: Arc<dyn BlockDevice>, ident: Identity, opts: LuOptions) -> Result<LogicalUnit> {
        ident.validate()?;
        let block_size = dev.block_size();
        if block_size != 512 && block_size != 4096 {
            return Err(Error::BlockSize(block_size));
        }
        let blocks = dev.blocks();
        let pr_state = match &opts.pr_path {
            Some(p) => pr::PrState::load(p)?,
            None => pr::PrState::default(),
        };
        let mut opts = opts;
        opts.max_compare_write_blocks = opts.max_compare_write_blocks.max(1);
        opts.max_transfer_bytes = opts.max_transfer_bytes.max(block_size);
        Ok(LogicalUnit {
            mode: Mutex::new(mode::ModeState::new(opts.write_cache)),
            wce: AtomicBool::new(opts.write_cache),
            d_sense: AtomicBool::new(false),
            swp: AtomicBool::new(false),
            pr: Mutex::new(pr::PrLocked::new(pr_state.clone())),
            pr_save: pr::PrSaver::new(pr_state),
            ua: Mutex::new(UaState::default()),
            media: Mutex::new(MediaState {
                loaded: true,
                prevent: HashSet::new(),
            }),
            ranges: RangeLock::default(),
            dev,
            ident,
            opts,
            block_size,
            blocks,
        })
    }

    /// Logical block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Number of logical blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The identity given at creation.
    pub fn identity(&self) -> &Identity {
        &self.ident
    }

    /// True if sense data is currently returned in descriptor format
    /// (D_SENSE of the control mode page).
    pub fn d_sense(&self) -> bool {
        self.d_sense.load(Ordering::Relaxed)
    }

    /// LOGICAL UNIT RESET (task management), also used for target resets:
    /// releases RESERVE(6) reservations and medium-removal locks and
    /// establishes a BUS DEVICE RESET unit attention (0x29/0x03) for every
    /// known I_T nexus. Persistent reservations and mode pages stay.
    pub fn reset(&self) {
        lock(&self.pr).reserve6 = None;
        lock(&self.media).prevent.clear();
        let mut ua = lock(&self.ua);
        let ids: Vec<u64> = ua.seen.keys().copied().collect();
        for id in ids {
            let q = ua.pending.entry(id).or_default();
            q.clear();
            q.push_back((0x29, 0x03));
        }
    }

    /// The I_T nexus is gone: its RESERVE(6) reservation and PREVENT MEDIUM
    /// REMOVAL are released. Its registrations and persistent reservations
    /// stay (SPC-4 5.13.1).
    pub fn nexus_lost(&self, nexus: &Nexus) {
        let key = nexus.key();
        {
            let mut pr = lock(&self.pr);
            if pr.reserve6.as_ref() == Some(&key) {
                pr.reserve6 = None;
            }
        }
        lock(&self.media).prevent.remove(&key);
    }

    /// Executes one command. `data_out` is the Data-Out received (see
    /// [`cdb_info`](crate::cdb_info) for how much to collect); `alloc_len`
    /// is the transport's expected Data-In length, to which `data_in` is
    /// truncated.
    pub fn execute(&self, nexus: &Nexus, cdb: &[u8], data_out: &[u8], alloc_len: u32) -> Response {
        let mut resp = match self.run(nexus, cdb, data_out) {
            Ok(data) => Response::good(data),
            Err(Fail::Check(s)) => Response::check(&s, self.d_sense()),
            Err(Fail::Conflict) => Response::status(Status::ReservationConflict),
        };
        resp.data_in.truncate(alloc_len as usize);
        resp
    }

    fn run(&self, nexus: &Nexus, cdb: &[u8], data_out: &[u8]) -> CmdResult {
        let opcode = *cdb.first().ok_or_else(Sense::invalid_opcode)?;
        let len = cdb_len(opcode).ok_or_else(Sense::invalid_opcode)?;
        let c = Cdb::new(cdb);
        if lookup(&c).is_err() && !matches!(opcode, op::PR_IN | op::PR_OUT) {
            // Unknown opcode or service action; PR commands check their
            // service action themselves, after the reservation checks.
            return Err(lookup(&c)
                .err()
                .unwrap_or_else(Sense::invalid_opcode)
                .into());
        }
        if cdb.len() < len {
            return Err(Sense::invalid_field_in_cdb(0, None).into());
        }
        // NACA: ACA is not supported.
        if c.b(len - 1) & 0x04 != 0 {
            return Err(Sense::invalid_field_in_cdb(len as u16 - 1, Some(2)).into());
        }
        self.note_nexus(nexus);
        if !matches!(opcode, op::INQUIRY | op::REPORT_LUNS | op::REQUEST_SENSE) {
            if let Some(s) = self.take_ua(nexus.id) {
                return Err(s.into());
            }
        }
        self.check_reservations(nexus, &c)?;
        match opcode {
            op::TEST_UNIT_READY => {
                self.check_ready()?;
                Ok(Vec::new())
            }
            op::REQUEST_SENSE => Ok(self.request_sense(nexus, &c)),
            op::INQUIRY => Ok(self.inquiry(nexus, &c)?),
            op::REPORT_LUNS => {
                // Only reached when the LU is used without a Target.
                let mut v = vec![0, 0, 0, 8, 0, 0, 0, 0];
                v.extend_from_slice(&[0; 8]);
                v.truncate(c.u32(6) as usize);
                Ok(v)
            }
            op::MAINTENANCE_IN => Ok(self.report_supported_opcodes(&c)?),
            op::MODE_SENSE_6 => Ok(self.mode_sense(&c, false)?),
            op::MODE_SENSE_10 => Ok(self.mode_sense(&c, true)?),
            op::MODE_SELECT_6 => self
                .mode_select(nexus, &c, data_out, false)
                .map(|_| Vec::new()),
            op::MODE_SELECT_10 => self
                .mode_select(nexus, &c, data_out, true)
                .map(|_| Vec::new()),
            op::START_STOP_UNIT => self.start_stop(&c).map(|_| Vec::new()),
            op::PREVENT_ALLOW => self.prevent_allow(nexus, &c).map(|_| Vec::new()),
            op::RESERVE_6 => self.reserve6(nexus).map(|_| Vec::new()),
            op::RELEASE_6 => {
                self.release6(nexus);
                Ok(Vec::new())
            }
            op::PR_IN => Ok(self.pr_in(&c)?),
            op::PR_OUT => self.pr_out(nexus, &c, data_out).map(|_| Vec::new()),
            _ => self.run_block(&c, data_out),
        }
    }

    /// Media-access (SBC) commands.
    fn run_block(&self, c: &Cdb, data_out: &[u8]) -> CmdResult {
        self.check_ready()?;
        match c.op() {
            op::READ_CAPACITY_10 => Ok(self.read_capacity10(c)?),
            op::SERVICE_ACTION_IN_16 if c.sa() == op::SA_READ_CAPACITY_16 => {
                Ok(self.read_capacity16(c)?)
            }
            op::SERVICE_ACTION_IN_16 => Ok(self.get_lba_status(c)?),
            op::READ_6 | op::READ_10 | op::READ_12 | op::READ_16 => Ok(self.read(c)?),
            op::WRITE_6 | op::WRITE_10 | op::WRITE_12 | op::WRITE_16 => {
                self.write(c, data_out, false)?;
                Ok(Vec::new())
            }
            op::WRITE_VERIFY_10 | op::WRITE_VERIFY_12 | op::WRITE_VERIFY_16 => {
                self.write(c, data_out, true)?;
                Ok(Vec::new())
            }
            op::VERIFY_10 | op::VERIFY_12 | op::VERIFY_16 => {
                self.verify(c, data_out)?;
                Ok(Vec::new())
            }
            op::SYNC_CACHE_10 | op::SYNC_CACHE_16 => {
                self.sync_cache(c)?;
                Ok(Vec::new())
            }
            op::PRE_FETCH_10 | op::PRE_FETCH_16 => {
                self.pre_fetch(c)?;
                Ok(Vec::new())
            }
            op::WRITE_SAME_10 | op::WRITE_SAME_16 => {
                self.write_same(c, data_out)?;
                Ok(Vec::new())
            }
            op::UNMAP => {
                self.unmap(c, data_out)?;
                Ok(Vec::new())
            }
            op::COMPARE_AND_WRITE => {
                self.compare_and_write(c, data_out)?;
                Ok(Vec::new())
            }
            op::ORWRITE_16 => {
                self.orwrite(c, data_out)?;
                Ok(Vec::new())
            }
            op::WRITE_ATOMIC_16 => {
                self.write_atomic(c, data_out)?;
                Ok(Vec::new())
            }
            op::READ_DEFECT_DATA_10 | op::READ_DEFECT_DATA_12 => Ok(self.read_defect_data(c)?),
            op::SANITIZE => {
                self.sanitize(c, data_out)?;
                Ok(Vec::new())
            }
            _ => Err(Sense::invalid_opcode().into()),
        }
    }

    fn note_nexus(&self, nexus: &Nexus) {
        let mut guard = lock(&self.ua);
        let ua = &mut *guard;
        if let std::collections::hash_map::Entry::Vacant(e) = ua.seen.entry(nexus.id) {
            e.insert(nexus.key());
            if self.opts.power_on_ua {
                ua.pending
                    .entry(nexus.id)
                    .or_default()
                    .push_back((0x29, 0x00));
            }
        }
    }

    fn take_ua(&self, id: u64) -> Option<Sense> {
        let mut ua = lock(&self.ua);
        let q = ua.pending.get_mut(&id)?;
        let (asc, ascq) = q.pop_front()?;
        if q.is_empty() {
            ua.pending.remove(&id);
        }
        Some(Sense::new(crate::SenseKey::UnitAttention, asc, ascq))
    }

    /// Establishes a unit attention for every known nexus for which `to`
    /// returns true.
    fn establish_ua(&self, to: impl Fn(u64, &NexusKey) -> bool, asc: u8, ascq: u8) {
        let mut ua = lock(&self.ua);
        let ids: Vec<u64> = ua
            .seen
            .iter()
            .filter(|(id, k)| to(**id, k))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let q = ua.pending.entry(id).or_default();
            if !q.contains(&(asc, ascq)) && q.len() < MAX_UA {
                q.push_back((asc, ascq));
            }
        }
    }

    fn check_ready(&self) -> std::result::Result<(), Sense> {
        if lock(&self.media).loaded {
            Ok(())
        } else {
            Err(Sense::medium_not_present())
        }
    }

    fn check_writable(&self) -> std::result::Result<(), Sense> {
        if self.opts.read_only || self.dev.read_only() {
            Err(Sense::write_protected())
        } else if self.swp.load(Ordering::Relaxed) {
            Err(Sense::software_write_protected())
        } else {
            Ok(())
        }
    }

    fn write_protected(&self) -> bool {
        self.check_writable().is_err()
    }

    /// REQUEST SENSE: a pending unit attention (consumed), NOT READY when
    /// the medium is out, else NO SENSE. DESC selects the format.
    fn request_sense(&self, nexus: &Nexus, c: &Cdb) -> Vec<u8> {
        let desc = c.b(1) & 1 != 0;
        let sense = match self.take_ua(nexus.id) {
            Some(s) => s,
            None => match self.check_ready() {
                Err(s) => s,
                Ok(()) => Sense::new(crate::SenseKey::NoSense, 0, 0),
            },
        };
        let mut v = sense.to_bytes(desc);
        v.truncate(usize::from(c.b(4)));
        v
    }

    /// START STOP UNIT (SBC-3 5.25). The unit never spins down (other
    /// initiators share it); with a removable medium LOEJ ejects (START=0)
    /// or loads (START=1) it.
    fn start_stop(&self, c: &Cdb) -> std::result::Result<(), Fail> {
        let power_condition = c.b(4) >> 4;
        let loej = c.b(4) & 0x02 != 0;
        let start = c.b(4) & 0x01 != 0;
        if !matches!(power_condition, 0 | 1 | 2 | 3 | 7 | 0xa | 0xb) {
            return Err(Sense::invalid_field_in_cdb(4, Some(7)).into());
        }
        if power_condition != 0 || !loej || !self.opts.removable {
            return Ok(());
        }
        let mut media = lock(&self.media);
        if start {
            media.loaded = true;
        } else {
            // MEDIUM REMOVAL PREVENTED while any nexus prevents it.
            if !media.prevent.is_empty() {
                return Err(Sense::new(crate::SenseKey::IllegalRequest, 0x53, 0x02).into());
            }
            media.loaded = false;
        }
        Ok(())
    }

    /// PREVENT ALLOW MEDIUM REMOVAL (SBC-3 5.13), per I_T nexus.
    fn prevent_allow(&self, nexus: &Nexus, c: &Cdb) -> std::result::Result<(), Fail> {
        let prevent = c.b(4) & 0x03;
        if prevent > 1 {
            return Err(Sense::invalid_field_in_cdb(4, Some(1)).into());
        }
        let mut media = lock(&self.media);
        if prevent == 1 {
            media.prevent.insert(nexus.key());
        } else {
            media.prevent.remove(&nexus.key());
        }
        Ok(())
    }
}
