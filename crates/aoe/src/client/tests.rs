//! Client against an in-memory target with a scripted clock.

use super::*;
use crate::target::{Target, TargetConfig};
use netboot_blockdev::{BlockDevice, MemDisk};
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
                if let Some(m) = self.target.handle(self.now, TMAC, &buf[..n], &mut reply) {
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
