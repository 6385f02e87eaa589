//! The login phase (RFC 7143 §6.3, §7, §12), sans-IO, for both sides.
//!
//! Login is lock-step: every Login Request gets exactly one Login
//! Response. [`TargetLogin::handle`] takes a request and returns the
//! response to send; [`InitiatorLogin::start`] and
//! [`InitiatorLogin::handle`] produce the requests. Neither touches a
//! socket or a clock, so tests, fuzzers and embedders drive them by hand.
//!
//! Authentication is `None` or CHAP with MD5 (RFC 1994, RFC 7143 §12.1.3),
//! one-way or mutual.

pub mod chap;
mod initiator;
mod target;
#[cfg(test)]
mod tests;

pub use initiator::{InitiatorConfig, InitiatorLogin};
pub use target::{LoginState, TargetLogin};

use crate::negotiate::{Preferences, SessionParams};
use crate::wire::Isid;
use std::fmt;
use std::net::SocketAddr;

/// Status-Class and Status-Detail of a Login Response (RFC 7143 §11.13.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LoginStatus {
    /// Status-Class: 0 success, 1 redirection, 2 initiator error, 3 target
    /// error.
    pub class: u8,
    /// Status-Detail.
    pub detail: u8,
}

impl LoginStatus {
    /// A status from its class and detail.
    pub const fn new(class: u8, detail: u8) -> Self {
        LoginStatus { class, detail }
    }
    /// 0x0000 Success.
    pub const SUCCESS: Self = Self::new(0, 0);
    /// 0x0101 Target moved temporarily.
    pub const TARGET_MOVED_TEMPORARILY: Self = Self::new(1, 1);
    /// 0x0102 Target moved permanently.
    pub const TARGET_MOVED_PERMANENTLY: Self = Self::new(1, 2);
    /// 0x0200 Initiator error (miscellaneous).
    pub const INITIATOR_ERROR: Self = Self::new(2, 0);
    /// 0x0201 Authentication failure.
    pub const AUTH_FAILURE: Self = Self::new(2, 1);
    /// 0x0202 Authorization failure (forbidden by access control).
    pub const AUTHORIZATION_FAILURE: Self = Self::new(2, 2);
    /// 0x0203 Not found.
    pub const NOT_FOUND: Self = Self::new(2, 3);
    /// 0x0204 Target removed.
    pub const TARGET_REMOVED: Self = Self::new(2, 4);
    /// 0x0205 Unsupported version.
    pub const UNSUPPORTED_VERSION: Self = Self::new(2, 5);
    /// 0x0206 Too many connections.
    pub const TOO_MANY_CONNECTIONS: Self = Self::new(2, 6);
    /// 0x0207 Missing parameter.
    pub const MISSING_PARAMETER: Self = Self::new(2, 7);
    /// 0x0208 Can't include in session.
    pub const CANT_INCLUDE_IN_SESSION: Self = Self::new(2, 8);
    /// 0x0209 Session type not supported.
    pub const SESSION_TYPE_NOT_SUPPORTED: Self = Self::new(2, 9);
    /// 0x020a Session does not exist.
    pub const SESSION_DOES_NOT_EXIST: Self = Self::new(2, 0x0a);
    /// 0x020b Invalid request during login.
    pub const INVALID_DURING_LOGIN: Self = Self::new(2, 0x0b);
    /// 0x0300 Target error (miscellaneous).
    pub const TARGET_ERROR: Self = Self::new(3, 0);
    /// 0x0301 Service unavailable.
    pub const SERVICE_UNAVAILABLE: Self = Self::new(3, 1);
    /// 0x0302 Out of resources.
    pub const OUT_OF_RESOURCES: Self = Self::new(3, 2);

    /// Whether this is a success status.
    pub fn is_success(self) -> bool {
        self.class == 0
    }
}

impl fmt::Display for LoginStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02x}{:02x}", self.class, self.detail)
    }
}

/// A CHAP user name and secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// CHAP_N.
    pub username: String,
    /// The shared secret.
    pub secret: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A network portal of a target: address and portal group tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Portal {
    /// IP address and TCP port.
    pub address: SocketAddr,
    /// Target Portal Group Tag.
    pub tpgt: u16,
}

/// One target as configured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetEntry {
    /// iSCSI name (iqn., eui. or naa.).
    pub name: String,
    /// TargetAlias, if any.
    pub alias: Option<String>,
    /// Portals the target is reachable on.
    pub portals: Vec<Portal>,
    /// InitiatorNames allowed to log in and to see the target in
    /// SendTargets; empty allows everyone.
    pub allowed_initiators: Vec<String>,
    /// Credentials the initiator must prove (one-way CHAP); `None` for no
    /// authentication.
    pub chap: Option<Credentials>,
    /// Credentials the target proves when the initiator asks (mutual CHAP).
    pub mutual_chap: Option<Credentials>,
}

impl TargetEntry {
    /// Whether `initiator` may use this target. iSCSI names compare
    /// case-insensitively (RFC 7143 §4.2.7.1: names are normalized to lower
    /// case).
    pub fn allows(&self, initiator: &str) -> bool {
        self.allowed_initiators.is_empty()
            || self
                .allowed_initiators
                .iter()
                .any(|a| a.eq_ignore_ascii_case(initiator))
    }
}

/// The target side's configuration: plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// The targets served.
    pub targets: Vec<TargetEntry>,
    /// CHAP required for discovery sessions, if any.
    pub discovery_chap: Option<Credentials>,
    /// Mutual CHAP credentials for discovery sessions.
    pub discovery_mutual_chap: Option<Credentials>,
    /// Whether discovery sessions are allowed.
    pub allow_discovery: bool,
    /// Portal group tag of the portal this connection arrived on.
    pub portal_group_tag: u16,
    /// Operational parameters this target wants.
    pub preferences: Preferences,
    /// Commands the initiator may queue (MaxCmdSN - ExpCmdSN + 1): the
    /// window the login answers with and the full feature phase keeps
    /// ([`crate::session::TargetSession`] takes it from here).
    pub cmd_window: u32,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            targets: Vec::new(),
            discovery_chap: None,
            discovery_mutual_chap: None,
            allow_discovery: true,
            portal_group_tag: 1,
            preferences: Preferences::default(),
            cmd_window: 64,
        }
    }
}

impl TargetConfig {
    /// The target named `name` (case-insensitive).
    pub fn target(&self, name: &str) -> Option<&TargetEntry> {
        self.targets
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

/// What a completed login established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginResult {
    /// ISID.
    pub isid: Isid,
    /// TSIH of the session.
    pub tsih: u16,
    /// Connection ID.
    pub cid: u16,
    /// Negotiated parameters (names, session type and operational keys).
    pub params: SessionParams,
    /// The next StatSN the target sends.
    pub stat_sn: u32,
    /// The next CmdSN the initiator sends (the target's ExpCmdSN).
    pub cmd_sn: u32,
}
