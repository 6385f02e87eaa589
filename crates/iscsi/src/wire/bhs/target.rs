//! The PDUs a target sends (RFC 7143 §11.4, §11.6, §11.7-§11.9, §11.11,
//! §11.13, §11.15, §11.17, §11.19).

use super::field::{self, header};
use super::opcode;
use super::{Isid, RESERVED_TAG};
use crate::wire::enums::*;

header! {
    /// NOP-In (RFC 7143 §11.19).
    #[derive(Default)]
    pub struct NopIn: opcode::NOP_IN, always { field::F = true } {
        /// Logical Unit Number.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag, 0xffffffff when the target pings.
        pub itt: u32 = field::ITT,
        /// Target Transfer Tag, 0xffffffff when no answer is wanted.
        pub ttt: u32 = field::TTT,
        /// StatSN.
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
    }
}

header! {
    /// SCSI Response (RFC 7143 §11.4).
    pub struct ScsiResponse: opcode::SCSI_RESPONSE, always { field::F = true } {
        /// o bit: bidirectional read residual overflow.
        pub bidi_overflow: bool = field::BIDI_O,
        /// u bit: bidirectional read residual underflow.
        pub bidi_underflow: bool = field::BIDI_U,
        /// O bit: residual overflow.
        pub overflow: bool = field::O,
        /// U bit: residual underflow.
        pub underflow: bool = field::U,
        /// iSCSI service response.
        pub response: ScsiResponseCode = field::RESPONSE,
        /// SCSI status (SAM), valid when the response is "command completed".
        pub status: u8 = field::STATUS,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// SNACK Tag.
        pub snack_tag: u32 = field::SNACK_TAG,
        /// StatSN.
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
        /// ExpDataSN.
        pub exp_data_sn: u32 = field::EXP_DATA_SN,
        /// Bidirectional Read Residual Count.
        pub bidi_read_residual_count: u32 = field::BIDI_READ_RESIDUAL_COUNT,
        /// Residual Count.
        pub residual_count: u32 = field::RESIDUAL_COUNT,
    }
}

header! {
    /// SCSI Task Management Function Response (RFC 7143 §11.6).
    pub struct TaskMgmtResponse: opcode::TASK_MGMT_RESPONSE, always { field::F = true } {
        /// The response.
        pub response: TmResponse = field::RESPONSE,
        /// Initiator Task Tag of the request.
        pub itt: u32 = field::ITT,
        /// StatSN.
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
    }
}

header! {
    /// Login Response (RFC 7143 §11.13).
    pub struct LoginResponse: opcode::LOGIN_RESPONSE {
        /// T bit: the target moves to `nsg`.
        pub transit: bool = field::T,
        /// C bit: the text is continued in the next PDU.
        pub continue_: bool = field::C,
        /// Current stage.
        pub csg: Stage = field::CSG,
        /// Next stage (valid when `transit`).
        pub nsg: Stage = field::NSG,
        /// Version-max.
        pub version_max: u8 = field::VERSION_MAX,
        /// Version-active.
        pub version_active: u8 = field::VERSION_ACTIVE,
        /// ISID.
        pub isid: Isid = field::ISID,
        /// TSIH, assigned by the target in the final response of a new session.
        pub tsih: u16 = field::TSIH,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// StatSN.
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
        /// Status-Class (byte 36) and Status-Detail (byte 37).
        pub status: crate::login::LoginStatus = field::LOGIN_STATUS,
    }
}

header! {
    /// Text Response (RFC 7143 §11.11).
    #[derive(Default)]
    pub struct TextResponse: opcode::TEXT_RESPONSE {
        /// F bit: last PDU of the text response.
        pub final_: bool = field::F,
        /// C bit: the text is continued in the next PDU.
        pub continue_: bool = field::C,
        /// Logical Unit Number or reserved.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// Target Transfer Tag: 0xffffffff on the final response, else a tag
        /// the initiator echoes to ask for more.
        pub ttt: u32 = field::TTT,
        /// StatSN.
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
    }
}

header! {
    /// SCSI Data-In (RFC 7143 §11.7).
    #[derive(Default)]
    pub struct DataIn: opcode::DATA_IN {
        /// F bit: last PDU of the sequence.
        pub final_: bool = field::F,
        /// A bit: the target asks for a DataACK SNACK.
        pub acknowledge: bool = field::A,
        /// O bit: residual overflow.
        pub overflow: bool = field::O,
        /// U bit: residual underflow.
        pub underflow: bool = field::U,
        /// S bit and Status: `Some(status)` when the PDU carries the status.
        pub status: Option<u8> = field::S_STATUS,
        /// Logical Unit Number or reserved.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// Target Transfer Tag or 0xffffffff.
        pub ttt: u32 = field::TTT,
        /// StatSN (valid with status).
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
        /// DataSN.
        pub data_sn: u32 = field::DATA_SN,
        /// Buffer Offset.
        pub buffer_offset: u32 = field::BUFFER_OFFSET,
        /// Residual Count.
        pub residual_count: u32 = field::RESIDUAL_COUNT,
    }
}

header! {
    /// Logout Response (RFC 7143 §11.15).
    pub struct LogoutResponse: opcode::LOGOUT_RESPONSE, always { field::F = true } {
        /// The response.
        pub response: LogoutResponseCode = field::RESPONSE,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// StatSN.
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
        /// Time2Wait in seconds.
        pub time2wait: u16 = field::TIME2WAIT,
        /// Time2Retain in seconds.
        pub time2retain: u16 = field::TIME2RETAIN,
    }
}

header! {
    /// Ready To Transfer (RFC 7143 §11.8).
    #[derive(Default)]
    pub struct R2t: opcode::R2T, always { field::F = true } {
        /// Logical Unit Number.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// Target Transfer Tag.
        pub ttt: u32 = field::TTT,
        /// StatSN (next StatSN, not advanced).
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
        /// R2TSN.
        pub r2t_sn: u32 = field::R2T_SN,
        /// Buffer Offset.
        pub buffer_offset: u32 = field::BUFFER_OFFSET,
        /// Desired Data Transfer Length.
        pub desired_data_transfer_length: u32 = field::DESIRED_DATA_TRANSFER_LENGTH,
    }
}

header! {
    /// Asynchronous Message (RFC 7143 §11.9). The ITT is always 0xffffffff.
    pub struct AsyncMessage: opcode::ASYNC_MESSAGE, always { field::F = true, field::ITT = RESERVED_TAG } {
        /// Logical Unit Number or reserved.
        pub lun: u64 = field::LUN,
        /// StatSN.
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
        /// AsyncEvent.
        pub event: AsyncEvent = field::ASYNC_EVENT,
        /// AsyncVCode (vendor code).
        pub vcode: u8 = field::ASYNC_VCODE,
        /// Parameter1.
        pub parameter1: u16 = field::PARAMETER1,
        /// Parameter2.
        pub parameter2: u16 = field::PARAMETER2,
        /// Parameter3.
        pub parameter3: u16 = field::PARAMETER3,
    }
}

header! {
    /// Reject (RFC 7143 §11.17). The data segment carries the rejected BHS.
    pub struct Reject: opcode::REJECT, always { field::F = true, field::ITT = RESERVED_TAG } {
        /// Reason.
        pub reason: RejectReason = field::REJECT_REASON,
        /// StatSN.
        pub stat_sn: u32 = field::STAT_SN,
        /// ExpCmdSN.
        pub exp_cmd_sn: u32 = field::EXP_CMD_SN,
        /// MaxCmdSN.
        pub max_cmd_sn: u32 = field::MAX_CMD_SN,
        /// DataSN/R2TSN or reserved.
        pub data_sn: u32 = field::DATA_SN,
    }
}
