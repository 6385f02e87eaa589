//! Property tests: `parse(emit(x)) == x` for any message, including long
//! options (>255 bytes, RFC 3396) and option overload into `file`/`sname`;
//! and `parse` never panics on arbitrary or mutated input.

use std::net::Ipv4Addr;

use netboot_dhcp::policy::{Policy, Port, ProxyServer, ServerIdentity};
use netboot_dhcp::wire::{Header, Message, Op, RawOption, Repr};
use proptest::prelude::*;

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u8>(),
        any::<(u8, u8, u8)>(),
        any::<(u32, u16, u16)>(),
        any::<[u32; 4]>(),
        any::<[u8; 16]>(),
    )
        .prop_map(
            |(op, (htype, hlen, hops), (xid, secs, flags), a, chaddr)| Header {
                op: Op::from(op),
                htype,
                hlen,
                hops,
                xid,
                secs,
                flags,
                ciaddr: Ipv4Addr::from(a[0]),
                yiaddr: Ipv4Addr::from(a[1]),
                siaddr: Ipv4Addr::from(a[2]),
                giaddr: Ipv4Addr::from(a[3]),
                chaddr,
            },
        )
}

/// Codes usable as ordinary options.
fn ordinary(c: u8) -> bool {
    !matches!(c, 0 | 52 | 255)
}

/// A message whose option codes are unique across all areas (so the joined
/// form is exactly what was emitted); `file`/`sname` options are small
/// enough to fit their fields.
fn repr() -> impl Strategy<Value = Repr> {
    let main = prop::collection::vec(
        (
            any::<u8>(),
            prop_oneof![
                4 => prop::collection::vec(any::<u8>(), 0..40),
                1 => prop::collection::vec(any::<u8>(), 250..700),
            ],
        ),
        0..12,
    );
    let small = || {
        prop::collection::vec(
            (any::<u8>(), prop::collection::vec(any::<u8>(), 0..8)),
            0..5,
        )
    };
    (
        header(),
        any::<bool>(),
        any::<bool>(),
        main,
        small(),
        small(),
        prop::collection::vec(1u8..=255, 0..64),
        prop::collection::vec(1u8..=255, 0..128),
    )
        .prop_map(
            |(header, ov_file, ov_sname, main, fopts, sopts, sname, file)| {
                let mut seen = [false; 256];
                let mut take = |list: Vec<(u8, Vec<u8>)>, budget: usize| {
                    let mut used = 0;
                    let mut out = Vec::new();
                    for (c, d) in list {
                        let o = RawOption::new(c, d);
                        if ordinary(c) && !seen[usize::from(c)] && used + o.wire_len() <= budget {
                            seen[usize::from(c)] = true;
                            used += o.wire_len();
                            out.push(o);
                        }
                    }
                    out
                };
                let options = take(main, usize::MAX);
                let file_options = ov_file.then(|| take(fopts, 127));
                let sname_options = ov_sname.then(|| take(sopts, 63));
                let mut r = Repr::new(Op::Request);
                r.header = header;
                r.options = options;
                if file_options.is_none() {
                    r.file[..file.len()].copy_from_slice(&file);
                }
                if sname_options.is_none() {
                    r.sname[..sname.len()].copy_from_slice(&sname);
                }
                r.file_options = file_options;
                r.sname_options = sname_options;
                r
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_emit_roundtrip(r in repr()) {
        let mut buf = vec![0xa5u8; r.buffer_len()];
        let n = r.emit(&mut buf).unwrap();
        prop_assert_eq!(n, r.buffer_len());
        let m = Message::parse(&buf[..n]).unwrap();
        prop_assert_eq!(m.to_repr(), r.clone());
        // Each option's joined value reads back.
        for o in r.options.iter().chain(r.file_options.iter().flatten()).chain(r.sname_options.iter().flatten()) {
            let v = m.option(o.code).unwrap();
            prop_assert_eq!(&*v.to_cow(), &o.data[..]);
        }
    }

    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        let _ = Message::parse(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(r in repr(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut buf = vec![0u8; r.buffer_len()];
        let n = r.emit(&mut buf).unwrap();
        buf.truncate(n);
        for (i, b) in flips {
            let i = i % buf.len();
            buf[i] = b;
        }
        let cut = cut % (buf.len() + 1);
        if let Ok(m) = Message::parse(&buf[..cut]) {
            // Everything reachable from a checked message must not panic.
            let _ = m.to_repr();
            let _ = m.message_type();
            let _ = m.client_arch();
            let _ = m.client_uuid();
            let _ = m.ipxe_options();
            let _ = m.pxe_boot_item();
            let _ = m.user_classes().map(|u| u.iter().count());
            let s = ProxyServer::new(
                Policy::chainload(Some("http://x/y"), Some("undionly.kpxe"), Some("ipxe.efi")),
                ServerIdentity::new(Ipv4Addr::new(10, 0, 0, 1)),
            );
            let _ = s.handle(Port::Dhcp, &m);
            let _ = s.handle(Port::BootServer, &m);
        }
    }
}
