//! The receive loop: DHCP (port 67) and the PXE boot server (port 4011) on
//! one interface.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netboot_dhcp::authoritative::{self, Answer, AuthoritativeServer, Settings};
use netboot_dhcp::lease::OFFER_HOLD_SECS;
use netboot_dhcp::policy::{
    reply_destination, ClientClass, Ignored, Outcome, Port, ProxyServer, ReplyKind, ServerIdentity,
};
use netboot_dhcp::wire::{Message, MessageType, Repr};
use tracing::{debug, info, warn};

use crate::config::{Config, Leasing};
use crate::leases;
use crate::net;

/// Largest datagram handled; DHCP messages are at most a few hundred bytes
/// (576 unless the client allows more with option 57). Datagrams are
/// received into a buffer one byte larger, so that a longer one (which the
/// kernel cuts to the buffer) shows as filling it, and is dropped as too
/// large instead of being parsed cut short.
const MAX_DATAGRAM: usize = 4096;

/// What the server decided, counted since it started (for whoever runs
/// it beside others: `netbootd` exports them as metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// OFFERs sent (proxy or with an address).
    pub offers: AtomicU64,
    /// ACKs sent (boot server, or with an address).
    pub acks: AtomicU64,
    /// NAKs sent.
    pub naks: AtomicU64,
    /// Requests not answered: not a PXE client, no rule for it, a message
    /// type not answered here.
    pub ignored: AtomicU64,
    /// Requests that did not parse.
    pub malformed: AtomicU64,
    /// Datagrams larger than a DHCP message can be.
    pub too_large: AtomicU64,
    /// DISCOVERs not answered for want of a free address.
    pub pool_dry: AtomicU64,
}

/// Adds one to `c`.
fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A PXE client's DHCP request that pxed answered, for whoever watches the
/// server: `netbootd` takes a DHCP request of a PXE client as the start of
/// a new boot of that PC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootRequest {
    /// The client's MAC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The request's DHCP message type (DISCOVER, REQUEST, ...).
    pub message_type: Option<MessageType>,
    /// Whether iPXE sent it (a chain-loaded stage), not the firmware.
    pub ipxe: bool,
    /// Whether it is UEFI HTTP boot rather than PXE.
    pub http: bool,
    /// Where it came in: DHCP (67) or the boot server (4011).
    pub port: Port,
    /// Option 12, the host name the client says it has (its bytes, lossy
    /// UTF-8, at most 64 characters): the client's word, not a fact.
    pub hostname: Option<String>,
}

impl BootRequest {
    /// Whether it starts a boot: a DISCOVER or REQUEST on the DHCP port,
    /// the firmware's or iPXE's (iPXE in a NIC's ROM is the firmware; a
    /// chain-loaded iPXE's request comes before any disk is in use). The
    /// boot server's requests (port 4011) are a stage of a boot already
    /// started.
    pub fn starts_boot(&self) -> bool {
        self.port == Port::Dhcp
            && matches!(
                self.message_type,
                Some(MessageType::Discover | MessageType::Request)
            )
    }
}

/// Called for every answered PXE request, from the receive loop: it must
/// not block (hand slow work to a task).
pub type Observer = Arc<dyn Fn(&BootRequest) + Send + Sync>;

struct Server {
    observer: Option<Observer>,
    mode: Mode,
    stats: Arc<Stats>,
    malformed_log: netboot_daemon::RateLimit,
    too_large_log: netboot_daemon::RateLimit,
    dry_log: netboot_daemon::RateLimit,
}

/// What answers port 67.
enum Mode {
    /// proxyDHCP: the site's DHCP server hands out addresses.
    Proxy(ProxyServer),
    /// We hand out addresses, and save them to `leasing.lease_file`.
    Authoritative {
        server: AuthoritativeServer,
        leasing: Leasing,
    },
}

impl Mode {
    /// The policy that answers PXE clients (also on port 4011 in
    /// authoritative mode).
    fn proxy(&self) -> &ProxyServer {
        match self {
            Mode::Proxy(p) => p,
            Mode::Authoritative { server, .. } => server.proxy(),
        }
    }
}

fn hw(c: &[u8]) -> String {
    c.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn arch_name(c: &ClientClass) -> String {
    c.arch
        .name()
        .map_or_else(|| c.arch.0.to_string(), str::to_owned)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn observe(observer: &Option<Observer>, req: &Message<'_>, c: &ClientClass, port: Port) {
    if let Some(o) = observer {
        o(&BootRequest {
            mac: hw(c.hw_addr()),
            message_type: req.message_type().ok().flatten(),
            ipxe: c.ipxe,
            http: c.http,
            port,
            hostname: req.host_name().map(|h| {
                String::from_utf8_lossy(&h.to_cow())
                    .chars()
                    .take(64)
                    .collect()
            }),
        });
    }
}

impl Server {
    /// Handles one datagram from `port`; returns the reply and where to
    /// send it.
    fn handle(
        &mut self,
        port: Port,
        data: &[u8],
        src: SocketAddrV4,
    ) -> Option<(Vec<u8>, SocketAddrV4)> {
        let req = match Message::parse(data) {
            Ok(m) => m,
            Err(e) => {
                self.malformed(src, &e.to_string());
                return None;
            }
        };
        let reply = match (&self.mode, port) {
            (Mode::Authoritative { .. }, Port::Dhcp) => self.authoritative(&req),
            _ => self.proxy(port, &req, src),
        };
        let (repr, dest) = match reply {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => {
                self.malformed(src, &e.to_string());
                return None;
            }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        match repr.emit(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Some((buf, dest))
            }
            Err(e) => {
                warn!(%src, "cannot build the reply: {e}");
                None
            }
        }
    }

    /// A datagram that did not fit [`MAX_DATAGRAM`]: dropped unparsed (its
    /// end is gone, so any parse error would be a false lead).
    fn too_large(&mut self, src: SocketAddrV4, port: u16) {
        count(&self.stats.too_large);
        if let Some(suppressed) = self.too_large_log.allow(Instant::now()) {
            warn!(
                %src,
                port,
                suppressed,
                "dropped a datagram larger than {MAX_DATAGRAM} bytes (DHCP messages are a few hundred)"
            );
        }
    }

    fn malformed(&mut self, src: SocketAddrV4, what: &str) {
        count(&self.stats.malformed);
        if let Some(suppressed) = self.malformed_log.allow(Instant::now()) {
            if suppressed > 0 {
                warn!(%src, suppressed, "dropped malformed request: {what}");
            } else {
                warn!(%src, "dropped malformed request: {what}");
            }
        }
    }

    /// proxyDHCP and the boot server.
    fn proxy(
        &mut self,
        port: Port,
        req: &Message<'_>,
        src: SocketAddrV4,
    ) -> Result<Option<(Repr, SocketAddrV4)>, netboot_dhcp::Error> {
        match self.mode.proxy().handle(port, req)? {
            Outcome::Reply(r) => {
                let c = &r.class;
                let what = match r.kind {
                    ReplyKind::ProxyOffer => {
                        count(&self.stats.offers);
                        "proxy offer"
                    }
                    ReplyKind::BootAck => {
                        count(&self.stats.acks);
                        "boot server ack"
                    }
                };
                let dest = reply_destination(req, port, src);
                observe(&self.observer, req, c, port);
                info!(
                    mac = %hw(c.hw_addr()),
                    arch = %arch_name(c),
                    ipxe = c.ipxe,
                    http = c.http,
                    features = ?c.ipxe_features.iter().filter_map(|f| f.name()).collect::<Vec<_>>(),
                    rule = r.boot.rule,
                    file = %r.boot.file,
                    next_server = %r.boot.next_server,
                    %dest,
                    "{what}"
                );
                Ok(Some((r.repr, dest)))
            }
            Outcome::Ignore(why) => {
                count(&self.stats.ignored);
                let mac = hw(req.client_hw_addr());
                match why {
                    Ignored::NotPxeClient => debug!(%mac, "ignored: not a PXE client"),
                    Ignored::NotRequest => debug!(%mac, "ignored: not a BOOTREQUEST"),
                    Ignored::MessageType(t) => {
                        debug!(%mac, ?t, port = ?port, "ignored: message type not answered here")
                    }
                    Ignored::NoRule(c) => info!(
                        %mac,
                        arch = %arch_name(&c),
                        ipxe = c.ipxe,
                        "ignored: no rule for this client"
                    ),
                }
                Ok(None)
            }
        }
    }

    /// Authoritative mode on port 67: addresses from the pool, and the PXE
    /// next stage for PXE clients in the same message (decided by
    /// [`AuthoritativeServer`]); here the lease file, the log, the
    /// statistics and the observer.
    fn authoritative(
        &mut self,
        req: &Message<'_>,
    ) -> Result<Option<(Repr, SocketAddrV4)>, netboot_dhcp::Error> {
        let Mode::Authoritative { server, leasing } = &mut self.mode else {
            return Ok(None);
        };
        let mac = hw(req.client_hw_addr());
        let r = match server.handle(req, unix_now())? {
            Answer::Reply(r) => r,
            Answer::PoolDry { usage: u, .. } => {
                if let Some(suppressed) = self.dry_log.allow(Instant::now()) {
                    warn!(
                        %mac,
                        range = %format!("{}-{}", leasing.range.0, leasing.range.1),
                        offered = u.offered,
                        bound = u.bound,
                        declined = u.declined,
                        suppressed,
                        "address pool ran dry: DISCOVER not answered (offers are held {} s)",
                        OFFER_HOLD_SECS
                    );
                }
                count(&self.stats.pool_dry);
                return Ok(None);
            }
            Answer::Released { ip, .. } => {
                info!(%mac, %ip, "released");
                if let Err(e) = leases::save(server.pool(), &leasing.lease_file) {
                    warn!(
                        "cannot save leases to {}: {e}",
                        leasing.lease_file.display()
                    );
                }
                return Ok(None);
            }
            Answer::Declined { ip, .. } => {
                warn!(%mac, %ip, "declined: the address is in use by another host");
                return Ok(None);
            }
            Answer::Ignore(why) => {
                match why {
                    authoritative::Ignored::OtherServer(sid) => {
                        debug!(%mac, %sid, "REQUEST for another server")
                    }
                    authoritative::Ignored::MessageType(other) => {
                        debug!(%mac, ?other, "ignored message type")
                    }
                    _ => {}
                }
                return Ok(None);
            }
        };
        let authoritative::Reply {
            kind,
            repr,
            yiaddr: ip,
            pxe,
            destination: dest,
            ..
        } = *r;
        let (what, counter) = match kind {
            authoritative::ReplyKind::Nak(why) => {
                count(&self.stats.naks);
                info!(%mac, "NAK: {why}");
                return Ok(Some((repr, dest)));
            }
            authoritative::ReplyKind::Ack(lease) => {
                if let Err(e) = leases::save(server.pool(), &leasing.lease_file) {
                    // Not ACKed: an address we might forget on restart
                    // would be handed out twice.
                    warn!(%mac, ip = %lease.ip, "cannot save leases to {}: {e}; REQUEST not answered", leasing.lease_file.display());
                    return Ok(None);
                }
                ("ack", &self.stats.acks)
            }
            authoritative::ReplyKind::InformAck => ("ack", &self.stats.acks),
            authoritative::ReplyKind::Offer => ("offer", &self.stats.offers),
        };
        if let Some(p) = &pxe {
            observe(&self.observer, req, &p.class, Port::Dhcp);
        }
        count(counter);
        match &pxe {
            Some(p) => info!(
                %mac,
                %ip,
                arch = %arch_name(&p.class),
                ipxe = p.class.ipxe,
                file = %p.boot.file,
                next_server = %p.boot.next_server,
                %dest,
                "{what}"
            ),
            None => info!(
                %mac,
                %ip,
                %dest,
                "{what} (not a PXE client: address only)"
            ),
        }
        Ok(Some((repr, dest)))
    }
}

/// The range must lie in the interface's network, and not contain the
/// interface's own address: handing out addresses clients cannot use (or
/// ours) is a mistake to catch at start, not at 3 a.m.
fn check_range(range: (Ipv4Addr, Ipv4Addr), iface: &net::Interface) -> Result<(), String> {
    let mask = u32::from(iface.netmask);
    let net = u32::from(iface.addr) & mask;
    for end in [range.0, range.1] {
        if u32::from(end) & mask != net {
            return Err(format!(
                "--range {}-{} is not inside {}'s network {}/{}",
                range.0,
                range.1,
                iface.name,
                Ipv4Addr::from(net),
                mask.count_ones()
            ));
        }
    }
    if (u32::from(range.0)..=u32::from(range.1)).contains(&u32::from(iface.addr)) {
        return Err(format!(
            "--range {}-{} contains {}'s own address {}",
            range.0, range.1, iface.name, iface.addr
        ));
    }
    Ok(())
}

/// Why the server cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The interface is missing or has no IPv4 address.
    #[error("{0}")]
    Interface(String),
    /// The address range does not fit the interface's network.
    #[error("{0}")]
    Range(String),
    /// The lease file cannot be read.
    #[error("{0}")]
    Leases(String),
    /// A UDP port cannot be bound.
    #[error("cannot bind UDP port {port} on {interface}: {source}")]
    Bind {
        /// The port.
        port: u16,
        /// The interface.
        interface: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Serves `cfg` until `shutdown`, then logs the statistics.
pub async fn serve(cfg: Config, shutdown: netboot_daemon::Shutdown) -> Result<(), Error> {
    serve_observed(cfg, shutdown, None, Arc::default()).await
}

/// [`serve`], calling `observer` on every answered PXE request and
/// counting its decisions in `stats`.
pub async fn serve_observed(
    cfg: Config,
    mut shutdown: netboot_daemon::Shutdown,
    observer: Option<Observer>,
    stats: Arc<Stats>,
) -> Result<(), Error> {
    let iface = net::interface(&cfg.interface).map_err(Error::Interface)?;
    let tftp = cfg.tftp_server.unwrap_or(iface.addr);
    let identity = ServerIdentity {
        server_ip: iface.addr,
        tftp_server: Some(tftp),
    };
    let policy = cfg.policy(tftp);
    let proxy = ProxyServer::new(policy, identity);
    let mode = match &cfg.leasing {
        Some(l) => {
            check_range(l.range, &iface).map_err(Error::Range)?;
            let mut server = AuthoritativeServer::new(
                proxy,
                Settings {
                    range: l.range,
                    lease_time: l.lease_time,
                    netmask: iface.netmask,
                    router: l.router,
                    dns: l.dns.clone(),
                },
            );
            let loaded = leases::load(&l.lease_file).map_err(Error::Leases)?;
            let restored = server.pool_mut().restore(loaded, unix_now());
            info!(
                range = %format!("{}-{}", l.range.0, l.range.1),
                restored,
                file = %l.lease_file.display(),
                "authoritative mode: handing out addresses"
            );
            Mode::Authoritative {
                server,
                leasing: l.clone(),
            }
        }
        None => Mode::Proxy(proxy),
    };
    let bind = |port| {
        net::bind(&iface.name, port).map_err(|source| Error::Bind {
            port,
            interface: iface.name.clone(),
            source,
        })
    };
    let dhcp = bind(cfg.dhcp_port)?;
    let pxe = bind(cfg.pxe_port)?;
    for (i, r) in mode.proxy().policy.rules.iter().enumerate() {
        info!(rule = i, "{r:?}");
    }
    info!(
        interface = %iface.name,
        local = %SocketAddrV4::new(iface.addr, cfg.dhcp_port),
        pxe_port = cfg.pxe_port,
        tftp_server = %tftp,
        mode = match mode {
            Mode::Authoritative { .. } => "authoritative",
            Mode::Proxy(_) => "proxy",
        },
        "listening"
    );
    let mut server = Server {
        observer,
        mode,
        stats,
        malformed_log: netboot_daemon::RateLimit::new(Duration::from_secs(10), 10),
        too_large_log: netboot_daemon::RateLimit::new(Duration::from_secs(10), 10),
        dry_log: netboot_daemon::RateLimit::new(Duration::from_secs(10), 3),
    };
    let mut b1 = vec![0u8; MAX_DATAGRAM + 1];
    let mut b2 = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let (port, n, src, sock) = tokio::select! {
            r = dhcp.recv_from(&mut b1) => match r {
                Ok((n, src)) => (Port::Dhcp, n, src, &dhcp),
                Err(e) => { warn!("receive on port {}: {e}", cfg.dhcp_port); tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            r = pxe.recv_from(&mut b2) => match r {
                Ok((n, src)) => (Port::BootServer, n, src, &pxe),
                Err(e) => { warn!("receive on port {}: {e}", cfg.pxe_port); tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = shutdown.wait() => break,
        };
        let SocketAddr::V4(src) = src else { continue };
        if n > MAX_DATAGRAM {
            let p = if port == Port::Dhcp {
                cfg.dhcp_port
            } else {
                cfg.pxe_port
            };
            server.too_large(src, p);
            continue;
        }
        let data = if port == Port::Dhcp {
            &b1[..n]
        } else {
            &b2[..n]
        };
        if let Some((reply, dest)) = server.handle(port, data, src) {
            if let Err(e) = sock.send_to(&reply, dest).await {
                warn!(%dest, "cannot send the reply: {e}");
            }
        }
    }
    let s = &server.stats;
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    info!(
        offers = n(&s.offers),
        acks = n(&s.acks),
        naks = n(&s.naks),
        ignored = n(&s.ignored),
        malformed = n(&s.malformed),
        too_large = n(&s.too_large),
        pool_dry = n(&s.pool_dry),
        "statistics"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_must_fit_the_interface() {
        let iface = net::Interface {
            name: "eth0".into(),
            addr: Ipv4Addr::new(10, 0, 0, 1),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
        };
        let ip = |d: u8| Ipv4Addr::new(10, 0, 0, d);
        assert!(check_range((ip(100), ip(200)), &iface).is_ok());
        let e = check_range((ip(100), Ipv4Addr::new(10, 0, 1, 5)), &iface).unwrap_err();
        assert!(e.contains("not inside eth0's network 10.0.0.0/24"), "{e}");
        let e = check_range((ip(1), ip(20)), &iface).unwrap_err();
        assert!(e.contains("own address"), "{e}");
    }

    #[test]
    fn only_dhcp_discovers_and_requests_start_a_boot() {
        let r = |message_type, ipxe, port| BootRequest {
            mac: "52:54:00:00:00:01".into(),
            message_type: Some(message_type),
            ipxe,
            http: false,
            port,
            hostname: None,
        };
        assert!(r(MessageType::Discover, false, Port::Dhcp).starts_boot());
        assert!(r(MessageType::Request, false, Port::Dhcp).starts_boot());
        assert!(r(MessageType::Discover, true, Port::Dhcp).starts_boot());
        assert!(!r(MessageType::Request, false, Port::BootServer).starts_boot());
        assert!(!r(MessageType::Inform, false, Port::Dhcp).starts_boot());
    }
}
