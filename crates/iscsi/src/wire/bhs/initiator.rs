//! The PDUs an initiator sends (RFC 7143 §11.3, §11.5, §11.7, §11.10,
//! §11.12, §11.14, §11.16, §11.18).

use super::field::{self, header};
use super::opcode;
use super::Isid;
use crate::wire::enums::*;

header! {
    /// NOP-Out (RFC 7143 §11.18).
    #[derive(Default)]
    pub struct NopOut: opcode::NOP_OUT, always { field::F = true } {
        /// I bit: immediate delivery.
        pub immediate: bool = field::I,
        /// Logical Unit Number (when TTT is not 0xffffffff).
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag, 0xffffffff for a reply to a NOP-In.
        pub itt: u32 = field::ITT,
        /// Target Transfer Tag, copied from the NOP-In being answered.
        pub ttt: u32 = field::TTT,
        /// CmdSN.
        pub cmd_sn: u32 = field::CMD_SN,
        /// ExpStatSN.
        pub exp_stat_sn: u32 = field::EXP_STAT_SN,
    }
}

header! {
    /// SCSI Command (RFC 7143 §11.3).
    pub struct ScsiCommand: opcode::SCSI_COMMAND {
        /// I bit: immediate delivery.
        pub immediate: bool = field::I,
        /// F bit: no unsolicited Data-Out PDUs follow.
        pub final_: bool = field::F,
        /// R bit: data flows to the initiator.
        pub read: bool = field::R,
        /// W bit: data flows to the target.
        pub write: bool = field::W,
        /// Task attribute (ATTR).
        pub attr: TaskAttr = field::ATTR,
        /// Logical Unit Number.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// Expected Data Transfer Length.
        pub expected_data_transfer_length: u32 = field::EXPECTED_DATA_TRANSFER_LENGTH,
        /// CmdSN.
        pub cmd_sn: u32 = field::CMD_SN,
        /// ExpStatSN.
        pub exp_stat_sn: u32 = field::EXP_STAT_SN,
        /// The first 16 bytes of the CDB (the rest goes in an extended CDB AHS).
        pub cdb: [u8; 16] = field::CDB,
    }
}

header! {
    /// SCSI Task Management Function Request (RFC 7143 §11.5).
    pub struct TaskMgmtRequest: opcode::TASK_MGMT_REQUEST, always { field::F = true } {
        /// I bit: immediate delivery.
        pub immediate: bool = field::I,
        /// The function (7 bits).
        pub function: TmFunction = field::FUNCTION,
        /// Logical Unit Number.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag of this request.
        pub itt: u32 = field::ITT,
        /// Referenced Task Tag (ABORT TASK), else 0xffffffff.
        pub referenced_task_tag: u32 = field::REFERENCED_TASK_TAG,
        /// CmdSN.
        pub cmd_sn: u32 = field::CMD_SN,
        /// ExpStatSN.
        pub exp_stat_sn: u32 = field::EXP_STAT_SN,
        /// RefCmdSN.
        pub ref_cmd_sn: u32 = field::REF_CMD_SN,
        /// ExpDataSN (TASK REASSIGN).
        pub exp_data_sn: u32 = field::EXP_DATA_SN,
    }
}

header! {
    /// Login Request (RFC 7143 §11.12). The I bit is always set on emit.
    pub struct LoginRequest: opcode::LOGIN_REQUEST, always { field::I = true } {
        /// T bit: the initiator is ready to move to `nsg`.
        pub transit: bool = field::T,
        /// C bit: the text is continued in the next PDU.
        pub continue_: bool = field::C,
        /// Current stage.
        pub csg: Stage = field::CSG,
        /// Next stage (valid when `transit`).
        pub nsg: Stage = field::NSG,
        /// Version-max.
        pub version_max: u8 = field::VERSION_MAX,
        /// Version-min.
        pub version_min: u8 = field::VERSION_MIN,
        /// ISID.
        pub isid: Isid = field::ISID,
        /// TSIH: 0 for a new session.
        pub tsih: u16 = field::TSIH,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// Connection ID.
        pub cid: u16 = field::CID,
        /// CmdSN.
        pub cmd_sn: u32 = field::CMD_SN,
        /// ExpStatSN.
        pub exp_stat_sn: u32 = field::EXP_STAT_SN,
    }
}

header! {
    /// Text Request (RFC 7143 §11.10).
    #[derive(Default)]
    pub struct TextRequest: opcode::TEXT_REQUEST {
        /// I bit: immediate delivery.
        pub immediate: bool = field::I,
        /// F bit: last PDU of the text request.
        pub final_: bool = field::F,
        /// C bit: the text is continued in the next PDU.
        pub continue_: bool = field::C,
        /// Logical Unit Number or reserved.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// Target Transfer Tag: 0xffffffff, or the tag of the response being
        /// continued.
        pub ttt: u32 = field::TTT,
        /// CmdSN.
        pub cmd_sn: u32 = field::CMD_SN,
        /// ExpStatSN.
        pub exp_stat_sn: u32 = field::EXP_STAT_SN,
    }
}

header! {
    /// SCSI Data-Out (RFC 7143 §11.7).
    #[derive(Default)]
    pub struct DataOut: opcode::DATA_OUT {
        /// F bit: last PDU of the sequence.
        pub final_: bool = field::F,
        /// Logical Unit Number or reserved.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// Target Transfer Tag from the R2T, or 0xffffffff for unsolicited data.
        pub ttt: u32 = field::TTT,
        /// ExpStatSN.
        pub exp_stat_sn: u32 = field::EXP_STAT_SN,
        /// DataSN.
        pub data_sn: u32 = field::DATA_SN,
        /// Buffer Offset.
        pub buffer_offset: u32 = field::BUFFER_OFFSET,
    }
}

header! {
    /// Logout Request (RFC 7143 §11.14).
    pub struct LogoutRequest: opcode::LOGOUT_REQUEST, always { field::F = true } {
        /// I bit: immediate delivery.
        pub immediate: bool = field::I,
        /// Reason code (7 bits).
        pub reason: LogoutReason = field::REASON_CODE,
        /// Initiator Task Tag.
        pub itt: u32 = field::ITT,
        /// CID of the connection to close (reserved when closing the session).
        pub cid: u16 = field::CID,
        /// CmdSN.
        pub cmd_sn: u32 = field::CMD_SN,
        /// ExpStatSN.
        pub exp_stat_sn: u32 = field::EXP_STAT_SN,
    }
}

header! {
    /// SNACK Request (RFC 7143 §11.16).
    pub struct SnackRequest: opcode::SNACK_REQUEST, always { field::F = true } {
        /// Type (4 bits).
        pub snack_type: SnackType = field::SNACK_TYPE,
        /// Logical Unit Number or reserved.
        pub lun: u64 = field::LUN,
        /// Initiator Task Tag or 0xffffffff.
        pub itt: u32 = field::ITT,
        /// Target Transfer Tag, SNACK Tag or 0xffffffff.
        pub ttt_or_snack_tag: u32 = field::TTT,
        /// ExpStatSN.
        pub exp_stat_sn: u32 = field::EXP_STAT_SN,
        /// BegRun.
        pub beg_run: u32 = field::BEG_RUN,
        /// RunLength.
        pub run_length: u32 = field::RUN_LENGTH,
    }
}
