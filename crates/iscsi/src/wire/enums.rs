//! Enumerated header fields. Unknown values are kept as `Unknown(n)` so that
//! a PDU survives parse and emit unchanged.

macro_rules! enum_with_unknown {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know, kept as sent.
            Unknown($ty),
        }

        impl From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

enum_with_unknown! {
    /// Login stage, the CSG and NSG fields (RFC 7143 §11.12.3).
    pub enum Stage(u8) {
        /// Security negotiation (0).
        SecurityNegotiation = 0,
        /// Login operational negotiation (1).
        LoginOperationalNegotiation = 1,
        /// Full feature phase (3).
        FullFeaturePhase = 3,
    }
}

enum_with_unknown! {
    /// Task attribute of a SCSI Command (RFC 7143 §11.3.1.3).
    pub enum TaskAttr(u8) {
        /// Untagged (0).
        Untagged = 0,
        /// Simple (1).
        Simple = 1,
        /// Ordered (2).
        Ordered = 2,
        /// Head of queue (3).
        HeadOfQueue = 3,
        /// ACA (4).
        Aca = 4,
    }
}

enum_with_unknown! {
    /// iSCSI service response of a SCSI Response (RFC 7143 §11.4.3).
    pub enum ScsiResponseCode(u8) {
        /// Command completed at target (0x00).
        CommandCompleted = 0x00,
        /// Target failure (0x01).
        TargetFailure = 0x01,
    }
}

enum_with_unknown! {
    /// Task management function (RFC 7143 §11.5.1).
    pub enum TmFunction(u8) {
        /// ABORT TASK (1).
        AbortTask = 1,
        /// ABORT TASK SET (2).
        AbortTaskSet = 2,
        /// CLEAR ACA (3).
        ClearAca = 3,
        /// CLEAR TASK SET (4).
        ClearTaskSet = 4,
        /// LOGICAL UNIT RESET (5).
        LogicalUnitReset = 5,
        /// TARGET WARM RESET (6).
        TargetWarmReset = 6,
        /// TARGET COLD RESET (7).
        TargetColdReset = 7,
        /// TASK REASSIGN (8).
        TaskReassign = 8,
    }
}

enum_with_unknown! {
    /// Task management response (RFC 7143 §11.6.1).
    pub enum TmResponse(u8) {
        /// Function complete (0).
        Complete = 0,
        /// Task does not exist (1).
        TaskDoesNotExist = 1,
        /// LUN does not exist (2).
        LunDoesNotExist = 2,
        /// Task still allegiant (3).
        TaskStillAllegiant = 3,
        /// Task allegiance reassignment not supported (4).
        ReassignmentNotSupported = 4,
        /// Task management function not supported (5).
        NotSupported = 5,
        /// Function authorization failed (6).
        AuthorizationFailed = 6,
        /// Function rejected (255).
        Rejected = 255,
    }
}

enum_with_unknown! {
    /// Logout reason code (RFC 7143 §11.14.1).
    pub enum LogoutReason(u8) {
        /// Close the session (0).
        CloseSession = 0,
        /// Close the connection (1).
        CloseConnection = 1,
        /// Remove the connection for recovery (2).
        RemoveConnectionForRecovery = 2,
    }
}

enum_with_unknown! {
    /// Logout response (RFC 7143 §11.15.1).
    pub enum LogoutResponseCode(u8) {
        /// Connection or session closed successfully (0).
        Closed = 0,
        /// CID not found (1).
        CidNotFound = 1,
        /// Connection recovery is not supported (2).
        RecoveryNotSupported = 2,
        /// Cleanup failed (3).
        CleanupFailed = 3,
    }
}

enum_with_unknown! {
    /// SNACK type (RFC 7143 §11.16.1).
    pub enum SnackType(u8) {
        /// Data/R2T SNACK (0).
        DataR2t = 0,
        /// Status SNACK (1).
        Status = 1,
        /// DataACK (2).
        DataAck = 2,
        /// R-Data SNACK (3).
        RData = 3,
    }
}

enum_with_unknown! {
    /// Reject reason (RFC 7143 §11.17.1).
    pub enum RejectReason(u8) {
        /// Reserved (0x01).
        Reserved = 0x01,
        /// Data (payload) digest error (0x02).
        DataDigestError = 0x02,
        /// SNACK reject (0x03).
        SnackReject = 0x03,
        /// Protocol error (0x04).
        ProtocolError = 0x04,
        /// Command not supported (0x05).
        CommandNotSupported = 0x05,
        /// Immediate command rejected, too many immediate commands (0x06).
        ImmediateCommandReject = 0x06,
        /// Task in progress (0x07).
        TaskInProgress = 0x07,
        /// Invalid data ack (0x08).
        InvalidDataAck = 0x08,
        /// Invalid PDU field (0x09).
        InvalidPduField = 0x09,
        /// Long operation reject, out of resources (0x0a).
        LongOpReject = 0x0a,
        /// Deprecated, formerly negotiation reset (0x0b).
        Deprecated = 0x0b,
        /// Waiting for logout (0x0c).
        WaitingForLogout = 0x0c,
    }
}

enum_with_unknown! {
    /// Asynchronous event (RFC 7143 §11.9.1).
    pub enum AsyncEvent(u8) {
        /// A SCSI asynchronous event, sense data in the data segment (0).
        ScsiEvent = 0,
        /// The target requests a logout (1).
        LogoutRequest = 1,
        /// The target will drop the connection (2).
        DropConnection = 2,
        /// The target will drop all connections of the session (3).
        DropAllConnections = 3,
        /// The target requests parameter negotiation (4).
        RequestNegotiation = 4,
        /// The target will terminate the connection soon (5).
        TaskTermination = 5,
        /// Vendor-specific event (255).
        VendorSpecific = 255,
    }
}
