//! Deterministic simulations: a client and a server transfer wired through an
//! in-memory network with a scripted clock and seeded packet loss.

use super::*;
use crate::netascii::{NetasciiSink, NetasciiSource};
use crate::wire::{opcode, ErrorCode, Mode, Options, Packet, Request};
use std::collections::VecDeque;
use std::time::Duration;

const CLIENT: &str = "192.0.2.1:40000";
const LISTEN: &str = "192.0.2.2:69";
const SERVER_TID: &str = "192.0.2.2:50000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// xorshift64*, enough for reproducible loss.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[derive(Default)]
struct Stats {
    /// Datagrams sent by the server (data for reads), including resends.
    server_sent: u64,
    client_sent: u64,
    stray_errors: u64,
}

/// Runs a client transfer against a server transfer created from the first
/// request that reaches the listening address. `loss` is in percent.
fn simulate<C: Transfer, S: Transfer>(
    client: &mut C,
    make_server: impl FnOnce(&Request<'_>) -> S,
    loss: u64,
    seed: u64,
    mut meddle: impl FnMut(u64, &mut VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>),
) -> (Option<S>, Stats) {
    let mut rng = Rng(seed | 1);
    let mut now = Instant::now();
    let mut server: Option<S> = None;
    let mut make = Some(make_server);
    let mut wire: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)> = VecDeque::new();
    let mut stats = Stats::default();
    let mut buf = vec![0u8; 70000];
    let mut steps = 0u64;
    loop {
        steps += 1;
        assert!(steps < 50_000_000, "simulation does not terminate");
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            stats.client_sent += 1;
            wire.push_back((addr(CLIENT), t.dest, buf[..t.len].to_vec()));
        }
        if let Some(s) = server.as_mut() {
            while let Some(t) = s.poll_transmit(now, &mut buf) {
                stats.server_sent += 1;
                wire.push_back((addr(SERVER_TID), t.dest, buf[..t.len].to_vec()));
            }
        }
        meddle(steps, &mut wire);
        if let Some((from, to, bytes)) = wire.pop_front() {
            now += Duration::from_micros(50);
            if rng.chance(loss) {
                continue;
            }
            if to == addr(LISTEN) {
                if let Some(f) = make.take() {
                    let p = Packet::parse(&bytes).unwrap();
                    let (Packet::Rrq(r) | Packet::Wrq(r)) = p else {
                        panic!("not a request")
                    };
                    server = Some(f(&r));
                }
            } else if to == addr(SERVER_TID) {
                if let Some(s) = server.as_mut() {
                    s.handle(now, from, &bytes);
                }
            } else if to == addr(CLIENT) {
                client.handle(now, from, &bytes);
            } else {
                stats.stray_errors += 1;
            }
            continue;
        }
        let server_done = server.as_ref().is_none_or(|s| s.is_done());
        if client.is_done() && server_done {
            return (server, stats);
        }
        let next = [
            client.poll_timeout(),
            server.as_ref().and_then(|s| s.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            // Nothing in flight and no timer: whoever is left is stuck.
            return (server, stats);
        };
        now = now.max(next);
        client.handle_timeout(now);
        if let Some(s) = server.as_mut() {
            s.handle_timeout(now);
        }
    }
}

fn timing() -> Timing {
    Timing {
        retries: 30,
        ..Timing::default()
    }
}

/// Client GET from a server sending `data`; returns what the client received.
fn get(data: &[u8], options: Options, cfg: &ServerConfig, loss: u64, seed: u64) -> Vec<u8> {
    let mut c = ReceiveTransfer::client_get(
        addr(LISTEN),
        "file",
        Mode::Octet,
        options,
        Vec::new(),
        timing(),
        cfg.rollover,
    );
    let (server, _) = simulate(
        &mut c,
        |r| SendTransfer::server(addr(CLIENT), r, data.to_vec(), Some(data.len() as u64), cfg),
        loss,
        seed,
        |_, _| {},
    );
    assert_eq!(c.outcome(), Some(&Ok(())));
    let server = server.unwrap();
    assert_eq!(server.outcome(), Some(&Ok(())));
    assert_eq!(server.bytes(), data.len() as u64);
    assert_eq!(c.bytes(), data.len() as u64);
    if options.tsize.is_some() && !data.is_empty() {
        assert_eq!(c.oack().unwrap().tsize, Some(data.len() as u64));
    }
    c.into_sink()
}

fn put(data: &[u8], options: Options, cfg: &ServerConfig, loss: u64, seed: u64) -> Vec<u8> {
    let mut c = SendTransfer::client_put(
        addr(LISTEN),
        "file",
        Mode::Octet,
        options,
        data.to_vec(),
        timing(),
        cfg.rollover,
    );
    let (server, _) = simulate(
        &mut c,
        |r| ReceiveTransfer::server(addr(CLIENT), r, Vec::new(), cfg),
        loss,
        seed,
        |_, _| {},
    );
    assert_eq!(c.outcome(), Some(&Ok(())));
    assert_eq!(c.bytes(), data.len() as u64);
    let server = server.unwrap();
    assert_eq!(server.outcome(), Some(&Ok(())));
    server.into_sink()
}

fn opts(blksize: Option<u16>, windowsize: Option<u16>) -> Options {
    Options {
        blksize,
        windowsize,
        tsize: Some(0),
        timeout: None,
    }
}

#[test]
fn get_edge_sizes() {
    let cfg = ServerConfig::default();
    for len in [0, 1, 511, 512, 513, 1024, 4096 * 3, 100_000] {
        let data = content(len);
        assert_eq!(
            get(&data, Options::default(), &cfg, 0, 1),
            data,
            "len {len}"
        );
        assert_eq!(get(&data, opts(Some(1432), None), &cfg, 0, 1), data);
        assert_eq!(get(&data, opts(Some(8), Some(16)), &cfg, 0, 1), data);
    }
}

#[test]
fn put_edge_sizes() {
    let cfg = ServerConfig::default();
    for len in [0, 511, 512, 513, 1468 * 4, 100_000] {
        let data = content(len);
        assert_eq!(
            put(&data, Options::default(), &cfg, 0, 2),
            data,
            "len {len}"
        );
        assert_eq!(put(&data, opts(Some(1468), Some(8)), &cfg, 0, 2), data);
    }
}

#[test]
fn get_and_put_survive_loss() {
    let cfg = ServerConfig::default();
    let data = content(300_000);
    for seed in 1..6 {
        assert_eq!(get(&data, Options::default(), &cfg, 10, seed), data);
        assert_eq!(get(&data, opts(Some(1468), Some(16)), &cfg, 10, seed), data);
        assert_eq!(put(&data, opts(Some(1000), Some(4)), &cfg, 10, seed), data);
        assert_eq!(put(&data, Options::default(), &cfg, 10, seed), data);
    }
}

#[test]
fn rollover_100_mib_at_512() {
    // 204800 blocks: the block number wraps three times.
    let data = content(100 * 1024 * 1024);
    let cfg = ServerConfig::default();
    assert!(get(&data, Options::default(), &cfg, 0, 3) == data);
}

#[test]
fn rollover_to_one_with_windows_and_loss() {
    let cfg = ServerConfig {
        rollover: Rollover::One,
        ..ServerConfig::default()
    };
    let data = content(70_000 * 16 + 5);
    assert!(get(&data, opts(Some(16), Some(32)), &cfg, 3, 9) == data);
    assert!(put(&data, opts(Some(16), Some(32)), &cfg, 3, 9) == data);
}

#[test]
fn rollover_index_mapping() {
    for r in [Rollover::Zero, Rollover::One] {
        for lo in [1u64, 100, 65530, 65535, 65536, 131070, 131071, 200_000] {
            for d in [0u64, 1, 5, 64, 65534] {
                let j = lo + d;
                assert_eq!(
                    r.index_in(r.wire(j), lo, lo + 65534),
                    Some(j),
                    "{r:?} {lo} {d}"
                );
            }
            assert_eq!(r.index_in(r.wire(lo + 10), lo, lo + 9), None);
        }
    }
    assert_eq!(Rollover::Zero.wire(65536), 0);
    assert_eq!(Rollover::One.wire(65536), 1);
    assert_eq!(Rollover::One.wire(65535), 65535);
}

#[test]
fn negotiation_clamps_to_server_limits() {
    let cfg = ServerConfig {
        blksize_max: 1468,
        windowsize_max: 8,
        ..ServerConfig::default()
    };
    let req = Request {
        filename: "f",
        mode: Mode::Octet,
        options: Options {
            blksize: Some(65464),
            windowsize: Some(64),
            timeout: Some(3),
            tsize: Some(0),
        },
    };
    let (oack, p) = negotiate(&req, &cfg, true, Some(1234));
    assert_eq!(
        oack,
        Options {
            blksize: Some(1468),
            windowsize: Some(8),
            timeout: Some(3),
            tsize: Some(1234)
        }
    );
    assert_eq!(p.blksize, 1468);
    assert_eq!(p.windowsize, 8);
    // Netascii: size unknown, tsize left out.
    let (oack, _) = negotiate(&req, &cfg, true, None);
    assert_eq!(oack.tsize, None);
    // Empty file: tsize left out (curl refuses tsize=0).
    let (oack, _) = negotiate(&req, &cfg, true, Some(0));
    assert_eq!(oack.tsize, None);
    // No options asked: no OACK.
    let plain = Request {
        options: Options::default(),
        ..req
    };
    assert!(negotiate(&plain, &cfg, true, Some(1)).0.is_empty());
}

#[test]
fn stray_tid_gets_error_5_and_transfer_continues() {
    let cfg = ServerConfig::default();
    let data = content(50_000);
    let mut c = ReceiveTransfer::client_get(
        addr(LISTEN),
        "f",
        Mode::Octet,
        Options::default(),
        Vec::new(),
        timing(),
        Rollover::Zero,
    );
    let stranger = addr("192.0.2.99:1234");
    let (server, stats) = simulate(
        &mut c,
        |r| SendTransfer::server(addr(CLIENT), r, data.clone(), Some(50_000), &cfg),
        0,
        1,
        |step, wire| {
            if step % 7 == 0 && step < 200 {
                // A stranger acks and sends data to both ends.
                let mut b = [0u8; 4];
                Packet::Ack { block: 3 }.emit(&mut b).unwrap();
                wire.push_back((stranger, addr(SERVER_TID), b.to_vec()));
                wire.push_back((stranger, addr(CLIENT), b"\x00\x03\x00\x02zz".to_vec()));
            }
        },
    );
    assert_eq!(c.outcome(), Some(&Ok(())));
    assert_eq!(c.into_sink(), data);
    assert_eq!(server.unwrap().outcome(), Some(&Ok(())));
    assert!(stats.stray_errors > 20, "strangers got ERROR 5s");
}

#[test]
fn stray_error_packet_is_error_5() {
    let cfg = ServerConfig::default();
    let req = Request {
        filename: "f",
        mode: Mode::Octet,
        options: Options::default(),
    };
    let mut s = SendTransfer::server(addr(CLIENT), &req, content(10), Some(10), &cfg);
    let now = Instant::now();
    let mut buf = vec![0u8; 1024];
    let t = s.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.dest, addr(CLIENT));
    let stranger = addr("[2001:db8::1]:69");
    s.handle(now, stranger, b"\x00\x04\x00\x01");
    let t = s.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.dest, stranger);
    assert_eq!(
        Packet::parse(&buf[..t.len]).unwrap(),
        Packet::Error {
            code: ErrorCode::UnknownTid,
            message: "Unknown transfer ID"
        }
    );
    assert!(s.outcome().is_none(), "the transfer goes on");
    s.handle(now, addr(CLIENT), b"\x00\x04\x00\x01");
    assert_eq!(s.outcome(), Some(&Ok(())));
}

#[test]
fn duplicate_acks_never_cause_resends() {
    // Sorcerer's Apprentice: the client acks every block twice.
    let cfg = ServerConfig::default();
    let req = Request {
        filename: "f",
        mode: Mode::Octet,
        options: Options::default(),
    };
    let data = content(512 * 20 + 3);
    let mut s = SendTransfer::server(addr(CLIENT), &req, data.clone(), None, &cfg);
    let now = Instant::now();
    let mut buf = vec![0u8; 1024];
    let mut sent = 0;
    let mut received = Vec::new();
    for block in 1u16..=21 {
        let t = s.poll_transmit(now, &mut buf).unwrap();
        sent += 1;
        let Packet::Data { block: b, data } = Packet::parse(&buf[..t.len]).unwrap() else {
            panic!()
        };
        assert_eq!(b, block);
        received.extend_from_slice(data);
        assert!(s.poll_transmit(now, &mut buf).is_none(), "lock-step");
        let ack = Packet::Ack { block };
        let mut a = [0u8; 4];
        ack.emit(&mut a).unwrap();
        s.handle(now, addr(CLIENT), &a);
        s.handle(now, addr(CLIENT), &a);
        if block > 1 {
            let mut old = [0u8; 4];
            Packet::Ack { block: block - 1 }.emit(&mut old).unwrap();
            s.handle(now, addr(CLIENT), &old);
        }
    }
    while s.poll_transmit(now, &mut buf).is_some() {
        sent += 1;
    }
    assert_eq!(sent, 21);
    assert_eq!(received, data);
    assert_eq!(s.outcome(), Some(&Ok(())));
}

#[test]
fn silent_peer_times_out_with_error() {
    let cfg = ServerConfig {
        timing: Timing {
            retries: 3,
            ..Timing::default()
        },
        ..ServerConfig::default()
    };
    let req = Request {
        filename: "f",
        mode: Mode::Octet,
        options: Options::default(),
    };
    let mut s = SendTransfer::server(addr(CLIENT), &req, content(2000), Some(2000), &cfg);
    let mut now = Instant::now();
    let start = now;
    let mut buf = vec![0u8; 1024];
    let mut datas = 0;
    let mut last = None;
    for _ in 0..100 {
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            last = Some(Packet::parse(&buf[..t.len]).unwrap().opcode());
            datas += 1;
        }
        match s.poll_timeout() {
            Some(t) => {
                now = t;
                s.handle_timeout(now);
            }
            None => break,
        }
    }
    assert_eq!(s.outcome(), Some(&Err(Error::Timeout { retries: 3 })));
    assert_eq!(datas, 1 + 3 + 1, "first send, 3 resends, then ERROR");
    assert_eq!(last, Some(opcode::ERROR));
    assert!(s.is_done());
    // Exponential back-off: 1 + 2 + 4 + 5 (capped) seconds.
    assert_eq!(now - start, Duration::from_secs(12));
}

#[test]
fn client_refuses_oack_with_larger_blksize() {
    let mut c = ReceiveTransfer::client_get(
        addr(LISTEN),
        "f",
        Mode::Octet,
        opts(Some(1024), None),
        Vec::new(),
        timing(),
        Rollover::Zero,
    );
    let now = Instant::now();
    let mut buf = vec![0u8; 2048];
    let t = c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.dest, addr(LISTEN));
    c.handle(now, addr(SERVER_TID), b"\x00\x06blksize\x002048\x00");
    let t = c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.dest, addr(SERVER_TID));
    assert!(matches!(
        Packet::parse(&buf[..t.len]).unwrap(),
        Packet::Error {
            code: ErrorCode::OptionNegotiation,
            ..
        }
    ));
    assert!(matches!(
        c.outcome(),
        Some(Err(Error::Parse(crate::ParseError::InvalidOption { .. })))
    ));
}

#[test]
fn peer_error_ends_transfer_without_reply() {
    let cfg = ServerConfig::default();
    let req = Request {
        filename: "f",
        mode: Mode::Octet,
        options: opts(Some(1024), None),
    };
    let mut s = SendTransfer::server(addr(CLIENT), &req, content(10), Some(10), &cfg);
    let now = Instant::now();
    let mut buf = vec![0u8; 2048];
    let t = s.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(Packet::parse(&buf[..t.len]).unwrap().opcode(), opcode::OACK);
    // curl refuses some OACKs with ERROR 8.
    s.handle(now, addr(CLIENT), b"\x00\x05\x00\x08refused\x00");
    assert!(s.poll_transmit(now, &mut buf).is_none());
    assert!(s.is_done());
    assert!(matches!(s.outcome(), Some(Err(Error::Peer { .. }))));
}

#[test]
fn oversized_block_is_refused() {
    let cfg = ServerConfig::default();
    let req = Request {
        filename: "f",
        mode: Mode::Octet,
        options: Options::default(),
    };
    let mut r = ReceiveTransfer::server(addr(CLIENT), &req, Vec::new(), &cfg);
    let now = Instant::now();
    let mut buf = vec![0u8; 2048];
    r.poll_transmit(now, &mut buf).unwrap();
    let mut big = vec![0u8; 4 + 513];
    big[1] = 3;
    big[3] = 1;
    r.handle(now, addr(CLIENT), &big);
    let t = r.poll_transmit(now, &mut buf).unwrap();
    assert!(matches!(
        Packet::parse(&buf[..t.len]).unwrap(),
        Packet::Error {
            code: ErrorCode::IllegalOperation,
            ..
        }
    ));
    assert!(r.sink().is_empty());
}

#[test]
fn final_ack_is_repeated_while_dallying() {
    let cfg = ServerConfig::default();
    let req = Request {
        filename: "f",
        mode: Mode::Octet,
        options: Options::default(),
    };
    let mut r = ReceiveTransfer::server(addr(CLIENT), &req, Vec::new(), &cfg);
    let now = Instant::now();
    let mut buf = vec![0u8; 2048];
    r.poll_transmit(now, &mut buf).unwrap(); // ACK 0
    r.handle(now, addr(CLIENT), b"\x00\x03\x00\x01last");
    assert_eq!(r.outcome(), Some(&Ok(())));
    let t = r.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(&buf[..t.len], b"\x00\x04\x00\x01");
    assert!(!r.is_done(), "dallying");
    r.handle(now, addr(CLIENT), b"\x00\x03\x00\x01last");
    let t = r.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(&buf[..t.len], b"\x00\x04\x00\x01");
    let d = r.poll_timeout().unwrap();
    r.handle_timeout(d);
    assert!(r.is_done());
    assert_eq!(r.into_sink(), b"last");
}

#[test]
fn netascii_get_and_put() {
    let cfg = ServerConfig::default();
    let text = b"line one\nline two\r\nbare\rcr\n".repeat(100);
    let mut c = ReceiveTransfer::client_get(
        addr(LISTEN),
        "t.txt",
        Mode::Netascii,
        Options::default(),
        NetasciiSink::new(Vec::new()),
        timing(),
        Rollover::Zero,
    );
    let t2 = text.clone();
    simulate(
        &mut c,
        move |r| {
            assert_eq!(r.mode, Mode::Netascii);
            SendTransfer::server(
                addr(CLIENT),
                r,
                NetasciiSource::new(std::io::Cursor::new(t2)),
                None,
                &cfg,
            )
        },
        10,
        4,
        |_, _| {},
    );
    assert_eq!(c.outcome(), Some(&Ok(())));
    assert_eq!(c.into_sink().into_inner(), text);
}
