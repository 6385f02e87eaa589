//! criterion benchmarks of the iSCSI wire format, framing, text
//! negotiation and CRC32C digests. Login texts are the real ones libiscsi
//! sent to tgt (crates/iscsi/tests/data, see its README.md).

use std::hint::black_box;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use netboot_benches::nom_text::parse_text_nom;
use netboot_iscsi::codec::PduDecoder;
use netboot_iscsi::login::{chap, Credentials, LoginState, TargetConfig, TargetEntry, TargetLogin};
use netboot_iscsi::text::{decode_binary, encode_hex, encode_text, parse_text};
use netboot_iscsi::wire::{
    crc32c, Bhs, DataIn, DataOut, Digests, Pdu, RawBhs, ScsiCommand, TaskAttr, BHS_LEN,
};

const TARGET: &str = "iqn.2024-01.org.example.netboot:golden";
const CHAP_SECRET: &[u8] = b"golden-secret";

/// Captured initiator streams: the first PDUs are the login requests.
const DISCOVERY: &[u8] = include_bytes!("../../crates/iscsi/tests/data/ls_discovery_initiator.bin");
const NORMAL: &[u8] = include_bytes!("../../crates/iscsi/tests/data/inquiry_initiator.bin");
const CHAP: &[u8] = include_bytes!("../../crates/iscsi/tests/data/chap_inquiry_initiator.bin");

const BOTH: Digests = Digests {
    header: true,
    data: true,
};

fn pdus(stream: &[u8]) -> Vec<Pdu> {
    let mut buf = BytesMut::from(stream);
    let mut dec = PduDecoder::new(1 << 18);
    std::iter::from_fn(|| dec.decode(&mut buf).unwrap()).collect()
}

fn logins(stream: &[u8]) -> Vec<Pdu> {
    pdus(stream)
        .into_iter()
        .take_while(|p| matches!(p.header, Bhs::LoginRequest(_)))
        .collect()
}

/// READ(10) of 16 blocks, as an initiator sends it.
fn read10() -> ScsiCommand {
    let mut cdb = [0u8; 16];
    cdb[..10].copy_from_slice(&[0x28, 0, 0, 0, 0x10, 0, 0, 0, 16, 0]);
    ScsiCommand {
        immediate: false,
        final_: true,
        read: true,
        write: false,
        attr: TaskAttr::Simple,
        lun: 1 << 48,
        itt: 0x1234,
        expected_data_transfer_length: 8192,
        cmd_sn: 77,
        exp_stat_sn: 78,
        cdb,
    }
}

fn data_in() -> DataIn {
    DataIn {
        final_: true,
        status: Some(0),
        itt: 0x1234,
        ttt: 0xffff_ffff,
        stat_sn: 78,
        exp_cmd_sn: 78,
        max_cmd_sn: 109,
        ..DataIn::default()
    }
}

fn data_out() -> DataOut {
    DataOut {
        final_: true,
        lun: 1 << 48,
        itt: 0x1235,
        ttt: 0xffff_ffff,
        exp_stat_sn: 79,
        ..DataOut::default()
    }
}

fn raw(header: impl Into<Bhs>) -> RawBhs {
    let mut b = [0u8; BHS_LEN];
    header.into().emit(&mut b);
    b
}

fn wire(pdu: &Pdu, digests: Digests) -> Bytes {
    let mut buf = BytesMut::new();
    pdu.emit(&mut buf, digests).unwrap();
    buf.freeze()
}

fn bhs_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("iscsi/bhs_parse");
    g.throughput(Throughput::Elements(1));
    for (name, b) in [("scsi_command", raw(read10())), ("data_in", raw(data_in()))] {
        g.bench_function(name, |bench| {
            bench.iter(|| Bhs::parse(black_box(&b)).unwrap())
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("iscsi/decode");
    let payload = Bytes::from(vec![0x5au8; 8192]);
    let cases = [
        ("command_48", Pdu::new(read10())),
        ("data_out_8k", Pdu::with_data(data_out(), payload)),
    ];
    for (name, pdu) in &cases {
        for (suffix, digests) in [("", Digests::default()), ("_crc", BOTH)] {
            let bytes = wire(pdu, digests);
            let mut dec = PduDecoder::new(1 << 18);
            dec.set_digests(digests);
            g.throughput(Throughput::Bytes(bytes.len() as u64));
            g.bench_function(format!("{name}{suffix}"), |b| {
                b.iter_batched(
                    || BytesMut::from(&bytes[..]),
                    |mut buf| dec.decode(&mut buf).unwrap().unwrap(),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

fn emit(c: &mut Criterion) {
    let mut g = c.benchmark_group("iscsi/emit");
    let pdu = Pdu::with_data(data_in(), Bytes::from(vec![0xa5u8; 8192]));
    for (name, digests) in [("data_in_8k", Digests::default()), ("data_in_8k_crc", BOTH)] {
        let mut buf = BytesMut::with_capacity(pdu.buffer_len(digests));
        g.throughput(Throughput::Bytes(pdu.buffer_len(digests) as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                black_box(&pdu).emit(&mut buf, digests).unwrap();
            })
        });
    }
    g.finish();
}

fn config(chap: bool) -> Arc<TargetConfig> {
    Arc::new(TargetConfig {
        targets: vec![TargetEntry {
            name: TARGET.into(),
            chap: chap.then(|| Credentials {
                username: "netboot".into(),
                secret: CHAP_SECRET.to_vec(),
            }),
            ..TargetEntry::default()
        }],
        ..TargetConfig::default()
    })
}

/// Answers the target's CHAP challenge in libiscsi's third request.
fn answer_challenge(resp: &Pdu, req: &Pdu) -> Pdu {
    let keys = parse_text(&resp.data).unwrap();
    let get = |k: &str| keys.iter().find(|(key, _)| key == k).unwrap().1.as_str();
    let id: u8 = get("CHAP_I").parse().unwrap();
    let challenge = decode_binary(get("CHAP_C")).unwrap();
    let mut pairs = parse_text(&req.data).unwrap();
    for (k, v) in &mut pairs {
        if k == "CHAP_R" {
            *v = encode_hex(&chap::chap_md5(id, CHAP_SECRET, &challenge));
        }
    }
    let mut out = req.clone();
    out.data = encode_text(pairs);
    out
}

fn login(c: &mut Criterion) {
    let mut g = c.benchmark_group("iscsi/login");
    g.throughput(Throughput::Elements(1));
    for (name, stream) in [
        ("libiscsi_discovery", DISCOVERY),
        ("libiscsi_normal", NORMAL),
    ] {
        let reqs = logins(stream);
        let cfg = config(false);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut t = TargetLogin::new(cfg.clone(), 1);
                for r in &reqs {
                    black_box(t.handle(black_box(r)));
                }
                assert_eq!(t.state(), LoginState::FullFeature);
            })
        });
    }
    let reqs = logins(CHAP);
    let cfg = config(true);
    g.bench_function("libiscsi_chap", |b| {
        b.iter(|| {
            let mut t = TargetLogin::new(cfg.clone(), 1);
            t.handle(&reqs[0]);
            let challenge = t.handle(&reqs[1]);
            t.handle(&answer_challenge(&challenge, &reqs[2]));
            black_box(t.handle(&reqs[3]));
            assert_eq!(t.state(), LoginState::FullFeature);
        })
    });
    let text = logins(NORMAL)[0].data.clone();
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse_text_libiscsi", |b| {
        b.iter(|| parse_text(black_box(&text)).unwrap())
    });
    // The same text through the nom grammar (benches/src/nom_text.rs).
    g.bench_function("parse_text_libiscsi_nom", |b| {
        b.iter(|| parse_text_nom(black_box(&text)).unwrap())
    });
    g.finish();
}

fn digest(c: &mut Criterion) {
    let mut g = c.benchmark_group("iscsi/crc32c");
    for size in [8 * 1024, 256 * 1024] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("{}k", size / 1024), |b| {
            b.iter(|| crc32c(black_box(&data)))
        });
    }
    g.finish();
}

criterion_group!(benches, bhs_parse, decode, emit, login, digest);
criterion_main!(benches);
