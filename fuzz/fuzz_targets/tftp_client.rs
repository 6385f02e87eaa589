//! Drives the client transfers (get and put) with arbitrary server answers.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netboot_tftp::transfer::{ReceiveTransfer, Rollover, SendTransfer, Timing, Transfer};
use netboot_tftp::wire::{Mode, Options};

#[derive(Debug, Arbitrary)]
struct Input {
    put: bool,
    ask_blksize: Option<u16>,
    ask_windowsize: Option<u16>,
    steps: Vec<(bool, u16, Vec<u8>)>,
}

fn run<T: Transfer>(mut t: T, steps: Vec<(bool, u16, Vec<u8>)>) {
    let server: SocketAddr = "192.0.2.2:7777".parse().unwrap();
    let other: SocketAddr = "192.0.2.3:7777".parse().unwrap();
    let mut now = Instant::now();
    let mut buf = vec![0u8; 70000];
    for (stranger, wait, d) in steps {
        t.handle(now, if stranger { other } else { server }, &d);
        now += Duration::from_millis(u64::from(wait));
        t.handle_timeout(now);
        let mut burst = 0;
        while t.poll_transmit(now, &mut buf).is_some() {
            burst += 1;
            assert!(burst <= 65536 + 2);
        }
    }
}

fuzz_target!(|input: Input| {
    let listen: SocketAddr = "192.0.2.2:69".parse().unwrap();
    let options = Options {
        blksize: input.ask_blksize.map(|b| b.clamp(8, 65464)),
        windowsize: input.ask_windowsize.map(|w| w.max(1)),
        tsize: Some(0),
        timeout: None,
    };
    if input.put {
        let t = SendTransfer::client_put(
            listen,
            "f",
            Mode::Octet,
            options,
            vec![1u8; 3000],
            Timing::default(),
            Rollover::Zero,
        );
        run(t, input.steps);
    } else {
        let t = ReceiveTransfer::client_get(
            listen,
            "f",
            Mode::Netascii,
            options,
            netboot_tftp::netascii::NetasciiSink::new(Vec::new()),
            Timing::default(),
            Rollover::One,
        );
        run(t, input.steps);
    }
});
