//! An AoE target: one virtual disk at one shelf.slot address. An
//! **executor over a [`BlockDevice`]**, not a pure state machine: it never
//! touches a socket or a clock, but [`Target::execute`] does the disk I/O,
//! blocking, in the caller's thread.
//!
//! The caller passes each received frame, the receiving interface's MAC and
//! the time; the target answers with at most one frame to send (AoE targets
//! answer each request once, and several disks on one interface are several
//! targets). The work is split in two so a daemon can keep disk I/O off its
//! receive thread:
//!
//! * [`Target::prepare`] does everything that needs no disk I/O: address
//!   matching, the MAC mask list, version checks, parsing, the reserve list,
//!   range checks, and the config/mask/reserve commands. It returns a small
//!   owned [`Work`] or why the frame is [`Ignored`].
//! * [`Target::execute`] runs the work (read, write, flush, or nothing) on
//!   the [`BlockDevice`] and emits the reply into the caller's buffer;
//!   [`Target::execute_run`] runs a run of consecutive reads or writes as
//!   one vectored call.
//!
//! [`Target::process`] does both in one call.
//!
//! Rules (AoE r11 sections 2-3):
//!
//! * A frame is ours if it is an AoE request (R clear), not sent by us, sent
//!   to our MAC or to broadcast, and its major/minor match our shelf/slot or
//!   are 0xffff/0xff.
//! * If the MAC mask list is non-empty, frames from other source MACs get no
//!   answer at all.
//! * Version other than 1: error 5. Unknown command: error 1. A config
//!   string longer than 1024 or a sector count above sectors-per-frame:
//!   error 2. Truncated frames get no answer.
//! * Query config: read; test exact / test prefix answer only on a match;
//!   set-if-empty answers error 4 if a different string is present; force
//!   set always sets.
//! * If the reserve list is non-empty, ATA writes and reserve `set` from
//!   MACs not on it get error 6; `force set` always works. Lists are capped
//!   so that every reply fits the MTU (longer sets: error 2).
//! * ATA: IDENTIFY DEVICE, READ/WRITE SECTORS (EXT), FLUSH CACHE (EXT) →
//!   [`BlockDevice::flush`], CHECK POWER MODE, SET FEATURES (accepted, no
//!   effect); everything else ABRT. Ranges past the end are IDNF. Writes to
//!   a read-only disk are ABRT.
//!
//! Durability: writes go to [`BlockDevice::write_at`]; a FLUSH CACHE is
//! answered only after [`BlockDevice::flush`] returned, so writes
//! acknowledged before a successful FLUSH are on stable storage.
//!
//! (One file of ~950 lines on purpose: addressing, the config string, the
//! MAC mask, reserve/release and the ATA commands all decide on one frame
//! against one target's state; the tests are in `target/tests.rs`.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use netboot_blockdev::BlockDevice;

use crate::ata::{cmd, err, Identity};
use crate::wire::{
    self, AoeFlags, AoeHeader, AtaHeader, AtaStatus, Body, Command, ConfigCommand, ConfigHeader,
    Directive, DirectiveCommand, DirectiveList, ErrorCode, EthernetHeader, Frame, MacAddr, MacList,
    MacMaskHeader, MaskCommand, MaskError, ReserveCommand, ReserveHeader, AOE_VERSION,
    BROADCAST_SHELF, BROADCAST_SLOT, ETHERTYPE_AOE, HEADER_LEN, MAX_CONFIG_LEN, SECTOR_SIZE,
};
use crate::{Error, ParseError};

/// Bytes of Ethernet, AoE and ATA headers before the first sector.
pub const ATA_DATA_OFFSET: usize = HEADER_LEN + AtaHeader::LEN;

/// Most sectors one frame can carry for an interface MTU:
/// `(mtu - 36) / 512`, capped at 255 (the sector count is one byte).
pub fn sectors_per_frame(mtu: usize) -> u8 {
    (mtu.saturating_sub(ATA_DATA_OFFSET) / SECTOR_SIZE).min(255) as u8
}

/// How a target is set up.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Shelf (major) address, 0..=0xfffe.
    pub shelf: u16,
    /// Slot (minor) address, 0..=0xfe.
    pub slot: u8,
    /// MTU of the interface; decides the sectors per frame.
    pub mtu: usize,
    /// Buffer count advertised in query-config replies: how many requests a
    /// client may have outstanding.
    pub buffer_count: u16,
    /// Firmware version advertised in query-config replies.
    pub firmware_version: u16,
    /// Initial config string (at most 1024 bytes).
    pub config_string: Vec<u8>,
    /// Initial MAC mask list; empty serves everyone.
    pub allow_macs: Vec<MacAddr>,
    /// The mask list is the server's, not the initiators': MAC mask edits
    /// are answered with `merror` 1 (unspecified) and change nothing. A
    /// server that gives each PC a disk of its own sets it, so that a PC
    /// cannot open its disk to others, or (with an empty list) take frames
    /// meant for another PC's disk at the same address.
    pub mask_locked: bool,
    /// IDENTIFY model string.
    pub model: String,
    /// IDENTIFY serial string.
    pub serial: String,
    /// IDENTIFY firmware string.
    pub firmware: String,
}

impl TargetConfig {
    /// A configuration for `shelf.slot` with defaults for the rest (MTU
    /// 1500, 64 buffers, empty config string, open mask list).
    pub fn new(shelf: u16, slot: u8) -> Self {
        TargetConfig {
            shelf,
            slot,
            mtu: 1500,
            buffer_count: 64,
            firmware_version: 0x4019,
            config_string: Vec::new(),
            allow_macs: Vec::new(),
            mask_locked: false,
            model: "netboot aoed".into(),
            serial: format!("e{shelf}.{slot}"),
            firmware: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Why a frame got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignored {
    /// Not an AoE frame, or its headers are truncated.
    NotAoe(ParseError),
    /// A response (R flag set) from another target.
    Response,
    /// Sent by this interface itself.
    Own,
    /// Addressed to another MAC, shelf or slot.
    NotForUs,
    /// The source MAC is not on the non-empty MAC mask list.
    MacNotAllowed(MacAddr),
    /// The arguments are truncated.
    Malformed(ParseError),
    /// A config test (exact or prefix) did not match.
    ConfigMismatch,
}

/// A run of reads or writes of consecutive sectors.
#[derive(Debug, Clone, Copy)]
struct Run {
    lba: u64,
    write: bool,
}

/// Disk I/O (or none) that [`Target::execute`] runs before replying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Read `count` sectors from `lba` into the reply.
    Read {
        /// First sector.
        lba: u64,
        /// Sectors.
        count: u8,
    },
    /// Write `count` sectors at `lba` from the request's data.
    Write {
        /// First sector.
        lba: u64,
        /// Sectors.
        count: u8,
    },
    /// Flush the disk's cache.
    Flush,
    /// Reply with IDENTIFY DEVICE data.
    Identify,
    /// Reply with these ATA registers and no data.
    Registers {
        /// Status register.
        status: u8,
        /// Error register.
        error: u8,
        /// Sector count register.
        count: u8,
    },
    /// Reply with the AoE error flag and this code.
    AoeError(ErrorCode),
    /// Reply to a query config with this sub-command and config string.
    Config(ConfigCommand, Vec<u8>),
    /// Reply to a MAC mask command with this error and list.
    MacMask(MaskCommand, MaskError, Vec<MacAddr>),
    /// Reply to a reserve/release command with this list.
    Reserve(ReserveCommand, Vec<MacAddr>),
}

/// What to do for one accepted request; owned, so it can move to an I/O
/// thread together with the received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// Ethernet header of the reply.
    pub eth: EthernetHeader,
    /// AoE header of the reply (R set, tag echoed).
    pub aoe: AoeHeader,
    /// The request's ATA header (ATA commands only), echoed in the reply.
    pub ata: Option<AtaHeader>,
    /// What to do.
    pub op: Op,
}

/// Counters a daemon can log.
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames answered.
    pub replies: AtomicU64,
    /// Frames ignored.
    pub ignored: AtomicU64,
    /// Replies with the AoE error flag or ATA ERR.
    pub errors: AtomicU64,
    /// Sectors read.
    pub sectors_read: AtomicU64,
    /// Sectors written.
    pub sectors_written: AtomicU64,
}

#[derive(Debug)]
struct State {
    config: Vec<u8>,
    mask: Vec<MacAddr>,
    reserve: Vec<MacAddr>,
}

/// One exported disk. All methods take `&self`: share it in an `Arc`
/// between receive and I/O threads.
#[derive(Debug)]
pub struct Target {
    shelf: u16,
    slot: u8,
    spf: u8,
    buffer_count: u16,
    firmware_version: u16,
    sectors: u64,
    mask_capacity: usize,
    mask_locked: bool,
    reserve_capacity: usize,
    disk: Arc<dyn BlockDevice>,
    identify: [u8; 512],
    state: RwLock<State>,
    stats: Stats,
}

impl Target {
    /// Exports `disk` with `cfg`. Fails if the MTU cannot carry one sector,
    /// the address is a broadcast value, or the config string is too long.
    pub fn new(disk: Arc<dyn BlockDevice>, cfg: TargetConfig) -> Result<Target, Error> {
        let spf = sectors_per_frame(cfg.mtu);
        let bad = |field, value: String, reason| {
            Err(Error::InvalidConfig {
                field,
                value,
                reason,
            })
        };
        if spf == 0 {
            return bad(
                "mtu",
                cfg.mtu.to_string(),
                "too small for one 512-byte sector",
            );
        }
        if cfg.shelf == BROADCAST_SHELF {
            return bad("shelf", cfg.shelf.to_string(), "the broadcast shelf");
        }
        if cfg.slot == BROADCAST_SLOT {
            return bad("slot", cfg.slot.to_string(), "the broadcast slot");
        }
        if cfg.config_string.len() > MAX_CONFIG_LEN {
            return bad(
                "config string",
                format!("of {} bytes", cfg.config_string.len()),
                "longer than an AoE config string can be",
            );
        }
        let sectors = disk.size() / SECTOR_SIZE as u64;
        let identify = Identity {
            sectors,
            physical_block_size: disk.block_size(),
            model: cfg.model,
            serial: cfg.serial,
            firmware: cfg.firmware,
        }
        .to_bytes();
        // A mask list reply must fit one frame: 28 bytes of headers, then 8
        // bytes a directive, and the count is one byte.
        let mask_capacity =
            ((cfg.mtu.saturating_sub(HEADER_LEN + MacMaskHeader::LEN)) / 8).min(255);
        // Likewise a reserve list reply: 26 bytes of headers, 6 a MAC.
        let reserve_capacity =
            ((cfg.mtu.saturating_sub(HEADER_LEN + ReserveHeader::LEN)) / 6).min(255);
        let mut mask = cfg.allow_macs;
        mask.dedup();
        mask.truncate(mask_capacity);
        Ok(Target {
            shelf: cfg.shelf,
            slot: cfg.slot,
            spf,
            buffer_count: cfg.buffer_count,
            firmware_version: cfg.firmware_version,
            sectors,
            mask_capacity,
            mask_locked: cfg.mask_locked,
            reserve_capacity,
            disk,
            identify,
            state: RwLock::new(State {
                config: cfg.config_string,
                mask,
                reserve: Vec::new(),
            }),
            stats: Stats::default(),
        })
    }

    /// Shelf address.
    pub fn shelf(&self) -> u16 {
        self.shelf
    }
    /// Slot address.
    pub fn slot(&self) -> u8 {
        self.slot
    }
    /// Sectors per frame advertised and enforced.
    pub fn sectors_per_frame(&self) -> u8 {
        self.spf
    }
    /// Capacity in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }
    /// The disk.
    pub fn disk(&self) -> &Arc<dyn BlockDevice> {
        &self.disk
    }
    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// The current MAC mask list.
    pub fn mask_list(&self) -> Vec<MacAddr> {
        self.state().mask.clone()
    }
    /// The current reserve list.
    pub fn reserve_list(&self) -> Vec<MacAddr> {
        self.state().reserve.clone()
    }
    /// The current config string.
    pub fn config_string(&self) -> Vec<u8> {
        self.state().config.clone()
    }

    /// The smallest transmit buffer [`Target::execute`] may need.
    pub fn tx_buffer_len(&self) -> usize {
        let ata = ATA_DATA_OFFSET + usize::from(self.spf) * SECTOR_SIZE;
        let cfg = HEADER_LEN + ConfigHeader::LEN + MAX_CONFIG_LEN;
        let mask = HEADER_LEN + MacMaskHeader::LEN + 255 * Directive::LEN;
        let res = HEADER_LEN + ReserveHeader::LEN + 255 * 6;
        ata.max(cfg).max(mask).max(res)
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent
        // (every update is a single assignment), so poisoning is ignored.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A frame announcing this target (an unsolicited query-config reply to
    /// broadcast, as vblade sends at start-up). Returns its length.
    pub fn announce(&self, iface_mac: MacAddr, tx: &mut [u8]) -> Result<usize, Error> {
        let work = Work {
            eth: EthernetHeader {
                dst: MacAddr::BROADCAST,
                src: iface_mac,
                ethertype: ETHERTYPE_AOE,
            },
            aoe: AoeHeader {
                version: AOE_VERSION,
                flags: AoeFlags {
                    response: true,
                    error: false,
                },
                error: ErrorCode::NONE,
                major: self.shelf,
                minor: self.slot,
                command: Command::QUERY_CONFIG,
                tag: 0,
            },
            ata: None,
            op: Op::Config(ConfigCommand::READ, self.config_string()),
        };
        self.emit(&work, &[], tx, false)
    }

    /// Receives one frame, runs it against the disk and writes the reply,
    /// if any, into `tx` (at least [`Target::tx_buffer_len`] bytes): what
    /// [`prepare`](Self::prepare) and [`execute`](Self::execute) do in one
    /// call. Returns the reply's length.
    pub fn process(
        &self,
        now: Instant,
        iface_mac: MacAddr,
        rx: &[u8],
        tx: &mut [u8],
    ) -> Option<usize> {
        match self.prepare(now, iface_mac, rx) {
            Ok(work) => Some(self.execute(&work, rx, tx)),
            Err(_) => None,
        }
    }

    /// Decides what to do with a received frame, without disk I/O. Control
    /// commands (config, mask, reserve) take effect here.
    ///
    /// `now` is accepted for the sans-IO shape; no rule depends on time today.
    pub fn prepare(&self, now: Instant, iface_mac: MacAddr, rx: &[u8]) -> Result<Work, Ignored> {
        let _ = now;
        let r = self.classify(iface_mac, rx);
        if r.is_err() {
            self.stats.ignored.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn classify(&self, iface_mac: MacAddr, rx: &[u8]) -> Result<Work, Ignored> {
        let (eth, aoe, _) = wire::parse_headers(rx).map_err(Ignored::NotAoe)?;
        if aoe.flags.response {
            return Err(Ignored::Response);
        }
        if eth.src == iface_mac {
            return Err(Ignored::Own);
        }
        if eth.dst != iface_mac && !eth.dst.is_broadcast() {
            return Err(Ignored::NotForUs);
        }
        if (aoe.major != self.shelf && aoe.major != BROADCAST_SHELF)
            || (aoe.minor != self.slot && aoe.minor != BROADCAST_SLOT)
        {
            return Err(Ignored::NotForUs);
        }
        {
            let st = self.state();
            if !st.mask.is_empty() && !st.mask.contains(&eth.src) {
                return Err(Ignored::MacNotAllowed(eth.src));
            }
        }
        let mut work = Work {
            eth: EthernetHeader {
                dst: eth.src,
                src: iface_mac,
                ethertype: ETHERTYPE_AOE,
            },
            aoe: AoeHeader {
                version: AOE_VERSION,
                flags: AoeFlags {
                    response: true,
                    error: false,
                },
                error: ErrorCode::NONE,
                // Replies carry our own address, also to broadcast requests.
                major: self.shelf,
                minor: self.slot,
                command: aoe.command,
                tag: aoe.tag,
            },
            ata: None,
            op: Op::Flush,
        };
        if aoe.version != AOE_VERSION {
            work.op = Op::AoeError(ErrorCode::UNSUPPORTED_VERSION);
            return Ok(work);
        }
        let frame = match Frame::parse(rx) {
            Ok(f) => f,
            Err(ParseError::TooLong { .. }) => {
                work.op = Op::AoeError(ErrorCode::BAD_ARGUMENT);
                return Ok(work);
            }
            Err(e) => return Err(Ignored::Malformed(e)),
        };
        work.op = match frame.body {
            Body::Ata(h, data) => {
                work.ata = Some(h);
                self.ata_op(&eth.src, &h, data)
            }
            Body::Config(h, s) => self.config_op(&h, s)?,
            Body::MacMask(h, d) => self.mask_op(&h, d),
            Body::Reserve(h, m) => self.reserve_op(&eth.src, &h, m),
            Body::Other(_) => Op::AoeError(ErrorCode::UNRECOGNIZED_COMMAND),
        };
        Ok(work)
    }

    fn ata_op(&self, src: &MacAddr, h: &AtaHeader, data: &[u8]) -> Op {
        let abort = Op::Registers {
            status: AtaStatus::DRDY | AtaStatus::ERR,
            error: err::ABRT,
            count: h.sector_count,
        };
        let lba = if h.aflags.extended() {
            h.lba & AtaHeader::MAX_LBA
        } else {
            // LBA28: the upper nibble of byte 3 is the device register.
            h.lba & 0x0fff_ffff
        };
        let count = h.sector_count;
        let in_range = || {
            lba.checked_add(count.into())
                .is_some_and(|end| end <= self.sectors)
        };
        let idnf = Op::Registers {
            status: AtaStatus::DRDY | AtaStatus::ERR,
            error: err::IDNF,
            count,
        };
        match h.cmd_status {
            cmd::READ_SECTORS | cmd::READ_SECTORS_EXT => {
                if count > self.spf {
                    Op::AoeError(ErrorCode::BAD_ARGUMENT)
                } else if !in_range() {
                    idnf
                } else {
                    Op::Read { lba, count }
                }
            }
            cmd::WRITE_SECTORS | cmd::WRITE_SECTORS_EXT => {
                let reserved = {
                    let st = self.state();
                    !st.reserve.is_empty() && !st.reserve.contains(src)
                };
                if reserved {
                    Op::AoeError(ErrorCode::TARGET_RESERVED)
                } else if count > self.spf {
                    Op::AoeError(ErrorCode::BAD_ARGUMENT)
                } else if self.disk.read_only() || data.len() < usize::from(count) * SECTOR_SIZE {
                    abort
                } else if !in_range() {
                    idnf
                } else {
                    Op::Write { lba, count }
                }
            }
            cmd::FLUSH_CACHE | cmd::FLUSH_CACHE_EXT => Op::Flush,
            cmd::IDENTIFY_DEVICE => Op::Identify,
            cmd::CHECK_POWER_MODE => Op::Registers {
                status: AtaStatus::DRDY,
                error: 0,
                // 0xFF: active or idle.
                count: 0xff,
            },
            cmd::SET_FEATURES => Op::Registers {
                status: AtaStatus::DRDY,
                error: 0,
                count,
            },
            _ => abort,
        }
    }

    fn config_op(&self, h: &ConfigHeader, s: &[u8]) -> Result<Op, Ignored> {
        let reply = |st: &State| Ok(Op::Config(h.ccmd, st.config.clone()));
        match h.ccmd {
            ConfigCommand::READ => reply(&self.state()),
            ConfigCommand::TEST_EXACT => {
                let st = self.state();
                if st.config == s {
                    reply(&st)
                } else {
                    Err(Ignored::ConfigMismatch)
                }
            }
            ConfigCommand::TEST_PREFIX => {
                let st = self.state();
                if st.config.starts_with(s) {
                    reply(&st)
                } else {
                    Err(Ignored::ConfigMismatch)
                }
            }
            ConfigCommand::SET_IF_EMPTY => {
                let mut st = self.state_mut();
                if st.config.is_empty() || st.config == s {
                    st.config = s.to_vec();
                    reply(&st)
                } else {
                    Ok(Op::AoeError(ErrorCode::CONFIG_STRING_PRESENT))
                }
            }
            ConfigCommand::FORCE_SET => {
                let mut st = self.state_mut();
                st.config = s.to_vec();
                reply(&st)
            }
            _ => Ok(Op::AoeError(ErrorCode::BAD_ARGUMENT)),
        }
    }

    fn mask_op(&self, h: &MacMaskHeader, d: DirectiveList<'_>) -> Op {
        match h.mcmd {
            MaskCommand::READ => Op::MacMask(h.mcmd, MaskError::NONE, self.state().mask.clone()),
            MaskCommand::EDIT if self.mask_locked => {
                Op::MacMask(h.mcmd, MaskError::UNSPECIFIED, self.state().mask.clone())
            }
            MaskCommand::EDIT => {
                let mut st = self.state_mut();
                let mut merror = MaskError::NONE;
                for dir in d.iter() {
                    match dir.dcmd {
                        DirectiveCommand::NONE => {}
                        DirectiveCommand::ADD => {
                            if !st.mask.contains(&dir.mac) {
                                if st.mask.len() >= self.mask_capacity {
                                    merror = MaskError::LIST_FULL;
                                    break;
                                }
                                st.mask.push(dir.mac);
                            }
                        }
                        DirectiveCommand::DELETE => st.mask.retain(|m| *m != dir.mac),
                        _ => {
                            merror = MaskError::BAD_DIRECTIVE;
                            break;
                        }
                    }
                }
                Op::MacMask(h.mcmd, merror, st.mask.clone())
            }
            _ => Op::AoeError(ErrorCode::BAD_ARGUMENT),
        }
    }

    fn reserve_op(&self, src: &MacAddr, h: &ReserveHeader, m: MacList<'_>) -> Op {
        match h.rcmd {
            ReserveCommand::READ => Op::Reserve(h.rcmd, self.state().reserve.clone()),
            ReserveCommand::SET | ReserveCommand::FORCE_SET => {
                let mut st = self.state_mut();
                if h.rcmd == ReserveCommand::SET
                    && !st.reserve.is_empty()
                    && !st.reserve.contains(src)
                {
                    return Op::AoeError(ErrorCode::TARGET_RESERVED);
                }
                if m.len() > self.reserve_capacity {
                    return Op::AoeError(ErrorCode::BAD_ARGUMENT);
                }
                st.reserve = m.iter().collect();
                st.reserve.dedup();
                Op::Reserve(h.rcmd, st.reserve.clone())
            }
            _ => Op::AoeError(ErrorCode::BAD_ARGUMENT),
        }
    }

    /// Runs `work` (prepared from `rx`) and writes the reply into `tx`, which
    /// must hold [`Target::tx_buffer_len`] bytes. Returns the reply length.
    ///
    /// # Panics
    ///
    /// If `tx` is shorter than [`Target::tx_buffer_len`].
    pub fn execute(&self, work: &Work, rx: &[u8], tx: &mut [u8]) -> usize {
        assert!(
            tx.len() >= self.tx_buffer_len(),
            "transmit buffer too small"
        );
        match self.emit(work, rx, tx, false) {
            Ok(n) => {
                self.stats.replies.fetch_add(1, Ordering::Relaxed);
                n
            }
            // Unreachable with a buffer of tx_buffer_len(): every list and
            // string was capped when the work was prepared.
            Err(_) => 0,
        }
    }

    /// Runs works that are all reads, or all writes, each starting at the
    /// sector after the previous one ends (as a client streaming a disk
    /// sends them), with one vectored disk call (`preadv`/`pwritev`), and
    /// writes their replies: `lens[i]` is the length of the reply in
    /// `txs[i]` to `works[i]`, prepared from `rxs[i]`. Anything else, or a
    /// failed merged call, is run one work at a time with
    /// [`Target::execute`], so every reply reports its own error. Replies
    /// are the same as from [`Target::execute`] one by one, in order.
    ///
    /// # Panics
    ///
    /// If the slices differ in length or a `tx` is shorter than
    /// [`Target::tx_buffer_len`].
    pub fn execute_run(
        &self,
        works: &[&Work],
        rxs: &[&[u8]],
        txs: &mut [&mut [u8]],
        lens: &mut [usize],
    ) {
        assert!(
            works.len() == rxs.len() && works.len() == txs.len() && works.len() == lens.len(),
            "execute_run: slices differ in length"
        );
        let one_by_one = |txs: &mut [&mut [u8]], lens: &mut [usize]| {
            for (i, w) in works.iter().enumerate() {
                lens[i] = self.execute(w, rxs[i], txs[i]);
            }
        };
        let Some(run) = Self::run_of(works) else {
            return one_by_one(txs, lens);
        };
        for tx in txs.iter() {
            assert!(
                tx.len() >= self.tx_buffer_len(),
                "transmit buffer too small"
            );
        }
        let offset = run.lba * SECTOR_SIZE as u64;
        let ok = if run.write {
            let mut bufs = Vec::with_capacity(works.len());
            for (w, rx) in works.iter().zip(rxs) {
                let len = usize::from(Self::io_count(w).unwrap_or(0)) * SECTOR_SIZE;
                match rx.get(ATA_DATA_OFFSET..ATA_DATA_OFFSET + len) {
                    Some(d) => bufs.push(d),
                    None => return one_by_one(txs, lens),
                }
            }
            self.disk
                .write_vectored_at(&bufs, offset)
                .and_then(|()| self.disk.write_back())
                .is_ok()
        } else {
            let mut bufs: Vec<&mut [u8]> = works
                .iter()
                .zip(txs.iter_mut())
                .map(|(w, tx)| {
                    let len = usize::from(Self::io_count(w).unwrap_or(0)) * SECTOR_SIZE;
                    &mut tx[ATA_DATA_OFFSET..ATA_DATA_OFFSET + len]
                })
                .collect();
            self.disk.read_vectored_at(&mut bufs, offset).is_ok()
        };
        if !ok {
            return one_by_one(txs, lens);
        }
        for (i, w) in works.iter().enumerate() {
            lens[i] = match self.emit(w, rxs[i], txs[i], true) {
                Ok(n) => {
                    self.stats.replies.fetch_add(1, Ordering::Relaxed);
                    n
                }
                Err(_) => 0,
            };
        }
    }

    /// Sectors of a read or write.
    fn io_count(w: &Work) -> Option<u8> {
        match w.op {
            Op::Read { count, .. } | Op::Write { count, .. } => Some(count),
            _ => None,
        }
    }

    /// Whether `works` (two or more) are all reads or all writes of
    /// consecutive sectors; the first LBA and the direction if so.
    fn run_of(works: &[&Work]) -> Option<Run> {
        if works.len() < 2 {
            return None;
        }
        let mut run: Option<Run> = None;
        let mut next = 0u64;
        for w in works {
            let (lba, count, write) = match w.op {
                Op::Read { lba, count } => (lba, count, false),
                Op::Write { lba, count } => (lba, count, true),
                _ => return None,
            };
            match run {
                None => run = Some(Run { lba, write }),
                Some(r) if r.write == write && lba == next => {}
                Some(_) => return None,
            }
            next = lba + u64::from(count);
        }
        run
    }

    /// Whether `b` continues `a`: the same direction, the next sector. A
    /// daemon uses it to find runs for [`Target::execute_run`].
    pub fn continues(a: &Work, b: &Work) -> bool {
        match (&a.op, &b.op) {
            (Op::Read { lba, count }, Op::Read { lba: l2, .. })
            | (Op::Write { lba, count }, Op::Write { lba: l2, .. }) => {
                lba.checked_add(u64::from(*count)) == Some(*l2)
            }
            _ => false,
        }
    }

    fn emit(&self, work: &Work, rx: &[u8], tx: &mut [u8], done: bool) -> Result<usize, Error> {
        let mut aoe = work.aoe;
        let body_len = match &work.op {
            Op::AoeError(code) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                aoe.flags.error = true;
                aoe.error = *code;
                // Echo the request's fixed arguments (not its data).
                let (_, _, args) = wire::parse_headers(rx)?;
                let n = match work.aoe.command {
                    Command::ATA => AtaHeader::LEN,
                    Command::QUERY_CONFIG => ConfigHeader::LEN,
                    Command::MAC_MASK => MacMaskHeader::LEN,
                    Command::RESERVE => ReserveHeader::LEN,
                    _ => 0,
                }
                .min(args.len());
                tx[HEADER_LEN..HEADER_LEN + n].copy_from_slice(&args[..n]);
                // The echoed header declares no string or list, so the reply
                // parses on its own.
                let echoed = &mut tx[HEADER_LEN..HEADER_LEN + n];
                match (work.aoe.command, n) {
                    (Command::QUERY_CONFIG, ConfigHeader::LEN) => echoed[6..8].fill(0),
                    (Command::MAC_MASK, MacMaskHeader::LEN) => echoed[3] = 0,
                    (Command::RESERVE, ReserveHeader::LEN) => echoed[1] = 0,
                    _ => {}
                }
                n
            }
            Op::Config(ccmd, s) => ConfigHeader {
                buffer_count: self.buffer_count,
                firmware_version: self.firmware_version,
                sectors_per_frame: self.spf,
                aoe_version: AOE_VERSION,
                ccmd: *ccmd,
            }
            .emit(s, &mut tx[HEADER_LEN..])?,
            Op::MacMask(mcmd, merror, list) => {
                let enc: Vec<u8> = list
                    .iter()
                    .flat_map(|m| {
                        let mut d = [0u8; 8];
                        d[1] = DirectiveCommand::ADD.0;
                        d[2..].copy_from_slice(&m.0);
                        d
                    })
                    .collect();
                MacMaskHeader {
                    mcmd: *mcmd,
                    merror: *merror,
                }
                .emit(DirectiveList::new(&enc)?, &mut tx[HEADER_LEN..])?
            }
            Op::Reserve(rcmd, list) => {
                let enc = MacList::encode(list);
                ReserveHeader { rcmd: *rcmd }.emit(MacList::new(&enc)?, &mut tx[HEADER_LEN..])?
            }
            Op::Read { .. }
            | Op::Write { .. }
            | Op::Flush
            | Op::Identify
            | Op::Registers { .. } => self.ata_io(work, rx, tx, done),
        };
        wire::emit_headers(&work.eth, &aoe, tx)?;
        Ok(wire::pad(tx, HEADER_LEN + body_len))
    }

    /// Runs an ATA operation; writes the ATA header and data, returns the
    /// body length. With `done`, a read or write was already carried out
    /// successfully (by [`Target::execute_run`]).
    fn ata_io(&self, work: &Work, rx: &[u8], tx: &mut [u8], done: bool) -> usize {
        let req = work.ata.unwrap_or(AtaHeader {
            aflags: Default::default(),
            err_feature: 0,
            sector_count: 0,
            cmd_status: 0,
            lba: 0,
        });
        let ok = AtaStatus::DRDY;
        let fail = AtaStatus::DRDY | AtaStatus::ERR;
        let (status, error, count, data_len) = match work.op {
            Op::Read { lba, count } => {
                let len = usize::from(count) * SECTOR_SIZE;
                let buf = &mut tx[ATA_DATA_OFFSET..ATA_DATA_OFFSET + len];
                let r = if done {
                    Ok(())
                } else {
                    self.disk.read_at(buf, lba * SECTOR_SIZE as u64)
                };
                match r {
                    Ok(()) => {
                        self.stats
                            .sectors_read
                            .fetch_add(count.into(), Ordering::Relaxed);
                        (ok, 0, count, len)
                    }
                    Err(_) => (fail, err::UNC, count, 0),
                }
            }
            Op::Write { lba, count } => {
                let len = usize::from(count) * SECTOR_SIZE;
                // prepare() checked that the request carries `len` bytes.
                let data = rx
                    .get(ATA_DATA_OFFSET..ATA_DATA_OFFSET + len)
                    .unwrap_or_default();
                if data.len() != len {
                    (fail, err::ABRT, count, 0)
                } else {
                    // Linux's AoE driver never flushes (it takes its disks
                    // for write-through): a write is in the disk's files
                    // before it is acknowledged.
                    let r = if done {
                        Ok(())
                    } else {
                        self.disk
                            .write_at(data, lba * SECTOR_SIZE as u64)
                            .and_then(|()| self.disk.write_back())
                    };
                    match r {
                        Ok(()) => {
                            self.stats
                                .sectors_written
                                .fetch_add(count.into(), Ordering::Relaxed);
                            (ok, 0, count, 0)
                        }
                        Err(_) => (fail, err::ABRT, count, 0),
                    }
                }
            }
            Op::Flush => match self.disk.flush() {
                Ok(()) => (ok, 0, req.sector_count, 0),
                Err(_) => (fail, err::ABRT, req.sector_count, 0),
            },
            Op::Identify => {
                tx[ATA_DATA_OFFSET..ATA_DATA_OFFSET + 512].copy_from_slice(&self.identify);
                (ok, 0, req.sector_count, 512)
            }
            Op::Registers {
                status,
                error,
                count,
            } => (status, error, count, 0),
            _ => (fail, err::ABRT, 0, 0),
        };
        if status & AtaStatus::ERR != 0 {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        let h = AtaHeader {
            aflags: req.aflags,
            err_feature: error,
            sector_count: count,
            cmd_status: status,
            lba: req.lba,
        };
        // The header fits: tx holds at least tx_buffer_len() bytes.
        let _ = h.emit(&mut tx[HEADER_LEN..]);
        AtaHeader::LEN + data_len
    }
}

#[cfg(test)]
mod tests;
