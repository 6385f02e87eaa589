//! Drives the target's full feature phase session (`TargetSession`) with
//! arbitrary initiator behaviour: SCSI commands with any flags, lengths,
//! CmdSN and immediate data; Data-Out answering the session's own R2Ts or
//! made up (wrong TTT, DataSN, offset, length); NOP-Outs; raw PDUs through
//! the decoder; completions from the "SCSI layer" with any status and data;
//! and time passing. No panic; every PDU the session sends emits; the
//! number of tasks stays within the queue depth.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use netboot_iscsi::codec::PduDecoder;
use netboot_iscsi::login::{LoginResult, TargetConfig};
use netboot_iscsi::negotiate::SessionParams;
use netboot_iscsi::session::{Completion, Event, SessionConfig, Status, TargetSession};
use netboot_iscsi::wire::{Bhs, DataOut, Isid, NopOut, Pdu, ScsiCommand, TaskAttr};

#[derive(Debug, Arbitrary)]
struct Input {
    immediate_data: bool,
    initial_r2t: bool,
    max_burst_kib: u8,
    first_burst_kib: u8,
    steps: Vec<Step>,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Command {
        itt: u8,
        sn: i8,
        immediate: bool,
        read: bool,
        write: bool,
        edtl: u16,
        op: u8,
        lun: u8,
        data: u16,
    },
    /// Data-Out for the `pick`-th R2T seen (newest first), or made up.
    DataOut {
        pick: u8,
        made_up: bool,
        itt: u8,
        ttt: u32,
        data_sn: u8,
        offset: u16,
        len: u16,
        final_: bool,
    },
    Nop {
        itt: u8,
        sn: i8,
        immediate: bool,
    },
    Raw(Vec<u8>),
    /// Complete the `pick`-th pending Execute (oldest first).
    Complete {
        pick: u8,
        status: u8,
        data: u16,
        sense: bool,
    },
    Wait(u16),
}

/// Every status the SCSI layer can answer with.
const STATUSES: [Status; 8] = [
    Status::Good,
    Status::CheckCondition,
    Status::ConditionMet,
    Status::Busy,
    Status::ReservationConflict,
    Status::TaskSetFull,
    Status::AcaActive,
    Status::TaskAborted,
];

fuzz_target!(|input: Input| {
    let params = SessionParams {
        immediate_data: input.immediate_data,
        initial_r2t: input.initial_r2t,
        max_burst_length: (u32::from(input.max_burst_kib) + 1) * 1024,
        first_burst_length: (u32::from(input.first_burst_kib) + 1) * 512,
        ..SessionParams::default()
    };
    let login = LoginResult {
        isid: Isid([0x80, 0, 0, 0, 0, 1]),
        tsih: 1,
        cid: 0,
        params,
        stat_sn: 100,
        cmd_sn: 10,
    };
    let cfg = SessionConfig::default();
    let depth = TargetConfig::default().cmd_window as usize;
    let mut now = Instant::now();
    let mut s = TargetSession::new(&login, Arc::new(TargetConfig::default()), cfg, now);
    let digests = s.params().digests();
    let mut cmd_sn: u32 = 10;
    let mut r2ts: Vec<(u32, u32, u32, u32)> = Vec::new(); // itt, ttt, offset, len
    let mut pending: Vec<u64> = Vec::new();
    let mut decoder = PduDecoder::new(1 << 16);
    let mut raw = BytesMut::new();
    for step in input.steps.into_iter().take(256) {
        let pdu = match step {
            Step::Command {
                itt,
                sn,
                immediate,
                read,
                write,
                edtl,
                op,
                lun,
                data,
            } => {
                let this_sn = cmd_sn.wrapping_add(sn as u32);
                if !immediate {
                    cmd_sn = cmd_sn.wrapping_add(1);
                }
                let mut cdb = [0u8; 16];
                cdb[0] = op;
                let mut p = Pdu::new(ScsiCommand {
                    immediate,
                    final_: true,
                    read,
                    write,
                    attr: TaskAttr::Simple,
                    lun: u64::from(lun),
                    itt: u32::from(itt),
                    expected_data_transfer_length: u32::from(edtl) * 8,
                    cmd_sn: this_sn,
                    exp_stat_sn: 0,
                    cdb,
                });
                p.data = Bytes::from(vec![0x5a; usize::from(data % 9000)]);
                Some(p)
            }
            Step::DataOut {
                pick,
                made_up,
                itt,
                ttt,
                data_sn,
                offset,
                len,
                final_,
            } => {
                let (itt, ttt, off, n) = match r2ts.iter().rev().nth(usize::from(pick)) {
                    Some(&r) if !made_up => r,
                    _ => (u32::from(itt), ttt, u32::from(offset), u32::from(len)),
                };
                let mut p = Pdu::new(DataOut {
                    final_,
                    lun: 0,
                    itt,
                    ttt,
                    exp_stat_sn: 0,
                    data_sn: u32::from(data_sn),
                    buffer_offset: off,
                });
                p.data = Bytes::from(vec![0xa5; (n as usize).min(8192)]);
                Some(p)
            }
            Step::Nop { itt, sn, immediate } => Some(Pdu::new(NopOut {
                immediate,
                lun: 0,
                itt: u32::from(itt),
                ttt: 0xffff_ffff,
                cmd_sn: cmd_sn.wrapping_add(sn as u32),
                exp_stat_sn: 0,
            })),
            Step::Raw(bytes) => {
                raw.extend_from_slice(&bytes);
                match decoder.decode(&mut raw) {
                    Ok(p) => p,
                    Err(_) => {
                        raw.clear();
                        None
                    }
                }
            }
            Step::Complete {
                pick,
                status,
                data,
                sense,
            } => {
                if !pending.is_empty() {
                    let id = pending.remove(usize::from(pick) % pending.len());
                    s.handle_completion(
                        id,
                        Completion {
                            status: STATUSES[usize::from(status) % STATUSES.len()],
                            sense: sense.then(|| Bytes::from_static(&[0x70, 0, 5, 0, 0, 0, 0, 10])),
                            data_in: Bytes::from(vec![0x33; usize::from(data)]),
                            write_len: None,
                        },
                    );
                }
                None
            }
            Step::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms) * 10);
                if s.handle_timeout(now).is_err() {
                    return;
                }
                None
            }
        };
        if let Some(p) = pdu {
            if s.handle_pdu(now, p).is_err() {
                // The connection ends; nothing more to drive.
                return;
            }
        }
        // What the session sends: every PDU emits; R2Ts are remembered.
        let mut sent = 0usize;
        while let Some(out) = s.poll_pdu() {
            sent += 1;
            assert!(sent <= 1 << 16, "endless output");
            if let Bhs::R2t(r) = &out.header {
                r2ts.push((
                    r.itt,
                    r.ttt,
                    r.buffer_offset,
                    r.desired_data_transfer_length,
                ));
                if r2ts.len() > 64 {
                    r2ts.remove(0);
                }
            }
            let mut b = BytesMut::new();
            out.emit(&mut b, digests).expect("the session's PDU emits");
        }
        while let Some(e) = s.poll_event() {
            if let Event::Execute { id, .. } = e {
                pending.push(id);
            }
        }
        assert!(s.tasks() <= depth * 2 + 8, "tasks beyond the queue depth");
        if s.is_closed() {
            return;
        }
    }
});
