//! Golden bytes, digests and proptest round-trips of every PDU.

use super::*;
use crate::codec::PduDecoder;
use crate::login::LoginStatus;
use crate::Error;
use proptest::prelude::*;

fn emit(pdu: &Pdu, d: Digests) -> BytesMut {
    // Start from 0xa5 garbage in front to catch emit writing to the wrong
    // place; the PDU is appended after it.
    let mut buf = BytesMut::from(&[0xa5u8; 3][..]);
    pdu.emit(&mut buf, d).unwrap();
    assert_eq!(&buf[..3], &[0xa5; 3]);
    let _ = buf.split_to(3);
    assert_eq!(buf.len(), pdu.buffer_len(d));
    buf
}

/// RFC 3720 Appendix B.4 CRC32C test vectors.
#[test]
fn test_crc32c_vectors() {
    assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
    assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
    let inc: Vec<u8> = (0u8..32).collect();
    assert_eq!(crc32c(&inc), 0x46dd_794e);
    let dec: Vec<u8> = (0u8..32).rev().collect();
    assert_eq!(crc32c(&dec), 0x113f_db5c);
}

#[test]
fn test_emit_login_request() {
    let req = LoginRequest {
        transit: true,
        continue_: false,
        csg: Stage::SecurityNegotiation,
        nsg: Stage::LoginOperationalNegotiation,
        version_max: 0,
        version_min: 0,
        isid: Isid([0x80, 0x12, 0x34, 0x56, 0x78, 0x9a]),
        tsih: 0,
        itt: 0x0102_0304,
        cid: 7,
        cmd_sn: 1,
        exp_stat_sn: 0,
    };
    let pdu = Pdu::with_data(req, Bytes::from_static(b"AuthMethod=None\0"));
    let b = emit(&pdu, Digests::default());
    assert_eq!(b[0], 0x43, "immediate bit and opcode");
    assert_eq!(b[1], 0x81, "T, CSG=0, NSG=1");
    assert_eq!(&b[4..8], &[0, 0, 0, 16]);
    assert_eq!(&b[8..14], &[0x80, 0x12, 0x34, 0x56, 0x78, 0x9a]);
    assert_eq!(&b[16..20], &[1, 2, 3, 4]);
    assert_eq!(&b[20..22], &[0, 7]);
    assert_eq!(&b[24..28], &[0, 0, 0, 1]);
    assert_eq!(b.len(), 48 + 16);
    assert_eq!(Pdu::parse(b.freeze(), Digests::default()).unwrap(), pdu);
}

#[test]
fn test_parse_login_response_status() {
    let mut b = [0u8; 48];
    b[0] = 0x23;
    b[1] = 0x87; // T, CSG=1, NSG=3
    b[36] = 2;
    b[37] = 1;
    let Bhs::LoginResponse(r) = Bhs::parse(&b).unwrap() else {
        panic!("not a login response")
    };
    assert!(r.transit);
    assert_eq!(r.csg, Stage::LoginOperationalNegotiation);
    assert_eq!(r.nsg, Stage::FullFeaturePhase);
    assert_eq!(r.status, LoginStatus::AUTH_FAILURE);
}

#[test]
fn test_padding_and_digests() {
    let pdu = Pdu::with_data(
        DataIn {
            final_: true,
            status: Some(0),
            itt: 5,
            ..DataIn::default()
        },
        Bytes::from_static(b"hello"),
    );
    let d = Digests {
        header: true,
        data: true,
    };
    let b = emit(&pdu, d);
    // BHS, header digest, 5 bytes data + 3 padding, data digest.
    assert_eq!(b.len(), 48 + 4 + 8 + 4);
    assert_eq!(&b[52..60], b"hello\0\0\0");
    assert_eq!(
        u32::from_le_bytes([b[60], b[61], b[62], b[63]]),
        crc32c(b"hello\0\0\0")
    );
    assert_eq!(Pdu::parse(b.clone().freeze(), d).unwrap(), pdu);

    let mut bad = b.clone();
    bad[10] ^= 1;
    assert!(matches!(
        Pdu::parse(bad.freeze(), d),
        Err(ParseError::HeaderDigest { .. })
    ));
    let mut bad = b.clone();
    bad[53] ^= 1;
    assert!(matches!(
        Pdu::parse(bad.freeze(), d),
        Err(ParseError::DataDigest { .. })
    ));
    // Wrong digest settings: the lengths disagree.
    assert!(Pdu::parse(b.freeze(), Digests::default()).is_err());
}

#[test]
fn test_ahs_round_trip() {
    let pdu = Pdu {
        header: Bhs::ScsiCommand(ScsiCommand {
            immediate: false,
            final_: true,
            read: true,
            write: true,
            attr: TaskAttr::Simple,
            lun: 0,
            itt: 1,
            expected_data_transfer_length: 512,
            cmd_sn: 1,
            exp_stat_sn: 1,
            cdb: [0x7f; 16],
        }),
        ahs: vec![
            Ahs::ExtendedCdb(Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7, 8])),
            Ahs::BidiReadLength(4096),
        ],
        data: Bytes::new(),
    };
    let b = emit(&pdu, Digests::default());
    // Extended CDB: 3 + 1 + 8 = 12 bytes; bidi: 3 + 5 = 8 bytes.
    assert_eq!(b[4], 5, "TotalAHSLength in words");
    assert_eq!(&b[48..52], &[0, 9, 1, 0]);
    assert_eq!(&b[60..64], &[0, 5, 2, 0]);
    assert_eq!(Pdu::parse(b.freeze(), Digests::default()).unwrap(), pdu);
}

#[test]
fn test_bad_ahs() {
    let mut b = [0u8; 48 + 8];
    b[0] = 0x01;
    b[4] = 2;
    // Bidirectional AHS with a wrong length.
    b[48..52].copy_from_slice(&[0, 4, 2, 0]);
    assert_eq!(
        Pdu::parse(Bytes::copy_from_slice(&b), Digests::default()),
        Err(ParseError::InvalidField {
            field: "AHSLength",
            value: 4
        })
    );
    // An AHS longer than TotalAHSLength.
    b[48..52].copy_from_slice(&[0, 40, 9, 0]);
    assert!(matches!(
        Pdu::parse(Bytes::copy_from_slice(&b), Digests::default()),
        Err(ParseError::Truncated { field: "AHS", .. })
    ));
}

#[test]
fn test_reserved_opcode() {
    let mut b = [0u8; 48];
    b[0] = 0x07;
    assert_eq!(Bhs::parse(&b), Err(ParseError::ReservedOpcode(0x07)));
    b[0] = 0x1d;
    assert!(matches!(Bhs::parse(&b), Ok(Bhs::Vendor(_))));
}

#[test]
fn test_emit_too_long() {
    let pdu = Pdu::with_data(
        NopIn::default(),
        Bytes::from(vec![0u8; MAX_DATA_SEGMENT_LEN + 1]),
    );
    let mut buf = BytesMut::new();
    assert_eq!(
        pdu.emit(&mut buf, Digests::default()),
        Err(EmitError::FieldOverflow {
            field: "DataSegmentLength",
            value: MAX_DATA_SEGMENT_LEN as u64 + 1
        })
    );
    assert!(buf.is_empty());
}

/// A PDU cut short fails with `ParseError::Truncated` naming the part
/// that is missing; wrapped in `Error` it reads the same.
#[test]
fn test_truncated_pdu_names_field() {
    let pdu = Pdu::with_data(NopOut::default(), Bytes::from_static(b"hello"));
    let whole = emit(&pdu, Digests::default()).freeze();
    assert_eq!(
        Pdu::parse(whole.slice(..20), Digests::default()),
        Err(ParseError::Truncated {
            field: "BHS",
            need: BHS_LEN,
            have: 20
        })
    );
    let short = whole.slice(..whole.len() - 1);
    assert_eq!(
        Pdu::parse(short.clone(), Digests::default()),
        Err(ParseError::Truncated {
            field: "PDU",
            need: whole.len(),
            have: whole.len() - 1
        })
    );
    // The message names the field; wrapped in `Error` it reads the same.
    let e = Pdu::parse(short, Digests::default()).unwrap_err();
    assert!(e.to_string().contains("`PDU`"), "{e}");
    assert_eq!(Error::from(e.clone()).to_string(), e.to_string());
}

/// An oversized data segment fails with `EmitError::FieldOverflow` with and
/// without digests, and leaves the buffer as it was.
#[test]
fn test_emit_oversized_data_segment() {
    let len = MAX_DATA_SEGMENT_LEN + 4;
    let pdu = Pdu::with_data(DataIn::default(), Bytes::from(vec![0u8; len]));
    for digests in [
        Digests::default(),
        Digests {
            header: true,
            data: true,
        },
    ] {
        let mut buf = BytesMut::from(&b"keep"[..]);
        let e = pdu.emit(&mut buf, digests).unwrap_err();
        assert_eq!(
            e,
            EmitError::FieldOverflow {
                field: "DataSegmentLength",
                value: len as u64
            }
        );
        assert_eq!(&buf[..], b"keep");
        assert_eq!(Error::from(e.clone()), Error::Emit(e));
    }
}

#[test]
fn test_decoder_limits_before_reserving() {
    let mut dec = PduDecoder::new(1024);
    let mut b = [0u8; 48];
    b[0] = 0x05;
    b[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    let mut buf = BytesMut::from(&b[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(Error::Parse(ParseError::DataSegmentTooLong {
            len: 0xff_ffff,
            max: 1024
        }))
    );
    assert!(buf.capacity() < 4096);
    let mut dec = PduDecoder::default().with_max_ahs_len(16);
    b[5..8].copy_from_slice(&[0, 0, 0]);
    b[4] = 5;
    let mut buf = BytesMut::from(&b[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(Error::Parse(ParseError::AhsTooLong { len: 20, max: 16 }))
    );
    b[4] = 0;
    b[0] = 0x3b;
    let mut buf = BytesMut::from(&b[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(Error::Parse(ParseError::ReservedOpcode(0x3b)))
    );
}

#[test]
fn test_decoder_direction_and_digest_switch() {
    let mut dec = PduDecoder::default().with_direction(crate::codec::Direction::FromInitiator);
    let mut buf = BytesMut::new();
    Pdu::new(NopIn::default())
        .emit(&mut buf, Digests::default())
        .unwrap();
    assert_eq!(dec.decode(&mut buf), Err(Error::UnexpectedOpcode(0x20)));

    // A login PDU without digests followed by one with digests, in one
    // buffer: the switch applies from the next PDU.
    let mut dec = PduDecoder::default();
    let mut buf = BytesMut::new();
    let a = Pdu::with_data(NopOut::default(), Bytes::from_static(b"abc"));
    let d = Digests {
        header: true,
        data: true,
    };
    a.emit(&mut buf, Digests::default()).unwrap();
    a.emit(&mut buf, d).unwrap();
    assert_eq!(dec.decode(&mut buf).unwrap().unwrap(), a);
    dec.set_digests(d);
    assert_eq!(dec.digests(), d);
    assert_eq!(dec.decode(&mut buf).unwrap().unwrap(), a);
    assert_eq!(dec.decode(&mut buf).unwrap(), None);
}

#[test]
fn test_decoder_zero_copy() {
    let mut buf = BytesMut::new();
    let pdu = Pdu::with_data(DataOut::default(), Bytes::from(vec![7u8; 4096]));
    pdu.emit(&mut buf, Digests::default()).unwrap();
    let base = buf.as_ptr() as usize;
    let got = PduDecoder::default().decode(&mut buf).unwrap().unwrap();
    // The data segment points into the receive buffer.
    assert_eq!(got.data.as_ptr() as usize, base + 48);
}

fn stage() -> impl Strategy<Value = Stage> {
    (0u8..4).prop_map(Stage::from)
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn login_status() -> impl Strategy<Value = LoginStatus> {
    (any::<u8>(), any::<u8>()).prop_map(|(c, d)| LoginStatus::new(c, d))
}

prop_compose! {
    fn nop_out()(immediate in any::<bool>(), lun in any::<u64>(), itt in any::<u32>(), ttt in any::<u32>(),
                 cmd_sn in any::<u32>(), exp_stat_sn in any::<u32>()) -> Bhs {
        Bhs::NopOut(NopOut { immediate, lun, itt, ttt, cmd_sn, exp_stat_sn })
    }
}
prop_compose! {
    fn nop_in()(lun in any::<u64>(), itt in any::<u32>(), ttt in any::<u32>(), s in any::<[u32; 3]>()) -> Bhs {
        Bhs::NopIn(NopIn { lun, itt, ttt, stat_sn: s[0], exp_cmd_sn: s[1], max_cmd_sn: s[2] })
    }
}
prop_compose! {
    fn scsi_command()(f in any::<[bool; 4]>(), attr in 0u8..8, lun in any::<u64>(), n in any::<[u32; 4]>(),
                      cdb in any::<[u8; 16]>()) -> Bhs {
        Bhs::ScsiCommand(ScsiCommand { immediate: f[0], final_: f[1], read: f[2], write: f[3],
            attr: TaskAttr::from(attr), lun, itt: n[0], expected_data_transfer_length: n[1],
            cmd_sn: n[2], exp_stat_sn: n[3], cdb })
    }
}
prop_compose! {
    fn scsi_response()(f in any::<[bool; 4]>(), response in any::<u8>(), status in any::<u8>(),
                       n in any::<[u32; 8]>()) -> Bhs {
        Bhs::ScsiResponse(ScsiResponse { bidi_overflow: f[0], bidi_underflow: f[1], overflow: f[2],
            underflow: f[3], response: response.into(), status, itt: n[0], snack_tag: n[1],
            stat_sn: n[2], exp_cmd_sn: n[3], max_cmd_sn: n[4], exp_data_sn: n[5],
            bidi_read_residual_count: n[6], residual_count: n[7] })
    }
}
prop_compose! {
    fn tm_request()(immediate in any::<bool>(), func in 0u8..128, lun in any::<u64>(), n in any::<[u32; 6]>()) -> Bhs {
        Bhs::TaskMgmtRequest(TaskMgmtRequest { immediate, function: func.into(), lun, itt: n[0],
            referenced_task_tag: n[1], cmd_sn: n[2], exp_stat_sn: n[3], ref_cmd_sn: n[4], exp_data_sn: n[5] })
    }
}
prop_compose! {
    fn tm_response()(r in any::<u8>(), n in any::<[u32; 4]>()) -> Bhs {
        Bhs::TaskMgmtResponse(TaskMgmtResponse { response: r.into(), itt: n[0], stat_sn: n[1],
            exp_cmd_sn: n[2], max_cmd_sn: n[3] })
    }
}
prop_compose! {
    fn login_request()(f in any::<[bool; 2]>(), csg in stage(), nsg in stage(), v in any::<[u8; 2]>(),
                       isid in any::<[u8; 6]>(), tsih in any::<u16>(), cid in any::<u16>(), n in any::<[u32; 3]>()) -> Bhs {
        Bhs::LoginRequest(LoginRequest { transit: f[0], continue_: f[1], csg, nsg, version_max: v[0],
            version_min: v[1], isid: Isid(isid), tsih, itt: n[0], cid, cmd_sn: n[1], exp_stat_sn: n[2] })
    }
}
prop_compose! {
    fn login_response()(f in any::<[bool; 2]>(), csg in stage(), nsg in stage(), v in any::<[u8; 2]>(),
                        isid in any::<[u8; 6]>(), tsih in any::<u16>(), n in any::<[u32; 4]>(),
                        status in login_status()) -> Bhs {
        Bhs::LoginResponse(LoginResponse { transit: f[0], continue_: f[1], csg, nsg, version_max: v[0],
            version_active: v[1], isid: Isid(isid), tsih, itt: n[0], stat_sn: n[1], exp_cmd_sn: n[2],
            max_cmd_sn: n[3], status })
    }
}
prop_compose! {
    fn text_request()(f in any::<[bool; 3]>(), lun in any::<u64>(), n in any::<[u32; 4]>()) -> Bhs {
        Bhs::TextRequest(TextRequest { immediate: f[0], final_: f[1], continue_: f[2], lun, itt: n[0],
            ttt: n[1], cmd_sn: n[2], exp_stat_sn: n[3] })
    }
}
prop_compose! {
    fn text_response()(f in any::<[bool; 2]>(), lun in any::<u64>(), n in any::<[u32; 5]>()) -> Bhs {
        Bhs::TextResponse(TextResponse { final_: f[0], continue_: f[1], lun, itt: n[0], ttt: n[1],
            stat_sn: n[2], exp_cmd_sn: n[3], max_cmd_sn: n[4] })
    }
}
prop_compose! {
    fn data_out()(final_ in any::<bool>(), lun in any::<u64>(), n in any::<[u32; 5]>()) -> Bhs {
        Bhs::DataOut(DataOut { final_, lun, itt: n[0], ttt: n[1], exp_stat_sn: n[2], data_sn: n[3],
            buffer_offset: n[4] })
    }
}
prop_compose! {
    fn data_in()(f in any::<[bool; 4]>(), status in any::<Option<u8>>(), lun in any::<u64>(),
                 n in any::<[u32; 8]>()) -> Bhs {
        Bhs::DataIn(DataIn { final_: f[0], acknowledge: f[1], overflow: f[2], underflow: f[3], status,
            lun, itt: n[0], ttt: n[1], stat_sn: n[2], exp_cmd_sn: n[3], max_cmd_sn: n[4], data_sn: n[5],
            buffer_offset: n[6], residual_count: n[7] })
    }
}
prop_compose! {
    fn logout_request()(immediate in any::<bool>(), reason in 0u8..128, cid in any::<u16>(),
                        n in any::<[u32; 3]>()) -> Bhs {
        Bhs::LogoutRequest(LogoutRequest { immediate, reason: reason.into(), itt: n[0], cid,
            cmd_sn: n[1], exp_stat_sn: n[2] })
    }
}
prop_compose! {
    fn logout_response()(r in any::<u8>(), n in any::<[u32; 4]>(), t in any::<[u16; 2]>()) -> Bhs {
        Bhs::LogoutResponse(LogoutResponse { response: r.into(), itt: n[0], stat_sn: n[1],
            exp_cmd_sn: n[2], max_cmd_sn: n[3], time2wait: t[0], time2retain: t[1] })
    }
}
prop_compose! {
    fn r2t()(lun in any::<u64>(), n in any::<[u32; 8]>()) -> Bhs {
        Bhs::R2t(R2t { lun, itt: n[0], ttt: n[1], stat_sn: n[2], exp_cmd_sn: n[3], max_cmd_sn: n[4],
            r2t_sn: n[5], buffer_offset: n[6], desired_data_transfer_length: n[7] })
    }
}
prop_compose! {
    fn async_message()(lun in any::<u64>(), n in any::<[u32; 3]>(), e in any::<[u8; 2]>(),
                       p in any::<[u16; 3]>()) -> Bhs {
        Bhs::AsyncMessage(AsyncMessage { lun, stat_sn: n[0], exp_cmd_sn: n[1], max_cmd_sn: n[2],
            event: e[0].into(), vcode: e[1], parameter1: p[0], parameter2: p[1], parameter3: p[2] })
    }
}
prop_compose! {
    fn snack()(t in 0u8..16, lun in any::<u64>(), n in any::<[u32; 5]>()) -> Bhs {
        Bhs::SnackRequest(SnackRequest { snack_type: t.into(), lun, itt: n[0], ttt_or_snack_tag: n[1],
            exp_stat_sn: n[2], beg_run: n[3], run_length: n[4] })
    }
}
prop_compose! {
    fn reject()(r in any::<u8>(), n in any::<[u32; 4]>()) -> Bhs {
        Bhs::Reject(Reject { reason: r.into(), stat_sn: n[0], exp_cmd_sn: n[1], max_cmd_sn: n[2],
            data_sn: n[3] })
    }
}
prop_compose! {
    fn vendor()(op in prop::sample::select(vec![0x1cu8, 0x1d, 0x1e, 0x3c, 0x3d, 0x3e, 0x5c, 0x5e]),
                flags in any::<[u8; 3]>(), rest in prop::collection::vec(any::<u8>(), 40)) -> Bhs {
        let mut r = [0u8; 40];
        r.copy_from_slice(&rest);
        Bhs::Vendor(Vendor { opcode: op, flags, rest: r })
    }
}

fn any_bhs() -> impl Strategy<Value = Bhs> {
    prop_oneof![
        nop_out(),
        nop_in(),
        scsi_command(),
        scsi_response(),
        tm_request(),
        tm_response(),
        login_request(),
        login_response(),
        text_request(),
        text_response(),
        data_out(),
        data_in(),
        logout_request(),
        logout_response(),
        r2t(),
        async_message(),
        snack(),
        reject(),
        vendor(),
    ]
}

fn any_ahs() -> impl Strategy<Value = Ahs> {
    prop_oneof![
        bytes(40).prop_map(Ahs::ExtendedCdb),
        any::<u32>().prop_map(Ahs::BidiReadLength),
        (3u8..=255, bytes(30)).prop_map(|(ahs_type, data)| Ahs::Unknown { ahs_type, data }),
    ]
}

fn any_pdu() -> impl Strategy<Value = Pdu> {
    (
        any_bhs(),
        prop::collection::vec(any_ahs(), 0..4),
        bytes(300),
    )
        .prop_map(|(header, ahs, data)| Pdu { header, ahs, data })
}

fn any_digests() -> impl Strategy<Value = Digests> {
    any::<(bool, bool)>().prop_map(|(header, data)| Digests { header, data })
}

proptest! {
    #[test]
    fn pdu_round_trip(pdu in any_pdu(), d in any_digests()) {
        let b = emit(&pdu, d);
        let bhs: RawBhs = b[..48].try_into().unwrap();
        prop_assert_eq!(Bhs::parse(&bhs).unwrap(), pdu.header);
        prop_assert_eq!(&Pdu::parse(b.clone().freeze(), d).unwrap(), &pdu);
        let mut buf = b;
        let mut dec = PduDecoder::new(MAX_DATA_SEGMENT_LEN);
        dec.set_digests(d);
        let got = dec.decode(&mut buf).unwrap().unwrap();
        prop_assert_eq!(got, pdu);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn bhs_emit_writes_every_byte(h in any_bhs()) {
        // Emitting over garbage and over zeroes gives the same bytes.
        let mut a = [0xa5u8; BHS_LEN];
        let mut z = [0u8; BHS_LEN];
        h.emit(&mut a);
        h.emit(&mut z);
        prop_assert_eq!(a, z);
        prop_assert_eq!(raw_opcode(&z), h.opcode());
        prop_assert_eq!(Bhs::parse(&z).unwrap().itt(), h.itt());
    }

    #[test]
    fn decoder_split_anywhere(pdus in prop::collection::vec(any_pdu(), 1..4), d in any_digests(),
                              cut in any::<prop::sample::Index>()) {
        let mut all = BytesMut::new();
        for p in &pdus {
            p.emit(&mut all, d).unwrap();
        }
        let at = cut.index(all.len() + 1);
        let rest = all.split_off(at);
        let mut dec = PduDecoder::new(MAX_DATA_SEGMENT_LEN);
        dec.set_digests(d);
        let mut got = Vec::new();
        while let Some(p) = dec.decode(&mut all).unwrap() {
            got.push(p);
        }
        all.extend_from_slice(&rest);
        while let Some(p) = dec.decode(&mut all).unwrap() {
            got.push(p);
        }
        prop_assert_eq!(got, pdus);
        prop_assert!(all.is_empty());
    }

    #[test]
    fn decoder_never_panics(data in prop::collection::vec(any::<u8>(), 0..600), d in any_digests(),
                            max in 0usize..1024) {
        let mut dec = PduDecoder::new(max);
        dec.set_digests(d);
        let mut buf = BytesMut::from(&data[..]);
        for _ in 0..8 {
            match dec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let _ = Pdu::parse(Bytes::from(data.clone()), d);
        let _ = Ahs::parse_all(Bytes::from(data));
    }

    #[test]
    fn decoder_never_panics_on_valid_header(pdu in any_pdu(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut b = emit(&pdu, Digests::default());
        for (i, x) in flips {
            let n = i.index(b.len());
            b[n] ^= x;
        }
        let mut dec = PduDecoder::new(1024);
        let _ = dec.decode(&mut b);
    }
}
