//! `netbootd` as a library: the whole boot server of one office in one
//! process, from one configuration ([`Config`]).
//!
//! It runs, on one tokio runtime with one signal handler, the servers of
//! the other netboot daemons as libraries: `netboot-pxed` (proxyDHCP, or
//! DHCP with a range), `netboot-tftpd` (iPXE's binaries), `netboot-iscsid`
//! (each PC's disk, a target of its own whose table netbootd changes while
//! it runs), plus HTTP with axum for each PC's iPXE script and the JSON
//! API, over the image store of `netboot-image`.
//!
//! The boot of one PC: the firmware's PXE request gets iPXE over TFTP and
//! starts the boot in the inventory (pxed's observer): a stale session of
//! the PC's disk is probed and dropped, a volatile PC's overlay made anew,
//! its target `IQN-PREFIX:NAME` opened for its initiator name and CHAP
//! secret only. iPXE's request gets `http://SERVER/boot.ipxe`, which chains
//! to the PC's own script `/boot/MAC.ipxe` (served only to that MAC; an
//! unknown PC is enrolled here); the script `sanboot`s the target.

pub mod config;
mod http;
pub mod inventory;
pub mod metrics;
mod tftp;
pub mod web;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use netboot_daemon::Shutdown;
use netboot_image::Store;
use tokio::task::JoinSet;
use tracing::{info, warn};

pub use config::Config;
pub use inventory::Inventory;

/// Why netbootd stops with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be served (the interface, the store, a
    /// client).
    #[error("{0}")]
    Setup(String),
    /// The DHCP/PXE server failed.
    #[error("dhcp: {0}")]
    Pxed(#[from] netboot_pxed::Error),
    /// The TFTP server failed.
    #[error("tftp: {0}")]
    Tftpd(#[from] netboot_tftpd::Error),
    /// The iSCSI target failed.
    #[error("iscsi: {0}")]
    Iscsid(#[from] netboot_iscsid::Error),
    /// The AoE target failed.
    #[error("aoe: {0}")]
    Aoed(#[from] netboot_aoed::Error),
    /// An HTTP listener cannot be opened.
    #[error("http {addr}: {source}")]
    Http {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The API token (made at first start, mode 0600 in the store).
fn api_token(store: &Store) -> Result<String, String> {
    let path = store.root().join("netbootd").join("api-token");
    inventory::secret_file(&path, 32).map_err(|e| format!("{}: {e}", path.display()))
}

/// How long netbootd waits at its start for a `netbootctl` command that
/// changes the store to finish.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Claims the store for this netbootd (see `Store::claim`): while it runs,
/// `netbootctl` changes the store through its API, whose address it finds
/// in the claim. Waits [`CLAIM_WAIT`] for a `netbootctl` that holds it.
async fn claim(store: &Store, api: SocketAddr) -> Result<netboot_image::store::Claim, Error> {
    let mut api = api;
    if api.ip().is_unspecified() {
        api.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    let owner = serde_json::json!({
        "program": "netbootd",
        "pid": std::process::id(),
        "api": format!("http://{api}"),
    })
    .to_string();
    let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
    loop {
        if let Some(c) = store
            .claim(&owner)
            .map_err(|e| Error::Setup(format!("store: {e}")))?
        {
            return Ok(c);
        }
        let other = store.owner().ok().flatten().unwrap_or_default();
        if other.contains("\"netbootd\"") || tokio::time::Instant::now() >= deadline {
            return Err(Error::Setup(format!(
                "the store {} is in use by another process ({}): one netbootd per store",
                store.root().display(),
                other.trim()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn pxed_config(cfg: &Config, addr: Ipv4Addr) -> netboot_pxed::Config {
    let script = match cfg.scripts {
        config::Scripts::Http => format!("http://{addr}:{}/boot.ipxe", cfg.http_port),
        config::Scripts::Tftp if cfg.tftp_port == 69 => format!("tftp://{addr}/boot.ipxe"),
        config::Scripts::Tftp => format!("tftp://{addr}:{}/boot.ipxe", cfg.tftp_port),
    };
    let rules = netboot_pxed::config::chainload_rules(netboot_pxed::config::Chainload {
        script: Some(script),
        // UEFI HTTP boot: ipxe.efi from the TFTP root, over HTTP.
        http_url: Some(format!("http://{addr}:{}/ipxe/ipxe.efi", cfg.http_port)),
        ..Default::default()
    });
    let mut c = netboot_pxed::Config::new(cfg.interface.clone(), rules);
    c.tftp_server = Some(addr);
    c.dhcp_port = cfg.dhcp_port;
    c.pxe_port = cfg.pxe_port;
    c.log_level = cfg.log_level.clone();
    if let config::DhcpMode::Authoritative {
        range,
        router,
        dns,
        lease_file,
        lease_time,
    } = &cfg.dhcp
    {
        c.leasing = Some(netboot_pxed::config::Leasing {
            range: *range,
            lease_file: lease_file.clone(),
            lease_time: lease_time.unwrap_or(3600).max(60),
            router: *router,
            dns: dns.clone(),
        });
    }
    c
}

/// The most bytes of one iPXE file copied into the TFTP root.
const MAX_IPXE_FILE: u64 = 64 << 20;

/// The TFTP root, `STORE/netbootd/tftp`: a copy of the iPXE binaries of
/// `ipxe_dir` made at every start. Debian's ipxe package links `ipxe.efi`
/// to `/boot/ipxe.efi`, out of its directory, which the TFTP server (rightly)
/// refuses to follow for a client; the administrator's directory is
/// trusted here, once, and only its regular files (after links) are
/// served.
fn tftp_root(ipxe_dir: &std::path::Path, store: &Store) -> Result<std::path::PathBuf, String> {
    let root = store.root().join("netbootd").join("tftp");
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let entries =
        std::fs::read_dir(ipxe_dir).map_err(|e| format!("ipxe_dir {}: {e}", ipxe_dir.display()))?;
    let mut copied = 0;
    for e in entries.flatten() {
        let from = e.path();
        // Follows links: what the name means on this server.
        let Ok(meta) = std::fs::metadata(&from) else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_IPXE_FILE {
            continue;
        }
        let to = root.join(e.file_name());
        let tmp = root.join(format!(".{}.tmp", e.file_name().to_string_lossy()));
        std::fs::copy(&from, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &to))
            .map_err(|err| format!("{} to {}: {err}", from.display(), to.display()))?;
        copied += 1;
    }
    if !root.join("undionly.kpxe").is_file() && !root.join("ipxe.efi").is_file() {
        warn!(ipxe_dir = %ipxe_dir.display(), "neither undionly.kpxe nor ipxe.efi: PCs get no iPXE (install Debian's ipxe package, or set [server] ipxe_dir)");
    }
    info!(files = copied, from = %ipxe_dir.display(), root = %root.display(), "iPXE files for TFTP");
    Ok(root)
}

fn tftpd_config(cfg: &Config, addr: Ipv4Addr, root: &std::path::Path) -> netboot_tftpd::Config {
    let mut c = netboot_tftpd::Config::new(
        root.to_owned(),
        vec![SocketAddr::from((addr, cfg.tftp_port))],
    );
    c.log_level = cfg.log_level.clone();
    c
}

fn iscsid_config(cfg: &Config, addr: Ipv4Addr) -> netboot_iscsid::Config {
    let limits = netboot_iscsid::config::Limits::default();
    netboot_iscsid::Config {
        listen: vec![SocketAddr::from((addr, cfg.iscsi_port))],
        portals: Vec::new(),
        max_sessions: 256,
        max_logins_per_address: 8,
        login_timeout: std::time::Duration::from_secs(15),
        nop_interval: std::time::Duration::from_secs(10),
        nop_timeout: std::time::Duration::from_secs(20),
        // Learn early whether a PC's initiator answers pings: a Linux one
        // that does is dropped on a probe's short deadline when the PC
        // boots anew (powered off, it sends nothing, not even a FIN).
        first_ping: Some(std::time::Duration::from_secs(1)),
        direct: false,
        log_level: cfg.log_level.clone(),
        discovery_chap: None,
        targets: Vec::new(),
        limits,
    }
}

/// The AoE target on the served interface: one worker thread, 64
/// buffers a PC; the disks come from the inventory.
fn aoed_config(cfg: &Config) -> netboot_aoed::Config {
    netboot_aoed::Config {
        interface: cfg.interface.clone(),
        buffer_count: 64,
        threads: 1,
        qdisc_bypass: false,
        log_level: cfg.log_level.clone(),
        disks: Vec::new(),
    }
}

async fn listen(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Http { addr, source })?;
    info!(local = %l.local_addr().map_err(|source| Error::Http { addr, source })?, "http listening");
    Ok(l)
}

async fn http(
    l: tokio::net::TcpListener,
    router: axum::Router,
    mut shutdown: Shutdown,
) -> Result<(), Error> {
    let addr = l
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    axum::serve(
        l,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.wait().await })
    .await
    .map_err(|source| Error::Http { addr, source })
}

/// [`http`] over TLS (rustls), for the page and the API away from
/// localhost.
async fn https(
    l: tokio::net::TcpListener,
    router: axum::Router,
    mut shutdown: Shutdown,
    tls: axum_server::tls_rustls::RustlsConfig,
) -> Result<(), Error> {
    let addr = l
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let l = l
        .into_std()
        .map_err(|source| Error::Http { addr, source })?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.wait().await;
        h.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
    });
    axum_server::from_tcp_rustls(l, tls)
        .handle(handle)
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .map_err(|source| Error::Http { addr, source })
}

/// Serves `cfg` until `shutdown` (then every server stops as its
/// standalone daemon does: iSCSI commands in flight finish, disks are
/// flushed). SIGHUP reloads the client table of the file.
pub async fn serve(cfg: Config, shutdown: Shutdown) -> Result<(), Error> {
    let addr = match cfg.address {
        Some(a) => a,
        None => {
            netboot_pxed::net::interface(&cfg.interface)
                .map_err(Error::Setup)?
                .addr
        }
    };
    let store = Store::open(&cfg.store).map_err(|e| Error::Setup(format!("store: {e}")))?;
    let _claim = claim(&store, cfg.api_listen).await?;
    let token = api_token(&store).map_err(Error::Setup)?;
    let pxed = pxed_config(&cfg, addr);
    let tftp = tftp_root(&cfg.ipxe_dir, &store).map_err(Error::Setup)?;
    let tftpd = tftpd_config(&cfg, addr, &tftp);
    let iscsid = iscsid_config(&cfg, addr);
    let targets = netboot_iscsid::Targets::default();
    let aoe = netboot_aoed::Targets::default();
    let aoed = aoed_config(&cfg);
    let iface = netboot_aoed::Iface::lookup(&cfg.interface)
        .map_err(|e| Error::Setup(format!("interface {}: {e}", cfg.interface)))?;
    let inv = Arc::new(
        Inventory::new(
            cfg.clone(),
            store,
            addr,
            targets.clone(),
            iscsid.limits.max_transfer,
            aoe.clone(),
            inventory::AoeSite {
                mtu: iface.mtu,
                buffer_count: aoed.buffer_count,
            },
        )
        .map_err(Error::Setup)?,
    );
    // PCs that were running find their disks again.
    let reopened = {
        let inv = inv.clone();
        tokio::task::spawn_blocking(move || inv.reopen_disks())
            .await
            .map_err(|e| Error::Setup(e.to_string()))?
            .map_err(Error::Setup)?
    };
    if reopened > 0 {
        info!(disks = reopened, "the PCs' overlays are served as they are");
    }
    {
        let inv = Arc::downgrade(&inv);
        aoe.observe(move |ev| {
            if let Some(inv) = inv.upgrade() {
                inv.aoe_event(ev);
            }
        });
    }
    {
        let inv = Arc::downgrade(&inv);
        targets.observe(move |ev| {
            if let Some(inv) = inv.upgrade() {
                info!(target = ev.target, initiator = ev.initiator, peer = %ev.peer, kind = ?ev.kind, "session");
                inv.session_event(ev);
            }
        });
    }
    // A PXE client's DHCP request starts a new boot of that PC.
    let on_dhcp: netboot_pxed::Observer = {
        let inv = Arc::downgrade(&inv);
        Arc::new(move |r: &netboot_pxed::BootRequest| {
            if !r.starts_boot() {
                return;
            }
            if let Some(inv) = inv.upgrade() {
                if let Some(name) = inv.begin_new_boot(&r.mac, r.hostname.as_deref()) {
                    tokio::spawn(inv.finish_new_boot(r.mac.clone(), name));
                }
            }
        })
    };
    // The page and the API over TLS when the file names a certificate.
    let tls = match &cfg.api_tls {
        Some((cert, key)) => {
            // ring: it builds with the C compiler alone (aws-lc-rs, the
            // provider rustls would rather have, needs cmake). It marks
            // its provider deprecated for want of post-quantum key
            // exchange, which browsers on a LAN do without.
            #[allow(deprecated)]
            let provider = rustls::crypto::ring::default_provider();
            let _ = provider.install_default();
            Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|e| {
                        Error::Setup(format!(
                            "api tls: {} and {}: {e}",
                            cert.display(),
                            key.display()
                        ))
                    })?,
            )
        }
        None => None,
    };
    let boot_http = listen(SocketAddr::from((addr, cfg.http_port))).await?;
    let api_http = listen(cfg.api_listen).await?;
    info!(%addr, interface = cfg.interface, image = cfg.defaults.image, mode = %cfg.defaults.mode, "netbootd serving");
    let mut tasks: JoinSet<Result<(), Error>> = JoinSet::new();
    let sd = shutdown.clone();
    let stats = inv.metrics.dhcp.clone();
    tasks.spawn(
        async move { Ok(netboot_pxed::serve_observed(pxed, sd, Some(on_dhcp), stats).await?) },
    );
    let sd = shutdown.clone();
    let scripts = Arc::new(tftp::Scripts {
        inv: inv.clone(),
        port: cfg.tftp_port,
    });
    tasks.spawn(async move { Ok(netboot_tftpd::serve_with(tftpd, scripts, sd).await?) });
    let sd = shutdown.clone();
    tasks.spawn(async move { Ok(netboot_iscsid::serve_targets(iscsid, targets, sd).await?) });
    let sd = shutdown.clone();
    tasks.spawn(async move { Ok(netboot_aoed::serve_targets(aoed, aoe, sd).await?) });
    tasks.spawn(http(
        boot_http,
        http::boot_router(inv.clone(), cfg.http_port, &cfg.files_dir, &tftp),
        shutdown.clone(),
    ));
    let web = web::Web {
        inv: inv.clone(),
        keys: Arc::new(web::session::Keys::new(&token, cfg.api_password.clone())),
        public_view: cfg.public_view,
        secure_cookie: tls.is_some(),
    };
    match tls {
        Some(tls) => tasks.spawn(https(
            api_http,
            http::api_router(web),
            shutdown.clone(),
            tls,
        )),
        None => tasks.spawn(http(api_http, http::api_router(web), shutdown.clone())),
    };
    tasks.spawn(sample_io(inv.clone(), shutdown.clone()));
    tasks.spawn(reload_on_sighup(cfg.clone(), inv.clone(), shutdown.clone()));
    // The servers bind their sockets first thing: one that cannot ends
    // the process right after this (systemd sees it fail).
    netboot_daemon::systemd::ready(&format!(
        "serving {} PCs of the file on {}",
        cfg.clients.len(),
        cfg.interface
    ));
    // The first server to fail stops the others.
    let mut result = Ok(());
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if result.is_ok() {
                    result = Err(e);
                }
                tasks.abort_all();
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                if result.is_ok() {
                    result = Err(Error::Setup(format!("a server task failed: {e}")));
                }
                tasks.abort_all();
            }
        }
    }
    result
}

/// Samples every PC's I/O counters every 10 s (the page's charts).
async fn sample_io(inv: Arc<Inventory>, mut shutdown: Shutdown) -> Result<(), Error> {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tick.tick() => inv.sample(),
        }
    }
}

async fn reload_on_sighup(
    cfg: Config,
    inv: Arc<Inventory>,
    mut shutdown: Shutdown,
) -> Result<(), Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| Error::Setup(format!("cannot handle SIGHUP: {e}")))?;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = hup.recv() => {}
        }
        let (cfg, inv2) = (cfg.clone(), inv.clone());
        let r = tokio::task::spawn_blocking(move || {
            let clients = cfg.reload_clients(&inv2.store)?;
            let n = clients.len();
            inv2.set_clients(clients).map(|()| n)
        })
        .await;
        match r {
            Ok(Ok(n)) => info!(clients = n, "SIGHUP: client table reloaded"),
            Ok(Err(e)) => warn!("SIGHUP: reload refused, the old table stays: {e}"),
            Err(e) => warn!("SIGHUP: reload failed: {e}"),
        }
    }
}
