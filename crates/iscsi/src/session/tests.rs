use super::*;

/// Status bytes as the wire carries them.
const STATUS_GOOD: u8 = Status::Good as u8;
const STATUS_CHECK_CONDITION: u8 = Status::CheckCondition as u8;
use crate::negotiate::SessionParams;
use crate::wire::{Isid, TaskAttr};

fn login(params: SessionParams) -> LoginResult {
    LoginResult {
        isid: Isid([0x80, 0, 0, 0, 0, 1]),
        tsih: 1,
        cid: 0,
        params,
        stat_sn: 100,
        cmd_sn: 10,
    }
}

fn session(params: SessionParams, cfg: SessionConfig) -> TargetSession {
    session_at(params, cfg, Instant::now())
}

fn session_at(params: SessionParams, cfg: SessionConfig, now: Instant) -> TargetSession {
    TargetSession::new(&login(params), Arc::new(TargetConfig::default()), cfg, now)
}

fn cmd(itt: u32, cmd_sn: u32, read: bool, write: bool, edtl: u32, op: u8) -> ScsiCommand {
    let mut cdb = [0u8; 16];
    cdb[0] = op;
    ScsiCommand {
        immediate: false,
        final_: true,
        read,
        write,
        attr: TaskAttr::Simple,
        lun: 0,
        itt,
        expected_data_transfer_length: edtl,
        cmd_sn,
        exp_stat_sn: 0,
        cdb,
    }
}

fn drain(s: &mut TargetSession) -> Vec<Pdu> {
    std::iter::from_fn(|| s.poll_pdu()).collect()
}

/// The initiator's answer to the target's NOP-In ping `ttt`.
fn ping_answer(ttt: u32) -> Pdu {
    Pdu::new(NopOut {
        immediate: true,
        lun: 0,
        itt: RESERVED_TAG,
        ttt,
        cmd_sn: 10,
        exp_stat_sn: 0,
    })
}

fn execute_id(s: &mut TargetSession) -> (u64, Bytes) {
    match s.poll_event() {
        Some(Event::Execute { id, data_out, .. }) => (id, data_out),
        other => panic!("expected Execute, got {other:?}"),
    }
}

/// Completes read `id` with `data` and GOOD status.
fn complete_read(s: &mut TargetSession, id: u64, data: Vec<u8>) {
    s.handle_completion(
        id,
        Completion {
            data_in: Bytes::from(data),
            ..Completion::default()
        },
    );
}

#[test]
fn read_is_split_into_data_in_with_status_in_the_last() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    s.handle_pdu(now, Pdu::new(cmd(7, 10, true, false, 20000, 0x28)))
        .unwrap();
    let (id, out) = execute_id(&mut s);
    assert!(out.is_empty());
    let data = Bytes::from(vec![0xabu8; 20000]);
    s.handle_completion(
        id,
        Completion {
            status: Status::Good,
            sense: None,
            data_in: data.clone(),
            write_len: None,
        },
    );
    let pdus = drain(&mut s);
    assert_eq!(pdus.len(), 3);
    let mut got = Vec::new();
    for (i, p) in pdus.iter().enumerate() {
        let Bhs::DataIn(d) = p.header else { panic!() };
        assert_eq!(d.data_sn, i as u32);
        assert_eq!(d.buffer_offset as usize, got.len());
        assert_eq!(d.itt, 7);
        got.extend_from_slice(&p.data);
        if i == 2 {
            assert_eq!(d.status, Some(STATUS_GOOD));
            assert!(d.final_);
            assert_eq!(d.stat_sn, 100);
            assert_eq!(d.exp_cmd_sn, 11);
        } else {
            assert_eq!(d.status, None);
            assert!(p.data.len() == 8192);
        }
    }
    assert_eq!(got, data);
    // The next response takes the next StatSN.
    s.handle_pdu(now, Pdu::new(cmd(8, 11, false, false, 0, 0x00)))
        .unwrap();
    let (id, _) = execute_id(&mut s);
    s.handle_completion(id, Completion::default());
    let Bhs::ScsiResponse(r) = drain(&mut s)[0].header else {
        panic!()
    };
    assert_eq!(r.stat_sn, 101);
    assert_eq!(r.exp_cmd_sn, 12);
    assert_eq!(r.status, STATUS_GOOD);
}

#[test]
fn data_in_respects_max_burst_and_reports_residuals() {
    let now = Instant::now();
    let params = SessionParams {
        initiator_max_recv_data_segment_length: 4096,
        max_burst_length: 8192,
        ..SessionParams::default()
    };
    let mut s = session(params, SessionConfig::default());
    // The initiator wants 20000 bytes; the command produces 12000.
    s.handle_pdu(now, Pdu::new(cmd(1, 10, true, false, 20000, 0x28)))
        .unwrap();
    let (id, _) = execute_id(&mut s);
    s.handle_completion(
        id,
        Completion {
            status: Status::Good,
            sense: None,
            data_in: Bytes::from(vec![1u8; 12000]),
            write_len: None,
        },
    );
    let pdus = drain(&mut s);
    let flags: Vec<(usize, bool)> = pdus
        .iter()
        .map(|p| match p.header {
            Bhs::DataIn(d) => (p.data.len(), d.final_),
            _ => panic!(),
        })
        .collect();
    assert_eq!(flags, vec![(4096, false), (4096, true), (3808, true)]);
    let Bhs::DataIn(last) = pdus[2].header else {
        panic!()
    };
    assert!(last.underflow);
    assert_eq!(last.residual_count, 8000);
    // Overflow: EDTL smaller than what the command produced.
    s.handle_pdu(now, Pdu::new(cmd(2, 11, true, false, 512, 0x28)))
        .unwrap();
    let (id, _) = execute_id(&mut s);
    s.handle_completion(
        id,
        Completion {
            status: Status::Good,
            sense: None,
            data_in: Bytes::from(vec![1u8; 1024]),
            write_len: None,
        },
    );
    let pdus = drain(&mut s);
    assert_eq!(pdus.len(), 1);
    let Bhs::DataIn(d) = pdus[0].header else {
        panic!()
    };
    assert!(d.overflow);
    assert_eq!(d.residual_count, 512);
    assert_eq!(pdus[0].data.len(), 512);
}

#[test]
fn write_with_immediate_data_and_r2t() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    let total = 300_000u32;
    let payload: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut c = cmd(5, 10, false, true, total, 0x2a);
    c.final_ = true;
    s.handle_pdu(
        now,
        Pdu::with_data(c, Bytes::copy_from_slice(&payload[..8192])),
    )
    .unwrap();
    assert!(s.poll_event().is_none(), "waiting for data");
    let mut sent = 8192u32;
    let mut r2ts = 0;
    while sent < total {
        let pdus = drain(&mut s);
        assert_eq!(pdus.len(), 1, "MaxOutstandingR2T=1");
        let Bhs::R2t(r) = pdus[0].header else {
            panic!("{:?}", pdus[0].header)
        };
        assert_eq!(r.buffer_offset, sent);
        assert_eq!(r.r2t_sn, r2ts);
        assert!(r.desired_data_transfer_length <= 262_144);
        r2ts += 1;
        let end = r.buffer_offset + r.desired_data_transfer_length;
        let mut off = r.buffer_offset;
        let mut data_sn = 0;
        while off < end {
            let n = (end - off).min(8192);
            s.handle_pdu(
                now,
                Pdu::with_data(
                    DataOut {
                        final_: off + n == end,
                        lun: 0,
                        itt: 5,
                        ttt: r.ttt,
                        exp_stat_sn: 0,
                        data_sn,
                        buffer_offset: off,
                    },
                    Bytes::copy_from_slice(&payload[off as usize..(off + n) as usize]),
                ),
            )
            .unwrap();
            data_sn += 1;
            off += n;
        }
        sent = end;
    }
    assert_eq!(r2ts, 2);
    let (id, data) = execute_id(&mut s);
    assert_eq!(data, payload);
    s.handle_completion(id, Completion::default());
    let Bhs::ScsiResponse(r) = drain(&mut s)[0].header else {
        panic!()
    };
    assert_eq!(r.status, STATUS_GOOD);
    assert_eq!(s.tasks(), 0);
}

#[test]
fn unsolicited_data_out_without_initial_r2t() {
    let now = Instant::now();
    let params = SessionParams {
        initial_r2t: false,
        immediate_data: false,
        first_burst_length: 16384,
        ..SessionParams::default()
    };
    let mut s = session(params, SessionConfig::default());
    let mut c = cmd(9, 10, false, true, 16384, 0x2a);
    c.final_ = false;
    s.handle_pdu(now, Pdu::new(c)).unwrap();
    assert!(drain(&mut s).is_empty(), "no R2T for the first burst");
    for off in [0u32, 8192] {
        s.handle_pdu(
            now,
            Pdu::with_data(
                DataOut {
                    final_: off == 8192,
                    lun: 0,
                    itt: 9,
                    ttt: RESERVED_TAG,
                    exp_stat_sn: 0,
                    data_sn: off / 8192,
                    buffer_offset: off,
                },
                Bytes::from(vec![off as u8 + 1; 8192]),
            ),
        )
        .unwrap();
    }
    let (_, data) = execute_id(&mut s);
    assert_eq!(data.len(), 16384);
    assert_eq!(data[0], 1);
    assert_eq!(data[8192], 8193u32 as u8);
}

#[test]
fn immediate_data_refused_when_not_negotiated() {
    let now = Instant::now();
    let params = SessionParams {
        immediate_data: false,
        ..SessionParams::default()
    };
    let mut s = session(params, SessionConfig::default());
    s.handle_pdu(
        now,
        Pdu::with_data(
            cmd(1, 10, false, true, 512, 0x2a),
            Bytes::from(vec![0u8; 512]),
        ),
    )
    .unwrap();
    let pdus = drain(&mut s);
    assert!(matches!(pdus[0].header, Bhs::Reject(_)));
    assert!(s.poll_event().is_none());
}

#[test]
fn cmd_sn_window_orders_and_drops() {
    let now = Instant::now();
    let target = TargetConfig {
        cmd_window: 4,
        ..TargetConfig::default()
    };
    let mut s = TargetSession::new(
        &login(SessionParams::default()),
        Arc::new(target),
        SessionConfig::default(),
        now,
    );
    // 11 arrives before 10: held back.
    s.handle_pdu(now, Pdu::new(cmd(2, 11, false, false, 0, 0)))
        .unwrap();
    assert!(s.poll_event().is_none());
    // Outside the window (10..=13): ignored.
    s.handle_pdu(now, Pdu::new(cmd(3, 14, false, false, 0, 0)))
        .unwrap();
    // Already seen: ignored.
    s.handle_pdu(now, Pdu::new(cmd(4, 9, false, false, 0, 0)))
        .unwrap();
    s.handle_pdu(now, Pdu::new(cmd(1, 10, false, false, 0, 0)))
        .unwrap();
    let order: Vec<u64> = std::iter::from_fn(|| s.poll_event())
        .map(|e| match e {
            Event::Execute { id, .. } => id,
            _ => 0,
        })
        .collect();
    assert_eq!(order.len(), 2);
    // An immediate command runs at once and takes no CmdSN.
    let mut imm = cmd(5, 12, false, false, 0, 0);
    imm.immediate = true;
    s.handle_pdu(now, Pdu::new(imm)).unwrap();
    assert!(matches!(s.poll_event(), Some(Event::Execute { .. })));
}

#[test]
fn check_condition_carries_sense() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    s.handle_pdu(now, Pdu::new(cmd(1, 10, true, false, 512, 0x28)))
        .unwrap();
    let (id, _) = execute_id(&mut s);
    let sense = Bytes::from_static(&[0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x21, 0, 0, 0, 0, 0]);
    s.handle_completion(
        id,
        Completion {
            status: Status::CheckCondition,
            sense: Some(sense.clone()),
            data_in: Bytes::new(),
            write_len: None,
        },
    );
    let pdus = drain(&mut s);
    assert_eq!(pdus.len(), 1);
    let Bhs::ScsiResponse(r) = pdus[0].header else {
        panic!()
    };
    assert_eq!(r.status, STATUS_CHECK_CONDITION);
    assert_eq!(&pdus[0].data[..2], &[0, 18]);
    assert_eq!(&pdus[0].data[2..], &sense[..]);
    assert!(r.underflow);
    assert_eq!(r.residual_count, 512);
}

#[test]
fn oversized_transfer_refused_before_any_data() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    s.handle_pdu(now, Pdu::new(cmd(1, 10, false, true, u32::MAX, 0x2a)))
        .unwrap();
    assert!(s.poll_event().is_none());
    let pdus = drain(&mut s);
    let Bhs::ScsiResponse(r) = pdus[0].header else {
        panic!()
    };
    assert_eq!(r.status, STATUS_CHECK_CONDITION);
    assert_eq!(pdus[0].data[2 + 12], 0x24);
}

/// A read's Expected Data Transfer Length is only an upper bound: EDTL
/// 0xFFFFFFFF gets the data the command produced and the difference as an
/// underflow residual, not INVALID FIELD IN CDB.
#[test]
fn a_read_with_the_largest_edtl_gets_its_data_and_an_underflow() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    s.handle_pdu(now, Pdu::new(cmd(1, 10, true, false, u32::MAX, 0x88)))
        .unwrap();
    let Some(Event::Execute { id, read_len, .. }) = s.poll_event() else {
        panic!("not executed")
    };
    assert_eq!(read_len, u32::MAX);
    complete_read(&mut s, id, vec![7u8; 512]);
    let pdus = drain(&mut s);
    let data: usize = pdus.iter().map(|p| p.data.len()).sum();
    assert_eq!(data, 512);
    let last = pdus.last().unwrap();
    let (underflow, residual) = match last.header {
        Bhs::DataIn(d) => (d.underflow, d.residual_count),
        Bhs::ScsiResponse(r) => (r.underflow, r.residual_count),
        _ => panic!("{:?}", last.header),
    };
    assert!(underflow);
    assert_eq!(residual, u32::MAX - 512);
}

#[test]
fn r2t_budget_bounds_solicited_data() {
    let now = Instant::now();
    let mut s = session(
        SessionParams::default(),
        SessionConfig {
            r2t_budget: 262_144,
            ..SessionConfig::default()
        },
    );
    s.handle_pdu(now, Pdu::new(cmd(1, 10, false, true, 262_144, 0x2a)))
        .unwrap();
    s.handle_pdu(now, Pdu::new(cmd(2, 11, false, true, 262_144, 0x2a)))
        .unwrap();
    let pdus = drain(&mut s);
    assert_eq!(pdus.len(), 1, "only one R2T fits the budget");
    let Bhs::R2t(r) = pdus[0].header else {
        panic!()
    };
    assert_eq!(r.itt, 1);
    let mut off = 0;
    while off < 262_144 {
        s.handle_pdu(
            now,
            Pdu::with_data(
                DataOut {
                    final_: off + 8192 == 262_144,
                    lun: 0,
                    itt: 1,
                    ttt: r.ttt,
                    exp_stat_sn: 0,
                    data_sn: off / 8192,
                    buffer_offset: off,
                },
                Bytes::from(vec![0u8; 8192]),
            ),
        )
        .unwrap();
        off += 8192;
    }
    let (id, _) = execute_id(&mut s);
    assert!(
        drain(&mut s).is_empty(),
        "budget still held while executing"
    );
    s.handle_completion(id, Completion::default());
    let pdus = drain(&mut s);
    assert!(pdus
        .iter()
        .any(|p| matches!(p.header, Bhs::R2t(r) if r.itt == 2)));
}

#[test]
fn abort_task_semantics() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    let abort = |itt: u32, rtt: u32, cmd_sn: u32| {
        Pdu::new(TaskMgmtRequest {
            immediate: true,
            function: TmFunction::AbortTask,
            lun: 0,
            itt,
            referenced_task_tag: rtt,
            cmd_sn,
            exp_stat_sn: 0,
            ref_cmd_sn: 10,
            exp_data_sn: 0,
        })
    };
    // A running command cannot be taken back: the abort is answered after
    // its response, with "task does not exist".
    s.handle_pdu(now, Pdu::new(cmd(1, 10, true, false, 512, 0x28)))
        .unwrap();
    let (id, _) = execute_id(&mut s);
    s.handle_pdu(now, abort(50, 1, 11)).unwrap();
    assert!(drain(&mut s).is_empty(), "deferred until the command ends");
    complete_read(&mut s, id, vec![0u8; 512]);
    let pdus = drain(&mut s);
    assert!(matches!(pdus[0].header, Bhs::DataIn(d) if d.itt == 1));
    let Bhs::TaskMgmtResponse(t) = pdus[1].header else {
        panic!()
    };
    assert_eq!(t.itt, 50);
    assert_eq!(t.response, TmResponse::TaskDoesNotExist);
    // A write still waiting for its data is aborted: no response for it.
    s.handle_pdu(now, Pdu::new(cmd(2, 11, false, true, 4096, 0x2a)))
        .unwrap();
    assert!(matches!(drain(&mut s)[0].header, Bhs::R2t(_)));
    s.handle_pdu(now, abort(51, 2, 12)).unwrap();
    let Bhs::TaskMgmtResponse(t) = drain(&mut s)[0].header else {
        panic!()
    };
    assert_eq!(t.response, TmResponse::Complete);
    assert_eq!(s.tasks(), 0);
    assert!(s.poll_event().is_none());
    // Unknown task.
    s.handle_pdu(now, abort(52, 99, 12)).unwrap();
    let Bhs::TaskMgmtResponse(t) = drain(&mut s)[0].header else {
        panic!()
    };
    assert_eq!(t.response, TmResponse::TaskDoesNotExist);
    // LUN reset reaches the SCSI layer.
    s.handle_pdu(
        now,
        Pdu::new(TaskMgmtRequest {
            immediate: true,
            function: TmFunction::LogicalUnitReset,
            lun: 0,
            itt: 51,
            referenced_task_tag: RESERVED_TAG,
            cmd_sn: 11,
            exp_stat_sn: 0,
            ref_cmd_sn: 0,
            exp_data_sn: 0,
        }),
    )
    .unwrap();
    assert_eq!(s.poll_event(), Some(Event::LunReset(0)));
}

#[test]
fn nop_out_is_answered_and_idle_connections_are_pinged() {
    let t0 = Instant::now();
    let mut s = session_at(
        SessionParams::default(),
        SessionConfig {
            nop_interval: Duration::from_secs(5),
            nop_timeout: Duration::from_secs(5),
            ..SessionConfig::default()
        },
        t0,
    );
    s.handle_pdu(
        t0,
        Pdu::with_data(
            NopOut {
                immediate: true,
                lun: 0,
                itt: 3,
                ttt: RESERVED_TAG,
                cmd_sn: 10,
                exp_stat_sn: 0,
            },
            Bytes::from_static(b"ping"),
        ),
    )
    .unwrap();
    let pdus = drain(&mut s);
    assert!(matches!(pdus[0].header, Bhs::NopIn(n) if n.itt == 3));
    assert_eq!(&pdus[0].data[..], b"ping");
    let due = s.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(5));
    s.handle_timeout(due).unwrap();
    let pdus = drain(&mut s);
    let Bhs::NopIn(ping) = pdus[0].header else {
        panic!()
    };
    assert_eq!(ping.itt, RESERVED_TAG);
    // Answered: no error.
    s.handle_pdu(due, ping_answer(ping.ttt)).unwrap();
    let due = s.poll_timeout().unwrap();
    s.handle_timeout(due).unwrap();
    drain(&mut s);
    // Unanswered: the initiator is gone.
    let dead = s.poll_timeout().unwrap();
    assert!(s.handle_timeout(dead).is_err());
}

/// A session that sends nothing at all after its login (an attacker
/// holding a session slot) is pinged and then given up, like any other.
#[test]
fn a_session_silent_from_its_login_is_pinged_and_closed() {
    let t0 = Instant::now();
    let cfg = SessionConfig {
        nop_interval: Duration::from_secs(2),
        nop_timeout: Duration::from_secs(3),
        ..SessionConfig::default()
    };
    let mut s = session_at(SessionParams::default(), cfg, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    assert_eq!(s.ping_sent(), None);
    s.handle_timeout(t0 + Duration::from_secs(2)).unwrap();
    let pdus = drain(&mut s);
    assert!(matches!(pdus[..], [Pdu { header: Bhs::NopIn(n), .. }] if n.itt == RESERVED_TAG));
    assert_eq!(s.ping_sent(), Some(t0 + Duration::from_secs(2)));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    assert!(s.handle_timeout(t0 + Duration::from_secs(5)).is_err());
}

#[test]
fn logout_closes_after_response() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    s.handle_pdu(
        now,
        Pdu::new(LogoutRequest {
            immediate: true,
            reason: crate::wire::LogoutReason::CloseSession,
            itt: 9,
            cid: 0,
            cmd_sn: 10,
            exp_stat_sn: 0,
        }),
    )
    .unwrap();
    assert!(!s.is_closed());
    let p = s.poll_pdu().unwrap();
    assert!(matches!(p.header, Bhs::LogoutResponse(l) if l.itt == 9));
    assert!(s.poll_pdu().is_none());
    assert!(s.is_closed());
}

#[test]
fn snack_is_rejected_at_erl0() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    s.handle_pdu(
        now,
        Pdu::new(crate::wire::SnackRequest {
            snack_type: crate::wire::SnackType::DataR2t,
            lun: 0,
            itt: 1,
            ttt_or_snack_tag: 0,
            exp_stat_sn: 0,
            beg_run: 0,
            run_length: 0,
        }),
    )
    .unwrap();
    let pdus = drain(&mut s);
    let Bhs::Reject(r) = pdus[0].header else {
        panic!()
    };
    assert_eq!(r.reason, RejectReason::CommandNotSupported);
    assert_eq!(pdus[0].data.len(), 48, "the rejected header is returned");
}

#[test]
fn data_out_sequence_errors_end_the_connection() {
    let now = Instant::now();
    for (data_sn, offset) in [(1u32, 0u32), (0, 512), (27, 0)] {
        let mut s = session(SessionParams::default(), SessionConfig::default());
        s.handle_pdu(now, Pdu::new(cmd(1, 10, false, true, 1024, 0x2a)))
            .unwrap();
        let Bhs::R2t(r) = drain(&mut s)[0].header else {
            panic!()
        };
        let e = s.handle_pdu(
            now,
            Pdu::with_data(
                DataOut {
                    final_: false,
                    lun: 0,
                    itt: 1,
                    ttt: r.ttt,
                    exp_stat_sn: 0,
                    data_sn,
                    buffer_offset: offset,
                },
                Bytes::from(vec![0u8; 512]),
            ),
        );
        assert!(e.is_err(), "DataSN {data_sn} offset {offset} accepted");
    }
}

#[test]
fn write_residuals_compare_edtl_with_the_command() {
    let now = Instant::now();
    let mut s = session(SessionParams::default(), SessionConfig::default());
    // EDTL 10000 for a one-block write: underflow of 10000 - 512.
    s.handle_pdu(
        now,
        Pdu::with_data(
            cmd(1, 10, false, true, 10000, 0x2a),
            Bytes::from(vec![0u8; 8192]),
        ),
    )
    .unwrap();
    let Bhs::R2t(r) = drain(&mut s)[0].header else {
        panic!()
    };
    s.handle_pdu(
        now,
        Pdu::with_data(
            DataOut {
                final_: true,
                lun: 0,
                itt: 1,
                ttt: r.ttt,
                exp_stat_sn: 0,
                data_sn: 0,
                buffer_offset: 8192,
            },
            Bytes::from(vec![0u8; 10000 - 8192]),
        ),
    )
    .unwrap();
    let (id, data) = execute_id(&mut s);
    assert_eq!(data.len(), 10000);
    s.handle_completion(
        id,
        Completion {
            write_len: Some(512),
            ..Completion::default()
        },
    );
    let Bhs::ScsiResponse(resp) = drain(&mut s)[0].header else {
        panic!()
    };
    assert!(resp.underflow && !resp.overflow);
    assert_eq!(resp.residual_count, 10000 - 512);
    // EDTL 0 for a one-block write: overflow of one block.
    s.handle_pdu(now, Pdu::new(cmd(2, 11, false, true, 0, 0x2a)))
        .unwrap();
    let (id, _) = execute_id(&mut s);
    s.handle_completion(
        id,
        Completion {
            write_len: Some(512),
            ..Completion::default()
        },
    );
    let Bhs::ScsiResponse(resp) = drain(&mut s)[0].header else {
        panic!()
    };
    assert!(resp.overflow);
    assert_eq!(resp.residual_count, 512);
}

/// An idle-pinged session that answers: the initiator is one that
/// answers pings. Returns the time after.
fn answer_one_ping(s: &mut TargetSession, t0: Instant) -> Instant {
    let due = s.poll_timeout().unwrap();
    s.handle_timeout(due).unwrap();
    let pdus = drain(s);
    let Bhs::NopIn(ping) = pdus[0].header else {
        panic!("{pdus:?}")
    };
    s.handle_pdu(due, ping_answer(ping.ttt)).unwrap();
    assert!(s.answers_pings());
    assert!(due > t0);
    due
}

fn probe_session(t0: Instant) -> TargetSession {
    let cfg = SessionConfig {
        nop_interval: Duration::from_secs(10),
        nop_timeout: Duration::from_secs(20),
        ..SessionConfig::default()
    };
    session_at(SessionParams::default(), cfg, t0)
}

/// A probe pings at once (a NOP-In with a TTT to echo) and gives an
/// initiator known to answer pings the probe's short deadline; anything
/// it sends counts as alive; silence ends it at the deadline.
#[test]
fn a_probe_gives_an_initiator_that_answers_pings_its_short_deadline() {
    let t0 = Instant::now();
    let mut s = probe_session(t0);
    let t1 = answer_one_ping(&mut s, t0) + Duration::from_secs(1);
    s.probe(t1, Duration::from_secs(3));
    let pdus = drain(&mut s);
    let [Pdu {
        header: Bhs::NopIn(ping),
        ..
    }] = pdus[..]
    else {
        panic!("{pdus:?}")
    };
    assert_eq!(ping.itt, RESERVED_TAG);
    assert_ne!(ping.ttt, RESERVED_TAG, "a ping the initiator must answer");
    assert_eq!(s.ping_sent(), Some(t1));
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(3)));
    // A second probe sends no second ping, nor extends the deadline.
    s.probe(t1 + Duration::from_secs(1), Duration::from_secs(30));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(3)));
    // A busy initiator's command before its answer: alive.
    let t2 = t1 + Duration::from_secs(2);
    s.handle_pdu(
        t2,
        Pdu::new(NopOut {
            immediate: true,
            lun: 0,
            itt: 7,
            ttt: RESERVED_TAG,
            cmd_sn: 10,
            exp_stat_sn: 0,
        }),
    )
    .unwrap();
    assert_eq!(s.ping_sent(), None);
    assert_eq!(s.poll_timeout(), Some(t2 + Duration::from_secs(10)));
    drain(&mut s);
    // Probed again and silent: gone at the probe's deadline.
    let t3 = t2 + Duration::from_secs(1);
    s.probe(t3, Duration::from_secs(2));
    drain(&mut s);
    assert!(s.handle_timeout(t3 + Duration::from_secs(1)).is_ok());
    assert!(s.handle_timeout(t3 + Duration::from_secs(2)).is_err());
}

/// iPXE never answers a NOP-In: a probe of a session that never answered
/// one pings it, but silence until the probe's deadline proves nothing,
/// and only the usual time-out ends it.
#[test]
fn a_probe_does_not_give_up_an_initiator_that_never_answers_pings() {
    let t0 = Instant::now();
    let mut s = probe_session(t0);
    let t1 = t0 + Duration::from_secs(1);
    s.probe(t1, Duration::from_secs(3));
    assert_eq!(drain(&mut s).len(), 1);
    assert!(!s.answers_pings());
    assert!(s.handle_timeout(t1 + Duration::from_secs(3)).is_ok());
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(20)));
    assert!(s.handle_timeout(t1 + Duration::from_secs(20)).is_err());
}

/// A probe of a session whose idle ping is already waiting brings its
/// deadline forward.
#[test]
fn a_probe_shortens_a_waiting_ping() {
    let t0 = Instant::now();
    let mut s = probe_session(t0);
    let t1 = answer_one_ping(&mut s, t0);
    s.handle_timeout(t1 + Duration::from_secs(10)).unwrap();
    assert_eq!(drain(&mut s).len(), 1);
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    s.probe(t1 + Duration::from_secs(11), Duration::from_secs(2));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(13)));
    assert!(s.handle_timeout(t1 + Duration::from_secs(13)).is_err());
}

/// `first_ping`: the first ping comes after the shorter idle time, the
/// later ones after `nop_interval`.
#[test]
fn the_first_ping_may_come_early() {
    let t0 = Instant::now();
    let cfg = SessionConfig {
        nop_interval: Duration::from_secs(10),
        nop_timeout: Duration::from_secs(20),
        first_ping: Some(Duration::from_secs(1)),
        ..SessionConfig::default()
    };
    let mut s = session_at(SessionParams::default(), cfg, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    let t1 = answer_one_ping(&mut s, t0);
    assert!(s.answers_pings());
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(10)));
}

/// An initiator that never answered a ping but has been silent for the
/// idle interval already (a PC switched off, an iPXE whose OS took over)
/// gets the probe's short deadline.
#[test]
fn a_probe_gives_up_a_long_silent_initiator_at_its_short_deadline() {
    let t0 = Instant::now();
    let mut s = probe_session(t0);
    let t1 = t0 + Duration::from_secs(12);
    s.handle_timeout(t0 + Duration::from_secs(10)).unwrap();
    assert_eq!(drain(&mut s).len(), 1, "the idle ping");
    s.probe(t1, Duration::from_secs(3));
    assert!(!s.answers_pings());
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(3)));
    assert!(s.handle_timeout(t1 + Duration::from_secs(3)).is_err());
}
