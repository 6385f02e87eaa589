//! criterion benchmarks of the TFTP wire format and of the sans-IO transfer
//! engine moving a file through memory (no sockets: the protocol's own cost).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netboot_benches::tftp_vectors::*;
use netboot_tftp::transfer::{
    ReceiveTransfer, Rollover, SendTransfer, ServerConfig, Timing, Transfer,
};
use netboot_tftp::wire::{ErrorCode, Mode, Options, Packet};

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("tftp/decode");
    let data = {
        let mut d = vec![0u8, 3, 0x10, 0x92];
        d.extend_from_slice(&[0xab; 1468]);
        d
    };
    for (name, bytes) in [
        ("rrq_ipxe", RRQ_IPXE),
        ("rrq_curl", RRQ_CURL),
        ("rrq_plain", RRQ_PLAIN),
        ("oack", OACK),
        ("ack", ACK),
        ("error", ERROR),
        ("data_1468", &data[..]),
    ] {
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| Packet::parse(black_box(bytes)).unwrap())
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("tftp/encode");
    let payload = [0xabu8; 1468];
    let mut buf = vec![0u8; 2048];
    for bytes in [RRQ_IPXE, RRQ_CURL, OACK, ACK, ERROR] {
        let p = Packet::parse(bytes).unwrap();
        let name = match p {
            Packet::Rrq(r) if r.options.timeout.is_some() => "rrq_curl",
            Packet::Rrq(_) => "rrq_ipxe",
            Packet::Oack(_) => "oack",
            Packet::Ack { .. } => "ack",
            _ => "error",
        };
        g.bench_function(name, |b| b.iter(|| black_box(&p).emit(&mut buf).unwrap()));
    }
    let data = Packet::Data {
        block: 7,
        data: &payload,
    };
    g.bench_function("data_1468", |b| {
        b.iter(|| black_box(&data).emit(&mut buf).unwrap())
    });
    let e = Packet::Error {
        code: ErrorCode::FileNotFound,
        message: "File not found",
    };
    g.bench_function("error_struct", |b| {
        b.iter(|| black_box(&e).emit(&mut buf).unwrap())
    });
    g.finish();
}

/// One whole 16 MiB download between a client and a server transfer in
/// memory: every packet is emitted, parsed and acted on.
fn transfer(c: &mut Criterion) {
    let mut g = c.benchmark_group("tftp/transfer_in_memory");
    let size = 16 << 20;
    let file = vec![0x42u8; size];
    g.throughput(Throughput::Bytes(size as u64));
    g.sample_size(10);
    let server_addr: SocketAddr = "127.0.0.1:69".parse().unwrap();
    let client_addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let tid: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    for (name, blksize, window) in [
        ("1468_w1", 1468u16, 1u16),
        ("1468_w16", 1468, 16),
        ("8192_w16", 8192, 16),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let opts = Options {
                    blksize: Some(blksize),
                    windowsize: Some(window),
                    tsize: Some(0),
                    timeout: None,
                };
                let mut cl = ReceiveTransfer::client_get(
                    server_addr,
                    "f",
                    Mode::Octet,
                    opts,
                    Vec::with_capacity(size),
                    Timing::default(),
                    Rollover::Zero,
                );
                let now = Instant::now();
                let mut cb = vec![0u8; 65536];
                let mut sb = vec![0u8; 65536];
                let t = cl.poll_transmit(now, &mut cb).unwrap();
                let Ok(Packet::Rrq(req)) = Packet::parse(&cb[..t.len]) else {
                    unreachable!()
                };
                let mut sv = SendTransfer::server(
                    client_addr,
                    &req,
                    &file[..],
                    Some(size as u64),
                    &ServerConfig::default(),
                );
                while cl.outcome().is_none() {
                    while let Some(t) = sv.poll_transmit(now, &mut sb) {
                        cl.handle(now, tid, &sb[..t.len]);
                    }
                    while let Some(t) = cl.poll_transmit(now, &mut cb) {
                        sv.handle(now, client_addr, &cb[..t.len]);
                    }
                }
                assert_eq!(cl.sink().len(), size);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode, transfer);
criterion_main!(benches);
