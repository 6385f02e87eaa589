//! pxed against real clients and servers, each test on a private Ethernet
//! segment (a bridge in a network namespace, hosts in namespaces of their
//! own, a tap for qemu): crafted PXE ROM requests, dnsmasq's proxy mode
//! answering the same requests (field by field), iPXE in qemu booting its
//! script through pxed and our tftpd next to a plain DHCP server (dnsmasq)
//! or with pxed handing out the address itself, busybox udhcpc, hostile
//! datagrams, and tshark reading every packet.
//!
//! Peers are required: a missing one fails the test.

mod client;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use client::{Client, Reply};
use netboot_dhcp::wire::{code, ClientArch, MessageType};
use netboot_testkit::{dnsmasq, need, run, Daemon, Host, Lan};

const PXE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const SCRIPT: &str = "tftp://10.77.0.2/boot.ipxe";

fn pxed(host: &Host, args: &[&str]) -> Daemon {
    let mut c = host.exec(env!("CARGO_BIN_EXE_pxed"));
    c.args(["--interface", &host.iface, "--log-level", "debug"])
        .args(args);
    Daemon::start(c, Some("listening")).0
}

/// Another binary of the workspace, built next to pxed (scripts/test
/// builds every binary before the tests).
fn sibling(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_pxed")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace's binaries first (`cargo build --workspace --bins`)",
        p.display()
    );
    p
}

/// The usual segment: pxed's host at 10.77.0.2, a client host at
/// 10.77.0.50 (it already has its address from "the site's DHCP server"),
/// pxed with the chain-load table.
fn proxy_setup(extra: &[&str]) -> (Lan, Host, Host, Daemon) {
    let mut lan = Lan::new();
    let srv = lan.host(Some((PXE_IP, 24)));
    let cli = lan.host(Some((Ipv4Addr::new(10, 77, 0, 50), 24)));
    let mut args = vec![
        "--bios-bootfile",
        "undionly.kpxe",
        "--efi64-bootfile",
        "ipxe.efi",
        "--ipxe-script",
        SCRIPT,
    ];
    args.extend_from_slice(extra);
    let d = pxed(&srv, &args);
    (lan, srv, cli, d)
}

fn offer_from(replies: &[Reply], server: Ipv4Addr) -> &Reply {
    replies
        .iter()
        .find(|r| r.server_id == Some(server))
        .unwrap_or_else(|| panic!("no reply from {server}: {replies:?}"))
}

#[test]
fn each_firmware_gets_its_next_stage() {
    let (_lan, _srv, cli, d) = proxy_setup(&[]);
    cli.run_in(|| {
        let c = Client::new("eth0", [0x52, 0x54, 0, 0xaa, 0, 1]);
        // Legacy BIOS PXE ROM.
        let r = c.discover_pxe(ClientArch::X86_BIOS, false, Duration::from_secs(3));
        let o = offer_from(&r, PXE_IP);
        assert_eq!(o.kind, Some(MessageType::Offer));
        assert_eq!(
            o.yiaddr,
            Ipv4Addr::UNSPECIFIED,
            "a proxy offer has no address"
        );
        assert_eq!(o.siaddr, PXE_IP);
        assert_eq!(o.file, "undionly.kpxe");
        assert_eq!(
            o.option(code::VENDOR_CLASS_ID).as_deref(),
            Some(&b"PXEClient"[..])
        );
        assert_eq!(
            o.option(code::CLIENT_UUID),
            Some(client::UUID_OPTION.to_vec())
        );
        assert!(
            o.option(code::VENDOR_SPECIFIC).is_some(),
            "ROMs need option 43"
        );
        // Its port-4011 request with the boot item of the menu.
        let a = c.boot_server_request(PXE_IP, ClientArch::X86_BIOS, Ipv4Addr::new(10, 77, 0, 50));
        assert_eq!(a.kind, Some(MessageType::Ack));
        assert_eq!(a.file, "undionly.kpxe");
        assert_eq!(a.yiaddr, Ipv4Addr::new(10, 77, 0, 50));
        // x86-64 UEFI (7, and 9 as some firmware sends it).
        for arch in [ClientArch::EFI_X64, ClientArch::EFI_BC] {
            let r = c.discover_pxe(arch, false, Duration::from_secs(3));
            assert_eq!(offer_from(&r, PXE_IP).file, "ipxe.efi", "{arch:?}");
        }
        // ARM64 UEFI gets the default snp.efi.
        let r = c.discover_pxe(ClientArch::EFI_ARM64, false, Duration::from_secs(3));
        assert_eq!(offer_from(&r, PXE_IP).file, "snp.efi");
        // iPXE (any arch) gets its script: no chain-load loop.
        for arch in [ClientArch::X86_BIOS, ClientArch::EFI_X64] {
            let r = c.discover_pxe(arch, true, Duration::from_secs(3));
            let o = offer_from(&r, PXE_IP);
            assert_eq!(o.file, SCRIPT, "{arch:?}");
            assert!(o.option(code::VENDOR_SPECIFIC).is_none());
        }
        // Not a PXE client: never answered.
        let r = c.discover_plain(Duration::from_millis(1500));
        assert!(r.is_empty(), "{r:?}");
    });
    assert!(d.log_contains("proxy offer"));
    assert!(d.log_contains("file=undionly.kpxe"));
    assert!(d.log_contains("ipxe=true"));
    assert!(d.log_contains("ignored: not a PXE client"));
    let (status, log) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("statistics"), "{log}");
}

/// dnsmasq in proxy mode and pxed answer the same DISCOVER and the same
/// port-4011 REQUEST; their replies agree field by field, except where we
/// differ on purpose (documented here).
#[test]
fn replies_match_dnsmasq_proxy_mode_field_by_field() {
    if !need("dnsmasq") {
        return;
    }
    let (mut lan, _srv, cli, d) = proxy_setup(&[]);
    let dns_ip = Ipv4Addr::new(10, 77, 0, 3);
    let dhost = lan.host(Some((dns_ip, 24)));
    let dir = tempfile::tempdir().unwrap();
    let dnsmasq = dnsmasq(
        &dhost,
        dir.path(),
        &[
            "--dhcp-range=10.77.0.0,proxy",
            "--pxe-service=x86PC,netboot,undionly",
            "--pxe-prompt=netboot,0",
        ],
    );
    cli.run_in(|| {
        let c = Client::new("eth0", [0x52, 0x54, 0, 0xaa, 0, 2]);
        let r = c.discover_pxe(ClientArch::X86_BIOS, false, Duration::from_secs(3));
        let ours = offer_from(&r, PXE_IP);
        let theirs = offer_from(&r, dns_ip);
        for (a, b) in [(ours, theirs)] {
            assert_eq!(a.op, b.op);
            assert_eq!(a.xid, b.xid);
            assert_eq!(a.chaddr, b.chaddr);
            assert_eq!(a.yiaddr, b.yiaddr);
            assert_eq!(a.yiaddr, Ipv4Addr::UNSPECIFIED);
            assert_eq!(a.kind, b.kind);
            for opt in [code::VENDOR_CLASS_ID, code::CLIENT_UUID] {
                assert_eq!(a.option(opt), b.option(opt), "option {opt}");
            }
            // Option 43: same discovery control, a boot server list with
            // the server's own address, a menu and a prompt.
            let (va, vb) = (a.pxe_vendor(), b.pxe_vendor());
            assert_eq!(va.discovery_control, vb.discovery_control);
            assert_eq!(va.boot_servers.len(), vb.boot_servers.len());
            assert_eq!(va.boot_servers[0].addrs, vec![PXE_IP]);
            assert_eq!(vb.boot_servers[0].addrs, vec![dns_ip]);
            assert_eq!(va.menu.len(), vb.menu.len());
            assert_eq!(va.prompt.is_some(), vb.prompt.is_some());
        }
        // Deliberate difference: dnsmasq's proxy offer names no file (the
        // ROM must ask port 4011); ours names it already, which ROMs that
        // read `file` from a proxy offer (and iPXE) use at once.
        assert_eq!(theirs.file, "");
        assert_eq!(ours.file, "undionly.kpxe");

        // The boot server exchange with each (dnsmasq adds ".0" to the
        // name for BIOS clients).
        let ca = Ipv4Addr::new(10, 77, 0, 50);
        let a = c.boot_server_request(PXE_IP, ClientArch::X86_BIOS, ca);
        let b = c.boot_server_request(dns_ip, ClientArch::X86_BIOS, ca);
        assert_eq!(a.kind, b.kind);
        assert_eq!(a.yiaddr, b.yiaddr);
        assert_eq!(a.yiaddr, ca);
        assert_eq!(b.file, "undionly.0");
        assert_eq!(a.file, "undionly.kpxe");
        for opt in [code::VENDOR_CLASS_ID, code::CLIENT_UUID] {
            assert_eq!(a.option(opt), b.option(opt), "option {opt}");
        }
        assert_eq!(a.pxe_vendor().boot_item, b.pxe_vendor().boot_item);
    });
    drop(dnsmasq);
    drop(d);
}

/// Offices with several subnets reach pxed through DHCP relay agents
/// (`ip helper-address`): a relayed DISCOVER (giaddr set, unicast to
/// port 67) gets its proxy offer back at the relay's port 67.
#[test]
fn relayed_requests_are_answered_through_the_relay() {
    let (mut lan, _srv, _cli, d) = proxy_setup(&[]);
    let relay_ip = Ipv4Addr::new(10, 77, 0, 60);
    let relay = lan.host(Some((relay_ip, 24)));
    relay.run_in(|| {
        let c = Client::on_port("eth0", [0x52, 0x54, 0, 0xaa, 0, 7], 67);
        let r = c.relay_discover(
            PXE_IP,
            relay_ip,
            ClientArch::X86_BIOS,
            Duration::from_secs(3),
        );
        let o = offer_from(&r, PXE_IP);
        assert_eq!(o.file, "undionly.kpxe");
        assert_eq!(o.siaddr, PXE_IP);
    });
    assert!(d.log_contains("dest=10.77.0.60:67"), "{}", d.log_text());
}

#[test]
fn hostile_datagrams_are_dropped_and_others_still_served() {
    let (_lan, _srv, cli, d) = proxy_setup(&[]);
    cli.run_in(|| {
        let c = Client::new("eth0", [0x52, 0x54, 0, 0xaa, 0, 3]);
        let good = c.pxe_discover_bytes(ClientArch::X86_BIOS, false, 0x1234);
        let mut bad: Vec<Vec<u8>> = vec![
            vec![],
            vec![1; 10],
            good[..100].to_vec(),
            good[..239].to_vec(),
        ];
        // Wrong magic cookie.
        let mut x = good.clone();
        x[236] = 0;
        bad.push(x);
        // An option whose length runs past the end.
        let mut x = good[..240].to_vec();
        x.extend_from_slice(&[53, 1, 1, 60, 200, b'P']);
        bad.push(x);
        // Overload (52) pointing into file, whose options overload again.
        let mut x = good[..240].to_vec();
        x.extend_from_slice(&[53, 1, 1, 52, 1, 3, 255]);
        x[108] = 52;
        x[109] = 1;
        x[110] = 3;
        x[111] = 255;
        bad.push(x);
        // A huge parameter request list, split over 40 instances.
        let mut x = good[..240].to_vec();
        x.extend_from_slice(&[53, 1, 1]);
        for _ in 0..40 {
            x.push(55);
            x.push(255);
            x.extend((0..255u8).map(|b| b.max(1)));
        }
        x.push(255);
        bad.push(x);
        for b in &bad {
            c.send_raw(b, PXE_IP, 67);
            c.send_raw(b, PXE_IP, 4011);
        }
        // Still serving.
        let r = c.discover_pxe(ClientArch::X86_BIOS, false, Duration::from_secs(3));
        assert_eq!(offer_from(&r, PXE_IP).file, "undionly.kpxe");
    });
    assert!(
        d.log_contains("dropped malformed request"),
        "{}",
        d.log_text()
    );
    let (status, log) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(stat(&log, "malformed") >= 10, "{log}");
}

/// Counter `name` of the `statistics` line pxed logs when it stops.
fn stat(log: &str, name: &str) -> u64 {
    log.lines()
        .find(|l| l.contains("statistics"))
        .and_then(|l| l.split(&format!(" {name}=")).nth(1))
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the statistics: {log}"))
}

/// A datagram longer than pxed reads (4096 bytes) is dropped as too large,
/// not parsed cut short and reported as malformed; one of exactly 4096
/// bytes is still answered.
#[test]
fn oversized_datagrams_are_dropped_as_too_large() {
    let (_lan, _srv, cli, d) = proxy_setup(&[]);
    cli.run_in(|| {
        let c = Client::new("eth0", [0x52, 0x54, 0, 0xaa, 0, 4]);
        // A DISCOVER of 4096 bytes: PAD options before END.
        let good = c.pxe_discover_bytes(ClientArch::X86_BIOS, false, 0x4096);
        let mut full = good[..good.len() - 1].to_vec();
        full.resize(4095, 0);
        full.push(255);
        assert_eq!(full.len(), 4096);
        let r = c.broadcast_and_collect(&full, 0x4096, Duration::from_secs(3));
        assert_eq!(offer_from(&r, PXE_IP).file, "undionly.kpxe");
        // 5,000 bytes of well-formed options (option 55 again and again),
        // on both ports: cut at 4096, the last one would run past the end.
        let mut big = good[..240].to_vec();
        big.extend_from_slice(&[53, 1, 1]);
        while big.len() < 5000 {
            big.push(55);
            big.push(250);
            big.extend((1..=250u8).map(|b| b.max(1)));
        }
        big.push(255);
        c.send_raw(&big, PXE_IP, 67);
        c.send_raw(&big, PXE_IP, 4011);
        // Still serving.
        let r = c.discover_pxe(ClientArch::X86_BIOS, false, Duration::from_secs(3));
        assert_eq!(offer_from(&r, PXE_IP).file, "undionly.kpxe");
    });
    assert!(
        d.wait_for("larger than 4096 bytes", Duration::from_secs(5))
            .is_some(),
        "{}",
        d.log_text()
    );
    let (status, log) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains("malformed request"), "{log}");
    assert_eq!(stat(&log, "malformed"), 0, "{log}");
    assert_eq!(stat(&log, "too_large"), 2, "{log}");
    assert_eq!(stat(&log, "offers"), 2, "{log}");
}

/// busybox udhcpc on `h`'s eth0 getting a lease (5 DISCOVERs 1 s apart);
/// what it printed.
fn udhcpc(h: &Host) -> String {
    // -q: quit after getting a lease; -n: fail instead of retrying;
    // the default script would configure the interface: none here.
    let o = run(
        h.exec("busybox").args([
            "udhcpc",
            "-i",
            "eth0",
            "-q",
            "-n",
            "-t",
            "5",
            "-T",
            "1",
            "-s",
            "/bin/true",
        ]),
        Duration::from_secs(30),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "udhcpc: {text}");
    text
}

/// A burst of DISCOVERs from 200 made-up MACs (which never REQUEST) takes
/// every address of a small range, but only for the few seconds an offer
/// is held: then a new client (busybox udhcpc) gets a lease. The log says
/// the pool ran dry, a few times, not 200.
#[test]
fn a_discover_flood_holds_the_range_for_seconds_only() {
    if !need("busybox") {
        return;
    }
    let mut lan = Lan::new();
    let srv = lan.host(Some((PXE_IP, 24)));
    let flood = lan.host(None);
    let late = lan.host(None);
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases.json");
    let d = pxed(
        &srv,
        &[
            "--range",
            "10.77.0.100-10.77.0.107",
            "--lease-file",
            leases.to_str().unwrap(),
        ],
    );
    let flooded = Instant::now();
    flood.run_in(|| {
        let c = Client::new("eth0", [0x02, 0xf1, 0, 0, 0, 0]);
        for i in 0..200u32 {
            let mut b = c.plain_discover_bytes(0x0f10_0000 + i);
            // chaddr: a new MAC each time.
            b[28..34].copy_from_slice(&[0x02, 0xf1, 0, 0, (i >> 8) as u8, i as u8]);
            c.send_raw(&b, Ipv4Addr::BROADCAST, 67);
        }
        // Every address is offered now: a new client gets nothing.
        let c = Client::new("eth0", [0x52, 0x54, 0, 0xaa, 0, 0x11]);
        let r = c.discover_plain(Duration::from_secs(1));
        assert!(r.is_empty(), "{r:?}");
    });
    assert!(
        d.wait_for("address pool ran dry", Duration::from_secs(5))
            .is_some(),
        "{}",
        d.log_text()
    );
    assert!(
        flooded.elapsed() < Duration::from_secs(5),
        "the flood took too long to check"
    );
    // The hold (6 s, counted in whole seconds) is over: a real client is
    // served, the lowest address first.
    std::thread::sleep(Duration::from_secs(7).saturating_sub(flooded.elapsed()));
    let got = udhcpc(&late);
    assert!(got.contains("lease of 10.77.0.100 obtained"), "{got}");
    let (status, log) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    let dry_lines = log.lines().filter(|l| l.contains("ran dry")).count();
    assert!((1..=3).contains(&dry_lines), "{dry_lines} lines:\n{log}");
    assert!(
        log.contains("range=10.77.0.100-10.77.0.107 offered=8 bound=0"),
        "{log}"
    );
    // 192 from the flood (unless a few were lost), 1 from the client that
    // got nothing.
    let pool_dry = stat(&log, "pool_dry");
    assert!((150..=193).contains(&pool_dry), "{pool_dry}: {log}");
}

/// Authoritative mode: pxed hands out addresses (busybox udhcpc as the
/// client), keeps them across a restart, and still serves PXE.
#[test]
fn authoritative_mode_leases_survive_a_restart() {
    if !need("busybox") {
        return;
    }
    let mut lan = Lan::new();
    let srv = lan.host(Some((PXE_IP, 24)));
    let a = lan.host(None);
    let b = lan.host(None);
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases.json");
    let args = [
        "--range",
        "10.77.0.100-10.77.0.110",
        "--lease-file",
        leases.to_str().unwrap(),
        "--router",
        "10.77.0.1",
        "--dns",
        "10.77.0.1",
    ];
    let d = pxed(&srv, &args);
    let first = udhcpc(&a);
    assert!(first.contains("lease of 10.77.0.100 obtained"), "{first}");
    let second = udhcpc(&b);
    assert!(second.contains("lease of 10.77.0.101 obtained"), "{second}");
    assert!(d.log_contains("not a PXE client: address only"));
    let (status, log) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    let saved = std::fs::read_to_string(&leases).unwrap();
    assert!(
        saved.contains("10.77.0.100") && saved.contains("10.77.0.101"),
        "{saved}"
    );
    // After a restart, the same clients get the same addresses (b first).
    let d = pxed(&srv, &args);
    assert!(d.log_contains("restored=2"), "{}", d.log_text());
    let again = udhcpc(&b);
    assert!(again.contains("lease of 10.77.0.101 obtained"), "{again}");
    let again = udhcpc(&a);
    assert!(again.contains("lease of 10.77.0.100 obtained"), "{again}");
    // A PXE client gets an address and its boot file in one offer.
    a.run_in(|| {
        let c = Client::new("eth0", [0x52, 0x54, 0, 0xaa, 0, 9]);
        let r = c.discover_pxe(ClientArch::X86_BIOS, false, Duration::from_secs(3));
        let o = offer_from(&r, PXE_IP);
        assert_eq!(o.yiaddr, Ipv4Addr::new(10, 77, 0, 102));
        assert_eq!(o.file, "undionly.kpxe");
        assert_eq!(o.option(code::SUBNET_MASK), Some(vec![255, 255, 255, 0]));
        assert_eq!(o.option(code::ROUTER), Some(vec![10, 77, 0, 1]));
        assert!(o.option(code::LEASE_TIME).is_some());
        // iPXE gets its script, and 175.176 (no proxyDHCP to wait for).
        let r = c.discover_pxe(ClientArch::X86_BIOS, true, Duration::from_secs(3));
        let o = offer_from(&r, PXE_IP);
        assert_eq!(o.yiaddr, Ipv4Addr::new(10, 77, 0, 102));
        assert_eq!(o.file, SCRIPT);
        assert_eq!(o.option(code::IPXE_ENCAP), Some(vec![176, 1, 1]));
    });
    drop(d);
}

fn need_ipxe_rom() {
    assert!(
        Path::new("/usr/lib/ipxe/qemu/efi-e1000.rom").exists()
            || Path::new("/usr/share/qemu/efi-e1000.rom").exists(),
        "iPXE ROMs missing: run scripts/install-peers (ipxe-qemu)"
    );
}

/// The firmware of the qemu guest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Firmware {
    /// SeaBIOS with the e1000's iPXE ROM: the first DHCP client already is
    /// iPXE.
    IpxeRom,
    /// OVMF (EDK2 UEFI) with its own virtio-net driver and PXE client, no
    /// option ROM: a real firmware PXE client (arch 7) that must be given
    /// ipxe.efi, which then asks again as iPXE and must get its script.
    Ovmf,
    /// OVMF with PXE switched off (fw_cfg), so it uses UEFI HTTP boot
    /// (`HTTPClient`, arch 16): it must be given the URL of ipxe.efi.
    OvmfHttp,
}

const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";
const HTTP_URL: &str = "http://10.77.0.2:8080/ipxe.efi";

/// A guest on the segment gets its address from `site_dhcp` (dnsmasq as a
/// plain DHCP server) or from pxed (authoritative), its next stage from
/// pxed, files from our tftpd, and ends up running its iPXE script.
/// tshark records the segment; no DHCP packet may be malformed.
fn boots_its_script(site_dhcp: bool, fw: Firmware) {
    need("qemu-system-x86_64");
    need("tshark");
    match fw {
        Firmware::IpxeRom => need_ipxe_rom(),
        Firmware::Ovmf | Firmware::OvmfHttp => {
            for f in [OVMF, IPXE_EFI] {
                assert!(
                    Path::new(f).exists(),
                    "{f} is missing: run scripts/install-peers (ovmf, ipxe)"
                );
            }
        }
    }
    if site_dhcp && !need("dnsmasq") {
        return;
    }
    let mut lan = Lan::new();
    let srv = lan.host(Some((PXE_IP, 24)));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(
        root.join("boot.ipxe"),
        "#!ipxe\necho NETBOOT-PXED-SCRIPT-OK ${net0/ip} ${filename}\n",
    )
    .unwrap();
    if fw != Firmware::IpxeRom {
        std::fs::copy(IPXE_EFI, root.join("ipxe.efi")).unwrap();
    }
    // UEFI HTTP boot loads ipxe.efi from an HTTP server (any will do).
    let _http = (fw == Firmware::OvmfHttp).then(|| {
        need("python3");
        let mut h = srv.exec("python3");
        h.args([
            "-u",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "10.77.0.2",
            "--directory",
        ])
        .arg(&root);
        Daemon::start(h, Some("Serving HTTP")).0
    });
    let mut t = srv.exec(sibling("tftpd"));
    t.arg("--root")
        .arg(&root)
        .args(["--listen", "10.77.0.2:69"]);
    let (tftpd, _) = Daemon::start(t, Some("listening"));
    let _dnsmasq = if site_dhcp {
        let dhost = lan.host(Some((Ipv4Addr::new(10, 77, 0, 1), 24)));
        Some(dnsmasq(
            &dhost,
            dir.path(),
            &["--dhcp-range=10.77.0.100,10.77.0.150,1h"],
        ))
    } else {
        None
    };
    let lease_file = dir.path().join("pxed-leases.json");
    let mut args = vec![
        "--ipxe-script",
        SCRIPT,
        "--efi64-bootfile",
        "ipxe.efi",
        "--efi64-http-url",
        HTTP_URL,
    ];
    if !site_dhcp {
        args.extend_from_slice(&["--range", "10.77.0.120-10.77.0.130", "--lease-file"]);
        args.push(lease_file.to_str().unwrap());
    }
    let d = pxed(&srv, &args);
    let tap = lan.tap();
    let pcap = dir.path().join("lan.pcap");
    let mut cap = lan.exec("tshark");
    cap.args(["-i", "br0", "-w"]).arg(&pcap).args(["-f", "udp"]);
    let (tshark, _) = Daemon::start(cap, Some("Capturing on"));
    let serial = dir.path().join("serial.log");
    let mut qemu = lan.exec("qemu-system-x86_64");
    qemu.args(["-accel", "tcg", "-machine", "pc,graphics=off", "-m", "512"])
        .args(["-display", "none", "-nodefaults", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-netdev")
        .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"));
    match fw {
        Firmware::IpxeRom => qemu.args([
            "-device",
            "e1000,netdev=n0,mac=52:54:00:12:34:77",
            "-boot",
            "n",
        ]),
        Firmware::Ovmf => qemu.args([
            "-bios",
            OVMF,
            "-device",
            "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:77,romfile=",
        ]),
        Firmware::OvmfHttp => qemu.args([
            "-bios",
            OVMF,
            "-device",
            "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:77,romfile=",
            "-fw_cfg",
            "name=opt/org.tianocore/IPv4PXESupport,string=no",
            "-fw_cfg",
            "name=opt/org.tianocore/IPv6PXESupport,string=no",
        ]),
    };
    let (vm, _) = Daemon::start(qemu, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let log = loop {
        let log = std::fs::read_to_string(&serial).unwrap_or_default();
        // The whole marker line, not just its start: the serial file may be
        // read between two writes of the guest (it was: "...-OK 1").
        let done = log
            .split_once("NETBOOT-PXED-SCRIPT-OK")
            .is_some_and(|(_, rest)| rest.contains('\n'));
        if done || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(vm);
    let _ = tshark.terminate();
    assert!(
        log.contains("NETBOOT-PXED-SCRIPT-OK 10.77.0.1"),
        "serial:\n{log}\npxed:\n{}\ntftpd:\n{}",
        d.log_text(),
        tftpd.log_text()
    );
    assert!(log.contains(SCRIPT), "{log}");
    let text = d.log_text();
    let ours = |l: &&str| l.contains("mac=52:54:00:12:34:77");
    assert!(
        text.lines()
            .filter(ours)
            .any(|l| l.contains("ipxe=true") && l.contains(SCRIPT)),
        "{text}"
    );
    if fw == Firmware::Ovmf {
        // First the firmware (UEFI x64, not iPXE) was given ipxe.efi, then
        // that iPXE its script: the chain-load loop is broken.
        let first = text.lines().find(ours).unwrap_or_default();
        assert!(
            first.contains("arch=efi-x64")
                && first.contains("ipxe=false")
                && first.contains("file=ipxe.efi"),
            "{text}"
        );
        assert!(tftpd.log_contains("ipxe.efi"));
    }
    if fw == Firmware::OvmfHttp {
        // First the firmware's HTTP boot was given the URL of ipxe.efi,
        // then that iPXE its script.
        let first = text.lines().find(ours).unwrap_or_default();
        assert!(
            first.contains("arch=efi-x64-http")
                && first.contains("http=true")
                && first.contains(HTTP_URL),
            "{text}"
        );
        let http = _http.as_ref().expect("HTTP server");
        assert!(http.log_contains("GET /ipxe.efi"), "{}", http.log_text());
    }
    assert!(tftpd.log_contains("boot.ipxe"));
    // tshark reads every DHCP packet on the segment without complaint.
    let o = run(
        Command::new("tshark").arg("-r").arg(&pcap).args([
            "-Y",
            "dhcp",
            "-T",
            "fields",
            "-e",
            "dhcp.option.dhcp",
            "-e",
            "ip.src",
        ]),
        Duration::from_secs(60),
    );
    let seen = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        seen.lines().any(|l| l.contains("10.77.0.2")),
        "no DHCP from pxed:\n{seen}"
    );
    let o = run(
        Command::new("tshark").arg("-r").arg(&pcap).args([
            "-Y",
            "_ws.malformed || (ip.src == 10.77.0.2 && _ws.expert)",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "ip.src",
            "-e",
            "_ws.expert.message",
        ]),
        Duration::from_secs(60),
    );
    let bad = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        bad.trim().is_empty(),
        "tshark: malformed packets, or expert notes on ours:\n{bad}"
    );
}

#[test]
fn ipxe_in_qemu_boots_its_script_next_to_a_plain_dhcp_server() {
    boots_its_script(true, Firmware::IpxeRom);
}

#[test]
fn ipxe_in_qemu_boots_its_script_from_pxed_alone() {
    boots_its_script(false, Firmware::IpxeRom);
}

/// Real UEFI firmware (OVMF) PXE-boots ipxe.efi through pxed and tftpd;
/// that iPXE gets its script from pxed, not ipxe.efi again.
#[test]
fn uefi_firmware_chainloads_ipxe_which_gets_its_script() {
    boots_its_script(true, Firmware::Ovmf);
}

/// UEFI HTTP boot (OVMF with PXE off): pxed answers the `HTTPClient`
/// DISCOVER with the URL of ipxe.efi, the firmware fetches it over HTTP,
/// and that iPXE gets its script.
#[test]
fn uefi_http_boot_gets_ipxe_by_url_then_its_script() {
    boots_its_script(true, Firmware::OvmfHttp);
}

#[test]
fn help_and_bad_arguments() {
    let o = Command::new(env!("CARGO_BIN_EXE_pxed"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--interface",
        "--tftp-server",
        "--bios-bootfile",
        "--efi64-bootfile",
        "--ipxe-script",
        "--config",
        "--range",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_pxed")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--interface"));
    let o = Command::new(env!("CARGO_BIN_EXE_pxed"))
        .args(["-i", "nonexistent0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no interface nonexistent0"));
    // Settings that cannot work are refused before anything is bound.
    for (args, want) in [
        (&["--dhcp-port", "0"][..], "--dhcp-port 0 is not a port"),
        (
            &["--dhcp-port", "6767", "--pxe-port", "6767"][..],
            "are the same port",
        ),
        (
            &["--lease-file", "/tmp/leases.json"][..],
            "--lease-file only applies to the authoritative mode",
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_pxed"))
            .args(["-i", "lo"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_pxed"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("not the same as --pxe-port"), "{help}");
    assert!(help.contains("without --range are refused"), "{help}");
}

// iscsid's iPXE sanboot disks (shared with iscsid's and aoed's tests).
#[allow(dead_code)]
#[path = "../../../iscsid/tests/interop/sanboot.rs"]
mod sanboot;

/// The whole stack, as an office PC meets it: the site's DHCP server
/// (dnsmasq) gives the address; pxed, on the boot server, tells the PC's
/// iPXE where its script is; our tftpd serves the script; the script
/// `sanboot`s the PC's disk from our iscsid; the disk's boot sector finds
/// the iBFT iPXE left for the OS and prints it. The table must describe
/// exactly this boot: the NIC's leased address and MAC, the DHCP server,
/// and our target.
#[test]
fn office_pc_boots_its_disk_through_dhcp_pxed_tftpd_and_iscsid() {
    need("qemu-system-x86_64");
    need_ipxe_rom();
    if !need("dnsmasq") {
        return;
    }
    const IQN: &str = "iqn.2026-11.org.netboot:pc042";
    let mut lan = Lan::new();
    let dir = tempfile::tempdir().unwrap();
    // The site's DHCP server.
    let dhost = lan.host(Some((Ipv4Addr::new(10, 77, 0, 1), 24)));
    let _dnsmasq = dnsmasq(
        &dhost,
        dir.path(),
        &["--dhcp-range=10.77.0.100,10.77.0.150,1h"],
    );
    // The boot server: pxed, tftpd, iscsid.
    let srv = lan.host(Some((PXE_IP, 24)));
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(
        root.join("boot.ipxe"),
        format!("#!ipxe\nsanboot iscsi:10.77.0.2::3260:0:{IQN}\n"),
    )
    .unwrap();
    let mut t = srv.exec(sibling("tftpd"));
    t.arg("--root")
        .arg(&root)
        .args(["--listen", "10.77.0.2:69"]);
    let (tftpd, _) = Daemon::start(t, Some("listening"));
    let disk = dir.path().join("pc042.img");
    std::fs::write(
        &disk,
        sanboot::disk_image_with(&sanboot::ibft_scan_sector()),
    )
    .unwrap();
    let mut i = srv.exec(sibling("iscsid"));
    i.args(["--listen", "10.77.0.2:3260", "--target", IQN, "--disk"])
        .arg(&disk);
    let (iscsid, _) = Daemon::start(i, Some("listening"));
    let d = pxed(&srv, &["--ipxe-script", SCRIPT]);
    // The PC.
    let serial = dir.path().join("serial.log");
    let mut qemu = lan.bios_pc("52:54:00:12:34:78", &serial);
    let o = run(&mut qemu, Duration::from_secs(240));
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    let context = || {
        format!(
            "serial:\n{log}\npxed:\n{}\ntftpd:\n{}\niscsid:\n{}",
            d.log_text(),
            tftpd.log_text(),
            iscsid.log_text()
        )
    };
    assert_eq!(o.status.code(), Some(sanboot::EXIT_OK), "{}", context());
    let hex: String = log
        .split("NETBOOT-IBFT-AT ")
        .nth(1)
        .and_then(|rest| rest.split("NETBOOT-IBFT-END").next())
        .expect("the iBFT on COM1")
        .lines()
        .skip(1)
        .flat_map(|l| l.trim().chars())
        .collect();
    let table: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let t = netboot_ibft::parse(&table).expect("iPXE's iBFT is valid");
    let nic = t.nics[0].as_ref().expect("NIC 0");
    let std::net::IpAddr::V4(ip) = nic.ip.expect("NIC address") else {
        panic!("not IPv4: {nic:?}")
    };
    assert!(
        (100..=150).contains(&ip.octets()[3]) && ip.octets()[..3] == [10, 77, 0],
        "{nic:?}"
    );
    assert_eq!(nic.prefix_len, 24);
    assert_eq!(nic.mac, [0x52, 0x54, 0, 0x12, 0x34, 0x78]);
    assert_eq!(nic.dhcp_server, Some(Ipv4Addr::new(10, 77, 0, 1).into()));
    let tg = t.targets[0].as_ref().expect("target 0");
    assert_eq!(tg.ip, Some(PXE_IP.into()));
    assert_eq!(tg.port, 3260);
    assert_eq!(tg.name, IQN);
    assert!(t
        .initiator
        .as_ref()
        .is_some_and(|i| i.name.starts_with("iqn.")));
    // Every daemon did its part.
    assert!(d
        .log_text()
        .lines()
        .any(|l| l.contains("mac=52:54:00:12:34:78") && l.contains("ipxe=true")));
    assert!(tftpd.log_contains("boot.ipxe"));
    assert!(iscsid.log_contains("logged in"), "{}", context());
}

/// The UEFI side of the iBFT, with the OS taking over: real UEFI firmware
/// (OVMF) PXE-boots ipxe.efi through pxed; iPXE's script `sanhook`s the
/// PC's disk from iscsid (installing the iBFT among the ACPI tables) and
/// boots Debian's kernel with a busybox initramfs. In that Linux, the
/// kernel's own iscsi_ibft driver reads iPXE's table, `ibft check` finds
/// it valid, and the table names exactly this boot.
#[test]
fn uefi_pc_sanhooks_its_disk_and_linux_reads_the_ibft() {
    sanhook_then_linux_reads_the_ibft(Firmware::Ovmf);
}

/// The BIOS side: the NIC's iPXE ROM `sanhook`s the disk (the iBFT goes to
/// base memory) and boots Linux, which finds the table by scanning base
/// memory as on real BIOS PCs; `ibft check --scan /dev/mem` finds and
/// validates it in the guest's real memory.
#[test]
fn bios_pc_sanhooks_its_disk_and_linux_finds_the_ibft_in_base_memory() {
    sanhook_then_linux_reads_the_ibft(Firmware::IpxeRom);
}

fn sanhook_then_linux_reads_the_ibft(fw: Firmware) {
    use netboot_testkit::guest::{self, Cpio};
    need("qemu-system-x86_64");
    if !need("dnsmasq") {
        return;
    }
    let uefi = fw != Firmware::IpxeRom;
    if uefi {
        for f in [OVMF, IPXE_EFI] {
            assert!(
                Path::new(f).exists(),
                "{f} is missing: run scripts/install-peers"
            );
        }
    } else {
        need_ipxe_rom();
    }
    let iqn = if uefi {
        "iqn.2026-11.org.netboot:uefi-pc"
    } else {
        "iqn.2026-11.org.netboot:bios-pc"
    };
    let mac = if uefi {
        "52:54:00:12:34:79"
    } else {
        "52:54:00:12:34:7a"
    };
    let vmlinuz = guest::kernel_file("vmlinuz");
    let mods = [
        guest::kernel_file("iscsi_boot_sysfs.ko"),
        guest::kernel_file("iscsi_ibft.ko"),
    ];
    let mut lan = Lan::new();
    let dir = tempfile::tempdir().unwrap();
    let dhost = lan.host(Some((Ipv4Addr::new(10, 77, 0, 1), 24)));
    let _dnsmasq = dnsmasq(
        &dhost,
        dir.path(),
        &["--dhcp-range=10.77.0.100,10.77.0.150,1h"],
    );
    let srv = lan.host(Some((PXE_IP, 24)));
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    std::fs::copy(IPXE_EFI, root.join("ipxe.efi")).unwrap();
    std::fs::copy(&vmlinuz, root.join("vmlinuz")).unwrap();
    // The initramfs: busybox, the iBFT driver, our ibft tool.
    let mut cpio = Cpio::new();
    for d in ["/dev", "/proc", "/sys", "/tmp"] {
        cpio.dir(d);
    }
    cpio.char_dev("/dev/console", 5, 1);
    guest::add_busybox(&mut cpio);
    guest::add_program(&mut cpio, sibling("ibft").to_str().unwrap(), "/ibft");
    for m in &mods {
        let name = m.file_name().unwrap().to_str().unwrap();
        cpio.file(&format!("/{name}"), 0o644, &std::fs::read(m).unwrap());
    }
    // UEFI: the table is among the ACPI tables; BIOS: in base memory only,
    // found by the kernel's scan and by `ibft --scan /dev/mem`.
    let source = if uefi { "" } else { "--scan /dev/mem" };
    let init = format!(
        "#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox insmod /iscsi_boot_sysfs.ko
/bin/busybox insmod /iscsi_ibft.ko
echo NETBOOT-TABLE-BEGIN
/bin/busybox od -An -tx1 -v /sys/firmware/acpi/tables/iBFT
echo NETBOOT-TABLE-END
echo SYSFS-TARGET $(/bin/busybox cat /sys/firmware/ibft/target0/target-name)
echo SYSFS-MAC $(/bin/busybox cat /sys/firmware/ibft/ethernet0/mac)
/ibft check {source}; echo \"CHECK-STATUS $?\"
/ibft dump {source}
echo NETBOOT-GUEST-DONE
/bin/busybox poweroff -f
"
    );
    cpio.file("/init", 0o755, init.as_bytes());
    std::fs::write(root.join("initrd.cpio"), cpio.finish()).unwrap();
    std::fs::write(
        root.join("boot.ipxe"),
        format!(
            "#!ipxe\nsanhook iscsi:10.77.0.2::3260:0:{iqn}\n\
             kernel tftp://10.77.0.2/vmlinuz initrd=initrd.cpio console=ttyS0 quiet panic=-1\n\
             initrd tftp://10.77.0.2/initrd.cpio\nboot\n"
        ),
    )
    .unwrap();
    let mut t = srv.exec(sibling("tftpd"));
    t.arg("--root")
        .arg(&root)
        .args(["--listen", "10.77.0.2:69"]);
    let (tftpd, _) = Daemon::start(t, Some("listening"));
    let disk = dir.path().join("uefi-pc.img");
    std::fs::write(&disk, vec![0u8; 16 << 20]).unwrap();
    let mut i = srv.exec(sibling("iscsid"));
    i.args(["--listen", "10.77.0.2:3260", "--target", iqn, "--disk"])
        .arg(&disk);
    let (iscsid, _) = Daemon::start(i, Some("listening"));
    let d = pxed(
        &srv,
        &["--ipxe-script", SCRIPT, "--efi64-bootfile", "ipxe.efi"],
    );
    let tap = lan.tap();
    let serial = dir.path().join("serial.log");
    let mut qemu = lan.exec("qemu-system-x86_64");
    qemu.args(["-accel", "tcg", "-machine", "pc", "-m", "1024"])
        .args(["-display", "none", "-nodefaults", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-netdev")
        .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"));
    if uefi {
        qemu.args(["-bios", OVMF, "-device"])
            .arg(format!("virtio-net-pci,netdev=n0,mac={mac},romfile="));
    } else {
        qemu.arg("-device")
            .arg(format!("e1000,netdev=n0,mac={mac}"))
            .args(["-boot", "n"]);
    }
    let o = run(&mut qemu, Duration::from_secs(300));
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    let context = || {
        format!(
            "qemu: {}\nserial:\n{log}\npxed:\n{}\ntftpd:\n{}\niscsid:\n{}",
            String::from_utf8_lossy(&o.stderr),
            d.log_text(),
            tftpd.log_text(),
            iscsid.log_text()
        )
    };
    assert!(log.contains("NETBOOT-GUEST-DONE"), "{}", context());
    // The kernel's reader and our tool, inside the guest.
    assert!(
        log.contains(&format!("SYSFS-TARGET {iqn}")),
        "{}",
        context()
    );
    assert!(log.contains(&format!("SYSFS-MAC {mac}")), "{}", context());
    assert!(log.contains("ok: valid iBFT"), "{log}");
    assert!(log.contains("CHECK-STATUS 0"), "{log}");
    assert!(log.contains("portal 10.77.0.2:3260"), "{log}");
    assert!(log.contains(iqn), "{log}");
    if !uefi {
        // Found by our scan of the guest's real base memory.
        assert!(log.contains("found a table at 0x"), "{log}");
        return;
    }
    let hex: String = log
        .split("NETBOOT-TABLE-BEGIN")
        .nth(1)
        .and_then(|r| r.split("NETBOOT-TABLE-END").next())
        .unwrap()
        .split_whitespace()
        .collect();
    let table: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let t = netboot_ibft::parse(&table).unwrap_or_else(|e| panic!("{e}\n{}", context()));
    let tg = t.targets[0].as_ref().expect("target 0");
    assert_eq!(tg.name, iqn);
    assert_eq!(tg.ip, Some(PXE_IP.into()));
    assert_eq!(tg.port, 3260);
    let nic = t.nics[0].as_ref().expect("NIC 0");
    assert_eq!(nic.mac, [0x52, 0x54, 0, 0x12, 0x34, 0x79]);
    assert_eq!(nic.dhcp_server, Some(Ipv4Addr::new(10, 77, 0, 1).into()));
    if std::env::var_os("NETBOOT_WRITE_FIXTURES").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../crates/ibft/tests/data/ipxe-1.0.0-git20190125-efi-iscsi.bin"
            ),
            &table,
        )
        .unwrap();
    }
}
