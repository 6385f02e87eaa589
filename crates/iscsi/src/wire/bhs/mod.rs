//! The Basic Header Segment of every PDU (RFC 7143 §11.2.1), one owned
//! `Copy` struct per opcode: the requests in `initiator`, the responses in
//! `target`.
//!
//! Every field of every PDU is named once, in `field`: its byte offset, or
//! its byte and bit mask. Each PDU struct below is a table that pairs its
//! members with those names, and `header!` turns the table into the
//! struct, its `parse` and its `emit`, so that a PDU is read and written from
//! the same place. `parse` reads a 48-byte BHS whose opcode was already
//! checked; `emit` writes all 48 bytes except TotalAHSLength and
//! DataSegmentLength (bytes 4..8), which [`Pdu::emit`](super::Pdu::emit)
//! derives from the AHS and data it carries. Reserved bits are ignored on
//! parse and written as zero.

mod field;
mod initiator;
mod target;

pub use initiator::*;
pub use target::*;

use crate::{EmitError, ParseError};

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

const IMMEDIATE: u8 = 0x40;
const OPCODE_MASK: u8 = 0x3f;

/// The "no tag" value of task tags (RFC 7143 §11.2.1.8).
pub const RESERVED_TAG: u32 = 0xffff_ffff;

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
pub(crate) fn put_lengths(
    b: &mut RawBhs,
    ahs_len: usize,
    data_len: usize,
) -> Result<(), EmitError> {
    let words = u8::try_from(ahs_len / 4).map_err(|_| EmitError::FieldOverflow {
        field: "TotalAHSLength",
        value: ahs_len as u64,
    })?;
    if data_len > 0x00ff_ffff {
        return Err(EmitError::FieldOverflow {
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

/// Initiator Session ID (RFC 7143 §11.12.5): T, A, B, C, D fields, kept as
/// the six bytes sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Isid(pub [u8; 6]);

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

    /// The ITT, where the standard PDUs have theirs.
    fn itt(&self) -> u32 {
        let at = field::ITT - field::LUN;
        u32::from_be_bytes([
            self.rest[at],
            self.rest[at + 1],
            self.rest[at + 2],
            self.rest[at + 3],
        ])
    }
}

/// The typed BHS: one variant per opcode, with `From` each header, `parse`
/// dispatching on the opcode, `emit` and `opcode`.
macro_rules! bhs {
    ($( $variant:ident = $op:ident ),+ $(,)?) => {
        /// A typed Basic Header Segment, one variant per PDU of RFC 7143 §11.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Bhs {
            $( $variant($variant), )+
            Vendor(Vendor),
        }

        $(impl From<$variant> for Bhs {
            fn from(h: $variant) -> Bhs {
                Bhs::$variant(h)
            }
        })+

        impl From<Vendor> for Bhs {
            fn from(h: Vendor) -> Bhs {
                Bhs::Vendor(h)
            }
        }

        impl Bhs {
            /// Parses the typed fields of a 48-byte BHS. TotalAHSLength and
            /// DataSegmentLength are not part of the result (see [`raw_lengths`]).
            ///
            /// Fails only on a reserved opcode.
            pub fn parse(b: &RawBhs) -> Result<Bhs, ParseError> {
                Ok(match raw_opcode(b) {
                    $( opcode::$op => Bhs::$variant($variant::parse(b)), )+
                    op if opcode::is_vendor_specific(op) => Bhs::Vendor(Vendor::parse(b)),
                    op => return Err(ParseError::ReservedOpcode(op)),
                })
            }

            /// Writes the BHS with TotalAHSLength and DataSegmentLength set to zero.
            pub fn emit(&self, b: &mut RawBhs) {
                match self {
                    $( Bhs::$variant(h) => h.emit(b), )+
                    Bhs::Vendor(h) => h.emit(b),
                }
            }

            /// The opcode (without the I bit).
            pub fn opcode(&self) -> u8 {
                match self {
                    $( Bhs::$variant(_) => opcode::$op, )+
                    Bhs::Vendor(v) => v.opcode & OPCODE_MASK,
                }
            }
        }
    };
}

bhs!(
    NopOut = NOP_OUT,
    ScsiCommand = SCSI_COMMAND,
    TaskMgmtRequest = TASK_MGMT_REQUEST,
    LoginRequest = LOGIN_REQUEST,
    TextRequest = TEXT_REQUEST,
    DataOut = DATA_OUT,
    LogoutRequest = LOGOUT_REQUEST,
    SnackRequest = SNACK_REQUEST,
    NopIn = NOP_IN,
    ScsiResponse = SCSI_RESPONSE,
    TaskMgmtResponse = TASK_MGMT_RESPONSE,
    LoginResponse = LOGIN_RESPONSE,
    TextResponse = TEXT_RESPONSE,
    DataIn = DATA_IN,
    LogoutResponse = LOGOUT_RESPONSE,
    R2t = R2T,
    AsyncMessage = ASYNC_MESSAGE,
    Reject = REJECT,
);

impl Bhs {
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
            Bhs::Vendor(h) => h.itt(),
        }
    }
}
