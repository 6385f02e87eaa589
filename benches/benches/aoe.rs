//! criterion benchmarks of the AoE wire format: parse and emit of the golden
//! frames captured from vblade (crates/aoe/tests/data), plus the per-frame
//! work of a sans-IO client round (emit a request, match its reply).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netboot_aoe::client::{Client, ClientConfig, Completion, Event, TargetInfo};
use netboot_aoe::wire::{
    AoeFlags, AoeHeader, AtaHeader, Body, Command, EthernetHeader, Frame, MacAddr, ETHERTYPE_AOE,
};

macro_rules! golden {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/aoe/tests/data/",
            $name,
            ".bin"
        ))
    };
}

const VECTORS: [(&str, &[u8]); 5] = [
    ("config_reply", golden!("vblade_config_reply")),
    ("read_request", golden!("aoectl_read_request")),
    ("read_reply_2_sectors", golden!("vblade_read_reply")),
    ("write_request_1_sector", golden!("aoectl_write_request")),
    ("identify_reply", golden!("vblade_identify_reply")),
];

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("aoe/decode");
    for (name, bytes) in VECTORS {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| b.iter(|| Frame::parse(black_box(bytes)).unwrap()));
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("aoe/encode");
    let mut buf = vec![0u8; 9014];
    for (name, bytes) in VECTORS {
        let f = Frame::parse(bytes).unwrap();
        g.throughput(Throughput::Bytes(f.buffer_len() as u64));
        g.bench_function(name, |b| b.iter(|| black_box(&f).emit(&mut buf).unwrap()));
    }
    // A jumbo read reply (17 sectors), as aoed emits at MTU 9000.
    let data = vec![0xabu8; 17 * 512];
    let f = Frame {
        eth: EthernetHeader {
            dst: MacAddr([2, 0, 0, 0, 0, 1]),
            src: MacAddr([2, 0, 0, 0, 0, 2]),
            ethertype: ETHERTYPE_AOE,
        },
        aoe: AoeHeader {
            flags: AoeFlags {
                response: true,
                error: false,
            },
            ..AoeHeader::request(1, 1, Command::ATA, 7)
        },
        body: Body::Ata(
            AtaHeader {
                aflags: Default::default(),
                err_feature: 0,
                sector_count: 17,
                cmd_status: 0x40,
                lba: 0,
            },
            &data,
        ),
    };
    g.throughput(Throughput::Bytes(f.buffer_len() as u64));
    g.bench_function("read_reply_17_sectors", |b| {
        b.iter(|| black_box(&f).emit(&mut buf).unwrap())
    });
    g.finish();
}

/// One 2-sector read through the client: poll_transmit, then handle the
/// matching reply (built once per iteration by patching the tag).
fn client_round(c: &mut Criterion) {
    let tmac = MacAddr([2, 0, 0, 0, 0, 1]);
    let mut client = Client::new(MacAddr([2, 0, 0, 0, 0, 2]), ClientConfig::default());
    client.attach(TargetInfo {
        mac: tmac,
        shelf: 1,
        slot: 1,
        buffer_count: 64,
        firmware_version: 0,
        sectors_per_frame: 2,
        aoe_version: 1,
        config: vec![],
    });
    let data = vec![0x11u8; 1024];
    let mut reply = vec![0u8; 2048];
    let n = Frame {
        eth: EthernetHeader {
            dst: client.mac(),
            src: tmac,
            ethertype: ETHERTYPE_AOE,
        },
        aoe: AoeHeader {
            flags: AoeFlags {
                response: true,
                error: false,
            },
            ..AoeHeader::request(1, 1, Command::ATA, 0)
        },
        body: Body::Ata(
            AtaHeader {
                aflags: Default::default(),
                err_feature: 0,
                sector_count: 2,
                cmd_status: 0x40,
                lba: 0,
            },
            &data,
        ),
    }
    .emit(&mut reply)
    .unwrap();
    let mut tx = vec![0u8; 1514];
    let mut g = c.benchmark_group("aoe/client");
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("read_2_sectors_round", |b| {
        b.iter(|| {
            let now = Instant::now();
            client.read(0, 2).unwrap();
            let m = client.poll_transmit(now, &mut tx).unwrap();
            reply[20..24].copy_from_slice(&tx[20..24]);
            client.handle(now, &reply[..n]);
            let Some(Event::Done {
                result: Ok(Completion::Read(d)),
                ..
            }) = client.poll_event()
            else {
                panic!()
            };
            black_box((m, d));
        })
    });
    g.finish();
}

criterion_group!(benches, decode, encode, client_round);
criterion_main!(benches);
