//! Where each field of a BHS lives (RFC 7143 §11), named as the RFC names
//! it; where PDUs put different fields at the same place, each has its own
//! name. The `Field` trait reads and writes a value at such a place, and
//! `header!` builds a PDU struct with its `parse` and `emit` from a table of
//! `member: Type = field::PLACE`.

use super::{Isid, RawBhs};
use crate::login::LoginStatus;
use crate::wire::enums::*;

/// The bits of `mask` in byte `.0` of the BHS: a flag (one bit) or a small
/// enumerated field.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bits(usize, u8);

/// A value at byte `.1` that is present when the flag `.0` is set (the S bit
/// and Status of a Data-In).
#[derive(Debug, Clone, Copy)]
pub(super) struct IfFlag(Bits, usize);

/// The opcode byte (opcode and I bit).
pub(super) const OPCODE: usize = 0;
/// The flags byte after the opcode.
pub(super) const FLAGS: usize = 1;
/// TotalAHSLength, in 4-byte words.
pub(super) const TOTAL_AHS_LEN: usize = 4;
/// DataSegmentLength, 3 bytes.
pub(super) const DATA_SEGMENT_LEN: usize = 5;

/// I bit: immediate delivery.
pub(super) const I: Bits = Bits(OPCODE, 0x40);
/// F bit: final PDU (of a sequence, or of the command's unsolicited data).
pub(super) const F: Bits = Bits(FLAGS, 0x80);
/// T bit of a Login PDU: transit to the next stage (where others have F).
pub(super) const T: Bits = Bits(FLAGS, 0x80);
/// C bit of a Login or Text PDU: the text continues in the next PDU.
pub(super) const C: Bits = Bits(FLAGS, 0x40);
/// R bit of a SCSI Command: data flows to the initiator.
pub(super) const R: Bits = Bits(FLAGS, 0x40);
/// W bit of a SCSI Command: data flows to the target.
pub(super) const W: Bits = Bits(FLAGS, 0x20);
/// A bit of a Data-In: acknowledge with a DataACK SNACK.
pub(super) const A: Bits = Bits(FLAGS, 0x40);
/// o bit of a SCSI Response: bidirectional read residual overflow.
pub(super) const BIDI_O: Bits = Bits(FLAGS, 0x10);
/// u bit of a SCSI Response: bidirectional read residual underflow.
pub(super) const BIDI_U: Bits = Bits(FLAGS, 0x08);
/// O bit: residual overflow.
pub(super) const O: Bits = Bits(FLAGS, 0x04);
/// U bit: residual underflow.
pub(super) const U: Bits = Bits(FLAGS, 0x02);
/// S bit and Status of a Data-In: the PDU carries the command's status.
pub(super) const S_STATUS: IfFlag = IfFlag(Bits(FLAGS, 0x01), STATUS);
/// ATTR of a SCSI Command.
pub(super) const ATTR: Bits = Bits(FLAGS, 0x07);
/// Function of a Task Management Request.
pub(super) const FUNCTION: Bits = Bits(FLAGS, 0x7f);
/// Reason Code of a Logout Request.
pub(super) const REASON_CODE: Bits = Bits(FLAGS, 0x7f);
/// Type of a SNACK Request.
pub(super) const SNACK_TYPE: Bits = Bits(FLAGS, 0x0f);
/// CSG of a Login PDU: current stage.
pub(super) const CSG: Bits = Bits(FLAGS, 0x0c);
/// NSG of a Login PDU: next stage.
pub(super) const NSG: Bits = Bits(FLAGS, 0x03);

/// Response of a SCSI, Task Management or Logout Response.
pub(super) const RESPONSE: Bits = Bits(2, 0xff);
/// Reason of a Reject.
pub(super) const REJECT_REASON: Bits = Bits(2, 0xff);
/// Version-max of a Login PDU.
pub(super) const VERSION_MAX: usize = 2;
/// Version-min of a Login Request.
pub(super) const VERSION_MIN: usize = 3;
/// Version-active of a Login Response.
pub(super) const VERSION_ACTIVE: usize = 3;
/// SCSI status of a SCSI Response or Data-In.
pub(super) const STATUS: usize = 3;

/// Logical Unit Number.
pub(super) const LUN: usize = 8;
/// ISID of a Login PDU (6 bytes).
pub(super) const ISID: usize = 8;
/// TSIH of a Login PDU.
pub(super) const TSIH: usize = 14;
/// Initiator Task Tag.
pub(super) const ITT: usize = 16;

/// Target Transfer Tag (SNACK: or the SNACK Tag).
pub(super) const TTT: usize = 20;
/// Expected Data Transfer Length of a SCSI Command.
pub(super) const EXPECTED_DATA_TRANSFER_LENGTH: usize = 20;
/// SNACK Tag of a SCSI Response.
pub(super) const SNACK_TAG: usize = 20;
/// Referenced Task Tag of a Task Management Request.
pub(super) const REFERENCED_TASK_TAG: usize = 20;
/// CID of a Login or Logout Request.
pub(super) const CID: usize = 20;

/// CmdSN (initiator PDUs).
pub(super) const CMD_SN: usize = 24;
/// StatSN (target PDUs).
pub(super) const STAT_SN: usize = 24;
/// ExpStatSN (initiator PDUs).
pub(super) const EXP_STAT_SN: usize = 28;
/// ExpCmdSN (target PDUs).
pub(super) const EXP_CMD_SN: usize = 28;
/// MaxCmdSN (target PDUs).
pub(super) const MAX_CMD_SN: usize = 32;
/// RefCmdSN of a Task Management Request.
pub(super) const REF_CMD_SN: usize = 32;
/// The first 16 bytes of the CDB of a SCSI Command.
pub(super) const CDB: usize = 32;

/// ExpDataSN of a SCSI Response or Task Management Request.
pub(super) const EXP_DATA_SN: usize = 36;
/// DataSN of a Data-In or Data-Out (Reject: DataSN/R2TSN).
pub(super) const DATA_SN: usize = 36;
/// R2TSN of an R2T.
pub(super) const R2T_SN: usize = 36;
/// Status-Class and Status-Detail of a Login Response (2 bytes).
pub(super) const LOGIN_STATUS: usize = 36;
/// AsyncEvent of an Asynchronous Message.
pub(super) const ASYNC_EVENT: Bits = Bits(36, 0xff);
/// AsyncVCode of an Asynchronous Message.
pub(super) const ASYNC_VCODE: usize = 37;
/// Parameter1 of an Asynchronous Message.
pub(super) const PARAMETER1: usize = 38;
/// Parameter2 of an Asynchronous Message.
pub(super) const PARAMETER2: usize = 40;
/// Parameter3 of an Asynchronous Message.
pub(super) const PARAMETER3: usize = 42;

/// Buffer Offset of a Data-In, Data-Out or R2T.
pub(super) const BUFFER_OFFSET: usize = 40;
/// Bidirectional Read Residual Count of a SCSI Response.
pub(super) const BIDI_READ_RESIDUAL_COUNT: usize = 40;
/// BegRun of a SNACK Request.
pub(super) const BEG_RUN: usize = 40;
/// Time2Wait of a Logout Response.
pub(super) const TIME2WAIT: usize = 40;
/// Time2Retain of a Logout Response.
pub(super) const TIME2RETAIN: usize = 42;
/// Residual Count of a SCSI Response or Data-In.
pub(super) const RESIDUAL_COUNT: usize = 44;
/// Desired Data Transfer Length of an R2T.
pub(super) const DESIRED_DATA_TRANSFER_LENGTH: usize = 44;
/// RunLength of a SNACK Request.
pub(super) const RUN_LENGTH: usize = 44;

/// A value that lives at a `field` location: how to read it from a BHS and
/// write it into one. The location's type says what kind of place it is, so
/// a field paired with the wrong kind of place does not compile.
pub(super) trait Field: Sized {
    type At: Copy;
    fn get(b: &RawBhs, at: Self::At) -> Self;
    /// Writes into a zeroed place (flags are OR-ed in).
    fn put(self, b: &mut RawBhs, at: Self::At);
}

impl Field for bool {
    type At = Bits;
    #[inline]
    fn get(b: &RawBhs, Bits(at, mask): Bits) -> bool {
        b[at] & mask != 0
    }
    #[inline]
    fn put(self, b: &mut RawBhs, Bits(at, mask): Bits) {
        if self {
            b[at] |= mask;
        }
    }
}

macro_rules! be_field {
    ($($t:ty),+) => {$(
        impl Field for $t {
            type At = usize;
            #[inline]
            fn get(b: &RawBhs, at: usize) -> $t {
                let mut v = [0u8; size_of::<$t>()];
                v.copy_from_slice(&b[at..at + size_of::<$t>()]);
                <$t>::from_be_bytes(v)
            }
            #[inline]
            fn put(self, b: &mut RawBhs, at: usize) {
                b[at..at + size_of::<$t>()].copy_from_slice(&self.to_be_bytes());
            }
        }
    )+};
}
be_field!(u8, u16, u32, u64);

/// Fields kept as the bytes sent.
macro_rules! bytes_field {
    ($($t:ty => $n:expr, $wrap:expr, $bytes:expr);+ $(;)?) => {$(
        impl Field for $t {
            type At = usize;
            #[inline]
            fn get(b: &RawBhs, at: usize) -> $t {
                let mut v = [0u8; $n];
                v.copy_from_slice(&b[at..at + $n]);
                $wrap(v)
            }
            #[inline]
            fn put(self, b: &mut RawBhs, at: usize) {
                b[at..at + $n].copy_from_slice(&$bytes(self));
            }
        }
    )+};
}
bytes_field! {
    [u8; 16] => 16, |v| v, |v| v;
    Isid => 6, Isid, |v: Isid| v.0;
    LoginStatus => 2, |v: [u8; 2]| LoginStatus::new(v[0], v[1]), |v: LoginStatus| [v.class, v.detail];
}

/// Enumerated fields: the bits of a mask, shifted down.
macro_rules! enum_field {
    ($($t:ty),+) => {$(
        impl Field for $t {
            type At = Bits;
            #[inline]
            fn get(b: &RawBhs, Bits(at, mask): Bits) -> $t {
                <$t>::from((b[at] & mask) >> mask.trailing_zeros())
            }
            #[inline]
            fn put(self, b: &mut RawBhs, Bits(at, mask): Bits) {
                b[at] |= (u8::from(self) << mask.trailing_zeros()) & mask;
            }
        }
    )+};
}
enum_field!(
    Stage,
    TaskAttr,
    ScsiResponseCode,
    TmFunction,
    TmResponse,
    LogoutReason,
    LogoutResponseCode,
    SnackType,
    RejectReason,
    AsyncEvent
);

impl Field for Option<u8> {
    type At = IfFlag;
    #[inline]
    fn get(b: &RawBhs, IfFlag(flag, at): IfFlag) -> Option<u8> {
        bool::get(b, flag).then_some(b[at])
    }
    #[inline]
    fn put(self, b: &mut RawBhs, IfFlag(flag, at): IfFlag) {
        if let Some(v) = self {
            true.put(b, flag);
            b[at] = v;
        }
    }
}

/// One PDU's header: the struct, and `parse`/`emit` from its table of
/// `member: Type = field::PLACE`. `always { field::PLACE = value }` names what
/// every emitted header of that PDU carries (the F bit of single-PDU
/// requests, the I bit of a login, the reserved ITT of a Reject).
macro_rules! header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident: $op:path $(, always { $($fixed:path = $value:expr),+ })? {
            $( $(#[$fmeta:meta])* pub $member:ident: $ty:ty = $at:path, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            $( $(#[$fmeta])* pub $member: $ty, )+
        }

        impl $name {
            #[inline]
            pub(super) fn parse(b: &$crate::wire::RawBhs) -> Self {
                use $crate::wire::bhs::field::Field;
                $name { $( $member: Field::get(b, $at), )+ }
            }

            #[inline]
            pub(super) fn emit(&self, b: &mut $crate::wire::RawBhs) {
                use $crate::wire::bhs::field::{self, Field};
                *b = [0; $crate::wire::BHS_LEN];
                b[field::OPCODE] = $op;
                $($( Field::put($value, b, $fixed); )+)?
                $( Field::put(self.$member, b, $at); )+
            }
        }
    };
}

pub(super) use header;
