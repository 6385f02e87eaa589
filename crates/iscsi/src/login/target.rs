//! Target side of the login phase.

use super::chap::{self, ChallengeHistory, CHAP_MD5, MAX_CHALLENGE_LEN};
use super::{Credentials, LoginResult, LoginStatus, TargetConfig};
use crate::negotiate::{Negotiator, Role, SessionType};
use crate::text::{
    decode_binary, encode_hex, encode_text, parse_number, parse_text, split_text, Pairs,
    TextReassembler,
};
use crate::wire::{Bhs, Isid, LoginRequest, LoginResponse, Pdu, Stage};
use crate::{Error, ParseError};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// Largest login data segment either side sends or accepts: during login
/// MaxRecvDataSegmentLength is 8192 (RFC 7143 §13.12).
const LOGIN_MAX_SEGMENT: usize = 8192;

/// Where a login stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginState {
    /// More requests are expected.
    InProgress,
    /// The final response was produced: the connection is in full feature
    /// phase.
    FullFeature,
    /// The login was refused with this status; close the connection after
    /// sending the response.
    Failed(LoginStatus),
}

#[derive(Debug, Clone)]
enum Auth {
    /// Nothing negotiated yet.
    Start,
    /// AuthMethod=None agreed.
    NoneAgreed,
    /// AuthMethod=CHAP agreed, waiting for CHAP_A.
    ChapAlgorithm,
    /// Challenge sent, waiting for CHAP_N and CHAP_R.
    ChapResponse {
        id: u8,
        challenge: [u8; chap::CHALLENGE_LEN],
    },
    /// Authentication complete.
    Done,
}

/// The target side of one connection's login (RFC 7143 §6.3).
///
/// Feed each Login Request to [`handle`](Self::handle) and send the Login
/// Response it returns. When [`state`](Self::state) is
/// [`LoginState::FullFeature`], [`result`](Self::result) has the session's
/// parameters; when it is [`LoginState::Failed`], close the connection
/// after sending the response.
#[derive(Debug)]
pub struct TargetLogin {
    config: Arc<TargetConfig>,
    new_tsih: u16,
    state: LoginState,
    first: Option<LoginRequest>,
    stage: Stage,
    stat_sn: u32,
    exp_cmd_sn: u32,
    negotiator: Negotiator,
    auth: Auth,
    target: Option<usize>,
    rx: TextReassembler,
    tx: VecDeque<Bytes>,
    /// Stage to move to once continued text is sent (T bit deferred).
    deferred_transit: Option<Stage>,
    sent_first: bool,
    offers_made: bool,
    history: Option<Arc<ChallengeHistory>>,
}

/// Why a login stops, and how it is answered.
struct Refuse(LoginStatus);

impl From<Error> for Refuse {
    fn from(e: Error) -> Self {
        Refuse(e.login_status())
    }
}

impl From<ParseError> for Refuse {
    fn from(e: ParseError) -> Self {
        Error::Parse(e).into()
    }
}

fn is_security_key(k: &str) -> bool {
    k == "AuthMethod" || k.starts_with("CHAP_")
}

impl TargetLogin {
    /// A login on a new connection. `new_tsih` (non-zero) is the TSIH given
    /// to the session if the login creates one; the caller owns the
    /// session table.
    pub fn new(config: Arc<TargetConfig>, new_tsih: u16) -> TargetLogin {
        let negotiator = Negotiator::new(Role::Target, config.preferences.clone());
        TargetLogin {
            config,
            new_tsih,
            state: LoginState::InProgress,
            first: None,
            stage: Stage::SecurityNegotiation,
            stat_sn: 0,
            exp_cmd_sn: 0,
            negotiator,
            auth: Auth::Start,
            target: None,
            rx: TextReassembler::default(),
            tx: VecDeque::new(),
            deferred_transit: None,
            sent_first: false,
            offers_made: false,
            history: None,
        }
    }

    /// Shares a challenge history between the logins of this target, so
    /// that a challenge repeated or reflected from another connection is
    /// refused too (without one, only this connection's challenge is
    /// checked).
    pub fn with_challenge_history(mut self, history: Arc<ChallengeHistory>) -> Self {
        self.history = Some(history);
        self
    }

    /// Where the login stands.
    pub fn state(&self) -> LoginState {
        self.state
    }

    /// The outcome once in full feature phase.
    pub fn result(&self) -> Option<LoginResult> {
        let first = self.first.as_ref()?;
        (self.state == LoginState::FullFeature).then(|| LoginResult {
            isid: first.isid,
            tsih: self.new_tsih,
            cid: first.cid,
            params: self.negotiator.params().clone(),
            stat_sn: self.stat_sn,
            cmd_sn: self.exp_cmd_sn,
        })
    }

    /// Handles one PDU received during login and returns the Login
    /// Response to send.
    pub fn handle(&mut self, pdu: &Pdu) -> Pdu {
        let Bhs::LoginRequest(req) = pdu.header else {
            // Only Login Requests may precede full feature phase.
            return self.refuse(
                LoginStatus::INVALID_DURING_LOGIN,
                pdu.header.itt(),
                Isid::default(),
                0,
            );
        };
        if self.state != LoginState::InProgress {
            return self.refuse(
                LoginStatus::INVALID_DURING_LOGIN,
                req.itt,
                req.isid,
                req.tsih,
            );
        }
        match self.step(&req, &pdu.data) {
            Ok(resp) => resp,
            Err(Refuse(status)) => self.refuse(status, req.itt, req.isid, req.tsih),
        }
    }

    /// Refuses the login that Login Request `pdu` belongs to with `status`,
    /// for a reason of the caller's: 0x0302 Out of resources when its
    /// session table is full, 0x0301 Service unavailable while it shuts
    /// down. Send the returned response instead of calling
    /// [`handle`](Self::handle); the state becomes [`LoginState::Failed`].
    pub fn refuse_request(&mut self, pdu: &Pdu, status: LoginStatus) -> Pdu {
        let (isid, tsih) = match pdu.header {
            Bhs::LoginRequest(r) => (r.isid, r.tsih),
            _ => (Isid::default(), 0),
        };
        if self.first.is_none() {
            if let Bhs::LoginRequest(r) = pdu.header {
                self.stat_sn = r.exp_stat_sn;
                self.exp_cmd_sn = r.cmd_sn;
            }
        }
        self.refuse(status, pdu.header.itt(), isid, tsih)
    }

    fn refuse(&mut self, status: LoginStatus, itt: u32, isid: Isid, tsih: u16) -> Pdu {
        self.state = LoginState::Failed(status);
        let resp = LoginResponse {
            transit: false,
            continue_: false,
            csg: self.stage,
            nsg: Stage::SecurityNegotiation,
            version_max: 0,
            version_active: 0,
            isid,
            tsih,
            itt,
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
            status,
        };
        Pdu::new(resp)
    }

    fn max_cmd_sn(&self) -> u32 {
        self.exp_cmd_sn
            .wrapping_add(self.config.cmd_window.max(1))
            .wrapping_sub(1)
    }

    fn check_header(&mut self, req: &LoginRequest) -> Result<(), Refuse> {
        match &self.first {
            None => {
                // Version-min must admit version 0, the only one defined
                // (RFC 7143 §11.12.4).
                if req.version_min > 0 {
                    return Err(Refuse(LoginStatus::UNSUPPORTED_VERSION));
                }
                if req.tsih != 0 {
                    // Adding a connection to an existing session needs the
                    // caller's session table; not supported here.
                    return Err(Refuse(LoginStatus::SESSION_DOES_NOT_EXIST));
                }
                self.stage = match req.csg {
                    Stage::SecurityNegotiation | Stage::LoginOperationalNegotiation => req.csg,
                    _ => return Err(Refuse(LoginStatus::INITIATOR_ERROR)),
                };
                self.stat_sn = req.exp_stat_sn;
                self.exp_cmd_sn = req.cmd_sn;
                self.first = Some(*req);
            }
            Some(f) => {
                // ISID, TSIH and CID are fixed for the whole login
                // (RFC 7143 §6.3).
                if f.isid != req.isid || f.tsih != req.tsih || f.cid != req.cid {
                    return Err(Refuse(LoginStatus::INITIATOR_ERROR));
                }
                if req.csg != self.stage {
                    return Err(Refuse(LoginStatus::INITIATOR_ERROR));
                }
            }
        }
        if req.transit && req.continue_ {
            return Err(Refuse(LoginStatus::INITIATOR_ERROR));
        }
        if req.transit {
            let ok = matches!(
                (req.csg, req.nsg),
                (
                    Stage::SecurityNegotiation,
                    Stage::LoginOperationalNegotiation
                ) | (Stage::SecurityNegotiation, Stage::FullFeaturePhase)
                    | (Stage::LoginOperationalNegotiation, Stage::FullFeaturePhase)
            );
            if !ok {
                return Err(Refuse(LoginStatus::INITIATOR_ERROR));
            }
        }
        Ok(())
    }

    fn response(
        &mut self,
        req: &LoginRequest,
        transit: Option<Stage>,
        data: Bytes,
        cont: bool,
    ) -> Pdu {
        let tsih = if transit == Some(Stage::FullFeaturePhase) {
            self.new_tsih
        } else {
            req.tsih
        };
        let resp = LoginResponse {
            transit: transit.is_some(),
            continue_: cont,
            csg: self.stage,
            nsg: transit.unwrap_or(Stage::SecurityNegotiation),
            version_max: 0,
            version_active: 0,
            isid: req.isid,
            tsih,
            itt: req.itt,
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
            status: LoginStatus::SUCCESS,
        };
        // Each Login Response takes a StatSN.
        self.stat_sn = self.stat_sn.wrapping_add(1);
        if let Some(next) = transit {
            self.stage = next;
            if next == Stage::FullFeaturePhase {
                self.state = LoginState::FullFeature;
            }
        }
        Pdu::with_data(resp, data)
    }

    /// Sends the next queued text segment; the T bit waits for the last.
    fn send_queued(&mut self, req: &LoginRequest) -> Pdu {
        let seg = self.tx.pop_front().unwrap_or_default();
        if self.tx.is_empty() {
            let t = self.deferred_transit.take();
            self.response(req, t, seg, false)
        } else {
            self.response(req, None, seg, true)
        }
    }

    fn step(&mut self, req: &LoginRequest, data: &Bytes) -> Result<Pdu, Refuse> {
        self.check_header(req)?;
        if !self.tx.is_empty() {
            // The initiator acknowledges a continued response with an
            // empty request.
            if !data.is_empty() {
                return Err(Refuse(LoginStatus::INITIATOR_ERROR));
            }
            return Ok(self.send_queued(req));
        }
        let Some(text) = self.rx.push(data, req.continue_)? else {
            // More text to come: acknowledge with an empty response.
            return Ok(self.response(req, None, Bytes::new(), false));
        };
        let pairs = parse_text(&text)?;
        let mut answers: Pairs = Vec::new();
        if !self.sent_first {
            self.first_request(&pairs, &mut answers)?;
        }
        let (security, operational): (Pairs, Pairs) =
            pairs.into_iter().partition(|(k, _)| is_security_key(k));
        if !security.is_empty() && self.stage != Stage::SecurityNegotiation {
            return Err(Refuse(LoginStatus::INITIATOR_ERROR));
        }
        answers.extend(self.negotiator.handle(&operational)?);
        let mut transit = None;
        match self.stage {
            Stage::SecurityNegotiation => {
                let ready = self.security(&security, &mut answers)?;
                if req.transit {
                    match (&self.auth, ready) {
                        (_, true) => {
                            // Go through the operational stage so that our
                            // declarations (MaxRecvDataSegmentLength) reach
                            // the initiator (RFC 7143 §6.3: the target may
                            // answer with an earlier NSG).
                            transit = Some(Stage::LoginOperationalNegotiation);
                        }
                        (Auth::Start, false) => return Err(Refuse(LoginStatus::AUTH_FAILURE)),
                        _ => {}
                    }
                }
            }
            _ => {
                // Skipping the security stage is only allowed when the
                // target requires no authentication.
                let authenticated = matches!(self.auth, Auth::Done | Auth::NoneAgreed);
                if self.credentials().0.is_some() && !authenticated {
                    return Err(Refuse(LoginStatus::AUTH_FAILURE));
                }
                if !self.offers_made {
                    self.offers_made = true;
                    answers.extend(self.negotiator.offers());
                }
                if req.transit && !self.negotiator.has_pending_offers() {
                    transit = Some(Stage::FullFeaturePhase);
                }
            }
        }
        self.sent_first = true;
        let segs = split_text(&encode_text(answers), LOGIN_MAX_SEGMENT);
        self.tx.extend(segs);
        self.deferred_transit = transit;
        Ok(self.send_queued(req))
    }

    /// Checks the names and session type of the first request.
    fn first_request(&mut self, pairs: &Pairs, answers: &mut Pairs) -> Result<(), Refuse> {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let Some(initiator) = get("InitiatorName") else {
            return Err(Refuse(LoginStatus::MISSING_PARAMETER));
        };
        let session_type = match get("SessionType") {
            None | Some("Normal") => SessionType::Normal,
            Some("Discovery") => SessionType::Discovery,
            Some(_) => return Err(Refuse(LoginStatus::SESSION_TYPE_NOT_SUPPORTED)),
        };
        match session_type {
            SessionType::Discovery => {
                if !self.config.allow_discovery {
                    return Err(Refuse(LoginStatus::SESSION_TYPE_NOT_SUPPORTED));
                }
            }
            SessionType::Normal => {
                let Some(name) = get("TargetName") else {
                    return Err(Refuse(LoginStatus::MISSING_PARAMETER));
                };
                let Some(idx) = self
                    .config
                    .targets
                    .iter()
                    .position(|t| t.name.eq_ignore_ascii_case(name))
                else {
                    return Err(Refuse(LoginStatus::NOT_FOUND));
                };
                let entry = &self.config.targets[idx];
                if !entry.allows(initiator) {
                    return Err(Refuse(LoginStatus::AUTHORIZATION_FAILURE));
                }
                self.target = Some(idx);
                // The first response of a normal session carries the
                // portal group tag (RFC 7143 §13.9).
                answers.push((
                    "TargetPortalGroupTag".into(),
                    self.config.portal_group_tag.to_string(),
                ));
                if let Some(alias) = &entry.alias {
                    answers.push(("TargetAlias".into(), alias.clone()));
                }
                self.negotiator.params_mut().target_alias = entry.alias.clone();
                self.negotiator.params_mut().target_portal_group_tag =
                    Some(self.config.portal_group_tag);
            }
        }
        Ok(())
    }

    fn credentials(&self) -> (Option<&Credentials>, Option<&Credentials>) {
        match self.target.and_then(|i| self.config.targets.get(i)) {
            Some(t) => (t.chap.as_ref(), t.mutual_chap.as_ref()),
            None => (
                self.config.discovery_chap.as_ref(),
                self.config.discovery_mutual_chap.as_ref(),
            ),
        }
    }

    /// Runs the security stage; returns whether authentication allows
    /// leaving it.
    fn security(&mut self, keys: &Pairs, answers: &mut Pairs) -> Result<bool, Refuse> {
        let (required, _) = self.credentials();
        let required = required.is_some();
        let get = |k: &str| {
            keys.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        for (i, (k, _)) in keys.iter().enumerate() {
            if keys[..i].iter().any(|(p, _)| p == k) {
                return Err(Refuse(LoginStatus::INITIATOR_ERROR));
            }
        }
        if let Some(methods) = get("AuthMethod") {
            if !matches!(self.auth, Auth::Start) {
                return Err(Refuse(LoginStatus::INITIATOR_ERROR));
            }
            let want = if required { "CHAP" } else { "None" };
            if methods.split(',').any(|m| m == want) {
                answers.push(("AuthMethod".into(), want.into()));
                self.auth = if required {
                    Auth::ChapAlgorithm
                } else {
                    Auth::NoneAgreed
                };
            } else {
                // No acceptable method: the login cannot succeed.
                return Err(Refuse(LoginStatus::AUTH_FAILURE));
            }
        }
        match self.auth.clone() {
            Auth::ChapAlgorithm => {
                if let Some(algs) = get("CHAP_A") {
                    let md5 = algs
                        .split(',')
                        .any(|a| parse_number(a) == Some(u64::from(CHAP_MD5)));
                    if !md5 {
                        return Err(Refuse(LoginStatus::AUTH_FAILURE));
                    }
                    let (mut id, mut challenge) = chap::new_challenge();
                    if let Some(h) = &self.history {
                        // A 128-bit random value repeats only if the RNG
                        // is broken; draw again rather than reuse.
                        while !h.insert(&challenge) {
                            (id, challenge) = chap::new_challenge();
                        }
                    }
                    answers.push(("CHAP_A".into(), CHAP_MD5.to_string()));
                    answers.push(("CHAP_I".into(), id.to_string()));
                    answers.push(("CHAP_C".into(), encode_hex(&challenge)));
                    self.auth = Auth::ChapResponse { id, challenge };
                } else if keys.iter().any(|(k, _)| k != "AuthMethod") {
                    return Err(Refuse(LoginStatus::AUTH_FAILURE));
                }
            }
            Auth::ChapResponse { id, challenge } => {
                self.chap_response(keys, id, &challenge, answers)?;
                self.auth = Auth::Done;
            }
            _ if keys.iter().any(|(k, _)| k.starts_with("CHAP_")) => {
                return Err(Refuse(LoginStatus::AUTH_FAILURE));
            }
            _ => {}
        }
        Ok(match self.auth {
            Auth::Done | Auth::NoneAgreed => true,
            Auth::Start => !required,
            _ => false,
        })
    }

    fn chap_response(
        &self,
        keys: &Pairs,
        id: u8,
        challenge: &[u8],
        answers: &mut Pairs,
    ) -> Result<(), Refuse> {
        let (Some(creds), mutual) = self.credentials() else {
            return Err(Refuse(LoginStatus::AUTH_FAILURE));
        };
        let get = |k: &str| {
            keys.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let fail = Refuse(LoginStatus::AUTH_FAILURE);
        let (Some(name), Some(resp)) = (get("CHAP_N"), get("CHAP_R")) else {
            return Err(fail);
        };
        let Some(resp) = decode_binary(resp) else {
            return Err(fail);
        };
        // Check the response even for a wrong name so that both take the
        // same time.
        let ok_resp = chap::verify(id, &creds.secret, challenge, &resp);
        if !(ok_resp && name == creds.username) {
            return Err(fail);
        }
        match (get("CHAP_I"), get("CHAP_C")) {
            (None, None) => Ok(()),
            (Some(mid), Some(mc)) => {
                let Some(mutual) = mutual else {
                    return Err(fail);
                };
                let Some(mid) = parse_number(mid).and_then(|n| u8::try_from(n).ok()) else {
                    return Err(fail);
                };
                let Some(mc) = decode_binary(mc) else {
                    return Err(fail);
                };
                // A reflected challenge would make us answer our own
                // question (RFC 7143 §12.1.3); an empty or huge one is
                // malformed.
                if mc.is_empty() || mc.len() > MAX_CHALLENGE_LEN || mc == challenge {
                    return Err(fail);
                }
                // A challenge seen before (issued by us on another
                // connection, or sent by an initiator) is a replay.
                if let Some(h) = &self.history {
                    if !h.insert(&mc) {
                        return Err(fail);
                    }
                }
                // The same secret in both directions defeats mutual CHAP.
                if mutual.secret == creds.secret {
                    return Err(fail);
                }
                answers.push(("CHAP_N".into(), mutual.username.clone()));
                answers.push((
                    "CHAP_R".into(),
                    encode_hex(&chap::chap_md5(mid, &mutual.secret, &mc)),
                ));
                Ok(())
            }
            _ => Err(fail),
        }
    }
}
