//! Client against an in-memory target with a scripted clock.

use super::*;
use crate::target::{Target, TargetConfig};
use netboot_blockdev::{BlockDevice, MemDisk};
use std::collections::VecDeque;
use std::sync::Arc;

const TMAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const CMAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

struct Pair {
    client: Client,
    target: Target,
    now: Instant,
    /// Drop every nth frame on the way to the target (0: none).
    drop_to_target: u64,
    to_target: u64,
}

impl Pair {
    fn new(sectors: u64, cfg: TargetConfig) -> Pair {
        let disk = MemDisk::new(sectors * 512, 512);
        let data: Vec<u8> = (0..sectors * 512).map(|i| (i * 7 / 3) as u8).collect();
        disk.write_at(&data, 0).unwrap();
        let target = Target::new(Arc::new(disk), cfg).unwrap();
        let mut p = Pair {
            client: Client::new(CMAC, ClientConfig::default()),
            target,
            now: Instant::now(),
            drop_to_target: 0,
            to_target: 0,
        };
        p.client.discover(p.now, 0xffff, 0xff);
        p.run();
        let Some(Event::Discovered(info)) = p.client.poll_event() else {
            panic!("no target")
        };
        p.client.attach(info);
        p
    }

    /// Runs until the client is idle, advancing the clock 1 ms per step with
    /// a simulated 100 µs one-way delay.
    fn run(&mut self) {
        let mut buf = vec![0u8; 1514];
        let mut reply = vec![0u8; self.target.tx_buffer_len()];
        for _ in 0..1_000_000 {
            let mut sent = false;
            while let Some(n) = self.client.poll_transmit(self.now, &mut buf) {
                sent = true;
                self.to_target += 1;
                if self.drop_to_target > 0 && self.to_target % self.drop_to_target == 0 {
                    continue;
                }
                self.now += Duration::from_micros(100);
                if let Some(m) = self.target.process(self.now, TMAC, &buf[..n], &mut reply) {
                    self.client.handle(self.now, &reply[..m]);
                }
            }
            if self.client.is_idle() && !sent {
                return;
            }
            match self.client.poll_timeout() {
                Some(t) if !sent => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                }
                _ => {
                    self.now += Duration::from_millis(1);
                    self.client.handle_timeout(self.now);
                }
            }
        }
        panic!("did not settle");
    }

    fn done(&mut self) -> Vec<(RequestId, Result<Completion, Error>)> {
        let mut v = Vec::new();
        while let Some(e) = self.client.poll_event() {
            if let Event::Done { id, result } = e {
                v.push((id, result));
            }
        }
        v
    }
}

fn expected(lba: u64, sectors: u64) -> Vec<u8> {
    (lba * 512..(lba + sectors) * 512)
        .map(|i| (i * 7 / 3) as u8)
        .collect()
}

#[test]
fn test_discover_attach_identify() {
    let mut p = Pair::new(1000, TargetConfig::new(3, 4));
    let t = p.client.target().unwrap().clone();
    assert_eq!((t.shelf, t.slot, t.mac), (3, 4, TMAC));
    assert_eq!(t.buffer_count, 64);
    assert_eq!(p.client.sectors_per_frame(), 2);
    let id = p.client.identify().unwrap();
    p.run();
    let done = p.done();
    let Ok(Completion::Identify(d)) = &done[0].1 else {
        panic!("{done:?}")
    };
    assert_eq!(done[0].0, id);
    assert_eq!(crate::ata::Identity::sectors_from(d), 1000);
}

#[test]
fn test_read_write_flush_many_frames() {
    let mut p = Pair::new(4096, TargetConfig::new(1, 1));
    let r = p.client.read(11, 301).unwrap();
    p.run();
    assert_eq!(p.done(), vec![(r, Ok(Completion::Read(expected(11, 301))))]);
    let data: Vec<u8> = (0..100 * 512).map(|i| (i % 251) as u8).collect();
    let w = p.client.write(2000, data.clone()).unwrap();
    let f = p.client.flush().unwrap();
    p.run();
    assert_eq!(
        p.done(),
        vec![(w, Ok(Completion::Written)), (f, Ok(Completion::Flushed))]
    );
    let mut back = vec![0; data.len()];
    p.target.disk().read_at(&mut back, 2000 * 512).unwrap();
    assert_eq!(back, data);
    assert_eq!(p.client.stats().retransmits, 0);
}

#[test]
fn test_window_is_bounded_by_buffer_count() {
    let mut cfg = TargetConfig::new(1, 1);
    cfg.buffer_count = 4;
    let mut p = Pair::new(4096, cfg);
    p.client.read(0, 100).unwrap();
    let mut buf = vec![0u8; 1514];
    let mut n = 0;
    while p.client.poll_transmit(p.now, &mut buf).is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
}

#[test]
fn test_flush_waits_for_earlier_writes() {
    let mut p = Pair::new(4096, TargetConfig::new(1, 1));
    p.client.write(0, vec![1; 4 * 512]).unwrap();
    p.client.flush().unwrap();
    let mut buf = vec![0u8; 1514];
    let mut cmds = Vec::new();
    while let Some(n) = p.client.poll_transmit(p.now, &mut buf) {
        let f = Frame::parse(&buf[..n]).unwrap();
        let Body::Ata(h, _) = f.body else { panic!() };
        cmds.push(h.cmd_status);
    }
    // Two writes of two sectors; the flush is held back.
    assert_eq!(cmds, vec![cmd::WRITE_SECTORS, cmd::WRITE_SECTORS]);
}

#[test]
fn test_retransmits_lost_requests_and_replies() {
    let mut p = Pair::new(4096, TargetConfig::new(1, 1));
    p.drop_to_target = 5;
    p.client.set_drop_every(7);
    let r = p.client.read(0, 1000).unwrap();
    let w = p.client.write(100, vec![0xee; 200 * 512]).unwrap();
    p.run();
    let mut done = p.done();
    done.sort_by_key(|d| d.0);
    assert_eq!(done.len(), 2);
    assert!(
        done[0] == (r, Ok(Completion::Read(expected(0, 1000)))),
        "read"
    );
    assert!(done[1] == (w, Ok(Completion::Written)), "write");
    let s = p.client.stats();
    assert!(s.retransmits > 0 && s.dropped > 0, "{s:?}");
    let mut back = vec![0; 200 * 512];
    p.target.disk().read_at(&mut back, 100 * 512).unwrap();
    assert!(back.iter().all(|b| *b == 0xee));
}

#[test]
fn test_rto_adapts_to_rtt() {
    let mut p = Pair::new(4096, TargetConfig::new(1, 1));
    p.client.read(0, 64).unwrap();
    p.run();
    // Samples of ~100 µs bring the time-out down to its floor.
    assert_eq!(p.client.rto(), ClientConfig::default().rto_min);
}

#[test]
fn test_timeout_fails_request() {
    let mut p = Pair::new(64, TargetConfig::new(1, 1));
    p.drop_to_target = 1;
    let r = p.client.read(0, 1).unwrap();
    p.run();
    assert_eq!(p.done(), vec![(r, Err(Error::Timeout { retries: 10 }))]);
}

#[test]
fn test_errors_are_reported() {
    let mut p = Pair::new(64, TargetConfig::new(1, 1));
    let r = p.client.read(63, 2).unwrap();
    p.run();
    let done = p.done();
    assert!(matches!(done[0], (id, Err(Error::Ata { error: 0x10, .. })) if id == r));
    // The error says what the register means, not only its bits.
    assert_eq!(
        done[0].1.as_ref().unwrap_err().to_string(),
        "ATA command failed: LBA out of range (IDNF); status 0x41, error register 0x10"
    );
    assert!(p.client.write(0, vec![0; 100]).is_err());
    assert!(p.client.read(AtaHeader::MAX_LBA, 2).is_err());
    let mut c = Client::new(CMAC, ClientConfig::default());
    assert_eq!(
        c.read(0, 1),
        Err(Error::InvalidRequest("no target attached"))
    );
}

#[test]
fn test_lba48_uses_ext_commands() {
    let mut c = Client::new(CMAC, ClientConfig::default());
    c.attach(TargetInfo {
        mac: TMAC,
        shelf: 1,
        slot: 1,
        buffer_count: 8,
        firmware_version: 0,
        sectors_per_frame: 2,
        aoe_version: 1,
        config: vec![],
    });
    c.read((1 << 28) - 2, 4).unwrap();
    // The first two sectors end at 2^28: still LBA28.
    let mut buf = vec![0u8; 1514];
    let mut hs = Vec::new();
    while let Some(n) = c.poll_transmit(Instant::now(), &mut buf) {
        let f = Frame::parse(&buf[..n]).unwrap();
        let Body::Ata(h, _) = f.body else { panic!() };
        hs.push(h);
    }
    assert_eq!(hs[0].cmd_status, cmd::READ_SECTORS);
    assert_eq!(hs[0].lba, 0xe000_0000 | ((1 << 28) - 2));
    assert_eq!(hs[1].cmd_status, cmd::READ_SECTORS_EXT);
    assert!(hs[1].aflags.extended());
    assert_eq!(hs[1].lba, 1 << 28);
}

/// A link with a one-way delay, in-order delivery and random loss both
/// ways (a fixed-seed xorshift), a target that needs `service` per command
/// and `flush_time` per FLUSH CACHE, and a virtual clock.
struct Sim {
    client: Client,
    target: Target,
    now: Instant,
    start: Instant,
    rng: u64,
    /// Loss per mille, towards the target and towards the client.
    loss: (u64, u64),
    delay: Duration,
    service: Duration,
    flush_time: Duration,
    /// Drop the first n FLUSH CACHE frames on the way to the target.
    drop_flushes: u32,
    /// Drop the frames sent with these indices (0-based, retransmissions
    /// included) on the way to the target.
    drop_sent: Vec<u64>,
    sent: u64,
    /// Hold every nth answer back by `reorder_by` (0: never).
    reorder_every: u64,
    reorder_by: Duration,
    answers: u64,
    to_target: VecDeque<(Instant, Vec<u8>)>,
    to_client: VecDeque<(Instant, Vec<u8>)>,
    busy_until: Instant,
}

impl Sim {
    fn new(sectors: u64, cfg: ClientConfig, loss: (u64, u64), seed: u64) -> Sim {
        let disk = MemDisk::new(sectors * 512, 512);
        let data: Vec<u8> = (0..sectors * 512).map(|i| (i * 7 / 3) as u8).collect();
        disk.write_at(&data, 0).unwrap();
        let target = Target::new(Arc::new(disk), TargetConfig::new(1, 1)).unwrap();
        let info = TargetInfo {
            mac: TMAC,
            shelf: 1,
            slot: 1,
            buffer_count: 64,
            firmware_version: 0,
            sectors_per_frame: 2,
            aoe_version: 1,
            config: vec![],
        };
        let mut client = Client::new(CMAC, cfg);
        client.attach(info);
        let now = Instant::now();
        Sim {
            client,
            target,
            now,
            start: now,
            rng: seed | 1,
            loss,
            delay: Duration::from_micros(50),
            service: Duration::from_micros(5),
            flush_time: Duration::from_micros(5),
            drop_flushes: 0,
            drop_sent: Vec::new(),
            sent: 0,
            reorder_every: 0,
            reorder_by: Duration::ZERO,
            answers: 0,
            to_target: VecDeque::new(),
            to_client: VecDeque::new(),
            busy_until: now,
        }
    }

    fn lose(&mut self, per_mille: u64) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 1000 < per_mille
    }

    /// Runs until the client is idle; returns the virtual time taken.
    fn run(&mut self) -> Duration {
        let begin = self.now;
        let mut buf = vec![0u8; 1514];
        let mut reply = vec![0u8; self.target.tx_buffer_len()];
        for _ in 0..10_000_000 {
            while let Some(n) = self.client.poll_transmit(self.now, &mut buf) {
                let frame = buf[..n].to_vec();
                let flush = matches!(
                    Frame::parse(&frame).map(|f| f.body),
                    Ok(Body::Ata(h, _)) if h.cmd_status == cmd::FLUSH_CACHE
                );
                self.sent += 1;
                if flush && self.drop_flushes > 0 {
                    self.drop_flushes -= 1;
                    continue;
                }
                if self.drop_sent.contains(&(self.sent - 1)) {
                    continue;
                }
                if !self.lose(self.loss.0) {
                    self.to_target.push_back((self.now + self.delay, frame));
                }
            }
            if self.client.is_idle() {
                return self.now - begin;
            }
            let next = [
                self.to_target.front().map(|f| f.0),
                self.to_client.front().map(|f| f.0),
                self.client.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("a busy client has something to wait for");
            self.now = self.now.max(next);
            while self.to_target.front().is_some_and(|f| f.0 <= self.now) {
                let (_, frame) = self.to_target.pop_front().unwrap();
                let flush = matches!(
                    Frame::parse(&frame).map(|f| f.body),
                    Ok(Body::Ata(h, _)) if h.cmd_status == cmd::FLUSH_CACHE
                );
                let at = self.busy_until.max(self.now)
                    + if flush { self.flush_time } else { self.service };
                self.busy_until = at;
                if let Some(m) = self.target.process(at, TMAC, &frame, &mut reply) {
                    self.answers += 1;
                    let mut arrive = at + self.delay;
                    if self.reorder_every > 0 && self.answers % self.reorder_every == 0 {
                        arrive += self.reorder_by;
                    }
                    if !self.lose(self.loss.1) {
                        let i = self.to_client.partition_point(|f| f.0 <= arrive);
                        self.to_client.insert(i, (arrive, reply[..m].to_vec()));
                    }
                }
            }
            while self.to_client.front().is_some_and(|f| f.0 <= self.now) {
                let (_, frame) = self.to_client.pop_front().unwrap();
                self.client.handle(self.now, &frame);
            }
            self.client.handle_timeout(self.now);
        }
        panic!("did not settle");
    }

    fn done(&mut self) -> Vec<(RequestId, Result<Completion, Error>)> {
        let mut v = Vec::new();
        while let Some(e) = self.client.poll_event() {
            if let Event::Done { id, result } = e {
                v.push((id, result));
            }
        }
        v.sort_by_key(|d| d.0);
        v
    }

    /// Reads 4 MiB, writes 1 MiB, flushes; checks the results.
    fn workload(&mut self) -> Duration {
        let r = self.client.read(0, 8192).unwrap();
        let data: Vec<u8> = (0..2048 * 512).map(|i| (i % 253) as u8).collect();
        let w = self.client.write(100, data.clone()).unwrap();
        let f = self.client.flush().unwrap();
        let took = self.run();
        let done = self.done();
        assert_eq!(done.len(), 3);
        assert!(
            done[0] == (r, Ok(Completion::Read(expected(0, 8192)))),
            "read"
        );
        assert_eq!(done[1], (w, Ok(Completion::Written)));
        assert_eq!(done[2], (f, Ok(Completion::Flushed)));
        let mut back = vec![0; data.len()];
        self.target.disk().read_at(&mut back, 100 * 512).unwrap();
        assert!(back == data, "written data");
        let _ = self.start;
        took
    }
}

fn no_fast_retransmit() -> ClientConfig {
    ClientConfig {
        dup_threshold: 0,
        ..ClientConfig::default()
    }
}

#[test]
fn test_fast_retransmit_under_random_loss_both_ways() {
    // 10% of the frames lost each way: about one command in five needs a
    // retransmission.
    let mut slow = Sim::new(16384, no_fast_retransmit(), (100, 100), 7);
    let t_slow = slow.workload();
    let s_slow = slow.client.stats();
    let mut fast = Sim::new(16384, ClientConfig::default(), (100, 100), 7);
    let t_fast = fast.workload();
    let s_fast = fast.client.stats();
    eprintln!("without fast retransmit: {t_slow:?} {s_slow:?}");
    eprintln!("with fast retransmit: {t_fast:?} {s_fast:?}");
    // Losses followed by answers to later commands are found without a
    // time-out; only losses at the tail of a burst wait for one.
    assert!(s_fast.fast_retransmits > 500, "{s_fast:?}");
    assert!(
        s_fast.timeouts * 10 < s_slow.timeouts,
        "{s_fast:?} vs {s_slow:?}"
    );
    assert!(s_fast.timeouts * 10 < s_fast.retransmits, "{s_fast:?}");
    assert!(t_fast * 4 < t_slow, "{t_fast:?} vs {t_slow:?}");
}

#[test]
fn test_window_halves_at_most_once_per_window() {
    // A burst of ten lost commands in one window is one congestion signal:
    // one cut, ten fast retransmissions, no time-out.
    let mut s = Sim::new(16384, ClientConfig::default(), (0, 0), 11);
    s.drop_sent = (100..110).collect();
    let r = s.client.read(0, 4096).unwrap();
    s.run();
    assert_eq!(s.done(), vec![(r, Ok(Completion::Read(expected(0, 4096))))]);
    let st = s.client.stats();
    assert_eq!(
        (
            st.window_cuts,
            st.fast_retransmits,
            st.timeouts,
            st.retransmits
        ),
        (1, 10, 0, 10),
        "{st:?}"
    );
    // A loss among commands sent after the cut cuts again.
    let mut s = Sim::new(16384, ClientConfig::default(), (0, 0), 11);
    s.drop_sent = vec![100, 400];
    s.client.read(0, 4096).unwrap();
    s.run();
    assert_eq!(s.client.stats().window_cuts, 2);
    // Random loss: cuts are fewer than losses.
    let mut s = Sim::new(16384, ClientConfig::default(), (100, 100), 11);
    s.workload();
    let st = s.client.stats();
    assert!(st.window_cuts * 3 < st.retransmits * 2, "{st:?}");
    // Light loss keeps the window open.
    let mut s = Sim::new(16384, ClientConfig::default(), (10, 10), 3);
    s.workload();
    assert!(s.client.window() >= 8, "window {}", s.client.window());
}

#[test]
fn test_in_order_answers_cause_no_retransmission() {
    let mut s = Sim::new(16384, ClientConfig::default(), (0, 0), 1);
    s.workload();
    let st = s.client.stats();
    assert_eq!((st.retransmits, st.timeouts, st.window_cuts), (0, 0, 0));
    assert_eq!(s.client.window(), 64);
}

#[test]
fn test_lost_commands_still_fail_after_max_retries() {
    // Every frame towards the target is lost: no answers, so time-outs.
    let mut s = Sim::new(64, ClientConfig::default(), (1000, 0), 5);
    let r = s.client.read(0, 8).unwrap();
    s.run();
    let done = s.done();
    assert_eq!(done, vec![(r, Err(Error::Timeout { retries: 10 }))]);
    assert_eq!(s.client.stats().fast_retransmits, 0);
}

#[test]
fn test_slow_flush_is_not_retransmitted() {
    let mut s = Sim::new(4096, ClientConfig::default(), (0, 0), 1);
    s.flush_time = Duration::from_millis(600);
    s.client.write(0, vec![3; 64 * 512]).unwrap();
    let f = s.client.flush().unwrap();
    let took = s.run();
    assert!(s.done().contains(&(f, Ok(Completion::Flushed))));
    assert!(took >= Duration::from_millis(600));
    let st = s.client.stats();
    assert_eq!((st.retransmits, st.timeouts), (0, 0), "{st:?}");
    // The flush's long answer is no RTT sample for the data commands.
    assert_eq!(s.client.rto(), ClientConfig::default().rto_min);
    // Even a very slow flush is sent a few times only (1 s, 2 s, 4 s).
    s.flush_time = Duration::from_secs(5);
    s.client.flush().unwrap();
    s.run();
    assert!(s.client.stats().retransmits <= 3, "{:?}", s.client.stats());
}

#[test]
fn test_lost_flush_is_retransmitted_after_its_own_timeout() {
    let mut s = Sim::new(4096, ClientConfig::default(), (0, 0), 1);
    s.drop_flushes = 1;
    s.client.write(0, vec![3; 64 * 512]).unwrap();
    let f = s.client.flush().unwrap();
    let took = s.run();
    assert!(s.done().contains(&(f, Ok(Completion::Flushed))));
    let st = s.client.stats();
    assert_eq!((st.retransmits, st.timeouts), (1, 1), "{st:?}");
    let slow = ClientConfig::default().slow_rto;
    assert!(took >= slow && took < slow * 2, "{took:?}");
    // The data commands' time-out was not backed off.
    assert_eq!(s.client.rto(), ClientConfig::default().rto_min);
}

#[test]
fn test_reordering_raises_the_threshold_and_undoes_the_cut() {
    // No loss, but every 50th answer arrives after about 20 later ones
    // (as with per-CPU receive queues on veth).
    let mut s = Sim::new(16384, ClientConfig::default(), (0, 0), 1);
    s.reorder_every = 50;
    s.reorder_by = Duration::from_micros(100);
    s.workload();
    let st = s.client.stats();
    // The first needless retransmissions are found (both answers arrive),
    // the threshold rises past the reordering, and the rest go through.
    assert!(st.spurious >= 1, "{st:?}");
    assert!(st.fast_retransmits <= 5, "{st:?}");
    assert_eq!(st.timeouts, 0, "{st:?}");
    assert!(s.client.dup_threshold() > 3);
    // Needless cuts were undone: the window is (nearly) whole again.
    assert!(s.client.window() >= 60, "window {}", s.client.window());
}

/// A target that answers out of order (aoed with several threads) may
/// answer later writes while a FLUSH runs: the FLUSH keeps its own
/// time-out and is not taken for lost by fast retransmit.
#[test]
fn test_flush_overtaken_by_later_answers_is_not_retransmitted() {
    let mut p = Pair::new(4096, TargetConfig::new(1, 1));
    let mut buf = vec![0u8; 1514];
    let mut reply = vec![0u8; p.target.tx_buffer_len()];
    let mut answer = |p: &mut Pair, frame: &[u8]| {
        let m = p.target.process(p.now, TMAC, frame, &mut reply).unwrap();
        p.client.handle(p.now, &reply[..m]);
    };
    // Earlier writes, answered: the flush may go.
    p.client.write(0, vec![1; 4 * 512]).unwrap();
    let f = p.client.flush().unwrap();
    let mut first = Vec::new();
    while let Some(n) = p.client.poll_transmit(p.now, &mut buf) {
        first.push(buf[..n].to_vec());
    }
    for fr in &first {
        answer(&mut p, fr);
    }
    // The flush and then later writes go out.
    p.client.write(100, vec![2; 16 * 512]).unwrap();
    let mut flush = None;
    let mut later = Vec::new();
    while let Some(n) = p.client.poll_transmit(p.now, &mut buf) {
        let fr = buf[..n].to_vec();
        let Body::Ata(h, _) = Frame::parse(&fr).unwrap().body else {
            panic!()
        };
        if h.cmd_status == cmd::FLUSH_CACHE || h.cmd_status == cmd::FLUSH_CACHE_EXT {
            flush = Some(fr);
        } else {
            later.push(fr);
        }
    }
    let flush = flush.expect("the flush was sent");
    assert!(later.len() >= 4, "{}", later.len());
    // The later writes are answered first.
    for fr in &later {
        answer(&mut p, fr);
    }
    assert!(p.client.poll_transmit(p.now, &mut buf).is_none());
    let st = p.client.stats();
    assert_eq!((st.retransmits, st.fast_retransmits), (0, 0), "{st:?}");
    answer(&mut p, &flush);
    let mut done = Vec::new();
    while let Some(e) = p.client.poll_event() {
        if let Event::Done { id, result } = e {
            done.push((id, result));
        }
    }
    assert!(done.contains(&(f, Ok(Completion::Flushed))), "{done:?}");
}
