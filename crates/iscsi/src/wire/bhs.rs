//! The Basic Header Segment of every PDU (RFC 7143 §11.2.1), one owned
//! `Copy` struct per opcode.
//!
//! Each struct's `parse` reads a 48-byte BHS whose opcode was already
//! checked and `emit` writes all 48 bytes except TotalAHSLength and
//! DataSegmentLength (bytes 4..8), which [`Pdu::emit`](super::Pdu::emit)
//! derives from the AHS and data it carries. Reserved bits are ignored on
//! parse and written as zero.

use super::enums::*;
use crate::Error;

/// Length of the Basic Header Segment.
pub const BHS_LEN: usize = 48;

/// A raw Basic Header Segment.
pub type RawBhs = [u8; BHS_LEN];

/// Opcode values (RFC 7143 §11.2.1.2).
pub mod opcode {
    /// NOP-Out.
    pub const NOP_OUT: u8 = 0x00;
    /// SCSI Command.
    pub const SCSI_COMMAND: u8 = 0x01;
    /// SCSI Task Management Function Request.
    pub const TASK_MGMT_REQUEST: u8 = 0x02;
    /// Login Request.
    pub const LOGIN_REQUEST: u8 = 0x03;
    /// Text Request.
    pub const TEXT_REQUEST: u8 = 0x04;
    /// SCSI Data-Out.
    pub const DATA_OUT: u8 = 0x05;
    /// Logout Request.
    pub const LOGOUT_REQUEST: u8 = 0x06;
    /// SNACK Request.
    pub const SNACK_REQUEST: u8 = 0x10;
    /// NOP-In.
    pub const NOP_IN: u8 = 0x20;
    /// SCSI Response.
    pub const SCSI_RESPONSE: u8 = 0x21;
    /// SCSI Task Management Function Response.
    pub const TASK_MGMT_RESPONSE: u8 = 0x22;
    /// Login Response.
    pub const LOGIN_RESPONSE: u8 = 0x23;
    /// Text Response.
    pub const TEXT_RESPONSE: u8 = 0x24;
    /// SCSI Data-In.
    pub const DATA_IN: u8 = 0x25;
    /// Logout Response.
    pub const LOGOUT_RESPONSE: u8 = 0x26;
    /// Ready To Transfer.
    pub const R2T: u8 = 0x31;
    /// Asynchronous Message.
    pub const ASYNC_MESSAGE: u8 = 0x32;
    /// Reject.
    pub const REJECT: u8 = 0x3f;

    /// Whether `op` is one of the vendor-specific codes (0x1c-0x1e from the
    /// initiator, 0x3c-0x3e from the target).
    pub fn is_vendor_specific(op: u8) -> bool {
        matches!(op, 0x1c..=0x1e | 0x3c..=0x3e)
    }
}

/// Byte offsets shared by all opcodes (RFC 7143 §11.2.1).
mod field {
    pub const OPCODE: usize = 0;
    pub const FLAGS: usize = 1;
    pub const TOTAL_AHS_LEN: usize = 4;
    pub const DATA_SEGMENT_LEN: usize = 5;
    pub const LUN: usize = 8;
    pub const ITT: usize = 16;
}

const IMMEDIATE: u8 = 0x40;
const OPCODE_MASK: u8 = 0x3f;
const F_BIT: u8 = 0x80;
const C_BIT: u8 = 0x40;

/// The "no tag" value of task tags (RFC 7143 §11.2.1.8).
pub const RESERVED_TAG: u32 = 0xffff_ffff;

fn u16_at(b: &RawBhs, at: usize) -> u16 {
    let mut v = [0u8; 2];
    v.copy_from_slice(&b[at..at + 2]);
    u16::from_be_bytes(v)
}

fn u32_at(b: &RawBhs, at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(v)
}

fn u64_at(b: &RawBhs, at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(v)
}

fn put_u16(b: &mut RawBhs, at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_u32(b: &mut RawBhs, at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put_u64(b: &mut RawBhs, at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Starts a BHS: zeroes it and writes the opcode byte.
fn start(b: &mut RawBhs, op: u8, immediate: bool) {
    *b = [0; BHS_LEN];
    b[field::OPCODE] = op | if immediate { IMMEDIATE } else { 0 };
}

fn flag(b: &RawBhs, bit: u8) -> bool {
    b[field::FLAGS] & bit != 0
}

fn immediate(b: &RawBhs) -> bool {
    b[field::OPCODE] & IMMEDIATE != 0
}

/// The opcode of a raw BHS, without the immediate bit.
pub fn raw_opcode(b: &RawBhs) -> u8 {
    b[field::OPCODE] & OPCODE_MASK
}

/// TotalAHSLength in bytes and DataSegmentLength of a raw BHS.
pub fn raw_lengths(b: &RawBhs) -> (usize, usize) {
    let ahs = usize::from(b[field::TOTAL_AHS_LEN]) * 4;
    let d = field::DATA_SEGMENT_LEN;
    let data = usize::from(b[d]) << 16 | usize::from(b[d + 1]) << 8 | usize::from(b[d + 2]);
    (ahs, data)
}

/// Writes TotalAHSLength (bytes, a multiple of 4) and DataSegmentLength.
pub(crate) fn put_lengths(b: &mut RawBhs, ahs_len: usize, data_len: usize) -> Result<(), Error> {
    let words = u8::try_from(ahs_len / 4).map_err(|_| Error::FieldOverflow {
        field: "TotalAHSLength",
        value: ahs_len as u64,
    })?;
    if data_len > 0x00ff_ffff {
        return Err(Error::FieldOverflow {
            field: "DataSegmentLength",
            value: data_len as u64,
        });
    }
    b[field::TOTAL_AHS_LEN] = words;
    let d = field::DATA_SEGMENT_LEN;
    b[d] = (data_len >> 16) as u8;
    b[d + 1] = (data_len >> 8) as u8;
    b[d + 2] = data_len as u8;
    Ok(())
}

/// NOP-Out (RFC 7143 §11.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NopOut {
    /// I bit: immediate delivery.
    pub immediate: bool,
    /// Logical Unit Number (when TTT is not 0xffffffff).
    pub lun: u64,
    /// Initiator Task Tag, 0xffffffff for a reply to a NOP-In.
    pub itt: u32,
    /// Target Transfer Tag, copied from the NOP-In being answered.
    pub ttt: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl NopOut {
    fn parse(b: &RawBhs) -> Self {
        NopOut {
            immediate: immediate(b),
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            ttt: u32_at(b, 20),
            cmd_sn: u32_at(b, 24),
            exp_stat_sn: u32_at(b, 28),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::NOP_OUT, self.immediate);
        b[field::FLAGS] = F_BIT;
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.ttt);
        put_u32(b, 24, self.cmd_sn);
        put_u32(b, 28, self.exp_stat_sn);
    }
}

/// NOP-In (RFC 7143 §11.19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NopIn {
    /// Logical Unit Number.
    pub lun: u64,
    /// Initiator Task Tag, 0xffffffff when the target pings.
    pub itt: u32,
    /// Target Transfer Tag, 0xffffffff when no answer is wanted.
    pub ttt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl NopIn {
    fn parse(b: &RawBhs) -> Self {
        NopIn {
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            ttt: u32_at(b, 20),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::NOP_IN, false);
        b[field::FLAGS] = F_BIT;
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.ttt);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
    }
}

/// SCSI Command (RFC 7143 §11.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScsiCommand {
    /// I bit: immediate delivery.
    pub immediate: bool,
    /// F bit: no unsolicited Data-Out PDUs follow.
    pub final_: bool,
    /// R bit: data flows to the initiator.
    pub read: bool,
    /// W bit: data flows to the target.
    pub write: bool,
    /// Task attribute (ATTR).
    pub attr: TaskAttr,
    /// Logical Unit Number.
    pub lun: u64,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Expected Data Transfer Length.
    pub expected_data_transfer_length: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// The first 16 bytes of the CDB (the rest goes in an extended CDB AHS).
    pub cdb: [u8; 16],
}

impl ScsiCommand {
    fn parse(b: &RawBhs) -> Self {
        let mut cdb = [0u8; 16];
        cdb.copy_from_slice(&b[32..48]);
        ScsiCommand {
            immediate: immediate(b),
            final_: flag(b, F_BIT),
            read: flag(b, 0x40),
            write: flag(b, 0x20),
            attr: TaskAttr::from(b[field::FLAGS] & 0x07),
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            expected_data_transfer_length: u32_at(b, 20),
            cmd_sn: u32_at(b, 24),
            exp_stat_sn: u32_at(b, 28),
            cdb,
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::SCSI_COMMAND, self.immediate);
        b[field::FLAGS] = u8::from(self.final_) << 7
            | u8::from(self.read) << 6
            | u8::from(self.write) << 5
            | (u8::from(self.attr) & 0x07);
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.expected_data_transfer_length);
        put_u32(b, 24, self.cmd_sn);
        put_u32(b, 28, self.exp_stat_sn);
        b[32..48].copy_from_slice(&self.cdb);
    }
}

/// SCSI Response (RFC 7143 §11.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScsiResponse {
    /// o bit: bidirectional read residual overflow.
    pub bidi_overflow: bool,
    /// u bit: bidirectional read residual underflow.
    pub bidi_underflow: bool,
    /// O bit: residual overflow.
    pub overflow: bool,
    /// U bit: residual underflow.
    pub underflow: bool,
    /// iSCSI service response.
    pub response: ScsiResponseCode,
    /// SCSI status (SAM), valid when the response is "command completed".
    pub status: u8,
    /// Initiator Task Tag.
    pub itt: u32,
    /// SNACK Tag.
    pub snack_tag: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// ExpDataSN.
    pub exp_data_sn: u32,
    /// Bidirectional Read Residual Count.
    pub bidi_read_residual_count: u32,
    /// Residual Count.
    pub residual_count: u32,
}

impl ScsiResponse {
    fn parse(b: &RawBhs) -> Self {
        ScsiResponse {
            bidi_overflow: flag(b, 0x10),
            bidi_underflow: flag(b, 0x08),
            overflow: flag(b, 0x04),
            underflow: flag(b, 0x02),
            response: ScsiResponseCode::from(b[2]),
            status: b[3],
            itt: u32_at(b, field::ITT),
            snack_tag: u32_at(b, 20),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
            exp_data_sn: u32_at(b, 36),
            bidi_read_residual_count: u32_at(b, 40),
            residual_count: u32_at(b, 44),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::SCSI_RESPONSE, false);
        b[field::FLAGS] = F_BIT
            | u8::from(self.bidi_overflow) << 4
            | u8::from(self.bidi_underflow) << 3
            | u8::from(self.overflow) << 2
            | u8::from(self.underflow) << 1;
        b[2] = self.response.into();
        b[3] = self.status;
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.snack_tag);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
        put_u32(b, 36, self.exp_data_sn);
        put_u32(b, 40, self.bidi_read_residual_count);
        put_u32(b, 44, self.residual_count);
    }
}

/// SCSI Task Management Function Request (RFC 7143 §11.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskMgmtRequest {
    /// I bit: immediate delivery.
    pub immediate: bool,
    /// The function (7 bits).
    pub function: TmFunction,
    /// Logical Unit Number.
    pub lun: u64,
    /// Initiator Task Tag of this request.
    pub itt: u32,
    /// Referenced Task Tag (ABORT TASK), else 0xffffffff.
    pub referenced_task_tag: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// RefCmdSN.
    pub ref_cmd_sn: u32,
    /// ExpDataSN (TASK REASSIGN).
    pub exp_data_sn: u32,
}

impl TaskMgmtRequest {
    fn parse(b: &RawBhs) -> Self {
        TaskMgmtRequest {
            immediate: immediate(b),
            function: TmFunction::from(b[field::FLAGS] & 0x7f),
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            referenced_task_tag: u32_at(b, 20),
            cmd_sn: u32_at(b, 24),
            exp_stat_sn: u32_at(b, 28),
            ref_cmd_sn: u32_at(b, 32),
            exp_data_sn: u32_at(b, 36),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::TASK_MGMT_REQUEST, self.immediate);
        b[field::FLAGS] = F_BIT | (u8::from(self.function) & 0x7f);
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.referenced_task_tag);
        put_u32(b, 24, self.cmd_sn);
        put_u32(b, 28, self.exp_stat_sn);
        put_u32(b, 32, self.ref_cmd_sn);
        put_u32(b, 36, self.exp_data_sn);
    }
}

/// SCSI Task Management Function Response (RFC 7143 §11.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskMgmtResponse {
    /// The response.
    pub response: TmResponse,
    /// Initiator Task Tag of the request.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl TaskMgmtResponse {
    fn parse(b: &RawBhs) -> Self {
        TaskMgmtResponse {
            response: TmResponse::from(b[2]),
            itt: u32_at(b, field::ITT),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::TASK_MGMT_RESPONSE, false);
        b[field::FLAGS] = F_BIT;
        b[2] = self.response.into();
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
    }
}

/// Initiator Session ID (RFC 7143 §11.12.5): T, A, B, C, D fields, kept as
/// the six bytes sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Isid(pub [u8; 6]);

/// Login Request (RFC 7143 §11.12). The I bit is always set on emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoginRequest {
    /// T bit: the initiator is ready to move to `nsg`.
    pub transit: bool,
    /// C bit: the text is continued in the next PDU.
    pub continue_: bool,
    /// Current stage.
    pub csg: Stage,
    /// Next stage (valid when `transit`).
    pub nsg: Stage,
    /// Version-max.
    pub version_max: u8,
    /// Version-min.
    pub version_min: u8,
    /// ISID.
    pub isid: Isid,
    /// TSIH: 0 for a new session.
    pub tsih: u16,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Connection ID.
    pub cid: u16,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

fn stages(b: &RawBhs) -> (Stage, Stage) {
    let f = b[field::FLAGS];
    (Stage::from((f >> 2) & 3), Stage::from(f & 3))
}

fn login_flags(transit: bool, continue_: bool, csg: Stage, nsg: Stage) -> u8 {
    u8::from(transit) << 7
        | u8::from(continue_) << 6
        | (u8::from(csg) & 3) << 2
        | (u8::from(nsg) & 3)
}

impl LoginRequest {
    fn parse(b: &RawBhs) -> Self {
        let (csg, nsg) = stages(b);
        let mut isid = [0u8; 6];
        isid.copy_from_slice(&b[8..14]);
        LoginRequest {
            transit: flag(b, F_BIT),
            continue_: flag(b, C_BIT),
            csg,
            nsg,
            version_max: b[2],
            version_min: b[3],
            isid: Isid(isid),
            tsih: u16_at(b, 14),
            itt: u32_at(b, field::ITT),
            cid: u16_at(b, 20),
            cmd_sn: u32_at(b, 24),
            exp_stat_sn: u32_at(b, 28),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::LOGIN_REQUEST, true);
        b[field::FLAGS] = login_flags(self.transit, self.continue_, self.csg, self.nsg);
        b[2] = self.version_max;
        b[3] = self.version_min;
        b[8..14].copy_from_slice(&self.isid.0);
        put_u16(b, 14, self.tsih);
        put_u32(b, field::ITT, self.itt);
        put_u16(b, 20, self.cid);
        put_u32(b, 24, self.cmd_sn);
        put_u32(b, 28, self.exp_stat_sn);
    }
}

/// Login Response (RFC 7143 §11.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoginResponse {
    /// T bit: the target moves to `nsg`.
    pub transit: bool,
    /// C bit: the text is continued in the next PDU.
    pub continue_: bool,
    /// Current stage.
    pub csg: Stage,
    /// Next stage (valid when `transit`).
    pub nsg: Stage,
    /// Version-max.
    pub version_max: u8,
    /// Version-active.
    pub version_active: u8,
    /// ISID.
    pub isid: Isid,
    /// TSIH, assigned by the target in the final response of a new session.
    pub tsih: u16,
    /// Initiator Task Tag.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Status-Class (byte 36) and Status-Detail (byte 37).
    pub status: crate::login::LoginStatus,
}

impl LoginResponse {
    fn parse(b: &RawBhs) -> Self {
        let (csg, nsg) = stages(b);
        let mut isid = [0u8; 6];
        isid.copy_from_slice(&b[8..14]);
        LoginResponse {
            transit: flag(b, F_BIT),
            continue_: flag(b, C_BIT),
            csg,
            nsg,
            version_max: b[2],
            version_active: b[3],
            isid: Isid(isid),
            tsih: u16_at(b, 14),
            itt: u32_at(b, field::ITT),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
            status: crate::login::LoginStatus::new(b[36], b[37]),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::LOGIN_RESPONSE, false);
        b[field::FLAGS] = login_flags(self.transit, self.continue_, self.csg, self.nsg);
        b[2] = self.version_max;
        b[3] = self.version_active;
        b[8..14].copy_from_slice(&self.isid.0);
        put_u16(b, 14, self.tsih);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
        b[36] = self.status.class;
        b[37] = self.status.detail;
    }
}

/// Text Request (RFC 7143 §11.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TextRequest {
    /// I bit: immediate delivery.
    pub immediate: bool,
    /// F bit: last PDU of the text request.
    pub final_: bool,
    /// C bit: the text is continued in the next PDU.
    pub continue_: bool,
    /// Logical Unit Number or reserved.
    pub lun: u64,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag: 0xffffffff, or the tag of the response being
    /// continued.
    pub ttt: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl TextRequest {
    fn parse(b: &RawBhs) -> Self {
        TextRequest {
            immediate: immediate(b),
            final_: flag(b, F_BIT),
            continue_: flag(b, C_BIT),
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            ttt: u32_at(b, 20),
            cmd_sn: u32_at(b, 24),
            exp_stat_sn: u32_at(b, 28),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::TEXT_REQUEST, self.immediate);
        b[field::FLAGS] = u8::from(self.final_) << 7 | u8::from(self.continue_) << 6;
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.ttt);
        put_u32(b, 24, self.cmd_sn);
        put_u32(b, 28, self.exp_stat_sn);
    }
}

/// Text Response (RFC 7143 §11.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TextResponse {
    /// F bit: last PDU of the text response.
    pub final_: bool,
    /// C bit: the text is continued in the next PDU.
    pub continue_: bool,
    /// Logical Unit Number or reserved.
    pub lun: u64,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag: 0xffffffff on the final response, else a tag
    /// the initiator echoes to ask for more.
    pub ttt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl TextResponse {
    fn parse(b: &RawBhs) -> Self {
        TextResponse {
            final_: flag(b, F_BIT),
            continue_: flag(b, C_BIT),
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            ttt: u32_at(b, 20),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::TEXT_RESPONSE, false);
        b[field::FLAGS] = u8::from(self.final_) << 7 | u8::from(self.continue_) << 6;
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.ttt);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
    }
}

/// SCSI Data-Out (RFC 7143 §11.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataOut {
    /// F bit: last PDU of the sequence.
    pub final_: bool,
    /// Logical Unit Number or reserved.
    pub lun: u64,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag from the R2T, or 0xffffffff for unsolicited data.
    pub ttt: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// DataSN.
    pub data_sn: u32,
    /// Buffer Offset.
    pub buffer_offset: u32,
}

impl DataOut {
    fn parse(b: &RawBhs) -> Self {
        DataOut {
            final_: flag(b, F_BIT),
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            ttt: u32_at(b, 20),
            exp_stat_sn: u32_at(b, 28),
            data_sn: u32_at(b, 36),
            buffer_offset: u32_at(b, 40),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::DATA_OUT, false);
        b[field::FLAGS] = u8::from(self.final_) << 7;
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.ttt);
        put_u32(b, 28, self.exp_stat_sn);
        put_u32(b, 36, self.data_sn);
        put_u32(b, 40, self.buffer_offset);
    }
}

/// SCSI Data-In (RFC 7143 §11.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataIn {
    /// F bit: last PDU of the sequence.
    pub final_: bool,
    /// A bit: the target asks for a DataACK SNACK.
    pub acknowledge: bool,
    /// O bit: residual overflow.
    pub overflow: bool,
    /// U bit: residual underflow.
    pub underflow: bool,
    /// S bit and Status: `Some(status)` when the PDU carries the status.
    pub status: Option<u8>,
    /// Logical Unit Number or reserved.
    pub lun: u64,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag or 0xffffffff.
    pub ttt: u32,
    /// StatSN (valid with status).
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// DataSN.
    pub data_sn: u32,
    /// Buffer Offset.
    pub buffer_offset: u32,
    /// Residual Count.
    pub residual_count: u32,
}

impl DataIn {
    fn parse(b: &RawBhs) -> Self {
        DataIn {
            final_: flag(b, F_BIT),
            acknowledge: flag(b, 0x40),
            overflow: flag(b, 0x04),
            underflow: flag(b, 0x02),
            status: flag(b, 0x01).then_some(b[3]),
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            ttt: u32_at(b, 20),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
            data_sn: u32_at(b, 36),
            buffer_offset: u32_at(b, 40),
            residual_count: u32_at(b, 44),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::DATA_IN, false);
        b[field::FLAGS] = u8::from(self.final_) << 7
            | u8::from(self.acknowledge) << 6
            | u8::from(self.overflow) << 2
            | u8::from(self.underflow) << 1
            | u8::from(self.status.is_some());
        b[3] = self.status.unwrap_or(0);
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.ttt);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
        put_u32(b, 36, self.data_sn);
        put_u32(b, 40, self.buffer_offset);
        put_u32(b, 44, self.residual_count);
    }
}

/// Logout Request (RFC 7143 §11.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogoutRequest {
    /// I bit: immediate delivery.
    pub immediate: bool,
    /// Reason code (7 bits).
    pub reason: LogoutReason,
    /// Initiator Task Tag.
    pub itt: u32,
    /// CID of the connection to close (reserved when closing the session).
    pub cid: u16,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl LogoutRequest {
    fn parse(b: &RawBhs) -> Self {
        LogoutRequest {
            immediate: immediate(b),
            reason: LogoutReason::from(b[field::FLAGS] & 0x7f),
            itt: u32_at(b, field::ITT),
            cid: u16_at(b, 20),
            cmd_sn: u32_at(b, 24),
            exp_stat_sn: u32_at(b, 28),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::LOGOUT_REQUEST, self.immediate);
        b[field::FLAGS] = F_BIT | (u8::from(self.reason) & 0x7f);
        put_u32(b, field::ITT, self.itt);
        put_u16(b, 20, self.cid);
        put_u32(b, 24, self.cmd_sn);
        put_u32(b, 28, self.exp_stat_sn);
    }
}

/// Logout Response (RFC 7143 §11.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogoutResponse {
    /// The response.
    pub response: LogoutResponseCode,
    /// Initiator Task Tag.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Time2Wait in seconds.
    pub time2wait: u16,
    /// Time2Retain in seconds.
    pub time2retain: u16,
}

impl LogoutResponse {
    fn parse(b: &RawBhs) -> Self {
        LogoutResponse {
            response: LogoutResponseCode::from(b[2]),
            itt: u32_at(b, field::ITT),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
            time2wait: u16_at(b, 40),
            time2retain: u16_at(b, 42),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::LOGOUT_RESPONSE, false);
        b[field::FLAGS] = F_BIT;
        b[2] = self.response.into();
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
        put_u16(b, 40, self.time2wait);
        put_u16(b, 42, self.time2retain);
    }
}

/// Ready To Transfer (RFC 7143 §11.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct R2t {
    /// Logical Unit Number.
    pub lun: u64,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag.
    pub ttt: u32,
    /// StatSN (next StatSN, not advanced).
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// R2TSN.
    pub r2t_sn: u32,
    /// Buffer Offset.
    pub buffer_offset: u32,
    /// Desired Data Transfer Length.
    pub desired_data_transfer_length: u32,
}

impl R2t {
    fn parse(b: &RawBhs) -> Self {
        R2t {
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            ttt: u32_at(b, 20),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
            r2t_sn: u32_at(b, 36),
            buffer_offset: u32_at(b, 40),
            desired_data_transfer_length: u32_at(b, 44),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::R2T, false);
        b[field::FLAGS] = F_BIT;
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.ttt);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
        put_u32(b, 36, self.r2t_sn);
        put_u32(b, 40, self.buffer_offset);
        put_u32(b, 44, self.desired_data_transfer_length);
    }
}

/// Asynchronous Message (RFC 7143 §11.9). The ITT is always 0xffffffff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsyncMessage {
    /// Logical Unit Number or reserved.
    pub lun: u64,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// AsyncEvent.
    pub event: AsyncEvent,
    /// AsyncVCode (vendor code).
    pub vcode: u8,
    /// Parameter1.
    pub parameter1: u16,
    /// Parameter2.
    pub parameter2: u16,
    /// Parameter3.
    pub parameter3: u16,
}

impl AsyncMessage {
    fn parse(b: &RawBhs) -> Self {
        AsyncMessage {
            lun: u64_at(b, field::LUN),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
            event: AsyncEvent::from(b[36]),
            vcode: b[37],
            parameter1: u16_at(b, 38),
            parameter2: u16_at(b, 40),
            parameter3: u16_at(b, 42),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::ASYNC_MESSAGE, false);
        b[field::FLAGS] = F_BIT;
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, RESERVED_TAG);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
        b[36] = self.event.into();
        b[37] = self.vcode;
        put_u16(b, 38, self.parameter1);
        put_u16(b, 40, self.parameter2);
        put_u16(b, 42, self.parameter3);
    }
}

/// SNACK Request (RFC 7143 §11.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnackRequest {
    /// Type (4 bits).
    pub snack_type: SnackType,
    /// Logical Unit Number or reserved.
    pub lun: u64,
    /// Initiator Task Tag or 0xffffffff.
    pub itt: u32,
    /// Target Transfer Tag, SNACK Tag or 0xffffffff.
    pub ttt_or_snack_tag: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// BegRun.
    pub beg_run: u32,
    /// RunLength.
    pub run_length: u32,
}

impl SnackRequest {
    fn parse(b: &RawBhs) -> Self {
        SnackRequest {
            snack_type: SnackType::from(b[field::FLAGS] & 0x0f),
            lun: u64_at(b, field::LUN),
            itt: u32_at(b, field::ITT),
            ttt_or_snack_tag: u32_at(b, 20),
            exp_stat_sn: u32_at(b, 28),
            beg_run: u32_at(b, 40),
            run_length: u32_at(b, 44),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::SNACK_REQUEST, false);
        b[field::FLAGS] = F_BIT | (u8::from(self.snack_type) & 0x0f);
        put_u64(b, field::LUN, self.lun);
        put_u32(b, field::ITT, self.itt);
        put_u32(b, 20, self.ttt_or_snack_tag);
        put_u32(b, 28, self.exp_stat_sn);
        put_u32(b, 40, self.beg_run);
        put_u32(b, 44, self.run_length);
    }
}

/// Reject (RFC 7143 §11.17). The data segment carries the rejected BHS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reject {
    /// Reason.
    pub reason: RejectReason,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// DataSN/R2TSN or reserved.
    pub data_sn: u32,
}

impl Reject {
    fn parse(b: &RawBhs) -> Self {
        Reject {
            reason: RejectReason::from(b[2]),
            stat_sn: u32_at(b, 24),
            exp_cmd_sn: u32_at(b, 28),
            max_cmd_sn: u32_at(b, 32),
            data_sn: u32_at(b, 36),
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        start(b, opcode::REJECT, false);
        b[field::FLAGS] = F_BIT;
        b[2] = self.reason.into();
        put_u32(b, field::ITT, RESERVED_TAG);
        put_u32(b, 24, self.stat_sn);
        put_u32(b, 28, self.exp_cmd_sn);
        put_u32(b, 32, self.max_cmd_sn);
        put_u32(b, 36, self.data_sn);
    }
}

/// A vendor-specific PDU (opcodes 0x1c-0x1e and 0x3c-0x3e), kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vendor {
    /// The opcode byte (opcode and I bit).
    pub opcode: u8,
    /// Bytes 1..4 of the BHS.
    pub flags: [u8; 3],
    /// Bytes 8..48 of the BHS.
    pub rest: [u8; 40],
}

impl Vendor {
    fn parse(b: &RawBhs) -> Self {
        let mut flags = [0u8; 3];
        flags.copy_from_slice(&b[1..4]);
        let mut rest = [0u8; 40];
        rest.copy_from_slice(&b[8..48]);
        Vendor {
            opcode: b[0] & (OPCODE_MASK | IMMEDIATE),
            flags,
            rest,
        }
    }

    fn emit(&self, b: &mut RawBhs) {
        *b = [0; BHS_LEN];
        b[0] = self.opcode & (OPCODE_MASK | IMMEDIATE);
        b[1..4].copy_from_slice(&self.flags);
        b[8..48].copy_from_slice(&self.rest);
    }
}

/// A typed Basic Header Segment, one variant per PDU of RFC 7143 §11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Bhs {
    NopOut(NopOut),
    ScsiCommand(ScsiCommand),
    TaskMgmtRequest(TaskMgmtRequest),
    LoginRequest(LoginRequest),
    TextRequest(TextRequest),
    DataOut(DataOut),
    LogoutRequest(LogoutRequest),
    SnackRequest(SnackRequest),
    NopIn(NopIn),
    ScsiResponse(ScsiResponse),
    TaskMgmtResponse(TaskMgmtResponse),
    LoginResponse(LoginResponse),
    TextResponse(TextResponse),
    DataIn(DataIn),
    LogoutResponse(LogoutResponse),
    R2t(R2t),
    AsyncMessage(AsyncMessage),
    Reject(Reject),
    Vendor(Vendor),
}

macro_rules! from_header {
    ($($v:ident),+) => {
        $(impl From<$v> for Bhs {
            fn from(h: $v) -> Bhs {
                Bhs::$v(h)
            }
        })+
    };
}

from_header!(
    NopOut,
    ScsiCommand,
    TaskMgmtRequest,
    LoginRequest,
    TextRequest,
    DataOut,
    LogoutRequest,
    SnackRequest,
    NopIn,
    ScsiResponse,
    TaskMgmtResponse,
    LoginResponse,
    TextResponse,
    DataIn,
    LogoutResponse,
    R2t,
    AsyncMessage,
    Reject,
    Vendor
);

impl Bhs {
    /// Parses the typed fields of a 48-byte BHS. TotalAHSLength and
    /// DataSegmentLength are not part of the result (see [`raw_lengths`]).
    ///
    /// Fails only on a reserved opcode.
    pub fn parse(b: &RawBhs) -> Result<Bhs, Error> {
        let op = raw_opcode(b);
        Ok(match op {
            opcode::NOP_OUT => Bhs::NopOut(NopOut::parse(b)),
            opcode::SCSI_COMMAND => Bhs::ScsiCommand(ScsiCommand::parse(b)),
            opcode::TASK_MGMT_REQUEST => Bhs::TaskMgmtRequest(TaskMgmtRequest::parse(b)),
            opcode::LOGIN_REQUEST => Bhs::LoginRequest(LoginRequest::parse(b)),
            opcode::TEXT_REQUEST => Bhs::TextRequest(TextRequest::parse(b)),
            opcode::DATA_OUT => Bhs::DataOut(DataOut::parse(b)),
            opcode::LOGOUT_REQUEST => Bhs::LogoutRequest(LogoutRequest::parse(b)),
            opcode::SNACK_REQUEST => Bhs::SnackRequest(SnackRequest::parse(b)),
            opcode::NOP_IN => Bhs::NopIn(NopIn::parse(b)),
            opcode::SCSI_RESPONSE => Bhs::ScsiResponse(ScsiResponse::parse(b)),
            opcode::TASK_MGMT_RESPONSE => Bhs::TaskMgmtResponse(TaskMgmtResponse::parse(b)),
            opcode::LOGIN_RESPONSE => Bhs::LoginResponse(LoginResponse::parse(b)),
            opcode::TEXT_RESPONSE => Bhs::TextResponse(TextResponse::parse(b)),
            opcode::DATA_IN => Bhs::DataIn(DataIn::parse(b)),
            opcode::LOGOUT_RESPONSE => Bhs::LogoutResponse(LogoutResponse::parse(b)),
            opcode::R2T => Bhs::R2t(R2t::parse(b)),
            opcode::ASYNC_MESSAGE => Bhs::AsyncMessage(AsyncMessage::parse(b)),
            opcode::REJECT => Bhs::Reject(Reject::parse(b)),
            op if opcode::is_vendor_specific(op) => Bhs::Vendor(Vendor::parse(b)),
            op => return Err(Error::ReservedOpcode(op)),
        })
    }

    /// Writes the BHS with TotalAHSLength and DataSegmentLength set to zero.
    pub fn emit(&self, b: &mut RawBhs) {
        match self {
            Bhs::NopOut(h) => h.emit(b),
            Bhs::ScsiCommand(h) => h.emit(b),
            Bhs::TaskMgmtRequest(h) => h.emit(b),
            Bhs::LoginRequest(h) => h.emit(b),
            Bhs::TextRequest(h) => h.emit(b),
            Bhs::DataOut(h) => h.emit(b),
            Bhs::LogoutRequest(h) => h.emit(b),
            Bhs::SnackRequest(h) => h.emit(b),
            Bhs::NopIn(h) => h.emit(b),
            Bhs::ScsiResponse(h) => h.emit(b),
            Bhs::TaskMgmtResponse(h) => h.emit(b),
            Bhs::LoginResponse(h) => h.emit(b),
            Bhs::TextResponse(h) => h.emit(b),
            Bhs::DataIn(h) => h.emit(b),
            Bhs::LogoutResponse(h) => h.emit(b),
            Bhs::R2t(h) => h.emit(b),
            Bhs::AsyncMessage(h) => h.emit(b),
            Bhs::Reject(h) => h.emit(b),
            Bhs::Vendor(h) => h.emit(b),
        }
    }

    /// The opcode (without the I bit).
    pub fn opcode(&self) -> u8 {
        match self {
            Bhs::NopOut(_) => opcode::NOP_OUT,
            Bhs::ScsiCommand(_) => opcode::SCSI_COMMAND,
            Bhs::TaskMgmtRequest(_) => opcode::TASK_MGMT_REQUEST,
            Bhs::LoginRequest(_) => opcode::LOGIN_REQUEST,
            Bhs::TextRequest(_) => opcode::TEXT_REQUEST,
            Bhs::DataOut(_) => opcode::DATA_OUT,
            Bhs::LogoutRequest(_) => opcode::LOGOUT_REQUEST,
            Bhs::SnackRequest(_) => opcode::SNACK_REQUEST,
            Bhs::NopIn(_) => opcode::NOP_IN,
            Bhs::ScsiResponse(_) => opcode::SCSI_RESPONSE,
            Bhs::TaskMgmtResponse(_) => opcode::TASK_MGMT_RESPONSE,
            Bhs::LoginResponse(_) => opcode::LOGIN_RESPONSE,
            Bhs::TextResponse(_) => opcode::TEXT_RESPONSE,
            Bhs::DataIn(_) => opcode::DATA_IN,
            Bhs::LogoutResponse(_) => opcode::LOGOUT_RESPONSE,
            Bhs::R2t(_) => opcode::R2T,
            Bhs::AsyncMessage(_) => opcode::ASYNC_MESSAGE,
            Bhs::Reject(_) => opcode::REJECT,
            Bhs::Vendor(v) => v.opcode & OPCODE_MASK,
        }
    }

    /// Whether the PDU is sent by an initiator (opcodes below 0x20).
    pub fn is_initiator_pdu(&self) -> bool {
        self.opcode() < 0x20
    }

    /// The Initiator Task Tag (0xffffffff for PDUs without one).
    pub fn itt(&self) -> u32 {
        match self {
            Bhs::NopOut(h) => h.itt,
            Bhs::ScsiCommand(h) => h.itt,
            Bhs::TaskMgmtRequest(h) => h.itt,
            Bhs::LoginRequest(h) => h.itt,
            Bhs::TextRequest(h) => h.itt,
            Bhs::DataOut(h) => h.itt,
            Bhs::LogoutRequest(h) => h.itt,
            Bhs::SnackRequest(h) => h.itt,
            Bhs::NopIn(h) => h.itt,
            Bhs::ScsiResponse(h) => h.itt,
            Bhs::TaskMgmtResponse(h) => h.itt,
            Bhs::LoginResponse(h) => h.itt,
            Bhs::TextResponse(h) => h.itt,
            Bhs::DataIn(h) => h.itt,
            Bhs::LogoutResponse(h) => h.itt,
            Bhs::R2t(h) => h.itt,
            Bhs::AsyncMessage(_) | Bhs::Reject(_) => RESERVED_TAG,
            Bhs::Vendor(h) => u32::from_be_bytes([h.rest[8], h.rest[9], h.rest[10], h.rest[11]]),
        }
    }
}
