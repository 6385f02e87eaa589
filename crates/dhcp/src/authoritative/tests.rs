use super::*;
use crate::lease::{State, DECLINE_HOLD_SECS, OFFER_HOLD_SECS};
use crate::policy::{Policy, ServerIdentity};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
const NOW: u64 = 1_700_000_000;
const A: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x0a];
const B: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x0b];
const C: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x0c];
const D: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x0d];
const BROADCAST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT);

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, last)
}

/// Three addresses, .100 to .102; the usual chain-loading table.
fn server() -> AuthoritativeServer {
    AuthoritativeServer::new(
        ProxyServer::new(
            Policy::chainload(
                Some("http://10.77.0.1/boot.ipxe"),
                Some("undionly.kpxe"),
                Some("ipxe.efi"),
            ),
            ServerIdentity::new(SERVER),
        ),
        Settings {
            range: (ip(100), ip(102)),
            lease_time: 7200,
            netmask: NETMASK,
            router: Some(ip(254)),
            dns: vec![ip(53), ip(54)],
        },
    )
}

/// Emits into a buffer filled with 0xa5, so bytes never written show.
fn emit(r: &Repr) -> Vec<u8> {
    let mut b = vec![0xa5; r.buffer_len()];
    let n = r.emit(&mut b).unwrap();
    b.truncate(n);
    b
}

/// A request of type `t` from `mac`, which `f` adds to.
fn request(t: MessageType, mac: [u8; 6], f: impl FnOnce(&mut Repr)) -> Vec<u8> {
    let mut r = Repr::new(Op::Request);
    r.header.xid = 0x1234_5678;
    r.header.chaddr[..6].copy_from_slice(&mac);
    r.push(RawOption::message_type(t));
    f(&mut r);
    emit(&r)
}

/// What a legacy BIOS PXE ROM adds.
fn pxe_rom(r: &mut Repr) {
    r.push(RawOption::u16(code::CLIENT_ARCH, 0));
    r.push(RawOption::new(
        code::VENDOR_CLASS_ID,
        &b"PXEClient:Arch:00000:UNDI:002001"[..],
    ));
}

/// What iPXE (chain-loaded from that ROM) adds.
fn ipxe_client(r: &mut Repr) {
    pxe_rom(r);
    r.push(RawOption::new(code::USER_CLASS, &b"iPXE"[..]));
}

fn none(_: &mut Repr) {}

fn with_server_id(id: Ipv4Addr, want: Ipv4Addr) -> impl FnOnce(&mut Repr) {
    move |r| {
        r.push(RawOption::ipv4(code::SERVER_IDENTIFIER, id));
        r.push(RawOption::ipv4(code::REQUESTED_IP, want));
    }
}

fn answer(s: &mut AuthoritativeServer, req: &[u8], now: u64) -> Answer {
    s.handle(&Message::parse(req).unwrap(), now).unwrap()
}

/// The reply, and its bytes.
fn reply(s: &mut AuthoritativeServer, req: &[u8], now: u64) -> (Reply, Vec<u8>) {
    match answer(s, req, now) {
        Answer::Reply(r) => {
            let b = emit(&r.repr);
            (*r, b)
        }
        other => panic!("no reply: {other:?}"),
    }
}

fn addrs(v: Option<crate::wire::options::Ipv4Addrs<'_>>) -> Vec<Ipv4Addr> {
    v.map(|a| a.collect()).unwrap_or_default()
}

/// Checks the options every OFFER and ACK carries.
fn check_network(m: &Message<'_>) {
    assert_eq!(m.op(), Op::Reply);
    assert_eq!(m.xid(), 0x1234_5678);
    assert_eq!(m.server_id().unwrap(), Some(SERVER));
    assert_eq!(m.subnet_mask().unwrap(), Some(NETMASK));
    assert_eq!(addrs(m.routers().unwrap()), [ip(254)]);
    assert_eq!(addrs(m.dns_servers().unwrap()), [ip(53), ip(54)]);
}

#[test]
fn test_discover_gets_an_offer() {
    let mut s = server();
    let (r, bytes) = reply(&mut s, &request(MessageType::Discover, A, none), NOW);
    assert_eq!(r.kind, ReplyKind::Offer);
    assert_eq!(r.client, "hw:52:54:00:00:00:0a");
    assert_eq!(r.yiaddr, ip(100));
    assert_eq!(r.pxe, None);
    assert_eq!(r.destination, BROADCAST);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Offer));
    assert_eq!(m.yiaddr(), ip(100));
    assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.lease_time().unwrap(), Some(7200));
    check_network(&m);
    // Not a PXE client: no boot file, no PXE options.
    assert_eq!(m.boot_file(), None);
    assert!(m.vendor_class().is_none() && m.vendor_specific().is_none());
    // The offer is held, and repeated to the same client.
    assert_eq!(s.pool().bound().count(), 0);
    assert_eq!(s.pool_mut().usage(NOW).offered, 1);
    let (r, _) = reply(&mut s, &request(MessageType::Discover, A, none), NOW + 1);
    assert_eq!(r.yiaddr, ip(100));
    let (r, _) = reply(&mut s, &request(MessageType::Discover, B, none), NOW + 1);
    assert_eq!(r.yiaddr, ip(101));
}

#[test]
fn test_discover_asking_for_a_free_address_gets_it() {
    let mut s = server();
    let req = request(MessageType::Discover, A, |r| {
        r.push(RawOption::ipv4(code::REQUESTED_IP, ip(102)));
    });
    assert_eq!(reply(&mut s, &req, NOW).0.yiaddr, ip(102));
}

#[test]
fn test_client_id_is_the_key() {
    let mut s = server();
    let req = request(MessageType::Discover, A, |r| {
        r.push(RawOption::new(
            code::CLIENT_ID,
            vec![1, 0x52, 0x54, 0, 0, 0, 0x0a],
        ));
    });
    assert_eq!(reply(&mut s, &req, NOW).0.client, "id:01:52:54:00:00:00:0a");
    let m = Message::parse(&req).unwrap();
    assert_eq!(client_key(&m), "id:01:52:54:00:00:00:0a");
}

#[test]
fn test_request_gets_an_ack_with_the_lease() {
    let mut s = server();
    reply(&mut s, &request(MessageType::Discover, A, none), NOW);
    let req = request(MessageType::Request, A, with_server_id(SERVER, ip(100)));
    let (r, bytes) = reply(&mut s, &req, NOW + 1);
    let lease = Lease {
        client: "hw:52:54:00:00:00:0a".into(),
        ip: ip(100),
        expires: NOW + 1 + 7200,
        state: State::Bound,
    };
    assert_eq!(r.kind, ReplyKind::Ack(lease.clone()));
    assert_eq!(r.yiaddr, ip(100));
    assert_eq!(r.destination, BROADCAST);
    // The pool has bound it: what the caller saves before sending.
    assert_eq!(s.pool().bound().collect::<Vec<_>>(), [&lease]);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Ack));
    assert_eq!(m.yiaddr(), ip(100));
    assert_eq!(m.lease_time().unwrap(), Some(7200));
    check_network(&m);

    // Renewing (RFC 2131 §4.3.2): no option 50 or 54, `ciaddr` set; the
    // ACK goes to the client's address.
    let req = request(MessageType::Request, A, |r| r.header.ciaddr = ip(100));
    let (r, _) = reply(&mut s, &req, NOW + 3600);
    assert!(matches!(&r.kind, ReplyKind::Ack(l) if l.expires == NOW + 3600 + 7200));
    assert_eq!(r.destination, SocketAddrV4::new(ip(100), CLIENT_PORT));
}

#[test]
fn test_request_for_a_taken_address_gets_a_nak() {
    let mut s = server();
    let req = request(MessageType::Request, A, with_server_id(SERVER, ip(100)));
    reply(&mut s, &req, NOW);
    // B asks for A's address, as a renewal from an address it should not
    // have: the NAK is broadcast all the same (RFC 2131 §4.1).
    let req = request(MessageType::Request, B, |r| {
        r.header.ciaddr = ip(100);
        r.push(RawOption::ipv4(code::REQUESTED_IP, ip(100)));
    });
    let (r, bytes) = reply(&mut s, &req, NOW + 1);
    assert_eq!(r.kind, ReplyKind::Nak(Refusal::Taken(ip(100))));
    assert_eq!(r.client, "hw:52:54:00:00:00:0b");
    assert_eq!(r.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.pxe, None);
    assert_eq!(r.destination, BROADCAST);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Nak));
    assert_eq!(m.server_id().unwrap(), Some(SERVER));
    assert_eq!(
        m.option(code::MESSAGE).unwrap().to_cow(),
        &b"10.77.0.100 is leased to another client"[..]
    );
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(m.lease_time().unwrap().is_none() && m.subnet_mask().unwrap().is_none());
    // A keeps it.
    assert_eq!(
        s.pool().bound().map(|l| l.ip).collect::<Vec<_>>(),
        [ip(100)]
    );
    assert!(s.pool().bound().all(|l| l.client.ends_with("0a")));

    // Outside the range, and a REQUEST with no address at all.
    let req = request(MessageType::Request, B, |r| {
        r.push(RawOption::ipv4(code::REQUESTED_IP, ip(7)));
    });
    assert_eq!(
        reply(&mut s, &req, NOW + 2).0.kind,
        ReplyKind::Nak(Refusal::OutOfRange(ip(7)))
    );
    let (r, _) = reply(&mut s, &request(MessageType::Request, B, none), NOW + 2);
    assert_eq!(
        r.kind,
        ReplyKind::Nak(Refusal::OutOfRange(Ipv4Addr::UNSPECIFIED))
    );
}

#[test]
fn test_request_naming_another_server_is_ignored() {
    let mut s = server();
    reply(&mut s, &request(MessageType::Discover, A, none), NOW);
    let other = Ipv4Addr::new(10, 77, 0, 2);
    let req = request(MessageType::Request, A, with_server_id(other, ip(100)));
    assert_eq!(
        answer(&mut s, &req, NOW + 1),
        Answer::Ignore(Ignored::OtherServer(other))
    );
    assert_eq!(s.pool().bound().count(), 0);
}

#[test]
fn test_pxe_client_gets_its_boot_file_with_the_address() {
    let mut s = server();
    let (r, bytes) = reply(&mut s, &request(MessageType::Discover, A, pxe_rom), NOW);
    assert_eq!(r.kind, ReplyKind::Offer);
    let p = r.pxe.as_ref().expect("the PXE part");
    assert!(!p.class.ipxe);
    assert_eq!(p.boot.file, "undionly.kpxe");
    assert_eq!(p.boot.next_server, SERVER);
    let m = Message::parse(&bytes).unwrap();
    // The proxy offer's PXE part, with an address and message type OFFER.
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Offer));
    assert_eq!(m.yiaddr(), ip(100));
    assert_eq!(m.siaddr(), SERVER);
    assert_eq!(m.boot_file().as_deref(), Some(&b"undionly.kpxe"[..]));
    assert_eq!(m.vendor_class().unwrap().to_cow(), &b"PXEClient"[..]);
    assert!(m.vendor_specific().is_some());
    assert_eq!(m.lease_time().unwrap(), Some(7200));
    check_network(&m);
    // A firmware client is not told about iPXE's options.
    assert!(m.ipxe_options().unwrap().is_none());
    // Its REQUEST gets an ACK with the same boot file.
    let req = request(MessageType::Request, A, |r| {
        pxe_rom(r);
        with_server_id(SERVER, ip(100))(r);
    });
    let (r, bytes) = reply(&mut s, &req, NOW + 1);
    assert!(matches!(r.kind, ReplyKind::Ack(_)));
    assert_eq!(r.pxe.map(|p| p.boot.file).as_deref(), Some("undionly.kpxe"));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Ack));
    assert_eq!(m.boot_file().as_deref(), Some(&b"undionly.kpxe"[..]));
    assert_eq!(m.yiaddr(), ip(100));
}

#[test]
fn test_ipxe_client_is_told_not_to_wait_for_proxydhcp() {
    let mut s = server();
    let (r, bytes) = reply(&mut s, &request(MessageType::Discover, A, ipxe_client), NOW);
    assert!(r.pxe.as_ref().is_some_and(|p| p.class.ipxe));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Offer));
    assert_eq!(
        m.boot_file().as_deref(),
        Some(&b"http://10.77.0.1/boot.ipxe"[..])
    );
    let o = m.ipxe_options().unwrap().expect("option 175");
    assert_eq!(o.get(ipxe::NO_PXEDHCP), Some(&[1][..]));
    assert_eq!(m.yiaddr(), ip(100));
}

#[test]
fn test_pxe_client_without_a_rule_gets_an_address_only() {
    let mut s = AuthoritativeServer::new(
        ProxyServer::new(Policy::default(), ServerIdentity::new(SERVER)),
        Settings::new((ip(100), ip(102)), NETMASK),
    );
    let (r, bytes) = reply(&mut s, &request(MessageType::Discover, A, ipxe_client), NOW);
    assert_eq!(r.pxe, None);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.boot_file(), None);
    assert!(m.ipxe_options().unwrap().is_none());
    assert_eq!(m.lease_time().unwrap(), Some(3600));
    assert!(m.routers().unwrap().is_none() && m.dns_servers().unwrap().is_none());
}

#[test]
fn test_inform_gets_an_ack_without_a_lease() {
    let mut s = server();
    let outside = Ipv4Addr::new(10, 77, 0, 50);
    let req = request(MessageType::Inform, A, |r| r.header.ciaddr = outside);
    let (r, bytes) = reply(&mut s, &req, NOW);
    assert_eq!(r.kind, ReplyKind::InformAck);
    assert_eq!(r.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.destination, SocketAddrV4::new(outside, CLIENT_PORT));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type().unwrap(), Some(MessageType::Ack));
    assert_eq!(m.ciaddr(), outside);
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.lease_time().unwrap(), None);
    check_network(&m);
    assert_eq!(s.pool_mut().usage(NOW).offered, 0);
    assert_eq!(s.pool().bound().count(), 0);
}

#[test]
fn test_release_and_decline_change_the_pool() {
    let mut s = server();
    let req = request(MessageType::Request, A, with_server_id(SERVER, ip(100)));
    reply(&mut s, &req, NOW);
    // Only the holder releases.
    let release = |mac| request(MessageType::Release, mac, |r| r.header.ciaddr = ip(100));
    assert_eq!(
        answer(&mut s, &release(B), NOW + 1),
        Answer::Ignore(Ignored::NotHeld(ip(100)))
    );
    assert_eq!(s.pool().bound().count(), 1);
    assert_eq!(
        answer(&mut s, &release(A), NOW + 1),
        Answer::Released {
            client: "hw:52:54:00:00:00:0a".into(),
            ip: ip(100)
        }
    );
    assert_eq!(s.pool().bound().count(), 0);

    // A DECLINE keeps the address out of the pool for a while.
    let decline = |mac, ip| {
        request(MessageType::Decline, mac, move |r| {
            if let Some(ip) = ip {
                r.push(RawOption::ipv4(code::REQUESTED_IP, ip));
            }
        })
    };
    assert_eq!(
        answer(&mut s, &decline(A, Some(ip(100))), NOW + 2),
        Answer::Declined {
            client: "hw:52:54:00:00:00:0a".into(),
            ip: ip(100)
        }
    );
    assert_eq!(s.pool_mut().usage(NOW + 2).declined, 1);
    assert_eq!(
        answer(&mut s, &decline(B, None), NOW + 2),
        Answer::Ignore(Ignored::DeclineRefused(None))
    );
    assert_eq!(
        answer(&mut s, &decline(B, Some(ip(100))), NOW + 2),
        Answer::Ignore(Ignored::DeclineRefused(Some(ip(100))))
    );
    assert_eq!(
        answer(&mut s, &decline(B, Some(ip(7))), NOW + 2),
        Answer::Ignore(Ignored::DeclineRefused(Some(ip(7))))
    );
    let (r, _) = reply(&mut s, &request(MessageType::Discover, C, none), NOW + 3);
    assert_eq!(r.yiaddr, ip(101));
    let later = NOW + 2 + DECLINE_HOLD_SECS;
    let (r, _) = reply(&mut s, &request(MessageType::Discover, D, none), later);
    assert_eq!(r.yiaddr, ip(100));
}

#[test]
fn test_a_dry_pool_answers_nothing() {
    let mut s = server();
    for mac in [A, B, C] {
        reply(&mut s, &request(MessageType::Discover, mac, none), NOW);
    }
    assert_eq!(
        answer(&mut s, &request(MessageType::Discover, D, none), NOW + 1),
        Answer::PoolDry {
            client: "hw:52:54:00:00:00:0d".into(),
            usage: Usage {
                offered: 3,
                bound: 0,
                declined: 0,
                size: 3
            }
        }
    );
    // Until the offers lapse.
    let (r, _) = reply(
        &mut s,
        &request(MessageType::Discover, D, none),
        NOW + OFFER_HOLD_SECS,
    );
    assert_eq!(r.yiaddr, ip(100));
}

#[test]
fn test_replies_go_through_the_relay() {
    let mut s = server();
    let relay = Ipv4Addr::new(10, 1, 0, 1);
    let via = |r: &mut Repr| r.header.giaddr = relay;
    let (r, bytes) = reply(&mut s, &request(MessageType::Discover, A, via), NOW);
    assert_eq!(r.destination, SocketAddrV4::new(relay, SERVER_PORT));
    assert_eq!(Message::parse(&bytes).unwrap().giaddr(), relay);
    let req = request(MessageType::Request, B, |r| {
        via(r);
        r.push(RawOption::ipv4(code::REQUESTED_IP, ip(100)));
    });
    let (r, _) = reply(&mut s, &req, NOW);
    assert!(matches!(r.kind, ReplyKind::Nak(_)));
    assert_eq!(r.destination, SocketAddrV4::new(relay, SERVER_PORT));
}

#[test]
fn test_what_is_not_answered() {
    let mut s = server();
    let mut r = Repr::new(Op::Reply);
    r.push(RawOption::message_type(MessageType::Discover));
    assert_eq!(
        answer(&mut s, &emit(&r), NOW),
        Answer::Ignore(Ignored::NotRequest)
    );
    for t in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
        assert_eq!(
            answer(&mut s, &request(t, A, none), NOW),
            Answer::Ignore(Ignored::MessageType(Some(t)))
        );
    }
    let mut r = Repr::new(Op::Request);
    r.header.chaddr[..6].copy_from_slice(&A);
    assert_eq!(
        answer(&mut s, &emit(&r), NOW),
        Answer::Ignore(Ignored::MessageType(None))
    );
    assert_eq!(s.pool_mut().usage(NOW).offered, 0);
}

#[test]
fn test_a_request_that_cannot_be_read_changes_nothing() {
    let mut s = server();
    // Option 93 must be a multiple of 2 bytes.
    let bad_arch = |r: &mut Repr| {
        r.push(RawOption::new(code::CLIENT_ARCH, vec![0, 0, 7]));
        r.push(RawOption::new(code::VENDOR_CLASS_ID, &b"PXEClient"[..]));
    };
    let req = request(MessageType::Discover, A, bad_arch);
    assert!(s.handle(&Message::parse(&req).unwrap(), NOW).is_err());
    assert_eq!(s.pool_mut().usage(NOW).offered, 0);
    let req = request(MessageType::Request, A, |r| {
        bad_arch(r);
        r.push(RawOption::ipv4(code::REQUESTED_IP, ip(100)));
    });
    assert!(s.handle(&Message::parse(&req).unwrap(), NOW).is_err());
    assert_eq!(s.pool().bound().count(), 0);
    // A malformed option 50.
    let req = request(MessageType::Discover, A, |r| {
        r.push(RawOption::new(code::REQUESTED_IP, vec![10, 77]));
    });
    assert!(s.handle(&Message::parse(&req).unwrap(), NOW).is_err());
    assert_eq!(s.pool_mut().usage(NOW).offered, 0);
}
