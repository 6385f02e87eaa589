//! Text negotiation of login and session parameters (RFC 7143 §6.2, §13).
//!
//! A [`Negotiator`] holds one side's [`Preferences`], its own pending
//! offers and the [`SessionParams`] agreed so far. [`Negotiator::handle`]
//! takes the pairs the peer sent and returns the answers: numerical keys
//! take the minimum (or maximum) of offer and preference, booleans the AND
//! or OR, lists the first value of the offer this side accepts, declarative
//! keys are recorded without answer, unknown keys (including `X-` private
//! and `X#` registered extensions) get `NotUnderstood`, the marker keys
//! obsoleted by RFC 7143 get `Reject`, and keys that do not apply to the
//! session type get `Irrelevant`.
//!
//! ```
//! use netboot_iscsi::negotiate::{Negotiator, Preferences, Role, Digest};
//! let mut initiator = Negotiator::new(Role::Initiator, Preferences {
//!     header_digest: vec![Digest::Crc32c, Digest::None],
//!     max_burst_length: 1 << 20,
//!     ..Preferences::default()
//! });
//! let mut target = Negotiator::new(Role::Target, Preferences {
//!     header_digest: vec![Digest::Crc32c, Digest::None],
//!     max_burst_length: 1 << 18,
//!     ..Preferences::default()
//! });
//! let offers = initiator.offers();
//! let answers = target.handle(&offers).unwrap();
//! assert!(initiator.handle(&answers).unwrap().is_empty());
//! assert_eq!(initiator.params().max_burst_length, 1 << 18);
//! assert_eq!(target.params().header_digest, Digest::Crc32c);
//! assert_eq!(initiator.params(), target.params());
//! ```
//!
//! (Over 700 lines with its tests: the table of every RFC 7143 key and its
//! rules is one list that both sides read; about 860 lines of code.)

use crate::text::{parse_number, Pairs};
use crate::wire::Digests;
use crate::Error;
use std::collections::HashSet;

/// Longest ordinary value (RFC 7143 §6.1).
pub const MAX_SIMPLE_VALUE_LEN: usize = 255;

/// Longest iSCSI name (RFC 7143 §4.2.7.1).
pub const MAX_NAME_LEN: usize = 223;

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The initiator.
    Initiator,
    /// The target.
    Target,
}

/// HeaderDigest and DataDigest values (RFC 7143 §13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Digest {
    /// No digest.
    #[default]
    None,
    /// CRC32C.
    Crc32c,
}

impl Digest {
    fn as_str(self) -> &'static str {
        match self {
            Digest::None => "None",
            Digest::Crc32c => "CRC32C",
        }
    }

    fn parse(s: &str) -> Option<Digest> {
        match s {
            "None" => Some(Digest::None),
            "CRC32C" => Some(Digest::Crc32c),
            _ => None,
        }
    }
}

/// SessionType (RFC 7143 §13.21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SessionType {
    /// A normal session, with a target name.
    #[default]
    Normal,
    /// A discovery session (SendTargets only).
    Discovery,
}

/// The parameters of a session and connection once negotiated, starting
/// from the defaults of RFC 7143 §13.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionParams {
    /// HeaderDigest (§13.1), default None.
    pub header_digest: Digest,
    /// DataDigest (§13.1), default None.
    pub data_digest: Digest,
    /// MaxConnections (§13.2), default 1.
    pub max_connections: u16,
    /// InitialR2T (§13.10), default Yes.
    pub initial_r2t: bool,
    /// ImmediateData (§13.11), default Yes.
    pub immediate_data: bool,
    /// MaxRecvDataSegmentLength declared by the initiator (§13.12): the
    /// most the target may put in one PDU. Default 8192.
    pub initiator_max_recv_data_segment_length: u32,
    /// MaxRecvDataSegmentLength declared by the target: the most the
    /// initiator may put in one PDU. Default 8192.
    pub target_max_recv_data_segment_length: u32,
    /// MaxBurstLength (§13.13), default 262144.
    pub max_burst_length: u32,
    /// FirstBurstLength (§13.14), default 65536.
    pub first_burst_length: u32,
    /// DefaultTime2Wait (§13.15), default 2.
    pub default_time2wait: u16,
    /// DefaultTime2Retain (§13.16), default 20.
    pub default_time2retain: u16,
    /// MaxOutstandingR2T (§13.17), default 1.
    pub max_outstanding_r2t: u16,
    /// DataPDUInOrder (§13.18), default Yes.
    pub data_pdu_in_order: bool,
    /// DataSequenceInOrder (§13.19), default Yes.
    pub data_sequence_in_order: bool,
    /// ErrorRecoveryLevel (§13.20), default 0.
    pub error_recovery_level: u8,
    /// SessionType (§13.21), default Normal.
    pub session_type: SessionType,
    /// InitiatorName (§13.5).
    pub initiator_name: Option<String>,
    /// InitiatorAlias (§13.7).
    pub initiator_alias: Option<String>,
    /// TargetName (§13.4).
    pub target_name: Option<String>,
    /// TargetAlias (§13.6).
    pub target_alias: Option<String>,
    /// TargetAddress (§13.8), as sent.
    pub target_address: Option<String>,
    /// TargetPortalGroupTag (§13.9).
    pub target_portal_group_tag: Option<u16>,
}

impl Default for SessionParams {
    fn default() -> Self {
        SessionParams {
            header_digest: Digest::None,
            data_digest: Digest::None,
            max_connections: 1,
            initial_r2t: true,
            immediate_data: true,
            initiator_max_recv_data_segment_length: 8192,
            target_max_recv_data_segment_length: 8192,
            max_burst_length: 262_144,
            first_burst_length: 65_536,
            default_time2wait: 2,
            default_time2retain: 20,
            max_outstanding_r2t: 1,
            data_pdu_in_order: true,
            data_sequence_in_order: true,
            error_recovery_level: 0,
            session_type: SessionType::Normal,
            initiator_name: None,
            initiator_alias: None,
            target_name: None,
            target_alias: None,
            target_address: None,
            target_portal_group_tag: None,
        }
    }
}

impl SessionParams {
    /// The digests to use once in full feature phase.
    pub fn digests(&self) -> Digests {
        Digests {
            header: self.header_digest == Digest::Crc32c,
            data: self.data_digest == Digest::Crc32c,
        }
    }

    /// The most `role` may receive in one data segment (its own
    /// declaration), e.g. for its [`PduDecoder`](crate::codec::PduDecoder).
    pub fn max_recv_data_segment_length(&self, role: Role) -> u32 {
        match role {
            Role::Initiator => self.initiator_max_recv_data_segment_length,
            Role::Target => self.target_max_recv_data_segment_length,
        }
    }

    /// The most `role` may send in one data segment (the peer's
    /// declaration).
    pub fn max_send_data_segment_length(&self, role: Role) -> u32 {
        match role {
            Role::Initiator => self.target_max_recv_data_segment_length,
            Role::Target => self.initiator_max_recv_data_segment_length,
        }
    }
}

/// What one side wants and accepts. Defaults are the RFC defaults with no
/// digests.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Preferences {
    /// Acceptable header digests, most preferred first.
    pub header_digest: Vec<Digest>,
    /// Acceptable data digests, most preferred first.
    pub data_digest: Vec<Digest>,
    /// MaxConnections.
    pub max_connections: u16,
    /// InitialR2T.
    pub initial_r2t: bool,
    /// ImmediateData.
    pub immediate_data: bool,
    /// Our MaxRecvDataSegmentLength.
    pub max_recv_data_segment_length: u32,
    /// MaxBurstLength.
    pub max_burst_length: u32,
    /// FirstBurstLength.
    pub first_burst_length: u32,
    /// DefaultTime2Wait.
    pub default_time2wait: u16,
    /// DefaultTime2Retain.
    pub default_time2retain: u16,
    /// MaxOutstandingR2T.
    pub max_outstanding_r2t: u16,
    /// DataPDUInOrder.
    pub data_pdu_in_order: bool,
    /// DataSequenceInOrder.
    pub data_sequence_in_order: bool,
    /// ErrorRecoveryLevel.
    pub error_recovery_level: u8,
}

impl Default for Preferences {
    fn default() -> Self {
        let d = SessionParams::default();
        Preferences {
            header_digest: vec![Digest::None],
            data_digest: vec![Digest::None],
            max_connections: d.max_connections,
            initial_r2t: d.initial_r2t,
            immediate_data: d.immediate_data,
            max_recv_data_segment_length: d.target_max_recv_data_segment_length,
            max_burst_length: d.max_burst_length,
            first_burst_length: d.first_burst_length,
            default_time2wait: d.default_time2wait,
            default_time2retain: d.default_time2retain,
            max_outstanding_r2t: d.max_outstanding_r2t,
            data_pdu_in_order: d.data_pdu_in_order,
            data_sequence_in_order: d.data_sequence_in_order,
            error_recovery_level: d.error_recovery_level,
        }
    }
}

/// The keys of RFC 7143 §13 (security keys of §12 are handled by the
/// login state machines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Key {
    HeaderDigest,
    DataDigest,
    MaxConnections,
    SendTargets,
    TargetName,
    InitiatorName,
    TargetAlias,
    InitiatorAlias,
    TargetAddress,
    TargetPortalGroupTag,
    InitialR2T,
    ImmediateData,
    MaxRecvDataSegmentLength,
    MaxBurstLength,
    FirstBurstLength,
    DefaultTime2Wait,
    DefaultTime2Retain,
    MaxOutstandingR2T,
    DataPDUInOrder,
    DataSequenceInOrder,
    ErrorRecoveryLevel,
    SessionType,
    AuthMethod,
}

/// How a key's value is negotiated (RFC 7143 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The responder picks the first acceptable value of the offer.
    List,
    /// The result is the minimum of offer and answer, within a range.
    Min(u64, u64),
    /// The result is the maximum of offer and answer, within a range.
    Max(u64, u64),
    /// Boolean AND.
    And,
    /// Boolean OR.
    Or,
    /// Declared by its sender, no answer; numbers within a range.
    Declarative,
}

const ALL_KEYS: [Key; 23] = [
    Key::HeaderDigest,
    Key::DataDigest,
    Key::MaxConnections,
    Key::SendTargets,
    Key::TargetName,
    Key::InitiatorName,
    Key::TargetAlias,
    Key::InitiatorAlias,
    Key::TargetAddress,
    Key::TargetPortalGroupTag,
    Key::InitialR2T,
    Key::ImmediateData,
    Key::MaxRecvDataSegmentLength,
    Key::MaxBurstLength,
    Key::FirstBurstLength,
    Key::DefaultTime2Wait,
    Key::DefaultTime2Retain,
    Key::MaxOutstandingR2T,
    Key::DataPDUInOrder,
    Key::DataSequenceInOrder,
    Key::ErrorRecoveryLevel,
    Key::SessionType,
    Key::AuthMethod,
];

const MAX_24: u64 = (1 << 24) - 1;

impl Key {
    /// The key's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Key::HeaderDigest => "HeaderDigest",
            Key::DataDigest => "DataDigest",
            Key::MaxConnections => "MaxConnections",
            Key::SendTargets => "SendTargets",
            Key::TargetName => "TargetName",
            Key::InitiatorName => "InitiatorName",
            Key::TargetAlias => "TargetAlias",
            Key::InitiatorAlias => "InitiatorAlias",
            Key::TargetAddress => "TargetAddress",
            Key::TargetPortalGroupTag => "TargetPortalGroupTag",
            Key::InitialR2T => "InitialR2T",
            Key::ImmediateData => "ImmediateData",
            Key::MaxRecvDataSegmentLength => "MaxRecvDataSegmentLength",
            Key::MaxBurstLength => "MaxBurstLength",
            Key::FirstBurstLength => "FirstBurstLength",
            Key::DefaultTime2Wait => "DefaultTime2Wait",
            Key::DefaultTime2Retain => "DefaultTime2Retain",
            Key::MaxOutstandingR2T => "MaxOutstandingR2T",
            Key::DataPDUInOrder => "DataPDUInOrder",
            Key::DataSequenceInOrder => "DataSequenceInOrder",
            Key::ErrorRecoveryLevel => "ErrorRecoveryLevel",
            Key::SessionType => "SessionType",
            Key::AuthMethod => "AuthMethod",
        }
    }

    /// Looks a key up by its wire name (case-sensitive, RFC 7143 §6.1).
    pub fn from_name(name: &str) -> Option<Key> {
        ALL_KEYS.into_iter().find(|k| k.name() == name)
    }

    /// How the key is negotiated.
    pub fn kind(self) -> Kind {
        match self {
            Key::HeaderDigest | Key::DataDigest | Key::AuthMethod => Kind::List,
            Key::MaxConnections | Key::MaxOutstandingR2T => Kind::Min(1, 65535),
            Key::MaxBurstLength | Key::FirstBurstLength => Kind::Min(512, MAX_24),
            Key::DefaultTime2Wait => Kind::Max(0, 3600),
            Key::DefaultTime2Retain => Kind::Min(0, 3600),
            Key::ErrorRecoveryLevel => Kind::Min(0, 2),
            Key::ImmediateData => Kind::And,
            Key::InitialR2T | Key::DataPDUInOrder | Key::DataSequenceInOrder => Kind::Or,
            Key::SendTargets
            | Key::TargetName
            | Key::InitiatorName
            | Key::TargetAlias
            | Key::InitiatorAlias
            | Key::TargetAddress
            | Key::TargetPortalGroupTag
            | Key::MaxRecvDataSegmentLength
            | Key::SessionType => Kind::Declarative,
        }
    }

    /// Leading-only (LO) keys, negotiated on the first connection of a
    /// session only.
    pub fn leading_only(self) -> bool {
        matches!(
            self,
            Key::MaxConnections
                | Key::InitialR2T
                | Key::ImmediateData
                | Key::MaxBurstLength
                | Key::FirstBurstLength
                | Key::DefaultTime2Wait
                | Key::DefaultTime2Retain
                | Key::MaxOutstandingR2T
                | Key::DataPDUInOrder
                | Key::DataSequenceInOrder
                | Key::ErrorRecoveryLevel
                | Key::SessionType
                | Key::InitiatorName
                | Key::TargetName
        )
    }

    /// Keys that are `Irrelevant` in a discovery session.
    fn irrelevant_in_discovery(self) -> bool {
        matches!(
            self,
            Key::MaxConnections
                | Key::InitialR2T
                | Key::ImmediateData
                | Key::MaxBurstLength
                | Key::FirstBurstLength
                | Key::MaxOutstandingR2T
                | Key::DataPDUInOrder
                | Key::DataSequenceInOrder
        )
    }

    /// Who may send the key (offer or declaration).
    fn sent_by(self, role: Role) -> bool {
        match self {
            Key::SendTargets | Key::InitiatorName | Key::InitiatorAlias | Key::SessionType => {
                role == Role::Initiator
            }
            Key::TargetAlias | Key::TargetAddress | Key::TargetPortalGroupTag => {
                role == Role::Target
            }
            _ => true,
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "Yes" => Some(true),
        "No" => Some(false),
        _ => None,
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

/// The answer values of RFC 7143 §6.2 that are not values.
fn is_special(v: &str) -> bool {
    matches!(v, "NotUnderstood" | "Irrelevant" | "Reject")
}

/// One side of a text negotiation.
#[derive(Debug, Clone)]
pub struct Negotiator {
    role: Role,
    prefs: Preferences,
    params: SessionParams,
    /// Our offers awaiting an answer, with the value offered.
    offered: Vec<(Key, String)>,
    /// Keys the peer has sent (offers and declarations).
    peer_sent: HashSet<String>,
    /// Keys settled by either side's offer.
    settled: HashSet<Key>,
    declared_mrdsl: bool,
}

impl Negotiator {
    /// A negotiator for `role` with `prefs`.
    pub fn new(role: Role, prefs: Preferences) -> Negotiator {
        Negotiator {
            role,
            prefs,
            params: SessionParams::default(),
            offered: Vec::new(),
            peer_sent: HashSet::new(),
            settled: HashSet::new(),
            declared_mrdsl: false,
        }
    }

    /// The parameters agreed so far (defaults for keys not negotiated).
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// Mutable access for declarations made outside the negotiator (names,
    /// session type, portal group tag).
    pub fn params_mut(&mut self) -> &mut SessionParams {
        &mut self.params
    }

    /// Whether offers of ours still await an answer.
    pub fn has_pending_offers(&self) -> bool {
        !self.offered.is_empty()
    }

    /// Whether the peer has sent `key` in this negotiation.
    pub fn peer_sent(&self, key: &str) -> bool {
        self.peer_sent.contains(key)
    }

    fn discovery(&self) -> bool {
        self.params.session_type == SessionType::Discovery
    }

    fn first_burst_irrelevant(&self) -> bool {
        self.params.initial_r2t && !self.params.immediate_data
    }

    fn pref_value(&self, key: Key) -> Option<String> {
        let p = &self.prefs;
        Some(match key {
            Key::HeaderDigest => join_digests(&p.header_digest),
            Key::DataDigest => join_digests(&p.data_digest),
            Key::MaxConnections => p.max_connections.to_string(),
            Key::InitialR2T => yes_no(p.initial_r2t).into(),
            Key::ImmediateData => yes_no(p.immediate_data).into(),
            Key::MaxBurstLength => p.max_burst_length.to_string(),
            Key::FirstBurstLength => p.first_burst_length.to_string(),
            Key::DefaultTime2Wait => p.default_time2wait.to_string(),
            Key::DefaultTime2Retain => p.default_time2retain.to_string(),
            Key::MaxOutstandingR2T => p.max_outstanding_r2t.to_string(),
            Key::DataPDUInOrder => yes_no(p.data_pdu_in_order).into(),
            Key::DataSequenceInOrder => yes_no(p.data_sequence_in_order).into(),
            Key::ErrorRecoveryLevel => p.error_recovery_level.to_string(),
            _ => return None,
        })
    }

    fn default_value(key: Key) -> Option<String> {
        Negotiator::new(Role::Target, Preferences::default()).pref_value(key)
    }

    /// Our offers and declarations for the operational stage: our
    /// MaxRecvDataSegmentLength, and each negotiable key not yet settled.
    /// An initiator offers all of them (for a discovery session only the
    /// ones that apply); a target only those where its preference differs
    /// from the RFC default, since the default is what the initiator gets
    /// otherwise.
    pub fn offers(&mut self) -> Pairs {
        let mut out = Vec::new();
        if !self.declared_mrdsl {
            self.declared_mrdsl = true;
            let v = self.prefs.max_recv_data_segment_length;
            self.set_own_mrdsl(v);
            out.push((
                Key::MaxRecvDataSegmentLength.name().to_string(),
                v.to_string(),
            ));
        }
        for key in ALL_KEYS {
            let Some(v) = self.pref_value(key) else {
                continue;
            };
            if self.settled.contains(&key)
                || self.offered.iter().any(|(k, _)| *k == key)
                || self.peer_sent.contains(key.name())
                || (self.discovery() && key.irrelevant_in_discovery())
            {
                continue;
            }
            if self.role == Role::Target && Some(&v) == Negotiator::default_value(key).as_ref() {
                continue;
            }
            out.push((key.name().to_string(), v.clone()));
            self.offered.push((key, v));
        }
        out
    }

    fn set_own_mrdsl(&mut self, v: u32) {
        match self.role {
            Role::Initiator => self.params.initiator_max_recv_data_segment_length = v,
            Role::Target => self.params.target_max_recv_data_segment_length = v,
        }
    }

    /// Handles the pairs the peer sent: answers to our offers, its own
    /// offers and its declarations. Returns our answers.
    ///
    /// Keys this negotiator does not handle (security keys, `SendTargets`)
    /// must be filtered out by the caller. Errors (a key sent twice, a bad
    /// answer to our offer, a malformed declaration) end the negotiation.
    pub fn handle(&mut self, pairs: &[(String, String)]) -> Result<Pairs, Error> {
        // Keys that others depend on first: SessionType decides what is
        // Irrelevant, InitialR2T and ImmediateData decide FirstBurstLength.
        let rank = |k: &str| match k {
            "SessionType" => 0,
            "InitialR2T" | "ImmediateData" | "MaxBurstLength" => 1,
            _ => 2,
        };
        let mut order: Vec<&(String, String)> = pairs.iter().collect();
        order.sort_by_key(|(k, _)| rank(k));
        let mut answers = Vec::new();
        for (k, v) in order {
            if let Some(a) = self.handle_one(k, v)? {
                answers.push((k.clone(), a));
            }
        }
        self.params.first_burst_length = self
            .params
            .first_burst_length
            .min(self.params.max_burst_length);
        Ok(answers)
    }

    fn handle_one(&mut self, k: &str, v: &str) -> Result<Option<String>, Error> {
        let key = Key::from_name(k);
        if let Some(pos) = key.and_then(|key| self.offered.iter().position(|(o, _)| *o == key)) {
            let (key, ours) = self.offered.remove(pos);
            self.settled.insert(key);
            self.apply_answer(key, &ours, v)?;
            return Ok(None);
        }
        if !self.peer_sent.insert(k.to_string()) {
            return Err(Error::DuplicateKey(k.chars().take(64).collect()));
        }
        if matches!(k, "IFMarker" | "OFMarker" | "IFMarkInt" | "OFMarkInt") {
            // Keys obsoleted by RFC 7143 (§13.25): answered with Reject,
            // never NotUnderstood.
            return Ok((!is_special(v)).then(|| "Reject".to_string()));
        }
        let Some(key) = key else {
            // An answer value to something we never offered is ignored;
            // anything else unknown, X- and X# keys included, is not
            // understood (RFC 7143 §6.2, §13.23).
            return Ok((!is_special(v)).then(|| "NotUnderstood".to_string()));
        };
        if is_special(v) {
            return Ok(None);
        }
        if !key.sent_by(peer(self.role)) {
            return Err(Error::KeyNotAllowed {
                key: k.to_string(),
                reason: "sent by the wrong side",
            });
        }
        if matches!(key, Key::SendTargets | Key::AuthMethod) {
            return Err(Error::KeyNotAllowed {
                key: k.to_string(),
                reason: "not negotiable at this point",
            });
        }
        if v.len() > MAX_SIMPLE_VALUE_LEN {
            return Err(Error::invalid_value(k, v));
        }
        if self.discovery() && key.irrelevant_in_discovery()
            || key == Key::FirstBurstLength && self.first_burst_irrelevant()
        {
            self.settled.insert(key);
            return Ok(Some("Irrelevant".into()));
        }
        match key.kind() {
            Kind::Declarative => {
                self.declare(key, k, v)?;
                Ok(None)
            }
            Kind::List => {
                let prefs = match key {
                    Key::HeaderDigest => &self.prefs.header_digest,
                    _ => &self.prefs.data_digest,
                };
                let pick = v
                    .split(',')
                    .filter_map(Digest::parse)
                    .find(|d| prefs.contains(d));
                self.settled.insert(key);
                Ok(Some(match pick {
                    Some(d) => {
                        self.set_digest(key, d);
                        d.as_str().into()
                    }
                    None => "Reject".into(),
                }))
            }
            Kind::Min(lo, hi) | Kind::Max(lo, hi) => {
                self.settled.insert(key);
                let Some(n) = parse_number(v).filter(|n| (lo..=hi).contains(n)) else {
                    return Ok(Some("Reject".into()));
                };
                let ours = self
                    .pref_value(key)
                    .and_then(|p| parse_number(&p))
                    .unwrap_or(n);
                let r = if matches!(key.kind(), Kind::Min(..)) {
                    n.min(ours)
                } else {
                    n.max(ours)
                };
                self.set_number(key, r);
                Ok(Some(r.to_string()))
            }
            Kind::And | Kind::Or => {
                self.settled.insert(key);
                let Some(b) = parse_bool(v) else {
                    return Ok(Some("Reject".into()));
                };
                let ours = self
                    .pref_value(key)
                    .as_deref()
                    .and_then(parse_bool)
                    .unwrap_or(b);
                let r = if key.kind() == Kind::And {
                    b && ours
                } else {
                    b || ours
                };
                self.set_bool(key, r);
                Ok(Some(yes_no(r).into()))
            }
        }
    }

    /// Applies the peer's answer to our offer of `ours`.
    fn apply_answer(&mut self, key: Key, ours: &str, v: &str) -> Result<(), Error> {
        if is_special(v) {
            // The key keeps its default (RFC 7143 §6.2).
            return Ok(());
        }
        let bad = || Error::invalid_value(key.name(), v);
        match key.kind() {
            Kind::List => {
                let d = Digest::parse(v).ok_or_else(bad)?;
                if !ours.split(',').any(|o| o == v) {
                    return Err(bad());
                }
                self.set_digest(key, d);
            }
            Kind::Min(lo, hi) | Kind::Max(lo, hi) => {
                let n = parse_number(v)
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(bad)?;
                let o = parse_number(ours).unwrap_or(n);
                let ok = if matches!(key.kind(), Kind::Min(..)) {
                    n <= o
                } else {
                    n >= o
                };
                if !ok {
                    return Err(bad());
                }
                self.set_number(key, n);
            }
            Kind::And | Kind::Or => {
                let b = parse_bool(v).ok_or_else(bad)?;
                let o = parse_bool(ours).unwrap_or(b);
                // The answer must be the function's result.
                let expect = if key.kind() == Kind::And {
                    o && b
                } else {
                    o || b
                };
                if b != expect {
                    return Err(bad());
                }
                self.set_bool(key, b);
            }
            Kind::Declarative => {}
        }
        Ok(())
    }

    fn declare(&mut self, key: Key, k: &str, v: &str) -> Result<(), Error> {
        let bad = || Error::invalid_value(k, v);
        let name = |v: &str| -> Result<String, Error> {
            if v.is_empty() || v.len() > MAX_NAME_LEN {
                Err(bad())
            } else {
                Ok(v.to_string())
            }
        };
        let p = &mut self.params;
        match key {
            Key::InitiatorName => p.initiator_name = Some(name(v)?),
            Key::TargetName => p.target_name = Some(name(v)?),
            Key::InitiatorAlias => p.initiator_alias = Some(v.to_string()),
            Key::TargetAlias => p.target_alias = Some(v.to_string()),
            Key::TargetAddress => p.target_address = Some(v.to_string()),
            Key::TargetPortalGroupTag => {
                let n = parse_number(v).filter(|n| *n <= 65535).ok_or_else(bad)?;
                p.target_portal_group_tag = Some(n as u16);
            }
            Key::SessionType => {
                p.session_type = match v {
                    "Normal" => SessionType::Normal,
                    "Discovery" => SessionType::Discovery,
                    _ => return Err(bad()),
                }
            }
            Key::MaxRecvDataSegmentLength => {
                let n = parse_number(v)
                    .filter(|n| (512..=MAX_24).contains(n))
                    .ok_or_else(bad)?;
                match self.role {
                    Role::Initiator => p.target_max_recv_data_segment_length = n as u32,
                    Role::Target => p.initiator_max_recv_data_segment_length = n as u32,
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn set_digest(&mut self, key: Key, d: Digest) {
        match key {
            Key::HeaderDigest => self.params.header_digest = d,
            _ => self.params.data_digest = d,
        }
    }

    fn set_number(&mut self, key: Key, n: u64) {
        // Callers checked `n` against the key's range.
        let p = &mut self.params;
        match key {
            Key::MaxConnections => p.max_connections = n as u16,
            Key::MaxBurstLength => p.max_burst_length = n as u32,
            Key::FirstBurstLength => p.first_burst_length = n as u32,
            Key::DefaultTime2Wait => p.default_time2wait = n as u16,
            Key::DefaultTime2Retain => p.default_time2retain = n as u16,
            Key::MaxOutstandingR2T => p.max_outstanding_r2t = n as u16,
            Key::ErrorRecoveryLevel => p.error_recovery_level = n as u8,
            _ => {}
        }
    }

    fn set_bool(&mut self, key: Key, b: bool) {
        let p = &mut self.params;
        match key {
            Key::InitialR2T => p.initial_r2t = b,
            Key::ImmediateData => p.immediate_data = b,
            Key::DataPDUInOrder => p.data_pdu_in_order = b,
            Key::DataSequenceInOrder => p.data_sequence_in_order = b,
            _ => {}
        }
    }
}

fn peer(role: Role) -> Role {
    match role {
        Role::Initiator => Role::Target,
        Role::Target => Role::Initiator,
    }
}

fn join_digests(d: &[Digest]) -> String {
    let v: Vec<&str> = d.iter().map(|d| d.as_str()).collect();
    if v.is_empty() {
        "None".into()
    } else {
        v.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Pairs {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn answer(t: &mut Negotiator, p: &[(&str, &str)]) -> Pairs {
        t.handle(&pairs(p)).unwrap()
    }

    #[test]
    fn test_numerical_min_max() {
        let mut t = Negotiator::new(
            Role::Target,
            Preferences {
                max_burst_length: 131_072,
                default_time2wait: 5,
                ..Preferences::default()
            },
        );
        let a = answer(
            &mut t,
            &[
                ("MaxBurstLength", "262144"),
                ("DefaultTime2Wait", "2"),
                ("DefaultTime2Retain", "0"),
            ],
        );
        assert_eq!(
            a,
            pairs(&[
                ("MaxBurstLength", "131072"),
                ("DefaultTime2Wait", "5"),
                ("DefaultTime2Retain", "0")
            ])
        );
        assert_eq!(t.params().max_burst_length, 131_072);
        // FirstBurstLength never exceeds MaxBurstLength.
        assert_eq!(t.params().first_burst_length, 65_536);
    }

    #[test]
    fn test_out_of_range_rejected() {
        let mut t = Negotiator::new(Role::Target, Preferences::default());
        let a = answer(
            &mut t,
            &[("MaxBurstLength", "100"), ("ErrorRecoveryLevel", "x")],
        );
        assert_eq!(
            a,
            pairs(&[
                ("MaxBurstLength", "Reject"),
                ("ErrorRecoveryLevel", "Reject")
            ])
        );
        assert_eq!(t.params().max_burst_length, 262_144);
    }

    #[test]
    fn test_boolean_and_or() {
        let mut t = Negotiator::new(
            Role::Target,
            Preferences {
                immediate_data: false,
                initial_r2t: false,
                ..Preferences::default()
            },
        );
        let a = answer(
            &mut t,
            &[
                ("ImmediateData", "Yes"),
                ("InitialR2T", "No"),
                ("DataPDUInOrder", "No"),
            ],
        );
        assert_eq!(
            a,
            pairs(&[
                ("ImmediateData", "No"),
                ("InitialR2T", "No"),
                ("DataPDUInOrder", "Yes")
            ])
        );
        assert!(!t.params().immediate_data);
        assert!(!t.params().initial_r2t);
    }

    #[test]
    fn test_list_and_unknown() {
        let mut t = Negotiator::new(
            Role::Target,
            Preferences {
                header_digest: vec![Digest::Crc32c],
                ..Preferences::default()
            },
        );
        let a = answer(
            &mut t,
            &[
                ("HeaderDigest", "None,CRC32C"),
                ("DataDigest", "CRC32C,md5"),
                ("X-com.example.foo", "bar"),
                ("FancyKey", "1"),
                ("IFMarker", "No"),
            ],
        );
        assert_eq!(
            a,
            pairs(&[
                ("HeaderDigest", "CRC32C"),
                ("DataDigest", "Reject"),
                ("X-com.example.foo", "NotUnderstood"),
                ("FancyKey", "NotUnderstood"),
                ("IFMarker", "Reject"),
            ])
        );
        assert_eq!(t.params().header_digest, Digest::Crc32c);
        assert_eq!(t.params().data_digest, Digest::None);
    }

    #[test]
    fn test_irrelevant() {
        let mut t = Negotiator::new(Role::Target, Preferences::default());
        let a = answer(
            &mut t,
            &[("MaxBurstLength", "512"), ("SessionType", "Discovery")],
        );
        assert_eq!(a, pairs(&[("MaxBurstLength", "Irrelevant")]));
        let mut t = Negotiator::new(
            Role::Target,
            Preferences {
                immediate_data: false,
                ..Preferences::default()
            },
        );
        let a = answer(
            &mut t,
            &[("FirstBurstLength", "512"), ("ImmediateData", "No")],
        );
        assert_eq!(
            a,
            pairs(&[("ImmediateData", "No"), ("FirstBurstLength", "Irrelevant")])
        );
    }

    #[test]
    fn test_declarations() {
        let mut t = Negotiator::new(Role::Target, Preferences::default());
        let a = answer(
            &mut t,
            &[
                ("InitiatorName", "iqn.2020-01.org.example:a"),
                ("MaxRecvDataSegmentLength", "65536"),
            ],
        );
        assert!(a.is_empty());
        assert_eq!(t.params().initiator_max_recv_data_segment_length, 65536);
        assert_eq!(
            t.params().initiator_name.as_deref(),
            Some("iqn.2020-01.org.example:a")
        );
        assert!(matches!(
            t.handle(&pairs(&[("MaxRecvDataSegmentLength", "1")])),
            Err(Error::DuplicateKey(_))
        ));
        let mut t = Negotiator::new(Role::Target, Preferences::default());
        assert!(matches!(
            t.handle(&pairs(&[("MaxRecvDataSegmentLength", "100")])),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(
            t.handle(&pairs(&[("TargetAlias", "x")])),
            Err(Error::KeyNotAllowed { .. })
        ));
    }

    #[test]
    fn test_bad_answers() {
        let mut i = Negotiator::new(Role::Initiator, Preferences::default());
        let _ = i.offers();
        // MaxBurstLength is Min: an answer above our offer is a violation.
        assert!(i.handle(&pairs(&[("MaxBurstLength", "300000")])).is_err());
        let mut i = Negotiator::new(Role::Initiator, Preferences::default());
        let _ = i.offers();
        // ImmediateData=Yes AND x can be No; InitialR2T=Yes OR x must be Yes.
        assert!(i.handle(&pairs(&[("ImmediateData", "No")])).is_ok());
        assert!(i.handle(&pairs(&[("InitialR2T", "No")])).is_err());
        let mut i = Negotiator::new(Role::Initiator, Preferences::default());
        let _ = i.offers();
        assert!(i.handle(&pairs(&[("HeaderDigest", "CRC32C")])).is_err());
        assert!(i.handle(&pairs(&[("DataDigest", "Reject")])).is_ok());
    }

    #[test]
    fn test_target_offers_non_defaults() {
        let mut t = Negotiator::new(
            Role::Target,
            Preferences {
                max_recv_data_segment_length: 65536,
                immediate_data: false,
                ..Preferences::default()
            },
        );
        answer(&mut t, &[("InitialR2T", "Yes")]);
        let o = t.offers();
        assert_eq!(
            o,
            pairs(&[
                ("MaxRecvDataSegmentLength", "65536"),
                ("ImmediateData", "No")
            ])
        );
        assert!(t.has_pending_offers());
        let mut i = Negotiator::new(Role::Initiator, Preferences::default());
        let a = i.handle(&o).unwrap();
        assert_eq!(a, pairs(&[("ImmediateData", "No")]));
        assert!(t.handle(&a).unwrap().is_empty());
        assert!(!t.has_pending_offers());
        assert!(!t.params().immediate_data);
        assert_eq!(i.params().target_max_recv_data_segment_length, 65536);
    }
}
