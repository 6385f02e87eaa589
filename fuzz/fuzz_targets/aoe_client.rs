//! Drives the AoE client with arbitrary target behaviour: answers built
//! from the frames the client sent (so tags match and the state machine
//! goes deep: discovery, attach, reads, writes, flushes, retransmission,
//! fast retransmit, window cuts), with fuzzed flags, error codes, payloads
//! and timing, plus raw garbage frames. No panic, bounded bursts, and
//! every request ends (answered, failed or timed out) once the target
//! falls silent.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netboot_aoe::client::{Client, ClientConfig, Event};
use netboot_aoe::wire::MacAddr;

#[derive(Debug, Arbitrary)]
enum Step {
    /// Answer the `pick`-th frame sent so far (newest first).
    Answer {
        pick: u8,
        flags: u8,
        error: u8,
        /// Replaces the payload after the AoE header (the ATA or config
        /// part); empty keeps the request's.
        payload: Vec<u8>,
    },
    /// A frame of arbitrary bytes.
    Raw(Vec<u8>),
    /// Time passes.
    Wait(u16),
    /// The user asks for something.
    Read {
        lba: u16,
        sectors: u8,
    },
    Write {
        lba: u16,
        sectors: u8,
    },
    Flush,
}

const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const TARGET: [u8; 6] = [2, 0, 0, 0, 0, 1];

fuzz_target!(|steps: Vec<Step>| {
    let mut c = Client::new(CLIENT, ClientConfig::default());
    let mut now = Instant::now();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut buf = vec![0u8; 9000];
    c.discover(now, 0xffff, 0xff);
    let mut requests = 0u32;
    let pump = |c: &mut Client, now: Instant, sent: &mut Vec<Vec<u8>>, buf: &mut [u8]| {
        let mut burst = 0;
        while let Some(n) = c.poll_transmit(now, buf) {
            burst += 1;
            assert!(burst <= 4096, "endless transmit burst");
            sent.push(buf[..n].to_vec());
            if sent.len() > 256 {
                sent.remove(0);
            }
        }
        while let Some(e) = c.poll_event() {
            if let Event::Discovered(info) = e {
                if c.target().is_none() {
                    c.attach(info);
                }
            }
        }
    };
    for step in steps.into_iter().take(512) {
        match step {
            Step::Answer {
                pick,
                flags,
                error,
                payload,
            } => {
                let Some(req) = sent.iter().rev().nth(usize::from(pick)) else {
                    continue;
                };
                if req.len() < 24 {
                    continue;
                }
                let mut f = req.clone();
                // From the target to the client.
                f[..6].copy_from_slice(&CLIENT.0);
                f[6..12].copy_from_slice(&TARGET);
                // Version 1, response flag, fuzzed error flag.
                f[14] = 0x10 | 0x08 | (flags & 0x04);
                f[15] = error;
                if !payload.is_empty() {
                    f.truncate(24);
                    f.extend_from_slice(&payload);
                }
                c.handle(now, &f);
            }
            Step::Raw(d) => c.handle(now, &d),
            Step::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms));
                c.handle_timeout(now);
            }
            Step::Read { lba, sectors } => {
                if c.target().is_some() && requests < 64 {
                    requests += 1;
                    let _ = c.read(u64::from(lba), u32::from(sectors) + 1);
                }
            }
            Step::Write { lba, sectors } => {
                if c.target().is_some() && requests < 64 {
                    requests += 1;
                    let len = (usize::from(sectors) + 1) * 512;
                    let _ = c.write(u64::from(lba), vec![0xa5; len]);
                }
            }
            Step::Flush => {
                if c.target().is_some() && requests < 64 {
                    requests += 1;
                    let _ = c.flush();
                }
            }
        }
        pump(&mut c, now, &mut sent, &mut buf);
    }
    // The target falls silent: every request ends within bounded time.
    for _ in 0..10_000 {
        if c.is_idle() {
            break;
        }
        let Some(t) = c.poll_timeout() else { break };
        now = now.max(t);
        c.handle_timeout(now);
        pump(&mut c, now, &mut sent, &mut buf);
    }
    assert!(
        c.is_idle() || c.poll_timeout().is_none(),
        "requests never end"
    );
});
