//! Initiator side of the login phase.

use super::chap::{self, CHAP_MD5, MAX_CHALLENGE_LEN};
use super::{Credentials, LoginResult};
use crate::negotiate::{Negotiator, Preferences, Role, SessionParams, SessionType};
use crate::text::{
    decode_binary, encode_hex, encode_text, parse_number, parse_text, split_text, Pairs,
    TextReassembler,
};
use crate::wire::{Bhs, Isid, LoginRequest, Pdu, Stage};
use crate::{Error, ParseError};
use bytes::Bytes;
use std::collections::VecDeque;

const LOGIN_MAX_SEGMENT: usize = 8192;

/// What the initiator logs in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiatorConfig {
    /// InitiatorName.
    pub initiator_name: String,
    /// InitiatorAlias, if any.
    pub initiator_alias: Option<String>,
    /// TargetName for a normal session; `None` for a discovery session.
    pub target_name: Option<String>,
    /// ISID of the session.
    pub isid: Isid,
    /// Connection ID.
    pub cid: u16,
    /// Initiator Task Tag of the login requests.
    pub itt: u32,
    /// Initial CmdSN.
    pub cmd_sn: u32,
    /// CHAP credentials to prove, if the target asks.
    pub chap: Option<Credentials>,
    /// Credentials the target must prove (mutual CHAP); requires `chap`.
    pub mutual_chap: Option<Credentials>,
    /// Operational parameters to offer.
    pub preferences: Preferences,
}

impl InitiatorConfig {
    /// A configuration with defaults for everything but the names.
    pub fn new(initiator_name: impl Into<String>, target_name: Option<String>) -> Self {
        InitiatorConfig {
            initiator_name: initiator_name.into(),
            initiator_alias: None,
            target_name,
            isid: Isid([0x80, 0, 0, 0, 0, 1]),
            cid: 0,
            itt: 0,
            cmd_sn: 1,
            chap: None,
            mutual_chap: None,
            preferences: Preferences::default(),
        }
    }
}

#[derive(Debug, Clone)]
enum Auth {
    /// AuthMethod offered.
    Offered,
    /// CHAP agreed, CHAP_A sent.
    ChapAlgorithm,
    /// Response sent; for mutual CHAP the challenge we sent.
    ChapResponded {
        mutual: Option<(u8, [u8; chap::CHALLENGE_LEN])>,
    },
    /// Authentication complete.
    Done,
}

/// The initiator side of one connection's login.
///
/// [`start`](Self::start) gives the first Login Request; each Login
/// Response goes to [`handle`](Self::handle), which returns the next
/// request, or `None` once the target has moved to full feature phase.
#[derive(Debug)]
pub struct InitiatorLogin {
    config: InitiatorConfig,
    negotiator: Negotiator,
    stage: Stage,
    auth: Auth,
    exp_stat_sn: u32,
    tsih: u16,
    rx: TextReassembler,
    tx: VecDeque<Bytes>,
    transit_to: Option<Stage>,
    complete: bool,
    seen_tpgt: bool,
}

impl InitiatorLogin {
    /// A login with `config`.
    pub fn new(config: InitiatorConfig) -> Self {
        let mut negotiator = Negotiator::new(Role::Initiator, config.preferences.clone());
        let p = negotiator.params_mut();
        p.initiator_name = Some(config.initiator_name.clone());
        p.initiator_alias = config.initiator_alias.clone();
        p.target_name = config.target_name.clone();
        p.session_type = if config.target_name.is_some() {
            SessionType::Normal
        } else {
            SessionType::Discovery
        };
        InitiatorLogin {
            config,
            negotiator,
            stage: Stage::SecurityNegotiation,
            auth: Auth::Offered,
            exp_stat_sn: 0,
            tsih: 0,
            rx: TextReassembler::default(),
            tx: VecDeque::new(),
            transit_to: None,
            complete: false,
            seen_tpgt: false,
        }
    }

    /// Whether the login reached full feature phase.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The negotiated parameters (final once complete).
    pub fn params(&self) -> &SessionParams {
        self.negotiator.params()
    }

    /// The outcome once complete.
    pub fn result(&self) -> Option<LoginResult> {
        self.complete.then(|| LoginResult {
            isid: self.config.isid,
            tsih: self.tsih,
            cid: self.config.cid,
            params: self.negotiator.params().clone(),
            stat_sn: self.exp_stat_sn,
            cmd_sn: self.config.cmd_sn,
        })
    }

    /// The first Login Request: names, session type and AuthMethod.
    pub fn start(&mut self) -> Pdu {
        let mut pairs: Pairs = vec![("InitiatorName".into(), self.config.initiator_name.clone())];
        if let Some(a) = &self.config.initiator_alias {
            pairs.push(("InitiatorAlias".into(), a.clone()));
        }
        match &self.config.target_name {
            Some(t) => {
                pairs.push(("SessionType".into(), "Normal".into()));
                pairs.push(("TargetName".into(), t.clone()));
            }
            None => pairs.push(("SessionType".into(), "Discovery".into())),
        }
        let method = if self.config.chap.is_some() {
            "CHAP"
        } else {
            "None"
        };
        pairs.push(("AuthMethod".into(), method.into()));
        self.queue(pairs, Some(Stage::LoginOperationalNegotiation))
    }

    fn queue(&mut self, pairs: Pairs, transit: Option<Stage>) -> Pdu {
        self.tx
            .extend(split_text(&encode_text(pairs), LOGIN_MAX_SEGMENT));
        self.transit_to = transit;
        self.next_request()
    }

    fn next_request(&mut self) -> Pdu {
        let data = self.tx.pop_front().unwrap_or_default();
        let more = !self.tx.is_empty();
        let transit = if more { None } else { self.transit_to };
        let req = LoginRequest {
            transit: transit.is_some(),
            continue_: more,
            csg: self.stage,
            nsg: transit.unwrap_or(Stage::SecurityNegotiation),
            version_max: 0,
            version_min: 0,
            isid: self.config.isid,
            tsih: 0,
            itt: self.config.itt,
            cid: self.config.cid,
            cmd_sn: self.config.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        Pdu::with_data(req, data)
    }

    fn empty_request(&mut self) -> Pdu {
        self.transit_to = None;
        self.next_request()
    }

    /// Handles a Login Response; returns the next request, or `None` once
    /// the login is complete. A refusal is `Error::LoginRefused`.
    pub fn handle(&mut self, pdu: &Pdu) -> Result<Option<Pdu>, Error> {
        let Bhs::LoginResponse(resp) = pdu.header else {
            return Err(Error::UnexpectedOpcode(pdu.header.opcode()));
        };
        if self.complete {
            return Err(Error::Protocol(
                "Login Response after login completed".into(),
            ));
        }
        if !resp.status.is_success() {
            return Err(Error::LoginRefused(resp.status));
        }
        if resp.version_active != 0 {
            return Err(ParseError::InvalidField {
                field: "Version-active",
                value: resp.version_active.into(),
            }
            .into());
        }
        if resp.isid != self.config.isid || resp.itt != self.config.itt {
            return Err(Error::Protocol("ISID or ITT changed during login".into()));
        }
        if resp.csg != self.stage {
            return Err(ParseError::InvalidField {
                field: "CSG",
                value: u8::from(resp.csg).into(),
            }
            .into());
        }
        self.exp_stat_sn = resp.stat_sn.wrapping_add(1);
        if !self.tx.is_empty() {
            // Our continued text: the target acknowledged one segment.
            return Ok(Some(self.next_request()));
        }
        let Some(text) = self.rx.push(&pdu.data, resp.continue_)? else {
            return Ok(Some(self.empty_request()));
        };
        let pairs = parse_text(&text)?;
        let (security, operational): (Pairs, Pairs) = pairs
            .into_iter()
            .partition(|(k, _)| k == "AuthMethod" || k.starts_with("CHAP_"));
        if !self.seen_tpgt && self.config.target_name.is_some() {
            // RFC 7143 §13.9: the first response of a normal session
            // carries TargetPortalGroupTag.
            if !operational.iter().any(|(k, _)| k == "TargetPortalGroupTag") {
                return Err(Error::MissingKey("TargetPortalGroupTag"));
            }
            self.seen_tpgt = true;
        }
        let mut answers = self.negotiator.handle(&operational)?;
        if resp.transit {
            let valid = matches!(
                (resp.csg, resp.nsg),
                (
                    Stage::SecurityNegotiation,
                    Stage::LoginOperationalNegotiation
                ) | (Stage::SecurityNegotiation, Stage::FullFeaturePhase)
                    | (Stage::LoginOperationalNegotiation, Stage::FullFeaturePhase)
            );
            if !valid {
                return Err(Error::Protocol("invalid stage transition".into()));
            }
        }
        match self.stage {
            Stage::SecurityNegotiation => {
                let mut sec = self.security(&security)?;
                if resp.transit {
                    if !matches!(self.auth, Auth::Done) {
                        return Err(Error::AuthFailed("target left security stage early"));
                    }
                    self.stage = resp.nsg;
                }
                sec.append(&mut answers);
                if self.stage == Stage::FullFeaturePhase {
                    return self.finish(resp.tsih);
                }
                if self.stage == Stage::LoginOperationalNegotiation {
                    sec.extend(self.negotiator.offers());
                    return Ok(Some(self.queue(sec, Some(Stage::FullFeaturePhase))));
                }
                let transit =
                    matches!(self.auth, Auth::Done).then_some(Stage::LoginOperationalNegotiation);
                Ok(Some(self.queue(sec, transit)))
            }
            _ => {
                if !security.is_empty() {
                    return Err(Error::KeyNotAllowed {
                        key: security[0].0.clone(),
                        reason: "security key after the security stage",
                    });
                }
                if resp.transit {
                    self.stage = resp.nsg;
                    return self.finish(resp.tsih);
                }
                Ok(Some(self.queue(answers, Some(Stage::FullFeaturePhase))))
            }
        }
    }

    fn finish(&mut self, tsih: u16) -> Result<Option<Pdu>, Error> {
        if tsih == 0 {
            return Err(ParseError::InvalidField {
                field: "TSIH",
                value: 0,
            }
            .into());
        }
        self.tsih = tsih;
        self.complete = true;
        Ok(None)
    }

    /// Security stage: answers to AuthMethod and the CHAP exchange.
    fn security(&mut self, keys: &Pairs) -> Result<Pairs, Error> {
        let get = |k: &str| {
            keys.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let mut out = Vec::new();
        match self.auth.clone() {
            Auth::Offered => match get("AuthMethod") {
                Some("None") if self.config.chap.is_none() => self.auth = Auth::Done,
                Some("None") => {
                    // We asked for CHAP; the target offered none.
                    return Err(Error::AuthFailed("target refused CHAP"));
                }
                Some("CHAP") if self.config.chap.is_some() => {
                    out.push(("CHAP_A".into(), CHAP_MD5.to_string()));
                    self.auth = Auth::ChapAlgorithm;
                }
                Some(v) => return Err(Error::invalid_value("AuthMethod", v)),
                // A target may leave AuthMethod unanswered only when it
                // needs no authentication; we accept that unless we asked
                // for CHAP.
                None if self.config.chap.is_none() => self.auth = Auth::Done,
                None => return Err(Error::AuthFailed("AuthMethod not answered")),
            },
            Auth::ChapAlgorithm => {
                let (Some(a), Some(i), Some(c)) = (get("CHAP_A"), get("CHAP_I"), get("CHAP_C"))
                else {
                    return Err(Error::MissingKey("CHAP_C"));
                };
                if parse_number(a) != Some(u64::from(CHAP_MD5)) {
                    return Err(Error::invalid_value("CHAP_A", a));
                }
                let id = parse_number(i)
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| Error::invalid_value("CHAP_I", i))?;
                let challenge = decode_binary(c)
                    .filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE_LEN)
                    .ok_or_else(|| Error::invalid_value("CHAP_C", c))?;
                let Some(creds) = &self.config.chap else {
                    return Err(Error::AuthFailed("no CHAP credentials"));
                };
                out.push(("CHAP_N".into(), creds.username.clone()));
                out.push((
                    "CHAP_R".into(),
                    encode_hex(&chap::chap_md5(id, &creds.secret, &challenge)),
                ));
                let mutual = if self.config.mutual_chap.is_some() {
                    let (mut mid, mut mc) = chap::new_challenge();
                    // Never send the target's own challenge back (it
                    // could then answer with our response).
                    while mc.as_slice() == challenge.as_slice() {
                        (mid, mc) = chap::new_challenge();
                    }
                    out.push(("CHAP_I".into(), mid.to_string()));
                    out.push(("CHAP_C".into(), encode_hex(&mc)));
                    Some((mid, mc))
                } else {
                    self.auth = Auth::Done;
                    None
                };
                if mutual.is_some() {
                    self.auth = Auth::ChapResponded { mutual };
                }
            }
            Auth::ChapResponded {
                mutual: Some((mid, mc)),
            } => {
                let (Some(n), Some(r)) = (get("CHAP_N"), get("CHAP_R")) else {
                    return Err(Error::AuthFailed("target did not answer our challenge"));
                };
                let Some(m) = &self.config.mutual_chap else {
                    return Err(Error::AuthFailed("no mutual credentials"));
                };
                let r = decode_binary(r).ok_or_else(|| Error::invalid_value("CHAP_R", r))?;
                let ok = chap::verify(mid, &m.secret, &mc, &r);
                if !(ok && n == m.username) {
                    return Err(Error::AuthFailed("target's CHAP response is wrong"));
                }
                self.auth = Auth::Done;
            }
            Auth::ChapResponded { mutual: None } | Auth::Done => {
                if !keys.is_empty() {
                    return Err(Error::KeyNotAllowed {
                        key: keys[0].0.clone(),
                        reason: "authentication already complete",
                    });
                }
            }
        }
        Ok(out)
    }
}
