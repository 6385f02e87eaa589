//! Drives the target login state machine with arbitrary sequences of PDUs:
//! raw bytes through the decoder, and Login Requests built from parts
//! (stages, flags, names, AuthMethod, CHAP keys answering the target's
//! real challenge, operational keys, text split over PDUs with the C bit)
//! so that the fuzzer reaches authentication and full feature phase.
//!
//! Every answer must be a Login Response for the request's task tag, that
//! emits and decodes; a failed login stays failed; success in full feature
//! phase has a result.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use netboot_iscsi::codec::{Direction, PduDecoder};
use netboot_iscsi::login::{
    chap, Credentials, LoginState, LoginStatus, TargetConfig, TargetEntry, TargetLogin,
};
use netboot_iscsi::text::{decode_binary, encode_base64, encode_hex, encode_text, parse_text};
use netboot_iscsi::wire::{
    Bhs, Digests, Isid, LoginRequest, NopOut, Pdu, Stage, TextRequest, RESERVED_TAG,
};

const TARGET: &str = "iqn.2024-01.org.example:disk0";
const INITIATOR: &str = "iqn.2024-01.org.example:pc";
const SECRET: &[u8] = b"initiator-secret";
const MUTUAL_SECRET: &[u8] = b"target-secret-12";

const OPERATIONAL: &[&str] = &[
    "HeaderDigest",
    "DataDigest",
    "MaxConnections",
    "InitialR2T",
    "ImmediateData",
    "MaxRecvDataSegmentLength",
    "MaxBurstLength",
    "FirstBurstLength",
    "DefaultTime2Wait",
    "DefaultTime2Retain",
    "MaxOutstandingR2T",
    "DataPDUInOrder",
    "DataSequenceInOrder",
    "ErrorRecoveryLevel",
    "IFMarker",
    "OFMarker",
    "InitiatorAlias",
    "TargetAlias",
    "TargetAddress",
    "TargetPortalGroupTag",
    "SendTargets",
    "TaskReporting",
    "X-org.example.key",
];

const VALUES: &[&str] = &[
    "",
    "None",
    "CRC32C",
    "None,CRC32C",
    "CRC32C,None",
    "Yes",
    "No",
    "0",
    "1",
    "2",
    "512",
    "8192",
    "65536",
    "262144",
    "16777215",
    "16777216",
    "0x2000",
    "NotUnderstood",
    "Irrelevant",
    "Reject",
    "All",
];

#[derive(Debug, Arbitrary)]
enum Name {
    Ours,
    Upper,
    Other(String),
}

impl Name {
    fn get(&self, ours: &str) -> String {
        match self {
            Name::Ours => ours.into(),
            Name::Upper => ours.to_ascii_uppercase(),
            Name::Other(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Binary {
    /// The right answer to the target's last challenge.
    Correct {
        hex: bool,
    },
    /// The target's own challenge sent back.
    Reflect,
    Bytes {
        bytes: Vec<u8>,
        hex: bool,
    },
    Text(String),
}

#[derive(Debug, Arbitrary)]
enum Kv {
    InitiatorName(Name),
    TargetName(Name),
    SessionType(u8),
    AuthMethod(u8),
    ChapA(String),
    ChapN(Name),
    ChapR { secret: bool, value: Binary },
    ChapI(u16),
    ChapC(Binary),
    Operational { key: u8, value: u8 },
    OperationalText { key: u8, value: String },
    Raw(String, String),
}

/// A stage field: mostly what the target expects, sometimes anything.
#[derive(Debug, Arbitrary)]
enum StageChoice {
    /// The stage the target is in, after its last response.
    Current,
    /// The stage after that.
    Next,
    /// Full feature phase.
    Full,
    Raw(u8),
}

impl StageChoice {
    fn get(&self, current: Stage) -> Stage {
        match self {
            StageChoice::Current => current,
            StageChoice::Next if current == Stage::SecurityNegotiation => {
                Stage::LoginOperationalNegotiation
            }
            StageChoice::Next | StageChoice::Full => Stage::FullFeaturePhase,
            StageChoice::Raw(n) => Stage::from(n & 3),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Login {
    transit: bool,
    continue_: bool,
    csg: StageChoice,
    nsg: StageChoice,
    /// Version-min, 0 if `None`.
    version_min: Option<u8>,
    /// TSIH, 0 if `None`.
    tsih: Option<u16>,
    /// CID, 0 if `None`.
    cid: Option<u16>,
    other_isid: bool,
    itt: u32,
    keys: Vec<Kv>,
    /// Split the text over PDUs of this many bytes (C bit on all but the
    /// last); `continue_` applies to the last.
    split: Option<u8>,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Login(Login),
    /// Arbitrary bytes through the target's decoder.
    Raw(Vec<u8>),
    /// What a well-behaved initiator sends next (names, AuthMethod,
    /// CHAP_A, the right CHAP response, then on to full feature phase), so
    /// that the fuzzer starts its mutations from deep states.
    Good {
        discovery: bool,
        mutual: bool,
    },
    /// A PDU that is not a Login Request.
    Nop(u32),
    Text(u32, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    chap: bool,
    mutual: bool,
    discovery_chap: bool,
    allow_discovery: bool,
    restrict_initiators: bool,
    steps: Vec<Step>,
}

/// What the target said last that the next request may answer.
struct Seen {
    chap: Option<(u8, Vec<u8>)>,
    /// The AuthMethod the target chose.
    auth: Option<String>,
    /// The target's stage after its last response.
    stage: Stage,
    /// Whether a `Good` step sent the names.
    names_sent: bool,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            chap: None,
            auth: None,
            stage: Stage::SecurityNegotiation,
            names_sent: false,
        }
    }
}

/// The keys of a `Good` step.
fn good(seen: &mut Seen, discovery: bool, mutual: bool) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| keys.push((k.into(), v));
    if !seen.names_sent {
        seen.names_sent = true;
        put("InitiatorName", INITIATOR.into());
        if discovery {
            put("SessionType", "Discovery".into());
        } else {
            put("TargetName", TARGET.into());
        }
    }
    if seen.stage == Stage::SecurityNegotiation {
        match (&seen.auth, &seen.chap) {
            (None, _) => put("AuthMethod", "CHAP,None".into()),
            (Some(a), None) if a == "CHAP" => put("CHAP_A", "5".into()),
            (Some(_), Some((id, c))) => {
                put("CHAP_N", "user".into());
                put("CHAP_R", encode_hex(&chap::chap_md5(*id, SECRET, c)));
                if mutual {
                    put("CHAP_I", "7".into());
                    put("CHAP_C", encode_hex(b"mutual-challenge"));
                }
            }
            _ => {}
        }
    } else {
        put("MaxRecvDataSegmentLength", "65536".into());
    }
    keys
}

fn binary(b: &Binary, seen: &Seen, secret: &[u8]) -> String {
    match b {
        Binary::Correct { hex } => {
            let r = match &seen.chap {
                Some((id, c)) => chap::chap_md5(*id, secret, c).to_vec(),
                None => vec![0; 16],
            };
            if *hex {
                encode_hex(&r)
            } else {
                encode_base64(&r)
            }
        }
        Binary::Reflect => encode_hex(seen.chap.as_ref().map_or(&[][..], |c| &c.1)),
        Binary::Bytes { bytes, hex } if *hex => encode_hex(bytes),
        Binary::Bytes { bytes, .. } => encode_base64(bytes),
        Binary::Text(s) => s.clone(),
    }
}

fn pairs(keys: &[Kv], seen: &Seen) -> Vec<(String, String)> {
    let pick = |i: u8, list: &[&str]| list[usize::from(i) % list.len()].to_string();
    keys.iter()
        .map(|kv| match kv {
            Kv::InitiatorName(n) => ("InitiatorName".into(), n.get(INITIATOR)),
            Kv::TargetName(n) => ("TargetName".into(), n.get(TARGET)),
            Kv::SessionType(i) => (
                "SessionType".into(),
                pick(*i, &["Normal", "Discovery", "x"]),
            ),
            Kv::AuthMethod(i) => (
                "AuthMethod".into(),
                pick(
                    *i,
                    &[
                        "None",
                        "CHAP",
                        "CHAP,None",
                        "None,CHAP",
                        "SRP",
                        "KRB5,CHAP",
                        "",
                    ],
                ),
            ),
            Kv::ChapA(s) => (
                "CHAP_A".into(),
                if s.is_empty() { "5".into() } else { s.clone() },
            ),
            Kv::ChapN(n) => ("CHAP_N".into(), n.get("user")),
            Kv::ChapR { secret, value } => {
                let s = if *secret { SECRET } else { MUTUAL_SECRET };
                ("CHAP_R".into(), binary(value, seen, s))
            }
            Kv::ChapI(i) => ("CHAP_I".into(), i.to_string()),
            Kv::ChapC(b) => ("CHAP_C".into(), binary(b, seen, SECRET)),
            Kv::Operational { key, value } => (pick(*key, OPERATIONAL), pick(*value, VALUES)),
            Kv::OperationalText { key, value } => (pick(*key, OPERATIONAL), value.clone()),
            Kv::Raw(k, v) => (k.clone(), v.clone()),
        })
        .collect()
}

fn config(input: &Input) -> Arc<TargetConfig> {
    let creds = |secret: &[u8]| Credentials {
        username: "user".into(),
        secret: secret.to_vec(),
    };
    let mutual = |on: bool| {
        on.then(|| Credentials {
            username: "target".into(),
            secret: MUTUAL_SECRET.to_vec(),
        })
    };
    Arc::new(TargetConfig {
        targets: vec![TargetEntry {
            name: TARGET.into(),
            alias: Some("disk0".into()),
            allowed_initiators: if input.restrict_initiators {
                vec![INITIATOR.into()]
            } else {
                Vec::new()
            },
            chap: input.chap.then(|| creds(SECRET)),
            mutual_chap: mutual(input.mutual),
            ..TargetEntry::default()
        }],
        discovery_chap: input.discovery_chap.then(|| creds(SECRET)),
        discovery_mutual_chap: mutual(input.mutual && input.discovery_chap),
        allow_discovery: input.allow_discovery,
        ..TargetConfig::default()
    })
}

fn check(login: &mut TargetLogin, req: &Pdu, seen: &mut Seen) {
    let before = login.state();
    let resp = login.handle(req);
    let Bhs::LoginResponse(r) = resp.header else {
        panic!("answered with {:?}", resp.header);
    };
    assert_eq!(r.itt, req.header.itt());
    assert!(resp.data.len() <= 8192, "login text over 8 KiB");
    // The answer survives the wire.
    let mut buf = BytesMut::new();
    resp.emit(&mut buf, Digests::default()).expect("emit");
    let back = PduDecoder::default()
        .with_direction(Direction::FromTarget)
        .decode(&mut buf)
        .expect("decode")
        .expect("whole");
    assert_eq!(back, resp);

    seen.stage = if r.transit { r.nsg } else { r.csg };
    let state = login.state();
    if let LoginState::Failed(_) = before {
        // Later requests are refused too (the status may change to
        // "invalid during login"); the caller should have closed already.
        assert!(
            matches!(state, LoginState::Failed(_)),
            "a failed login recovered"
        );
        assert!(!r.status.is_success());
    }
    if before == LoginState::FullFeature {
        assert!(!r.status.is_success());
    }
    match state {
        LoginState::Failed(s) => {
            assert_eq!(r.status, s);
            assert!(!s.is_success());
            assert!(resp.data.is_empty());
        }
        LoginState::FullFeature if before == LoginState::InProgress => {
            assert_eq!(r.status, LoginStatus::SUCCESS);
            assert!(r.transit && r.nsg == Stage::FullFeaturePhase);
            let result = login.result().expect("full feature phase has a result");
            assert_ne!(result.tsih, 0);
        }
        _ => {}
    }
    if r.transit && r.nsg == Stage::FullFeaturePhase && r.status.is_success() {
        assert_eq!(state, LoginState::FullFeature);
    }
    if let Ok(p) = parse_text(&resp.data) {
        let get = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        if let Some(a) = get("AuthMethod") {
            seen.auth = Some(a.into());
        }
        if let (Some(i), Some(c)) = (get("CHAP_I"), get("CHAP_C")) {
            let id = i.parse().expect("CHAP_I is a number");
            let c = decode_binary(c).expect("CHAP_C is binary");
            seen.chap = Some((id, c));
        }
    }
}

fuzz_target!(|input: Input| {
    let mut login = TargetLogin::new(config(&input), 0x1234);
    let mut seen = Seen::default();
    let mut decoder = PduDecoder::default().with_direction(Direction::FromInitiator);
    let mut stream = BytesMut::new();
    let isid = Isid([0x80, 1, 2, 3, 0, 0]);
    let mut cmd_sn = 1u32;
    let mut exp_stat_sn = 0u32;
    for step in &input.steps {
        match step {
            Step::Login(l) => {
                let text: Bytes = encode_text(pairs(&l.keys, &seen));
                let mut segs: Vec<Bytes> = match l.split {
                    Some(n) if !text.is_empty() => text
                        .chunks(usize::from(n.max(1)))
                        .map(Bytes::copy_from_slice)
                        .collect(),
                    _ => vec![text],
                };
                let last = segs.len() - 1;
                for (i, data) in segs.drain(..).enumerate() {
                    let req = LoginRequest {
                        transit: l.transit && i == last,
                        continue_: i < last || l.continue_,
                        csg: l.csg.get(seen.stage),
                        nsg: l.nsg.get(l.csg.get(seen.stage)),
                        version_max: 0,
                        version_min: l.version_min.unwrap_or(0),
                        isid: if l.other_isid {
                            Isid([0x80, 9, 9, 9, 0, 0])
                        } else {
                            isid
                        },
                        tsih: l.tsih.unwrap_or(0),
                        itt: l.itt,
                        cid: l.cid.unwrap_or(0),
                        cmd_sn,
                        exp_stat_sn,
                    };
                    check(&mut login, &Pdu::with_data(req, data), &mut seen);
                    exp_stat_sn = exp_stat_sn.wrapping_add(1);
                }
            }
            Step::Good { discovery, mutual } => {
                let stage = seen.stage;
                let data = encode_text(good(&mut seen, *discovery, *mutual));
                let req = LoginRequest {
                    transit: true,
                    continue_: false,
                    csg: stage,
                    nsg: StageChoice::Next.get(stage),
                    version_max: 0,
                    version_min: 0,
                    isid,
                    tsih: 0,
                    itt: 1,
                    cid: 0,
                    cmd_sn,
                    exp_stat_sn,
                };
                check(&mut login, &Pdu::with_data(req, data), &mut seen);
                exp_stat_sn = exp_stat_sn.wrapping_add(1);
            }
            Step::Raw(bytes) => {
                stream.extend_from_slice(bytes);
                match decoder.decode(&mut stream) {
                    Ok(Some(pdu)) => check(&mut login, &pdu, &mut seen),
                    Ok(None) => {}
                    Err(_) => stream.clear(),
                }
            }
            Step::Nop(itt) => {
                let nop = NopOut {
                    immediate: true,
                    itt: *itt,
                    ttt: RESERVED_TAG,
                    cmd_sn,
                    ..NopOut::default()
                };
                check(&mut login, &Pdu::new(nop), &mut seen);
            }
            Step::Text(itt, data) => {
                let req = TextRequest {
                    final_: true,
                    itt: *itt,
                    ttt: RESERVED_TAG,
                    cmd_sn,
                    ..TextRequest::default()
                };
                let data = Bytes::copy_from_slice(data);
                check(&mut login, &Pdu::with_data(req, data), &mut seen);
                cmd_sn = cmd_sn.wrapping_add(1);
            }
        }
    }
});
