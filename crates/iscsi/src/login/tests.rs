//! Target and initiator login driven against each other in memory.

use super::*;
use crate::codec::PduDecoder;
use crate::negotiate::{Digest, SessionType};
use crate::text::{encode_hex, encode_text, parse_text};
use crate::wire::{Bhs, Digests, LoginRequest, LoginResponse, NopOut, Pdu, Stage};
use crate::{Error, ParseError};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use std::sync::Arc;

const TARGET: &str = "iqn.2024-01.org.example:disk0";
const ALICE: &str = "iqn.2024-01.org.example:alice";

fn creds(user: &str, secret: &str) -> Option<Credentials> {
    Some(Credentials {
        username: user.into(),
        secret: secret.as_bytes().to_vec(),
    })
}

fn config(chap: Option<Credentials>, mutual: Option<Credentials>) -> TargetConfig {
    TargetConfig {
        targets: vec![TargetEntry {
            name: TARGET.into(),
            alias: Some("disk zero".into()),
            portals: vec![Portal {
                address: "192.0.2.1:3260".parse().unwrap(),
                tpgt: 1,
            }],
            allowed_initiators: vec![ALICE.into()],
            chap,
            mutual_chap: mutual,
        }],
        ..TargetConfig::default()
    }
}

/// Sends a PDU through emit and the framing decoder, as on a socket.
fn wire(pdu: &Pdu) -> Pdu {
    let mut buf = BytesMut::new();
    pdu.emit(&mut buf, Digests::default()).unwrap();
    let got = PduDecoder::default().decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    got
}

fn run(target: &mut TargetLogin, initiator: &mut InitiatorLogin) -> Result<LoginResult, Error> {
    let mut req = initiator.start();
    for _ in 0..20 {
        let resp = target.handle(&wire(&req));
        match initiator.handle(&wire(&resp))? {
            Some(next) => req = next,
            None => return Ok(initiator.result().unwrap()),
        }
    }
    panic!("login did not finish")
}

fn login(
    tcfg: TargetConfig,
    icfg: InitiatorConfig,
) -> (Result<LoginResult, Error>, TargetLogin, InitiatorLogin) {
    let mut t = TargetLogin::new(Arc::new(tcfg), 0x1234);
    let mut i = InitiatorLogin::new(icfg);
    let r = run(&mut t, &mut i);
    (r, t, i)
}

fn alice() -> InitiatorConfig {
    InitiatorConfig::new(ALICE, Some(TARGET.into()))
}

#[test]
fn test_login_none() {
    let (r, t, _) = login(config(None, None), alice());
    let r = r.unwrap();
    assert_eq!(t.state(), LoginState::FullFeature);
    assert_eq!(r.tsih, 0x1234);
    assert_eq!(r.params.target_portal_group_tag, Some(1));
    assert_eq!(r.params.target_alias.as_deref(), Some("disk zero"));
    let tr = t.result().unwrap();
    assert_eq!(tr.params, r.params);
    assert_eq!(tr.params.initiator_name.as_deref(), Some(ALICE));
    assert_eq!(tr.params.target_name.as_deref(), Some(TARGET));
    assert_eq!(tr.stat_sn, r.stat_sn);
}

#[test]
fn test_login_chap() {
    let (r, t, _) = login(
        config(creds("alice", "alice-secret-12"), None),
        InitiatorConfig {
            chap: creds("alice", "alice-secret-12"),
            ..alice()
        },
    );
    r.unwrap();
    assert_eq!(t.state(), LoginState::FullFeature);
}

#[test]
fn test_login_mutual_chap() {
    let (r, t, _) = login(
        config(
            creds("alice", "alice-secret-12"),
            creds("target", "target-secret-34"),
        ),
        InitiatorConfig {
            chap: creds("alice", "alice-secret-12"),
            mutual_chap: creds("target", "target-secret-34"),
            ..alice()
        },
    );
    r.unwrap();
    assert_eq!(t.state(), LoginState::FullFeature);
}

#[test]
fn test_login_mutual_chap_wrong_target_secret() {
    let (r, _, _) = login(
        config(
            creds("alice", "alice-secret-12"),
            creds("target", "target-secret-34"),
        ),
        InitiatorConfig {
            chap: creds("alice", "alice-secret-12"),
            mutual_chap: creds("target", "another-secret"),
            ..alice()
        },
    );
    assert!(matches!(r, Err(Error::AuthFailed(_))));
}

#[test]
fn test_login_wrong_secret() {
    let (r, t, _) = login(
        config(creds("alice", "alice-secret-12"), None),
        InitiatorConfig {
            chap: creds("alice", "wrong-secret"),
            ..alice()
        },
    );
    assert_eq!(r, Err(Error::LoginRefused(LoginStatus::AUTH_FAILURE)));
    assert_eq!(t.state(), LoginState::Failed(LoginStatus::AUTH_FAILURE));
}

#[test]
fn test_login_wrong_user() {
    let (r, _, _) = login(
        config(creds("alice", "alice-secret-12"), None),
        InitiatorConfig {
            chap: creds("mallory", "alice-secret-12"),
            ..alice()
        },
    );
    assert_eq!(r, Err(Error::LoginRefused(LoginStatus::AUTH_FAILURE)));
}

#[test]
fn test_login_chap_required_but_none_offered() {
    let (r, _, _) = login(config(creds("alice", "alice-secret-12"), None), alice());
    assert_eq!(r, Err(Error::LoginRefused(LoginStatus::AUTH_FAILURE)));
}

#[test]
fn test_login_unknown_target() {
    let (r, _, _) = login(
        config(None, None),
        InitiatorConfig::new(ALICE, Some("iqn.2024-01.org.example:nope".into())),
    );
    assert_eq!(r, Err(Error::LoginRefused(LoginStatus::NOT_FOUND)));
}

#[test]
fn test_login_forbidden() {
    let (r, _, _) = login(
        config(None, None),
        InitiatorConfig::new("iqn.2024-01.org.example:bob", Some(TARGET.into())),
    );
    assert_eq!(
        r,
        Err(Error::LoginRefused(LoginStatus::AUTHORIZATION_FAILURE))
    );
}

fn request(csg: Stage, nsg: Stage, transit: bool, pairs: &[(&str, &str)]) -> Pdu {
    Pdu::with_data(
        LoginRequest {
            transit,
            continue_: false,
            csg,
            nsg,
            version_max: 0,
            version_min: 0,
            isid: crate::wire::Isid([0x80, 0, 0, 0, 0, 9]),
            tsih: 0,
            itt: 1,
            cid: 0,
            cmd_sn: 1,
            exp_stat_sn: 0,
        },
        encode_text(pairs.iter().copied()),
    )
}

fn response(p: &Pdu) -> (LoginResponse, Vec<(String, String)>) {
    let Bhs::LoginResponse(r) = p.header else {
        panic!("not a login response")
    };
    (r, parse_text(&p.data).unwrap())
}

fn target(chap: Option<Credentials>, mutual: Option<Credentials>) -> TargetLogin {
    TargetLogin::new(Arc::new(config(chap, mutual)), 7)
}

#[test]
fn test_missing_initiator_name() {
    let mut t = target(None, None);
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::LoginOperationalNegotiation,
        true,
        &[("TargetName", TARGET), ("AuthMethod", "None")],
    ));
    assert_eq!(response(&p).0.status, LoginStatus::MISSING_PARAMETER);
    assert_eq!(
        t.state(),
        LoginState::Failed(LoginStatus::MISSING_PARAMETER)
    );
    // Anything after a failure is refused.
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::SecurityNegotiation,
        false,
        &[],
    ));
    assert_eq!(response(&p).0.status, LoginStatus::INVALID_DURING_LOGIN);
}

#[test]
fn test_missing_target_name() {
    let mut t = target(None, None);
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::LoginOperationalNegotiation,
        true,
        &[("InitiatorName", ALICE), ("AuthMethod", "None")],
    ));
    assert_eq!(response(&p).0.status, LoginStatus::MISSING_PARAMETER);
}

#[test]
fn test_unsupported_version() {
    let mut t = target(None, None);
    let mut req = request(
        Stage::SecurityNegotiation,
        Stage::SecurityNegotiation,
        false,
        &[],
    );
    if let Bhs::LoginRequest(h) = &mut req.header {
        h.version_min = 1;
        h.version_max = 2;
    }
    let p = t.handle(&req);
    assert_eq!(response(&p).0.status, LoginStatus::UNSUPPORTED_VERSION);
}

#[test]
fn test_non_login_pdu_during_login() {
    let mut t = target(None, None);
    let p = t.handle(&Pdu::new(NopOut::default()));
    assert_eq!(response(&p).0.status, LoginStatus::INVALID_DURING_LOGIN);
}

/// Text that cannot be read ends a login as `Error::Parse`, answered with
/// Initiator error: on the initiator's side the error itself, on the
/// target's side the status of its refusal.
#[test]
fn test_parse_error_in_login_is_initiator_error() {
    let mut t = target(None, None);
    let mut i = InitiatorLogin::new(alice());
    let mut resp = t.handle(&wire(&i.start()));
    assert!(response(&resp).0.status.is_success());
    // The last pair lacks its NUL.
    resp.data = Bytes::from_static(b"TargetPortalGroupTag=1");
    let e = i.handle(&wire(&resp)).unwrap_err();
    assert_eq!(
        e,
        Error::Parse(ParseError::InvalidText {
            reason: "last key=value pair not NUL-terminated"
        })
    );
    assert_eq!(e.login_status(), LoginStatus::INITIATOR_ERROR);

    let mut t = target(None, None);
    let mut req = request(
        Stage::SecurityNegotiation,
        Stage::SecurityNegotiation,
        false,
        &[],
    );
    req.data = Bytes::from_static(b"InitiatorName");
    let p = t.handle(&req);
    assert_eq!(response(&p).0.status, LoginStatus::INITIATOR_ERROR);
    assert_eq!(t.state(), LoginState::Failed(LoginStatus::INITIATOR_ERROR));
}

#[test]
fn test_skip_security_when_chap_required() {
    let mut t = target(creds("alice", "alice-secret-12"), None);
    let p = t.handle(&request(
        Stage::LoginOperationalNegotiation,
        Stage::FullFeaturePhase,
        true,
        &[("InitiatorName", ALICE), ("TargetName", TARGET)],
    ));
    assert_eq!(response(&p).0.status, LoginStatus::AUTH_FAILURE);
}

#[test]
fn test_skip_security_without_auth() {
    let mut t = target(None, None);
    let p = t.handle(&request(
        Stage::LoginOperationalNegotiation,
        Stage::FullFeaturePhase,
        true,
        &[
            ("InitiatorName", ALICE),
            ("TargetName", TARGET),
            ("MaxBurstLength", "4096"),
        ],
    ));
    let (h, pairs) = response(&p);
    assert!(h.status.is_success());
    assert!(h.transit);
    assert_eq!(h.nsg, Stage::FullFeaturePhase);
    assert_eq!(h.tsih, 7);
    assert!(pairs.contains(&("MaxBurstLength".into(), "4096".into())));
    assert!(pairs.contains(&("MaxRecvDataSegmentLength".into(), "8192".into())));
    assert_eq!(t.result().unwrap().params.max_burst_length, 4096);
}

/// Runs CHAP by hand up to the challenge; returns the target, the
/// identifier and the challenge.
fn chap_challenge(t: &mut TargetLogin) -> (u8, Vec<u8>) {
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::LoginOperationalNegotiation,
        false,
        &[
            ("InitiatorName", ALICE),
            ("TargetName", TARGET),
            ("AuthMethod", "CHAP,None"),
        ],
    ));
    let (h, pairs) = response(&p);
    assert!(h.status.is_success());
    assert!(pairs.contains(&("AuthMethod".into(), "CHAP".into())));
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::LoginOperationalNegotiation,
        false,
        &[("CHAP_A", "7,5")],
    ));
    let (_, pairs) = response(&p);
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert_eq!(get("CHAP_A"), "5");
    let id: u8 = get("CHAP_I").parse().unwrap();
    let c = crate::text::decode_binary(&get("CHAP_C")).unwrap();
    assert!(c.len() >= 16);
    (id, c)
}

#[test]
fn test_mutual_chap_reflected_challenge_refused() {
    let mut t = target(
        creds("alice", "alice-secret-12"),
        creds("target", "target-secret-34"),
    );
    let (id, c) = chap_challenge(&mut t);
    let r = encode_hex(&chap::chap_md5(id, b"alice-secret-12", &c));
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::LoginOperationalNegotiation,
        true,
        &[
            ("CHAP_N", "alice"),
            ("CHAP_R", &r),
            ("CHAP_I", &id.to_string()),
            ("CHAP_C", &encode_hex(&c)),
        ],
    ));
    assert_eq!(response(&p).0.status, LoginStatus::AUTH_FAILURE);
}

#[test]
fn test_mutual_chap_repeated_challenge_refused() {
    let history = Arc::new(chap::ChallengeHistory::default());
    let their_c = encode_hex(&[0x5au8; 16]);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let mut t = target(
            creds("alice", "alice-secret-12"),
            creds("target", "target-secret-34"),
        )
        .with_challenge_history(history.clone());
        let (id, c) = chap_challenge(&mut t);
        let r = encode_hex(&chap::chap_md5(id, b"alice-secret-12", &c));
        let p = t.handle(&request(
            Stage::SecurityNegotiation,
            Stage::LoginOperationalNegotiation,
            true,
            &[
                ("CHAP_N", "alice"),
                ("CHAP_R", &r),
                ("CHAP_I", "1"),
                ("CHAP_C", &their_c),
            ],
        ));
        statuses.push(response(&p).0.status);
    }
    assert_eq!(statuses, [LoginStatus::SUCCESS, LoginStatus::AUTH_FAILURE]);
}

#[test]
fn test_mutual_chap_cross_connection_reflection_refused() {
    let history = Arc::new(chap::ChallengeHistory::default());
    let mk = || {
        target(
            creds("alice", "alice-secret-12"),
            creds("target", "target-secret-34"),
        )
        .with_challenge_history(history.clone())
    };
    let mut a = mk();
    let (_, c_a) = chap_challenge(&mut a);
    let mut b = mk();
    let (id, c_b) = chap_challenge(&mut b);
    let r = encode_hex(&chap::chap_md5(id, b"alice-secret-12", &c_b));
    // Connection B's initiator reflects connection A's challenge.
    let p = b.handle(&request(
        Stage::SecurityNegotiation,
        Stage::LoginOperationalNegotiation,
        true,
        &[
            ("CHAP_N", "alice"),
            ("CHAP_R", &r),
            ("CHAP_I", "1"),
            ("CHAP_C", &encode_hex(&c_a)),
        ],
    ));
    assert_eq!(response(&p).0.status, LoginStatus::AUTH_FAILURE);
}

#[test]
fn test_chap_base64_response_and_mutual_answer() {
    let mut t = target(
        creds("alice", "alice-secret-12"),
        creds("target", "target-secret-34"),
    );
    let (id, c) = chap_challenge(&mut t);
    let r = crate::text::encode_base64(&chap::chap_md5(id, b"alice-secret-12", &c));
    let my_c = [0x42u8; 16];
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::LoginOperationalNegotiation,
        true,
        &[
            ("CHAP_N", "alice"),
            ("CHAP_R", &r),
            ("CHAP_I", "9"),
            ("CHAP_C", &crate::text::encode_base64(&my_c)),
        ],
    ));
    let (h, pairs) = response(&p);
    assert!(h.status.is_success());
    assert!(h.transit);
    let want = encode_hex(&chap::chap_md5(9, b"target-secret-34", &my_c));
    assert!(pairs.contains(&("CHAP_R".into(), want)));
    assert!(pairs.contains(&("CHAP_N".into(), "target".into())));
}

#[test]
fn test_chap_without_md5_refused() {
    let mut t = target(creds("alice", "alice-secret-12"), None);
    t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::SecurityNegotiation,
        false,
        &[
            ("InitiatorName", ALICE),
            ("TargetName", TARGET),
            ("AuthMethod", "CHAP"),
        ],
    ));
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::SecurityNegotiation,
        false,
        &[("CHAP_A", "6,7")],
    ));
    assert_eq!(response(&p).0.status, LoginStatus::AUTH_FAILURE);
}

#[test]
fn test_login_negotiates_preferences() {
    let mut tcfg = config(None, None);
    tcfg.preferences.immediate_data = false;
    tcfg.preferences.max_recv_data_segment_length = 65536;
    tcfg.preferences.header_digest = vec![Digest::Crc32c, Digest::None];
    let mut icfg = alice();
    icfg.preferences.header_digest = vec![Digest::Crc32c];
    icfg.preferences.max_recv_data_segment_length = 262_144;
    icfg.preferences.max_burst_length = 1 << 20;
    let (r, t, _) = login(tcfg, icfg);
    let r = r.unwrap();
    assert_eq!(r.params, t.result().unwrap().params);
    assert!(!r.params.immediate_data);
    assert_eq!(r.params.header_digest, Digest::Crc32c);
    assert_eq!(
        r.params.digests(),
        Digests {
            header: true,
            data: false
        }
    );
    assert_eq!(r.params.target_max_recv_data_segment_length, 65536);
    assert_eq!(r.params.initiator_max_recv_data_segment_length, 262_144);
    assert_eq!(r.params.max_burst_length, 262_144);
}

#[test]
fn test_discovery_login_and_send_targets() {
    let mut tcfg = config(None, None);
    tcfg.discovery_chap = creds("disc", "discovery-secret");
    let (r, t, _) = login(
        tcfg.clone(),
        InitiatorConfig {
            chap: creds("disc", "discovery-secret"),
            ..InitiatorConfig::new(ALICE, None)
        },
    );
    let r = r.unwrap();
    assert_eq!(r.params.session_type, SessionType::Discovery);
    let params = t.result().unwrap().params;
    let mut responder = crate::discovery::TextResponder::default();
    let req = Pdu::with_data(
        crate::wire::TextRequest {
            final_: true,
            itt: 2,
            ttt: crate::wire::RESERVED_TAG,
            ..Default::default()
        },
        encode_text([("SendTargets", "All")]),
    );
    let resp = responder
        .handle(&wire(&req), &tcfg, &params, 8192, Default::default())
        .unwrap();
    let found = crate::discovery::parse_send_targets(&parse_text(&resp.data).unwrap());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].addresses, ["192.0.2.1:3260,1"]);
    // Discovery is refused where not allowed.
    tcfg.allow_discovery = false;
    let (r, _, _) = login(tcfg, InitiatorConfig::new(ALICE, None));
    assert_eq!(
        r,
        Err(Error::LoginRefused(LoginStatus::SESSION_TYPE_NOT_SUPPORTED))
    );
}

#[test]
fn test_continued_text_both_ways() {
    let mut t = target(None, None);
    let mut pairs: Vec<(String, String)> = vec![
        ("InitiatorName".into(), ALICE.into()),
        ("TargetName".into(), TARGET.into()),
        ("AuthMethod".into(), "None".into()),
    ];
    for i in 0..120 {
        pairs.push((
            format!("X-org.example.{i:03}.{}", "k".repeat(40)),
            "v".repeat(200),
        ));
    }
    let text = encode_text(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert!(text.len() > 2 * 8192);
    let segs = crate::text::split_text(&text, 8192);
    let n = segs.len();
    let mut answers = Vec::new();
    for (i, seg) in segs.into_iter().enumerate() {
        let mut req = request(
            Stage::SecurityNegotiation,
            Stage::LoginOperationalNegotiation,
            i + 1 == n,
            &[],
        );
        if let Bhs::LoginRequest(h) = &mut req.header {
            h.continue_ = i + 1 < n;
        }
        req.data = seg;
        let resp = t.handle(&wire(&req));
        let Bhs::LoginResponse(h) = resp.header else {
            panic!()
        };
        assert!(h.status.is_success());
        if i + 1 < n {
            assert!(!h.transit && !h.continue_ && resp.data.is_empty());
        } else {
            answers.push(resp);
        }
    }
    // The answer (120 NotUnderstood) exceeds one segment: the target
    // continues with the C bit and waits for empty requests.
    let mut data = BytesMut::new();
    let mut last = None;
    let mut resp = answers.pop().unwrap();
    for _ in 0..10 {
        let Bhs::LoginResponse(h) = resp.header else {
            panic!()
        };
        assert!(resp.data.len() <= 8192);
        data.extend_from_slice(&resp.data);
        if !h.continue_ {
            last = Some(h);
            break;
        }
        assert!(!h.transit);
        resp = t.handle(&request(
            Stage::SecurityNegotiation,
            Stage::LoginOperationalNegotiation,
            false,
            &[],
        ));
    }
    let h = last.unwrap();
    assert!(h.transit);
    let got = parse_text(&data).unwrap();
    assert_eq!(
        got.iter().filter(|(_, v)| v == "NotUnderstood").count(),
        120
    );
}

fn any_request() -> impl Strategy<Value = Pdu> {
    let keys = prop::sample::select(vec![
        "InitiatorName=iqn.2024-01.org.example:alice",
        "TargetName=iqn.2024-01.org.example:disk0",
        "SessionType=Discovery",
        "AuthMethod=CHAP,None",
        "AuthMethod=None",
        "CHAP_A=5",
        "CHAP_N=alice",
        "CHAP_R=0x00112233445566778899aabbccddeeff",
        "CHAP_I=3",
        "CHAP_C=0b AAAA",
        "MaxBurstLength=999999999999",
        "HeaderDigest=CRC32C",
        "X-foo=bar",
        "garbage",
    ]);
    (
        any::<[bool; 2]>(),
        0u8..4,
        0u8..4,
        0u8..2,
        prop::collection::vec(keys, 0..5),
        prop::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(|(f, csg, nsg, vmin, keys, junk)| {
            let mut data = Vec::new();
            for k in keys {
                data.extend_from_slice(k.as_bytes());
                data.push(0);
            }
            if f[1] {
                data.extend_from_slice(&junk);
            }
            Pdu::with_data(
                LoginRequest {
                    transit: f[0],
                    continue_: f[1] && junk.len() % 2 == 0,
                    csg: csg.into(),
                    nsg: nsg.into(),
                    version_max: 0,
                    version_min: vmin,
                    isid: Default::default(),
                    tsih: 0,
                    itt: 1,
                    cid: 0,
                    cmd_sn: 1,
                    exp_stat_sn: 0,
                },
                Bytes::from(data),
            )
        })
}

proptest! {
    #[test]
    fn target_login_never_panics(reqs in prop::collection::vec(any_request(), 1..8), chap in any::<bool>()) {
        let mut t = if chap {
            target(creds("alice", "alice-secret-12"), creds("t", "target-secret-34"))
        } else {
            target(None, None)
        };
        for r in reqs {
            let resp = t.handle(&r);
            prop_assert!(matches!(resp.header, Bhs::LoginResponse(_)));
        }
    }

    #[test]
    fn initiator_login_never_panics(data in prop::collection::vec(any::<u8>(), 0..200),
                                    flags in any::<u8>(), tsih in any::<u16>()) {
        let mut i = InitiatorLogin::new(InitiatorConfig {
            chap: creds("alice", "alice-secret-12"),
            ..alice()
        });
        let req = i.start();
        let Bhs::LoginRequest(q) = req.header else { unreachable!() };
        let resp = LoginResponse {
            transit: flags & 1 != 0,
            continue_: flags & 2 != 0,
            csg: Stage::SecurityNegotiation,
            nsg: ((flags >> 2) & 3).into(),
            version_max: 0,
            version_active: 0,
            isid: q.isid,
            tsih,
            itt: q.itt,
            stat_sn: 0,
            exp_cmd_sn: 1,
            max_cmd_sn: 1,
            status: LoginStatus::SUCCESS,
        };
        let _ = i.handle(&Pdu::with_data(resp, Bytes::from(data)));
    }
}

/// The keys a Linux open-iscsi initiator typically sends, one stage each.
#[test]
fn test_open_iscsi_style_login() {
    let mut t = target(None, None);
    let p = t.handle(&request(
        Stage::SecurityNegotiation,
        Stage::LoginOperationalNegotiation,
        true,
        &[
            ("InitiatorName", ALICE),
            ("InitiatorAlias", "pc"),
            ("TargetName", TARGET),
            ("SessionType", "Normal"),
            ("AuthMethod", "None"),
        ],
    ));
    let (h, pairs) = response(&p);
    assert!(h.status.is_success() && h.transit);
    assert_eq!(h.nsg, Stage::LoginOperationalNegotiation);
    assert!(pairs.contains(&("AuthMethod".into(), "None".into())));
    assert!(pairs.contains(&("TargetPortalGroupTag".into(), "1".into())));
    let p = t.handle(&request(
        Stage::LoginOperationalNegotiation,
        Stage::FullFeaturePhase,
        true,
        &[
            ("HeaderDigest", "None"),
            ("DataDigest", "None"),
            ("DefaultTime2Wait", "2"),
            ("DefaultTime2Retain", "0"),
            ("IFMarker", "No"),
            ("OFMarker", "No"),
            ("ErrorRecoveryLevel", "0"),
            ("InitialR2T", "No"),
            ("ImmediateData", "Yes"),
            ("MaxBurstLength", "16776192"),
            ("FirstBurstLength", "262144"),
            ("MaxConnections", "1"),
            ("DataPDUInOrder", "Yes"),
            ("DataSequenceInOrder", "Yes"),
            ("MaxOutstandingR2T", "1"),
            ("MaxRecvDataSegmentLength", "262144"),
        ],
    ));
    let (h, pairs) = response(&p);
    assert!(h.status.is_success() && h.transit);
    assert_eq!(h.nsg, Stage::FullFeaturePhase);
    assert_eq!(h.tsih, 7);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("IFMarker"), Some("Reject"));
    assert_eq!(get("MaxBurstLength"), Some("262144"));
    assert_eq!(get("FirstBurstLength"), Some("65536"));
    // InitialR2T is OR: the target's default Yes wins.
    assert_eq!(get("InitialR2T"), Some("Yes"));
    assert_eq!(get("DefaultTime2Retain"), Some("0"));
    assert_eq!(get("MaxRecvDataSegmentLength"), Some("8192"));
    let params = t.result().unwrap().params;
    assert_eq!(params.initiator_max_recv_data_segment_length, 262_144);
    assert_eq!(params.initiator_alias.as_deref(), Some("pc"));
}

/// A caller with no room left refuses the first request with 0x0302: the
/// initiator sees "out of resources", with the ITT and ISID it sent.
#[test]
fn caller_refuses_a_login_out_of_resources() {
    let mut t = TargetLogin::new(Arc::new(config(None, None)), 0x1234);
    let mut i = InitiatorLogin::new(alice());
    let req = wire(&i.start());
    let resp = t.refuse_request(&req, LoginStatus::OUT_OF_RESOURCES);
    assert_eq!(t.state(), LoginState::Failed(LoginStatus::OUT_OF_RESOURCES));
    let (Bhs::LoginResponse(r), Bhs::LoginRequest(q)) = (resp.header, req.header) else {
        panic!("{:?}", resp.header)
    };
    assert_eq!((r.itt, r.isid, r.transit), (q.itt, q.isid, false));
    assert_eq!(r.stat_sn, q.exp_stat_sn);
    match i.handle(&wire(&resp)) {
        Err(Error::LoginRefused(s)) => assert_eq!(s, LoginStatus::OUT_OF_RESOURCES),
        other => panic!("{other:?}"),
    }
    // Whatever comes next is refused as well.
    let again = t.handle(&req);
    assert!(matches!(again.header, Bhs::LoginResponse(r) if !r.status.is_success()));
}
