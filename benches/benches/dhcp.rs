//! criterion benchmarks of the DHCP wire format, fed from the captured
//! golden vectors in crates/dhcp/tests/data.
//!
//! `dhcp/decode` parses each packet and reads options 53, 60, 93 and 77
//! (what the PXE policy looks at first), once with netboot-dhcp and once
//! with the dhcproto crate, so the two lines of each packet compare like
//! for like. `dhcp/encode` and `dhcp/policy` measure our emit and the
//! whole proxy decision (classify, decide, build, emit).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dhcproto::v4::{self as dp, Decodable, Decoder};
use netboot_dhcp::policy::{Outcome, Policy, Port, ProxyServer, ServerIdentity};
use netboot_dhcp::wire::Message;

const VECTORS: &[(&str, &[u8])] = &[
    (
        "ipxe_discover",
        include_bytes!("../../crates/dhcp/tests/data/ipxe_discover.bin"),
    ),
    (
        "ipxe_request",
        include_bytes!("../../crates/dhcp/tests/data/ipxe_request.bin"),
    ),
    (
        "legacy_discover",
        include_bytes!("../../crates/dhcp/tests/data/legacy_discover.bin"),
    ),
    (
        "dnsmasq_offer",
        include_bytes!("../../crates/dhcp/tests/data/dnsmasq_offer_bios.bin"),
    ),
    (
        "slirp_offer",
        include_bytes!("../../crates/dhcp/tests/data/slirp_offer.bin"),
    ),
];

/// Parse and read 53, 60, 93, 77 with netboot-dhcp.
fn ours(bytes: &[u8]) -> usize {
    let m = Message::parse(bytes).unwrap();
    let mt = m.message_type().unwrap().map_or(0, u8::from);
    let vc = m.vendor_class().map_or(0, |v| v.len());
    let arch = m.client_arch().unwrap().map_or(0, |a| a.0);
    let ipxe = m.is_ipxe_user_class();
    usize::from(mt) + vc + usize::from(arch) + usize::from(ipxe)
}

/// The same with dhcproto.
fn theirs(bytes: &[u8]) -> usize {
    let m = dp::Message::decode(&mut Decoder::new(bytes)).unwrap();
    let o = m.opts();
    let mt = o.msg_type().map_or(0, u8::from);
    let vc = match o.get(dp::OptionCode::ClassIdentifier) {
        Some(dp::DhcpOption::ClassIdentifier(v)) => v.len(),
        _ => 0,
    };
    let arch = match o.get(dp::OptionCode::ClientSystemArchitecture) {
        Some(dp::DhcpOption::ClientSystemArchitecture(a)) => u16::from(*a),
        _ => 0,
    };
    let ipxe = matches!(o.get(dp::OptionCode::UserClass),
        Some(dp::DhcpOption::UserClass(v)) if v == b"iPXE");
    usize::from(mt) + vc + usize::from(arch) + usize::from(ipxe)
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("dhcp/decode");
    g.throughput(Throughput::Elements(1));
    for (name, bytes) in VECTORS {
        assert_eq!(ours(bytes), theirs(bytes), "{name}: both read the same");
        g.bench_function(format!("{name}/netboot-dhcp"), |b| {
            b.iter(|| ours(black_box(bytes)))
        });
        g.bench_function(format!("{name}/dhcproto"), |b| {
            b.iter(|| theirs(black_box(bytes)))
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("dhcp/encode");
    let mut buf = [0u8; 1500];
    for (name, bytes) in VECTORS {
        let repr = Message::parse(bytes).unwrap().to_repr();
        g.bench_function(*name, |b| {
            b.iter(|| black_box(&repr).emit(&mut buf).unwrap())
        });
    }
    g.finish();
}

fn policy(c: &mut Criterion) {
    let mut g = c.benchmark_group("dhcp/policy");
    let server = ProxyServer::new(
        Policy::chainload(
            Some("http://10.77.0.1/boot.ipxe"),
            Some("undionly.kpxe"),
            Some("ipxe.efi"),
        ),
        ServerIdentity::new(Ipv4Addr::new(10, 77, 0, 1)),
    );
    let mut buf = [0u8; 1500];
    for (name, bytes) in &VECTORS[..3] {
        g.bench_function(format!("proxy_offer/{name}"), |b| {
            b.iter(|| {
                let m = Message::parse(black_box(bytes)).unwrap();
                match server.handle(Port::Dhcp, &m).unwrap() {
                    Outcome::Reply(r) => r.repr.emit(&mut buf).unwrap(),
                    Outcome::Ignore(_) => 0,
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode, policy);
criterion_main!(benches);
