//! I_T nexus identity: who sends a command, through which target port.

/// An I_T nexus: who sends a command, through which target port.
///
/// Persistent reservations identify I_T nexuses by the port names (they
/// survive reconnects and restarts). `id` keys per-nexus state that does
/// not outlive the target process (unit attentions); a transport should
/// give the same `id` to the same (initiator port, target port) pair when
/// it reconnects, e.g. by interning the pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nexus {
    /// Stable small identifier of this I_T nexus.
    pub id: u64,
    /// Initiator port name, e.g. `iqn.1993-08.org.debian:01:abc,i,0x23d000000001`.
    pub initiator_port: String,
    /// Target port name, e.g. `iqn.2024-01.org.netboot:disk1,t,0x0001`.
    pub target_port: String,
    /// Relative target port identifier (1-based) for VPD page 0x83 and
    /// READ FULL STATUS.
    pub relative_target_port: u16,
    /// SCSI transport protocol identifier (SPC-4 table 362): 5 = iSCSI,
    /// 0xF = none. Used for TransportIDs in READ FULL STATUS.
    pub protocol_id: u8,
}

impl Nexus {
    /// An iSCSI nexus (protocol identifier 5) on relative target port 1.
    pub fn new(
        id: u64,
        initiator_port: impl Into<String>,
        target_port: impl Into<String>,
    ) -> Nexus {
        Nexus {
            id,
            initiator_port: initiator_port.into(),
            target_port: target_port.into(),
            relative_target_port: 1,
            protocol_id: 5,
        }
    }

    pub(crate) fn key(&self) -> NexusKey {
        NexusKey {
            initiator: self.initiator_port.clone(),
            target: self.target_port.clone(),
        }
    }

    pub(crate) fn is(&self, k: &NexusKey) -> bool {
        self.initiator_port == k.initiator && self.target_port == k.target
    }
}

/// The persistent identity of an I_T nexus (port names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NexusKey {
    pub initiator: String,
    pub target: String,
}
