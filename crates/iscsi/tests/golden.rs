//! Golden streams: real iSCSI connections between libiscsi's tools and tgt,
//! captured on loopback (see tests/data/README.md and capture.sh). Each
//! direction of each connection is framed with [`PduDecoder`] (no digests:
//! none were negotiated), checked PDU by PDU, and every PDU is emitted again
//! and compared byte for byte with its slice of the stream.
//!
//! The interop tests at the end run our [`TargetLogin`] on the login
//! requests libiscsi sent to tgt and check that it accepts them.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use netboot_iscsi::codec::{Direction, PduDecoder};
use netboot_iscsi::discovery::{parse_send_targets, SeqNums, TextResponder};
use netboot_iscsi::login::chap;
use netboot_iscsi::login::{
    Credentials, LoginState, LoginStatus, Portal, TargetConfig, TargetEntry, TargetLogin,
};
use netboot_iscsi::negotiate::SessionType;
use netboot_iscsi::text::{decode_binary, encode_hex, encode_text, parse_text, Pairs};
use netboot_iscsi::wire::{
    opcode, Bhs, Digests, LoginRequest, LoginResponse, LogoutReason, LogoutResponseCode, Pdu,
    ScsiResponseCode, Stage, TaskAttr, RESERVED_TAG,
};

/// The names capture.sh gives tgt's target and libiscsi's initiator.
const TARGET: &str = "iqn.2024-01.org.example.netboot:golden";
const INITIATOR: &str = "iqn.2024-01.org.example.netboot:initiator";
/// The CHAP account capture.sh binds to the target.
const CHAP_USER: &str = "netboot";
const CHAP_SECRET: &[u8] = b"golden-secret";
/// libiscsi's MaxRecvDataSegmentLength, the largest segment in the streams.
const MAX_SEGMENT: usize = 262_144;

fn load(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/data/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Frames a whole stream, re-emits every PDU and compares it with its
/// bytes. The stream is fed once whole and once in 7-byte pieces; both must
/// give the same PDUs and leave nothing over.
fn decode(name: &str, direction: Direction) -> Vec<Pdu> {
    let bytes = load(name);
    let decoder = PduDecoder::new(MAX_SEGMENT).with_direction(direction);
    let mut dec = decoder.clone();
    let mut buf = BytesMut::from(&bytes[..]);
    let mut pdus = Vec::new();
    let mut offset = 0;
    while let Some(pdu) = dec
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
    {
        let len = bytes.len() - offset - buf.len();
        let wire = &bytes[offset..offset + len];
        assert_eq!(
            pdu.buffer_len(Digests::default()),
            len,
            "{name}: PDU {}",
            pdus.len()
        );
        let mut out = BytesMut::new();
        pdu.emit(&mut out, Digests::default()).unwrap();
        assert_eq!(
            &out[..],
            wire,
            "{name}: PDU {} ({:?}) re-emitted differently",
            pdus.len(),
            pdu.header
        );
        offset += len;
        pdus.push(pdu);
    }
    assert!(buf.is_empty(), "{name}: {} bytes left over", buf.len());

    let mut dec = decoder;
    let mut buf = BytesMut::new();
    let mut again = Vec::new();
    for piece in bytes.chunks(7) {
        buf.extend_from_slice(piece);
        while let Some(pdu) = dec.decode(&mut buf).unwrap() {
            again.push(pdu);
        }
    }
    assert_eq!(again, pdus, "{name}: decoded differently in pieces");
    pdus
}

fn initiator(name: &str) -> Vec<Pdu> {
    decode(&format!("{name}_initiator"), Direction::FromInitiator)
}

fn target(name: &str) -> Vec<Pdu> {
    decode(&format!("{name}_target"), Direction::FromTarget)
}

fn opcodes(pdus: &[Pdu]) -> Vec<u8> {
    pdus.iter().map(|p| p.header.opcode()).collect()
}

fn text(pdu: &Pdu) -> Pairs {
    parse_text(&pdu.data).unwrap()
}

fn get<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn login_request(pdu: &Pdu) -> LoginRequest {
    match pdu.header {
        Bhs::LoginRequest(r) => r,
        ref h => panic!("not a Login Request: {h:?}"),
    }
}

fn login_response(pdu: &Pdu) -> LoginResponse {
    match pdu.header {
        Bhs::LoginResponse(r) => r,
        ref h => panic!("not a Login Response: {h:?}"),
    }
}

/// The CDB opcodes of the SCSI Commands in a stream.
fn cdb_opcodes(pdus: &[Pdu]) -> Vec<u8> {
    pdus.iter()
        .filter_map(|p| match p.header {
            Bhs::ScsiCommand(c) => Some(c.cdb[0]),
            _ => None,
        })
        .collect()
}

/// The data of the Data-In answering the command with `itt`; the target
/// sent the status with it (S bit), as tgt does for short reads.
fn data_in(pdus: &[Pdu], itt: u32) -> Bytes {
    pdus.iter()
        .find_map(|p| match p.header {
            Bhs::DataIn(d) if d.itt == itt => {
                assert!(d.final_, "Data-In for {itt:#x} not final");
                assert_eq!(d.status, Some(0), "Data-In for {itt:#x}: status");
                Some(p.data.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Data-In for {itt:#x}"))
}

fn itt_of(pdus: &[Pdu], cdb0: u8, nth: usize) -> u32 {
    pdus.iter()
        .filter_map(|p| match p.header {
            Bhs::ScsiCommand(c) if c.cdb[0] == cdb0 => Some(c.itt),
            _ => None,
        })
        .nth(nth)
        .unwrap_or_else(|| panic!("no command {cdb0:#x} #{nth}"))
}

/// Checks the single-PDU login libiscsi does without authentication:
/// straight from operational negotiation to full feature phase.
fn check_plain_login(req: &Pdu, resp: &Pdu, session_type: &str) {
    let r = login_request(req);
    assert!(r.transit && !r.continue_);
    assert_eq!(
        (r.csg, r.nsg),
        (Stage::LoginOperationalNegotiation, Stage::FullFeaturePhase)
    );
    assert_eq!((r.version_max, r.version_min, r.tsih, r.cid), (0, 0, 0, 0));
    // libiscsi's ISIDs are random with the T field "random" (0b10).
    assert_eq!(r.isid.0[0] & 0xc0, 0x80);
    let keys = text(req);
    assert_eq!(keys[0], ("InitiatorName".into(), INITIATOR.into()));
    assert_eq!(get(&keys, "SessionType"), Some(session_type));
    // Header digests are offered for normal sessions only.
    let header_digest = if session_type == "Normal" {
        "None,CRC32C"
    } else {
        "None"
    };
    assert_eq!(get(&keys, "HeaderDigest"), Some(header_digest));
    assert_eq!(get(&keys, "DataDigest"), Some("None"));
    assert_eq!(get(&keys, "MaxRecvDataSegmentLength"), Some("262144"));
    if session_type == "Normal" {
        assert_eq!(get(&keys, "TargetName"), Some(TARGET));
    } else {
        assert_eq!(get(&keys, "TargetName"), None);
    }

    let a = login_response(resp);
    assert_eq!(a.status, LoginStatus::SUCCESS);
    assert!(a.transit);
    assert_eq!(a.nsg, Stage::FullFeaturePhase);
    assert_eq!((a.isid, a.itt), (r.isid, r.itt));
    assert_ne!(a.tsih, 0);
    assert_eq!(a.exp_cmd_sn, r.cmd_sn);
    let answers = text(resp);
    assert_eq!(get(&answers, "TargetPortalGroupTag"), Some("1"));
    assert_eq!(get(&answers, "HeaderDigest"), Some("None"));
    assert_eq!(get(&answers, "InitialR2T"), Some("Yes"));
}

fn check_send_targets(req: &Pdu, resp: &Pdu) {
    let Bhs::TextRequest(q) = req.header else {
        panic!("{:?}", req.header)
    };
    assert!(q.final_ && !q.continue_ && q.immediate);
    assert_eq!(q.ttt, RESERVED_TAG);
    assert_eq!(&req.data[..], b"SendTargets=All\0");
    let Bhs::TextResponse(a) = resp.header else {
        panic!("{:?}", resp.header)
    };
    assert!(a.final_ && !a.continue_);
    assert_eq!((a.itt, a.ttt), (q.itt, RESERVED_TAG));
    let found = parse_send_targets(&text(resp));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, TARGET);
    let [addr] = &found[0].addresses[..] else {
        panic!("{:?}", found[0].addresses)
    };
    assert!(
        addr.starts_with("127.0.0.1:") && addr.ends_with(",1"),
        "{addr}"
    );
}

fn check_logout(req: &Pdu, resp: &Pdu) {
    let Bhs::LogoutRequest(q) = req.header else {
        panic!("{:?}", req.header)
    };
    assert!(q.immediate);
    assert_eq!(q.reason, LogoutReason::CloseSession);
    let Bhs::LogoutResponse(a) = resp.header else {
        panic!("{:?}", resp.header)
    };
    assert_eq!(a.itt, q.itt);
    assert_eq!(a.response, LogoutResponseCode::Closed);
}

/// The first TEST UNIT READY after login meets the power-on unit attention
/// (CHECK CONDITION, sense key 6, ASC 29h); libiscsi retries it.
fn check_unit_attention(pdus: &[Pdu], itt: u32) {
    let p = pdus
        .iter()
        .find(|p| p.header.itt() == itt && p.header.opcode() == opcode::SCSI_RESPONSE)
        .unwrap();
    let Bhs::ScsiResponse(r) = p.header else {
        unreachable!()
    };
    assert_eq!(r.response, ScsiResponseCode::CommandCompleted);
    assert_eq!(r.status, 2);
    // SenseLength, then fixed-format sense data.
    assert_eq!(&p.data[..2], &[0, 18]);
    assert_eq!(p.data[2] & 0x7f, 0x70);
    assert_eq!(p.data[4] & 0x0f, 6);
    assert_eq!(p.data[2 + 12], 0x29);
}

fn check_inquiry(data: &[u8], peripheral_type: u8, product: &[u8]) {
    assert_eq!(data[0] & 0x1f, peripheral_type);
    assert_eq!(&data[8..16], b"IET     ");
    assert_eq!(&data[16..32], product);
}

#[test]
fn iscsi_ls_discovery() {
    let i = initiator("ls_discovery");
    let t = target("ls_discovery");
    use opcode::*;
    assert_eq!(opcodes(&i), [LOGIN_REQUEST, TEXT_REQUEST, LOGOUT_REQUEST]);
    assert_eq!(
        opcodes(&t),
        [LOGIN_RESPONSE, TEXT_RESPONSE, LOGOUT_RESPONSE]
    );
    check_plain_login(&i[0], &t[0], "Discovery");
    check_send_targets(&i[1], &t[1]);
    check_logout(&i[2], &t[2]);
}

#[test]
fn iscsi_ls_show_luns() {
    use opcode::*;
    // First a discovery session, as above.
    let i = initiator("ls_show_luns_1");
    let t = target("ls_show_luns_1");
    assert_eq!(opcodes(&i), [LOGIN_REQUEST, TEXT_REQUEST, LOGOUT_REQUEST]);
    assert_eq!(
        opcodes(&t),
        [LOGIN_RESPONSE, TEXT_RESPONSE, LOGOUT_RESPONSE]
    );
    check_plain_login(&i[0], &t[0], "Discovery");
    check_send_targets(&i[1], &t[1]);

    // Then a normal session to the target found; iscsi-ls closes it
    // without a logout.
    let i = initiator("ls_show_luns_2");
    let t = target("ls_show_luns_2");
    assert_eq!(i[0].header.opcode(), LOGIN_REQUEST);
    assert!(i[1..].iter().all(|p| p.header.opcode() == SCSI_COMMAND));
    check_plain_login(&i[0], &t[0], "Normal");
    // REPORT LUNS (twice: the list length, then the list), TEST UNIT READY
    // and INQUIRY on LUN 0, then on LUN 1 with READ CAPACITY(10).
    assert_eq!(
        cdb_opcodes(&i),
        [0xa0, 0xa0, 0x00, 0x00, 0x12, 0x00, 0x00, 0x12, 0x25]
    );
    for p in &i[1..] {
        let Bhs::ScsiCommand(c) = p.header else {
            unreachable!()
        };
        assert!(c.final_ && !c.write && !c.immediate);
        assert_eq!(c.attr, TaskAttr::Simple);
        assert!(p.data.is_empty());
    }
    let luns = data_in(&t, itt_of(&i, 0xa0, 1));
    // LUN list length 16: LUN 0 (tgt's controller) and LUN 1 (the disk).
    assert_eq!(&luns[..4], &[0, 0, 0, 16]);
    assert_eq!(&luns[8..16], &[0; 8]);
    assert_eq!(&luns[16..24], &[0, 1, 0, 0, 0, 0, 0, 0]);
    check_unit_attention(&t, itt_of(&i, 0x00, 0));
    check_inquiry(&data_in(&t, itt_of(&i, 0x12, 0)), 0x0c, b"Controller      ");
    check_inquiry(&data_in(&t, itt_of(&i, 0x12, 1)), 0x00, b"VIRTUAL-DISK    ");
    // READ CAPACITY(10): last LBA of the 8 MiB file, 512-byte blocks.
    let cap = data_in(&t, itt_of(&i, 0x25, 0));
    assert_eq!(&cap[..], &[0, 0, 0x3f, 0xff, 0, 0, 2, 0]);
}

#[test]
fn iscsi_inq() {
    use opcode::*;
    let i = initiator("inquiry");
    let t = target("inquiry");
    assert_eq!(
        opcodes(&i),
        [
            LOGIN_REQUEST,
            SCSI_COMMAND,
            SCSI_COMMAND,
            SCSI_COMMAND,
            SCSI_COMMAND,
            LOGOUT_REQUEST
        ]
    );
    assert_eq!(
        opcodes(&t),
        [
            LOGIN_RESPONSE,
            SCSI_RESPONSE,
            SCSI_RESPONSE,
            DATA_IN,
            DATA_IN,
            LOGOUT_RESPONSE
        ]
    );
    check_plain_login(&i[0], &t[0], "Normal");
    // TEST UNIT READY until the unit attention clears, then INQUIRY for 64
    // bytes, which says 66 are available (additional length 61), and again.
    assert_eq!(cdb_opcodes(&i), [0x00, 0x00, 0x12, 0x12]);
    let Bhs::ScsiCommand(inq) = i[3].header else {
        unreachable!()
    };
    assert!(inq.read && !inq.write);
    assert_eq!(inq.lun, 1 << 48, "LUN 1, single-level addressing");
    assert_eq!(inq.expected_data_transfer_length, 64);
    assert_eq!(&inq.cdb[..6], &[0x12, 0, 0, 0, 64, 0]);
    check_unit_attention(&t, itt_of(&i, 0x00, 0));
    let first = data_in(&t, itt_of(&i, 0x12, 0));
    assert_eq!(first.len(), 64);
    assert_eq!(first[4], 61);
    check_inquiry(&first, 0, b"VIRTUAL-DISK    ");
    assert_eq!(&first[32..36], b"0001");
    let second = data_in(&t, itt_of(&i, 0x12, 1));
    assert_eq!(second.len(), 66);
    assert_eq!(&second[..64], &first[..]);
    check_logout(&i[5], &t[5]);
}

#[test]
fn iscsi_readcapacity16() {
    use opcode::*;
    let i = initiator("readcapacity16");
    let t = target("readcapacity16");
    assert_eq!(
        opcodes(&i),
        [
            LOGIN_REQUEST,
            SCSI_COMMAND,
            SCSI_COMMAND,
            SCSI_COMMAND,
            LOGOUT_REQUEST
        ]
    );
    assert_eq!(
        opcodes(&t),
        [
            LOGIN_RESPONSE,
            SCSI_RESPONSE,
            SCSI_RESPONSE,
            DATA_IN,
            LOGOUT_RESPONSE
        ]
    );
    check_plain_login(&i[0], &t[0], "Normal");
    // SERVICE ACTION IN(16) / READ CAPACITY(16), allocation length 32.
    let Bhs::ScsiCommand(c) = i[3].header else {
        unreachable!()
    };
    assert_eq!(c.cdb[..2], [0x9e, 0x10]);
    assert_eq!(c.cdb[10..14], [0, 0, 0, 32]);
    assert_eq!(c.expected_data_transfer_length, 32);
    let cap = data_in(&t, c.itt);
    assert_eq!(cap.len(), 32);
    // Last LBA 16383 (8 MiB of 512-byte blocks), block length 512.
    assert_eq!(u64::from_be_bytes(cap[..8].try_into().unwrap()), 16383);
    assert_eq!(u32::from_be_bytes(cap[8..12].try_into().unwrap()), 512);
    check_logout(&i[4], &t[4]);
}

#[test]
fn chap_login() {
    use opcode::*;
    let i = initiator("chap_inquiry");
    let t = target("chap_inquiry");
    assert_eq!(opcodes(&i)[..4], [LOGIN_REQUEST; 4]);
    assert_eq!(opcodes(&t)[..4], [LOGIN_RESPONSE; 4]);
    assert_eq!(cdb_opcodes(&i), [0x00, 0x00, 0x12, 0x12]);
    let reqs: Vec<_> = i[..4].iter().map(login_request).collect();
    let resps: Vec<_> = t[..4].iter().map(login_response).collect();
    for (q, a) in reqs.iter().zip(&resps) {
        assert_eq!((q.isid, q.itt, q.cid), (reqs[0].isid, reqs[0].itt, 0));
        assert_eq!((a.isid, a.itt), (q.isid, q.itt));
        assert_eq!(a.status, LoginStatus::SUCCESS);
        assert_eq!(a.csg, q.csg);
    }

    // 1: names and AuthMethod, asking to move on; tgt picks CHAP and stays.
    let k = text(&i[0]);
    assert_eq!(get(&k, "InitiatorName"), Some(INITIATOR));
    assert_eq!(get(&k, "TargetName"), Some(TARGET));
    assert_eq!(get(&k, "SessionType"), Some("Normal"));
    assert_eq!(get(&k, "AuthMethod"), Some("CHAP,None"));
    assert_eq!(reqs[0].csg, Stage::SecurityNegotiation);
    assert!(reqs[0].transit);
    assert!(!resps[0].transit);
    assert_eq!(get(&text(&t[0]), "AuthMethod"), Some("CHAP"));
    // 2: CHAP_A; tgt answers with MD5, an identifier and a challenge.
    assert_eq!(text(&i[1]), [("CHAP_A".to_string(), "5".to_string())]);
    assert!(!reqs[1].transit);
    let c = text(&t[1]);
    assert_eq!(get(&c, "CHAP_A"), Some("5"));
    let id: u8 = get(&c, "CHAP_I").unwrap().parse().unwrap();
    let challenge = decode_binary(get(&c, "CHAP_C").unwrap()).unwrap();
    // 3: CHAP_N and CHAP_R: libiscsi's answer checks with our CHAP code.
    let r = text(&i[2]);
    assert_eq!(get(&r, "CHAP_N"), Some(CHAP_USER));
    let response = decode_binary(get(&r, "CHAP_R").unwrap()).unwrap();
    assert!(chap::verify(id, CHAP_SECRET, &challenge, &response));
    assert!(!chap::verify(id ^ 1, CHAP_SECRET, &challenge, &response));
    assert!(reqs[2].transit && resps[2].transit);
    assert_eq!(resps[2].nsg, Stage::LoginOperationalNegotiation);
    assert!(t[2].data.is_empty());
    // 4: operational keys (libiscsi offers header digests too).
    let o = text(&i[3]);
    assert_eq!(get(&o, "HeaderDigest"), Some("None,CRC32C"));
    assert_eq!(reqs[3].csg, Stage::LoginOperationalNegotiation);
    assert!(resps[3].transit);
    assert_eq!(resps[3].nsg, Stage::FullFeaturePhase);
    assert_ne!(resps[3].tsih, 0);
    assert_eq!(get(&text(&t[3]), "HeaderDigest"), Some("None"));
    check_inquiry(&data_in(&t, itt_of(&i, 0x12, 0)), 0, b"VIRTUAL-DISK    ");
}

// ---- Interop: our target on libiscsi's requests ----

fn config(chap: Option<Credentials>) -> Arc<TargetConfig> {
    Arc::new(TargetConfig {
        targets: vec![TargetEntry {
            name: TARGET.into(),
            portals: vec![Portal {
                address: "127.0.0.1:3260".parse().unwrap(),
                tpgt: 1,
            }],
            chap,
            ..TargetEntry::default()
        }],
        ..TargetConfig::default()
    })
}

/// Answers `req` with `login` and checks the response survives the wire.
fn answer(login: &mut TargetLogin, req: &Pdu) -> (LoginResponse, Pairs) {
    let resp = login.handle(req);
    let mut buf = BytesMut::new();
    resp.emit(&mut buf, Digests::default()).unwrap();
    let back = PduDecoder::default()
        .with_direction(Direction::FromTarget)
        .decode(&mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(back, resp);
    let r = login_response(&resp);
    let q = login_request(req);
    assert_eq!((r.isid, r.itt), (q.isid, q.itt));
    (r, text(&resp))
}

fn check_accepted(login: &TargetLogin, r: &LoginResponse, session_type: SessionType) {
    assert_eq!(r.status, LoginStatus::SUCCESS);
    assert!(r.transit);
    assert_eq!(
        (r.csg, r.nsg),
        (Stage::LoginOperationalNegotiation, Stage::FullFeaturePhase)
    );
    assert_eq!(r.tsih, 7);
    assert_eq!(login.state(), LoginState::FullFeature);
    let result = login.result().unwrap();
    assert_eq!(result.tsih, 7);
    assert_eq!(result.params.session_type, session_type);
    assert_eq!(result.params.initiator_name.as_deref(), Some(INITIATOR));
    assert_eq!(result.params.digests(), Digests::default());
}

#[test]
fn our_target_accepts_libiscsi_discovery() {
    let i = initiator("ls_discovery");
    let cfg = config(None);
    let mut login = TargetLogin::new(cfg.clone(), 7);
    let (r, answers) = answer(&mut login, &i[0]);
    check_accepted(&login, &r, SessionType::Discovery);
    assert_eq!(r.exp_cmd_sn, login_request(&i[0]).cmd_sn);
    // A discovery session has no TargetPortalGroupTag to report.
    assert_eq!(get(&answers, "TargetPortalGroupTag"), None);

    // And the SendTargets=All that followed.
    let params = login.result().unwrap().params;
    let resp = TextResponder::default()
        .handle(&i[1], &cfg, &params, MAX_SEGMENT, SeqNums::default())
        .unwrap();
    let found = parse_send_targets(&text(&resp));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, TARGET);
    assert_eq!(found[0].addresses, ["127.0.0.1:3260,1"]);
}

#[test]
fn our_target_accepts_libiscsi_normal_logins() {
    for name in ["inquiry", "readcapacity16", "ls_show_luns_2"] {
        let i = initiator(name);
        let mut login = TargetLogin::new(config(None), 7);
        let (r, answers) = answer(&mut login, &i[0]);
        check_accepted(&login, &r, SessionType::Normal);
        assert_eq!(get(&answers, "TargetPortalGroupTag"), Some("1"), "{name}");
        let params = login.result().unwrap().params;
        assert_eq!(params.target_name.as_deref(), Some(TARGET), "{name}");
        // libiscsi receives up to 256 KiB per PDU.
        assert_eq!(params.initiator_max_recv_data_segment_length, 262_144);
    }
}

#[test]
fn our_target_refuses_libiscsi_login_to_unknown_target() {
    let i = initiator("inquiry");
    let cfg = Arc::new(TargetConfig {
        targets: vec![TargetEntry {
            name: "iqn.2024-01.org.example.netboot:other".into(),
            ..TargetEntry::default()
        }],
        ..TargetConfig::default()
    });
    let mut login = TargetLogin::new(cfg, 7);
    let (r, _) = answer(&mut login, &i[0]);
    assert_eq!(r.status, LoginStatus::NOT_FOUND);
    assert_eq!(login.state(), LoginState::Failed(LoginStatus::NOT_FOUND));
}

#[test]
fn our_target_accepts_libiscsi_chap_login() {
    let i = initiator("chap_inquiry");
    let creds = Credentials {
        username: CHAP_USER.into(),
        secret: CHAP_SECRET.to_vec(),
    };
    let mut login = TargetLogin::new(config(Some(creds)), 7);

    let (r, a) = answer(&mut login, &i[0]);
    assert_eq!(r.status, LoginStatus::SUCCESS);
    assert!(!r.transit);
    assert_eq!(get(&a, "AuthMethod"), Some("CHAP"));

    let (r, a) = answer(&mut login, &i[1]);
    assert_eq!(r.status, LoginStatus::SUCCESS);
    assert_eq!(get(&a, "CHAP_A"), Some("5"));
    let id: u8 = get(&a, "CHAP_I").unwrap().parse().unwrap();
    let challenge = decode_binary(get(&a, "CHAP_C").unwrap()).unwrap();

    // Our challenge differs from tgt's: answer it as libiscsi would, in the
    // captured PDU with only CHAP_R replaced.
    let mut keys = text(&i[2]);
    for (k, v) in &mut keys {
        if k == "CHAP_R" {
            *v = encode_hex(&chap::chap_md5(id, CHAP_SECRET, &challenge));
        }
    }
    let mut third = i[2].clone();
    third.data = encode_text(keys);
    let (r, a) = answer(&mut login, &third);
    assert_eq!(r.status, LoginStatus::SUCCESS);
    assert!(r.transit);
    assert_eq!(r.nsg, Stage::LoginOperationalNegotiation);
    assert!(a.is_empty(), "{a:?}");

    let (r, _) = answer(&mut login, &i[3]);
    check_accepted(&login, &r, SessionType::Normal);
}

#[test]
fn our_target_refuses_captured_chap_response() {
    // The captured CHAP_R answers tgt's challenge, not ours: a replay.
    let i = initiator("chap_inquiry");
    let creds = Credentials {
        username: CHAP_USER.into(),
        secret: CHAP_SECRET.to_vec(),
    };
    let mut login = TargetLogin::new(config(Some(creds)), 7);
    answer(&mut login, &i[0]);
    answer(&mut login, &i[1]);
    let (r, _) = answer(&mut login, &i[2]);
    assert_eq!(r.status, LoginStatus::AUTH_FAILURE);
    assert_eq!(login.state(), LoginState::Failed(LoginStatus::AUTH_FAILURE));
}
