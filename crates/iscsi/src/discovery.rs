//! Discovery with `SendTargets` (RFC 7143 §13.3, Appendix C) and the
//! target side of Text Request/Response exchanges in full feature phase
//! (§11.10, §11.11).
//!
//! ```
//! use netboot_iscsi::discovery::{parse_send_targets, send_targets};
//! use netboot_iscsi::login::{Portal, TargetConfig, TargetEntry};
//! use netboot_iscsi::negotiate::{SessionParams, SessionType};
//! let config = TargetConfig {
//!     targets: vec![TargetEntry {
//!         name: "iqn.2024-01.org.example:disk0".into(),
//!         portals: vec![Portal { address: "192.0.2.1:3260".parse().unwrap(), tpgt: 1 }],
//!         ..TargetEntry::default()
//!     }],
//!     ..TargetConfig::default()
//! };
//! let session = SessionParams {
//!     session_type: SessionType::Discovery,
//!     initiator_name: Some("iqn.2024-01.org.example:pc".into()),
//!     ..SessionParams::default()
//! };
//! let answer = send_targets(&config, &session, "All");
//! let found = parse_send_targets(&answer);
//! assert_eq!(found[0].name, "iqn.2024-01.org.example:disk0");
//! assert_eq!(found[0].addresses, ["192.0.2.1:3260,1"]);
//! ```

use crate::login::{TargetConfig, TargetEntry};
use crate::negotiate::{SessionParams, SessionType};
use crate::text::{encode_text, parse_text, split_text, Pairs, TextReassembler};
use crate::wire::{Bhs, Pdu, TextResponse, RESERVED_TAG};
use crate::{Error, ParseError};
use bytes::Bytes;
use std::collections::VecDeque;

fn describe(t: &TargetEntry, out: &mut Pairs) {
    out.push(("TargetName".into(), t.name.clone()));
    for p in &t.portals {
        // SocketAddr prints IPv6 in brackets, as TargetAddress wants.
        out.push(("TargetAddress".into(), format!("{},{}", p.address, p.tpgt)));
    }
}

/// The answer to `SendTargets=<value>` (RFC 7143 §13.3): every target the
/// session's initiator may use, with all its portals.
///
/// * `All` (discovery sessions only): every allowed target;
/// * a target name: that target, if it exists and is allowed;
/// * empty (normal sessions only): the session's own target.
///
/// Anything else is answered with `SendTargets=Reject`.
pub fn send_targets(config: &TargetConfig, session: &SessionParams, value: &str) -> Pairs {
    let initiator = session.initiator_name.as_deref().unwrap_or("");
    let mut out = Vec::new();
    let visible = config.targets.iter().filter(|t| t.allows(initiator));
    match (session.session_type, value) {
        (SessionType::Discovery, "All") => visible.for_each(|t| describe(t, &mut out)),
        (SessionType::Normal, "") => {
            if let Some(t) = session
                .target_name
                .as_deref()
                .and_then(|n| config.target(n))
                .filter(|t| t.allows(initiator))
            {
                describe(t, &mut out);
            }
        }
        (_, "All") | (_, "") => out.push(("SendTargets".into(), "Reject".into())),
        (_, name) => {
            if let Some(t) = config.target(name).filter(|t| t.allows(initiator)) {
                describe(t, &mut out);
            }
        }
    }
    out
}

/// A target found by SendTargets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoveredTarget {
    /// TargetName.
    pub name: String,
    /// TargetAddress values as sent (`address[:port][,tpgt]`).
    pub addresses: Vec<String>,
}

/// Groups a SendTargets answer by target (the initiator side).
pub fn parse_send_targets(pairs: &[(String, String)]) -> Vec<DiscoveredTarget> {
    let mut out: Vec<DiscoveredTarget> = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "TargetName" => out.push(DiscoveredTarget {
                name: v.clone(),
                addresses: Vec::new(),
            }),
            "TargetAddress" => {
                if let Some(t) = out.last_mut() {
                    t.addresses.push(v.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// The sequence numbers a target puts in a response; the session layer
/// owns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNums {
    /// StatSN of this response.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

/// The target side of Text Request/Response exchanges: joins requests
/// continued with the C bit, answers `SendTargets` (and `NotUnderstood`
/// for anything else), and splits long answers over several responses
/// that the initiator pulls with the Target Transfer Tag (RFC 7143
/// §11.10.4, §11.11).
#[derive(Debug)]
pub struct TextResponder {
    rx: TextReassembler,
    tx: VecDeque<Bytes>,
    itt: u32,
    ttt: u32,
    next_ttt: u32,
}

impl Default for TextResponder {
    fn default() -> Self {
        TextResponder {
            rx: TextReassembler::default(),
            tx: VecDeque::new(),
            itt: RESERVED_TAG,
            ttt: RESERVED_TAG,
            next_ttt: 1,
        }
    }
}

impl TextResponder {
    /// Handles one Text Request PDU and returns the Text Response.
    /// `max_send` is the initiator's MaxRecvDataSegmentLength.
    pub fn handle(
        &mut self,
        pdu: &Pdu,
        config: &TargetConfig,
        session: &SessionParams,
        max_send: usize,
        sn: SeqNums,
    ) -> Result<Pdu, Error> {
        let Bhs::TextRequest(req) = pdu.header else {
            return Err(Error::UnexpectedOpcode(pdu.header.opcode()));
        };
        if req.ttt != RESERVED_TAG {
            // A request for the rest of a long answer.
            if req.ttt != self.ttt || req.itt != self.itt || self.tx.is_empty() {
                return Err(ParseError::InvalidField {
                    field: "Target Transfer Tag",
                    value: req.ttt.into(),
                }
                .into());
            }
            return Ok(self.next_segment(&req, sn));
        }
        // A new request drops any unfinished answer (RFC 7143 §11.10.4).
        self.tx.clear();
        self.itt = req.itt;
        let Some(text) = self.rx.push(&pdu.data, req.continue_)? else {
            return Ok(self.response(&req, sn, Bytes::new(), false, RESERVED_TAG));
        };
        let mut answer: Pairs = Vec::new();
        for (k, v) in parse_text(&text)? {
            if k == "SendTargets" {
                answer.extend(send_targets(config, session, &v));
            } else {
                answer.push((k, "NotUnderstood".into()));
            }
        }
        self.tx
            .extend(split_text(&encode_text(answer), max_send.max(512)));
        Ok(self.next_segment(&req, sn))
    }

    fn next_segment(&mut self, req: &crate::wire::TextRequest, sn: SeqNums) -> Pdu {
        let seg = self.tx.pop_front().unwrap_or_default();
        if self.tx.is_empty() {
            self.ttt = RESERVED_TAG;
            self.response(req, sn, seg, true, RESERVED_TAG)
        } else {
            self.ttt = self.next_ttt;
            // 0xffffffff is reserved; skip it when the counter wraps.
            let n = self.next_ttt.wrapping_add(1);
            self.next_ttt = if n == RESERVED_TAG { 0 } else { n };
            let ttt = self.ttt;
            self.response(req, sn, seg, false, ttt)
        }
    }

    fn response(
        &self,
        req: &crate::wire::TextRequest,
        sn: SeqNums,
        data: Bytes,
        final_: bool,
        ttt: u32,
    ) -> Pdu {
        Pdu::with_data(
            TextResponse {
                final_,
                continue_: !final_ && ttt != RESERVED_TAG,
                lun: 0,
                itt: req.itt,
                ttt,
                stat_sn: sn.stat_sn,
                exp_cmd_sn: sn.exp_cmd_sn,
                max_cmd_sn: sn.max_cmd_sn,
            },
            data,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::Portal;
    use crate::wire::TextRequest;

    fn config() -> TargetConfig {
        let portal = |a: &str| Portal {
            address: a.parse().unwrap(),
            tpgt: 1,
        };
        TargetConfig {
            targets: vec![
                TargetEntry {
                    name: "iqn.2024-01.org.example:open".into(),
                    portals: vec![portal("192.0.2.1:3260"), portal("[2001:db8::1]:3260")],
                    ..TargetEntry::default()
                },
                TargetEntry {
                    name: "iqn.2024-01.org.example:private".into(),
                    portals: vec![portal("192.0.2.2:3260")],
                    allowed_initiators: vec!["iqn.2024-01.org.example:alice".into()],
                    ..TargetEntry::default()
                },
            ],
            ..TargetConfig::default()
        }
    }

    fn session(who: &str, t: SessionType) -> SessionParams {
        SessionParams {
            session_type: t,
            initiator_name: Some(who.into()),
            ..SessionParams::default()
        }
    }

    #[test]
    fn test_send_targets_acl() {
        let c = config();
        let alice = session("iqn.2024-01.org.example:alice", SessionType::Discovery);
        let bob = session("iqn.2024-01.org.example:bob", SessionType::Discovery);
        let a = parse_send_targets(&send_targets(&c, &alice, "All"));
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].addresses, ["192.0.2.1:3260,1", "[2001:db8::1]:3260,1"]);
        let b = parse_send_targets(&send_targets(&c, &bob, "All"));
        assert_eq!(b.len(), 1);
        assert!(send_targets(&c, &bob, "iqn.2024-01.org.example:private").is_empty());
        assert_eq!(
            parse_send_targets(&send_targets(&c, &alice, "iqn.2024-01.org.example:private"))[0]
                .addresses,
            ["192.0.2.2:3260,1"]
        );
        // All is for discovery sessions only.
        let normal = session("iqn.2024-01.org.example:bob", SessionType::Normal);
        assert_eq!(
            send_targets(&c, &normal, "All"),
            vec![("SendTargets".to_string(), "Reject".to_string())]
        );
    }

    #[test]
    fn test_text_responder_continuation() {
        let mut c = config();
        for i in 0..40 {
            c.targets.push(TargetEntry {
                name: format!("iqn.2024-01.org.example:disk{i:03}"),
                portals: c.targets[0].portals.clone(),
                ..TargetEntry::default()
            });
        }
        let s = session("iqn.2024-01.org.example:bob", SessionType::Discovery);
        let mut r = TextResponder::default();
        let req = TextRequest {
            final_: true,
            itt: 9,
            ttt: RESERVED_TAG,
            ..TextRequest::default()
        };
        let mut pdu = Pdu::with_data(req, encode_text([("SendTargets", "All"), ("X-foo", "1")]));
        let mut all = Vec::new();
        for _ in 0..100 {
            let resp = r.handle(&pdu, &c, &s, 512, SeqNums::default()).unwrap();
            let Bhs::TextResponse(h) = resp.header else {
                panic!()
            };
            assert!(resp.data.len() <= 512);
            all.extend_from_slice(&resp.data);
            if h.final_ {
                assert_eq!(h.ttt, RESERVED_TAG);
                break;
            }
            assert!(h.continue_);
            pdu = Pdu::new(TextRequest { ttt: h.ttt, ..req });
        }
        let pairs = parse_text(&all).unwrap();
        assert_eq!(parse_send_targets(&pairs).len(), 41);
        assert!(pairs.contains(&("X-foo".into(), "NotUnderstood".into())));
        // A stale TTT is refused.
        let bad = Pdu::new(TextRequest { ttt: 12345, ..req });
        assert!(r.handle(&bad, &c, &s, 512, SeqNums::default()).is_err());
    }
}
