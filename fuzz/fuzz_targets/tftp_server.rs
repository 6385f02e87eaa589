//! Drives the server transfers (read and write, any options) with arbitrary
//! datagrams from the peer and from strangers, and arbitrary time steps.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netboot_tftp::transfer::{ReceiveTransfer, SendTransfer, ServerConfig, Transfer};
use netboot_tftp::wire::{Mode, Options, Request};

#[derive(Debug, Arbitrary)]
enum Step {
    FromPeer(Vec<u8>),
    FromStranger(Vec<u8>),
    /// An ACK from the peer (the common case, so the fuzzer reaches deep states).
    Ack(u16),
    Data(u16, u16),
    Wait(u16),
}

#[derive(Debug, Arbitrary)]
struct Input {
    write: bool,
    blksize: Option<u16>,
    windowsize: Option<u16>,
    size: u16,
    steps: Vec<Step>,
}

fn run<T: Transfer>(mut t: T, steps: Vec<Step>, peer: SocketAddr, limit: u64) {
    let stranger: SocketAddr = "10.9.9.9:9".parse().unwrap();
    let mut now = Instant::now();
    let mut buf = vec![0u8; 70000];
    let mut sent = 0u64;
    for step in steps {
        match step {
            Step::FromPeer(d) => t.handle(now, peer, &d),
            Step::FromStranger(d) => t.handle(now, stranger, &d),
            Step::Ack(b) => t.handle(now, peer, &[0, 4, (b >> 8) as u8, b as u8]),
            Step::Data(b, len) => {
                let mut d = vec![0u8; 4 + usize::from(len % 2048)];
                d[1] = 3;
                d[2] = (b >> 8) as u8;
                d[3] = b as u8;
                t.handle(now, peer, &d);
            }
            Step::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms));
                t.handle_timeout(now);
            }
        }
        // Bounded output per event: at most a window plus two control packets.
        let mut burst = 0;
        while let Some(tx) = t.poll_transmit(now, &mut buf) {
            assert!(tx.len <= buf.len());
            burst += 1;
            sent += 1;
            assert!(burst <= 65536 + 2, "unbounded burst");
        }
        assert!(t.bytes() <= limit);
    }
    let _ = sent;
}

fuzz_target!(|input: Input| {
    let peer: SocketAddr = "192.0.2.1:1234".parse().unwrap();
    let req = Request {
        filename: "f",
        mode: Mode::Octet,
        options: Options {
            blksize: input.blksize.map(|b| b.clamp(8, 65464)),
            windowsize: input.windowsize.map(|w| w.max(1)),
            tsize: Some(0),
            timeout: None,
        },
    };
    let cfg = ServerConfig::default();
    if input.write {
        let t = ReceiveTransfer::server(peer, &req, Vec::new(), &cfg);
        run(t, input.steps, peer, u64::MAX);
    } else {
        let data = vec![0x5au8; usize::from(input.size)];
        let t = SendTransfer::server(peer, &req, data, Some(u64::from(input.size)), &cfg);
        run(t, input.steps, peer, u64::from(input.size));
    }
});
