//! Drives `netboot_aoe::target::Target` with arbitrary frames on a small
//! in-memory disk: nothing may panic, every reply parses, fits the MTU and
//! goes back to the sender.
#![no_main]

use std::sync::Arc;
use std::time::Instant;

use libfuzzer_sys::{arbitrary, fuzz_target};
use netboot_aoe::target::{Target, TargetConfig};
use netboot_aoe::wire::{Frame, MacAddr};
use netboot_blockdev::MemDisk;

const IFACE: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    allow_first_sender: bool,
    frames: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    let disk = Arc::new(MemDisk::new(64 * 512, 512));
    let mut cfg = TargetConfig::new(1, 1);
    if input.allow_first_sender {
        if let Some(f) = input.frames.first().filter(|f| f.len() >= 12) {
            cfg.allow_macs = vec![MacAddr(f[6..12].try_into().unwrap())];
        }
    }
    let target = Target::new(disk, cfg).expect("target");
    let mut tx = vec![0u8; target.tx_buffer_len()];
    for rx in input.frames.iter().take(64) {
        if let Some(n) = target.process(Instant::now(), IFACE, rx, &mut tx) {
            let f = Frame::parse(&tx[..n]).expect("reply parses");
            assert!(f.aoe.flags.response);
            assert_eq!(f.eth.src, IFACE);
            assert_eq!(&f.eth.dst.0[..], &rx[6..12]);
            // Every reply fits the (default 1500-byte) MTU.
            assert!(n <= 1514, "reply of {n} bytes");
        }
    }
});
