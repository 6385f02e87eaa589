//! The result of a command: status byte, sense data, Data-In.

use crate::wire::Sense;

/// SCSI status byte (SAM-5 5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// The command completed.
    Good = 0x00,
    /// Sense data describes an error or unit attention.
    CheckCondition = 0x02,
    /// PRE-FETCH: the data fits in the cache (not used by this crate).
    ConditionMet = 0x04,
    /// The logical unit is busy.
    Busy = 0x08,
    /// The command conflicts with a reservation.
    ReservationConflict = 0x18,
    /// The task set is full.
    TaskSetFull = 0x28,
    /// An ACA condition is active.
    AcaActive = 0x30,
    /// The command was aborted.
    TaskAborted = 0x40,
}

impl Status {
    /// The status byte.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The result of one SCSI command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status byte.
    pub status: Status,
    /// Sense data (with [`Status::CheckCondition`]), fixed format or, when
    /// the control mode page's D_SENSE bit is set, descriptor format.
    pub sense: Option<Vec<u8>>,
    /// Data-In, already truncated to the allocation length of the CDB and
    /// to the transport's `alloc_len`. The transport computes residuals.
    pub data_in: Vec<u8>,
}

impl Response {
    /// GOOD with data.
    pub fn good(data_in: Vec<u8>) -> Response {
        Response {
            status: Status::Good,
            sense: None,
            data_in,
        }
    }

    /// CHECK CONDITION with `sense` rendered in fixed or descriptor format.
    pub fn check(sense: &Sense, descriptor: bool) -> Response {
        Response {
            status: Status::CheckCondition,
            sense: Some(sense.to_bytes(descriptor)),
            data_in: Vec::new(),
        }
    }

    /// A status without sense or data (RESERVATION CONFLICT, BUSY, ...).
    pub fn status(status: Status) -> Response {
        Response {
            status,
            sense: None,
            data_in: Vec::new(),
        }
    }

    /// Key, ASC and ASCQ of the sense data, if any.
    pub fn sense_key_asc(&self) -> Option<(u8, u8, u8)> {
        Sense::parse_key_asc(self.sense.as_deref()?)
    }
}
