//! Accepting connections and running each one: login, then the full
//! feature phase, with SCSI commands executed on the blocking pool.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use netboot_iscsi::codec::PduDecoder;
use netboot_iscsi::login::LoginStatus;
use netboot_iscsi::login::{
    chap::ChallengeHistory, Credentials, LoginState, Portal, TargetConfig, TargetEntry, TargetLogin,
};
use netboot_iscsi::negotiate::SessionType;
use netboot_iscsi::session::{Completion, Event, SessionConfig, TargetSession};
use netboot_iscsi::wire::Bhs;
use netboot_iscsi::wire::Digests;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

use crate::admission::{Admission, Displaced, Limits, Ticket};
use crate::config::{Chap, Config};
use crate::luns::{Luns, Nexus};
use crate::reinstate::{Reinstated, SessionKey, Sessions};
use crate::targets::{SessionEvent, SessionEventKind, Targets};

/// Time a new connection has to send its first PDU.
const FIRST_PDU_TIMEOUT: Duration = Duration::from_secs(5);
/// Time in-flight commands get to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Time a login waits for its disks to be this target's alone (an RBD
/// image's lock: the cluster answers in milliseconds, or is unreachable).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(10);

struct Shared {
    /// Everything of the login configuration but the targets.
    base: TargetConfig,
    targets: Targets,
    history: Arc<ChallengeHistory>,
    tsih: AtomicU16,
    admission: Arc<Admission>,
    /// Open sessions by initiator, ISID and target, for reinstatement.
    sessions: Arc<Sessions>,
    login_timeout: Duration,
    /// Other gateways' portals SendTargets names after this one.
    portals: Vec<SocketAddr>,
    session: SessionConfig,
    /// Held by every connection task: its count is the number of them.
    alive: Arc<()>,
    /// Refusals and evictions: a flood of them is summarised.
    refusals: Mutex<netboot_daemon::RateLimit>,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// Logs a refusal or an eviction, at most 10 lines per 10 s.
    fn log_refusal(&self, peer: SocketAddr, what: &str) {
        let allowed = self
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(std::time::Instant::now());
        if let Some(suppressed) = allowed {
            if suppressed > 0 {
                warn!(%peer, suppressed, "{what} ({suppressed} more like it not logged)");
            } else {
                warn!(%peer, "{what}");
            }
        }
    }
}

fn credentials(c: &Chap) -> Credentials {
    Credentials {
        username: c.user.clone(),
        secret: c.secret.as_bytes().to_vec(),
    }
}

/// Why the target cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A LUN of a target cannot be served.
    #[error("target {target}: {source}")]
    Lun {
        /// The target's name.
        target: String,
        /// Why.
        source: crate::luns::LunError,
    },
    /// A listening socket cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Serves `cfg` until `shutdown`: then no new connections are accepted,
/// commands in flight get 10 s to finish, and every disk is flushed.
pub async fn serve(cfg: Config, shutdown: netboot_daemon::Shutdown) -> Result<(), Error> {
    let targets = Targets::default();
    let images = netboot_image::Images::default();
    for t in &cfg.targets {
        let set =
            Luns::open(t, cfg.direct, cfg.limits.max_transfer, &images).map_err(|source| {
                Error::Lun {
                    target: t.name.clone(),
                    source,
                }
            })?;
        for l in &t.luns {
            info!(
                target = %t.name,
                lun = l.id,
                disk = %l.disk.display(),
                format = %l.format,
                read_only = l.read_only,
                "serving"
            );
        }
        targets.insert(
            TargetEntry {
                name: t.name.clone(),
                alias: t.alias.clone(),
                portals: Vec::new(),
                allowed_initiators: t.allow_initiators.clone(),
                chap: t.chap.as_ref().map(credentials),
                mutual_chap: t.mutual_chap.as_ref().map(credentials),
            },
            set,
        );
    }
    serve_targets(cfg, targets, shutdown).await
}

/// Serves the targets of `targets` (not those of `cfg.targets`) until
/// `shutdown`, as [`serve`] does; the caller may add and remove targets
/// while it runs.
pub async fn serve_targets(
    cfg: Config,
    targets: Targets,
    mut shutdown: netboot_daemon::Shutdown,
) -> Result<(), Error> {
    let base = TargetConfig {
        targets: Vec::new(),
        discovery_chap: cfg.discovery_chap.as_ref().map(credentials),
        preferences: cfg.limits.preferences.clone(),
        cmd_window: cfg.limits.cmd_window,
        ..TargetConfig::default()
    };
    raise_fd_limit(cfg.max_sessions);
    let mut listeners = Vec::new();
    for addr in &cfg.listen {
        let listen = |source| Error::Listen {
            addr: *addr,
            source,
        };
        let l = bind(*addr).map_err(listen)?;
        info!(local = %l.local_addr().map_err(listen)?, "listening");
        listeners.push(l);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        base,
        targets,
        history: Arc::new(ChallengeHistory::default()),
        tsih: AtomicU16::new(1),
        admission: Admission::new(Limits {
            max_sessions: cfg.max_sessions,
            max_pending: (4 * cfg.max_sessions).max(64),
            max_per_address: cfg.max_logins_per_address,
        }),
        sessions: Arc::new(Sessions::default()),
        login_timeout: cfg.login_timeout,
        portals: cfg.portals.clone(),
        session: SessionConfig {
            nop_interval: cfg.nop_interval,
            nop_timeout: cfg.nop_timeout,
            first_ping: cfg.first_ping,
            max_transfer: cfg.limits.max_transfer,
            ..SessionConfig::default()
        },
        alive: Arc::new(()),
        refusals: Mutex::new(netboot_daemon::RateLimit::new(Duration::from_secs(10), 10)),
        shutdown: stop_rx,
    });
    let mut accepts = tokio::task::JoinSet::new();
    for l in listeners {
        accepts.spawn(accept_loop(l, shared.clone()));
    }
    shutdown.wait().await;
    info!("finishing in-flight commands");
    accepts.abort_all();
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while Arc::strong_count(&shared.alive) > 1 {
        if tokio::time::Instant::now() >= deadline {
            warn!("sessions still open after {SHUTDOWN_GRACE:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for l in shared.targets.all_luns() {
        if let Err(e) = l.flush() {
            warn!("flush on shutdown failed: {e}");
        }
    }
    Ok(())
}

/// Raises the soft limit of open files to the hard one: every session and
/// every pending connection (up to 5 x `max_sessions` in all) is a socket,
/// and systemd's default soft limit of 1,024 would otherwise let a flood of
/// bare connections stop the accepting of new ones.
fn raise_fd_limit(max_sessions: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let mut limit = soft;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => limit = hard,
            Err(e) => warn!("cannot raise the open file limit from {soft} to {hard}: {e}"),
        }
    }
    let need = 5 * max_sessions as u64 + 64;
    if limit < need {
        warn!(
            limit,
            need,
            "open file limit is low for --max-sessions {max_sessions}: raise it (LimitNOFILE=)"
        );
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        // [::]:3260 and 0.0.0.0:3260 side by side.
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

async fn accept_loop(l: TcpListener, shared: Arc<Shared>) {
    let mut accept_errors = netboot_daemon::RateLimit::new(Duration::from_secs(10), 3);
    loop {
        let (stream, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors, typically: wait for some to close.
                if let Some(suppressed) = accept_errors.allow(std::time::Instant::now()) {
                    warn!(suppressed, "accept: {e}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ticket = match shared
            .admission
            .connect(peer.ip(), std::time::Instant::now())
        {
            Ok((t, displaced)) => {
                if let Some(d) = displaced {
                    shared.log_refusal(
                        peer,
                        &format!(
                            "too many connections not logged in: closing the oldest, from {d}"
                        ),
                    );
                }
                t
            }
            Err(e) => {
                shared.log_refusal(peer, &format!("connection refused: {e}"));
                drop(stream);
                continue;
            }
        };
        let shared = shared.clone();
        let alive = shared.alive.clone();
        tokio::spawn(async move {
            match connection(stream, peer, &shared, ticket).await {
                Ok(()) => debug!(%peer, "connection closed"),
                Err(e) => info!(%peer, "connection ended: {e}"),
            }
            drop(alive);
        });
    }
}

/// Reads until one whole PDU is decoded.
async fn read_pdu(
    rd: &mut (impl AsyncReadExt + Unpin),
    buf: &mut BytesMut,
    dec: &mut PduDecoder,
) -> Result<Option<netboot_iscsi::wire::Pdu>, String> {
    loop {
        if let Some(p) = dec.decode(buf).map_err(|e| e.to_string())? {
            return Ok(Some(p));
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        let n = rd.read_buf(buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(None);
        }
    }
}

/// Claims the disks of the target a login about to enter full feature
/// phase is for (see `BlockDevice::claim`); nothing for other logins.
async fn claim(shared: &Shared, login: &TargetLogin) -> Result<(), String> {
    let Some(result) = login.result() else {
        return Ok(());
    };
    if result.params.session_type == SessionType::Discovery {
        return Ok(());
    }
    let target = result.params.target_name.unwrap_or_default();
    let Some(luns) = shared.targets.luns(&target) else {
        return Ok(());
    };
    let claim = tokio::task::spawn_blocking(move || luns.claim());
    match tokio::time::timeout(CLAIM_TIMEOUT, claim).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("{target}: its disk is another gateway's ({e})")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "{target}: its disk is not free after {CLAIM_TIMEOUT:?}"
        )),
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    ticket: Ticket,
) -> Result<(), String> {
    let slot = ticket.slot().clone();
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    // SendTargets answers with the address this connection came in on.
    let mut config = shared.base.clone();
    config.targets = shared.targets.entries();
    for t in &mut config.targets {
        t.portals = std::iter::once(local)
            .chain(shared.portals.iter().copied().filter(|p| *p != local))
            .map(|address| Portal {
                address,
                tpgt: config.portal_group_tag,
            })
            .collect();
    }
    let config = Arc::new(config);
    let tsih = match shared.tsih.fetch_add(1, Ordering::Relaxed) {
        0 => shared.tsih.fetch_add(1, Ordering::Relaxed),
        n => n,
    };
    let mut login =
        TargetLogin::new(config.clone(), tsih).with_challenge_history(shared.history.clone());
    let mut dec = PduDecoder::default();
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let login_phase = async {
        let mut first = true;
        loop {
            let read = read_pdu(&mut stream, &mut rbuf, &mut dec);
            let pdu = if first {
                // Bare connections do not stay long.
                match tokio::time::timeout(FIRST_PDU_TIMEOUT, read).await {
                    Ok(r) => r?,
                    Err(_) => return Err(LoginEnd::Quiet("no PDU within the first 5 s".into())),
                }
            } else {
                read.await?
            };
            let Some(pdu) = pdu else {
                return Err(LoginEnd::Quiet("closed during login".into()));
            };
            let resp = if first && matches!(pdu.header, Bhs::LoginRequest(_)) {
                first = false;
                match shared
                    .admission
                    .begin_login(&ticket, std::time::Instant::now())
                {
                    Ok(Displaced::Nobody) => login.handle(&pdu),
                    Ok(d) => {
                        shared.log_refusal(peer, &format!("all sessions taken: {d:?} makes room"));
                        login.handle(&pdu)
                    }
                    Err(e) => {
                        shared.log_refusal(peer, &format!("login refused: {e}"));
                        login.refuse_request(&pdu, LoginStatus::OUT_OF_RESOURCES)
                    }
                }
            } else {
                first = false;
                login.handle(&pdu)
            };
            // A disk other servers could write too (RBD) is this target's
            // alone while it serves it: a live gateway elsewhere that has it
            // refuses the login, Service unavailable (the initiator tries
            // again later, or another portal).
            let resp = match claim(shared, &login).await {
                Ok(()) => resp,
                Err(e) => {
                    shared.log_refusal(peer, &format!("login refused: {e}"));
                    login.refuse_request(&pdu, LoginStatus::SERVICE_UNAVAILABLE)
                }
            };
            wbuf.clear();
            resp.emit(&mut wbuf, Digests::default())
                .map_err(|e| e.to_string())?;
            stream.write_all(&wbuf).await.map_err(|e| e.to_string())?;
            // Sent: the full feature phase must not send it again.
            wbuf.clear();
            match login.state() {
                LoginState::FullFeature => return Ok(()),
                LoginState::Failed(status) if status == LoginStatus::OUT_OF_RESOURCES => {
                    return Err(LoginEnd::Quiet("out of resources".into()));
                }
                LoginState::Failed(status) => {
                    return Err(LoginEnd::Warn(format!(
                        "login refused with status {status}"
                    )));
                }
                LoginState::InProgress => {}
            }
        }
    };
    let login_phase = async {
        tokio::select! {
            r = login_phase => r,
            _ = slot.evicted() => Err(LoginEnd::Quiet("evicted to make room".into())),
        }
    };
    match tokio::time::timeout(shared.login_timeout, login_phase).await {
        Ok(Ok(())) => ticket.logged_in(),
        Ok(Err(LoginEnd::Warn(e))) => {
            warn!(%peer, "{e}");
            return Ok(());
        }
        Ok(Err(LoginEnd::Quiet(e))) => return Err(e),
        Err(_) => return Err("login timed out".into()),
    }
    let result = login.result().ok_or("login finished without a result")?;
    let params = result.params.clone();
    let initiator = params.initiator_name.clone().unwrap_or_default();
    let discovery = params.session_type == SessionType::Discovery;
    let target_name = params.target_name.clone().unwrap_or_default();
    let luns = if discovery {
        None
    } else {
        Some(
            shared
                .targets
                .luns(&target_name)
                .ok_or("logged in to a target that was removed")?,
        )
    };
    // A session of this initiator, ISID and target still open is the
    // initiator's last one (it knows it is gone): it is closed, its commands
    // finished, before this one runs any. Held until this session's end.
    let _registration = if discovery {
        None
    } else {
        let key = SessionKey::new(&initiator, result.isid.0, &target_name);
        let (reg, how) = shared
            .sessions
            .register(key, slot.clone(), peer, SHUTDOWN_GRACE)
            .await;
        match how {
            Reinstated::New => {}
            Reinstated::Replaced(old) => info!(
                %peer,
                initiator,
                target = target_name,
                %old,
                "session reinstatement: the initiator logged in again with the ISID of its open session, which is closed"
            ),
            Reinstated::StillRunning(old) => warn!(
                %peer,
                initiator,
                target = target_name,
                %old,
                "session reinstatement: the old session's commands still run after {SHUTDOWN_GRACE:?}; the new session goes on"
            ),
        }
        Some(reg)
    };
    info!(
        %peer,
        initiator,
        isid = %hex(&result.isid.0),
        target = target_name,
        discovery,
        tsih,
        header_digest = ?params.header_digest,
        data_digest = ?params.data_digest,
        "logged in"
    );
    let notify = |kind| {
        if !discovery {
            shared.targets.notify(SessionEvent {
                target: target_name.clone(),
                initiator: initiator.clone(),
                peer,
                kind,
            });
        }
    };
    notify(SessionEventKind::LoggedIn);
    let digests = params.digests();
    dec.set_digests(digests);
    dec.set_max_data_segment_len(params.target_max_recv_data_segment_length as usize);
    let nexus = Arc::new(Nexus::new(
        u64::from(tsih),
        format!("{},i,0x{}", initiator, hex(&result.isid.0)),
        format!("{},t,0x{:04x}", target_name, config.portal_group_tag),
    ));
    let mut session = TargetSession::new(
        &result,
        config.clone(),
        shared.session.clone(),
        std::time::Instant::now(),
    );
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(u64, Completion)>();
    let mut probes = shared.targets.probes();
    let io = (!discovery).then(|| shared.targets.io_counters(&target_name));
    let mut hear_probes = !discovery;
    let ffp = async {
        let (mut rd, mut wr) = stream.into_split();
        let mut shutdown = shared.shutdown.clone();
        let mut stopping = false;
        loop {
            // Hand new work to the SCSI layer.
            while let Some(ev) = session.poll_event() {
                match (ev, &luns) {
                    (
                        Event::Execute {
                            id,
                            lun,
                            cdb,
                            data_out,
                            read_len,
                        },
                        Some(l),
                    ) => {
                        let (l, nexus, tx) = (l.clone(), nexus.clone(), done_tx.clone());
                        let io = io.clone();
                        tokio::task::spawn_blocking(move || {
                            let c = l.execute(&nexus, lun, &cdb, &data_out);
                            if let Some(io) = io {
                                let good = c.status == netboot_scsi::Status::Good;
                                io.count(
                                    c.data_in.len().min(read_len as usize),
                                    if good { data_out.len() } else { 0 },
                                );
                            }
                            let _ = tx.send((id, c));
                        });
                    }
                    (Event::Execute { id, .. }, None) => {
                        // SCSI commands in a discovery session.
                        session.handle_completion(id, netboot_iscsi::scsi::not_in_discovery());
                    }
                    (Event::LunReset(lun), Some(l)) => l.lun_reset(lun, &nexus),
                    (Event::TargetReset, Some(l)) => l.target_reset(&nexus),
                    _ => {}
                }
            }
            // Send what is due: headers are emitted into `wbuf`, large data
            // segments go to the socket from where they are (no copy).
            let mut chunks: Vec<Bytes> = Vec::new();
            let mut queued = 0usize;
            while let Some(p) = session.poll_pdu() {
                emit_zero_copy(p, digests, &mut wbuf, &mut chunks).map_err(|e| e.to_string())?;
                queued = chunks.iter().map(Bytes::len).sum::<usize>() + wbuf.len();
                if queued >= 4 << 20 {
                    chunks.push(wbuf.split().freeze());
                    write_chunks(&mut wr, &mut chunks)
                        .await
                        .map_err(|e| e.to_string())?;
                    queued = 0;
                }
            }
            if queued > 0 || !wbuf.is_empty() {
                chunks.push(wbuf.split().freeze());
                write_chunks(&mut wr, &mut chunks)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if session.is_closed() {
                info!(%peer, initiator, "logged out");
                return Ok(());
            }
            if stopping && session.tasks() == 0 {
                return Ok(());
            }
            slot.set_ping(session.ping_sent());
            let deadline = session.poll_timeout();
            tokio::select! {
                r = rd.read_buf(&mut rbuf), if !stopping => {
                    let n = r.map_err(|e| e.to_string())?;
                    if n == 0 {
                        // Wait for running commands so that writes complete.
                        stopping = true;
                        continue;
                    }
                    let now = std::time::Instant::now();
                    let answered = session.answers_pings();
                    loop {
                        match dec.decode(&mut rbuf) {
                            Ok(Some(pdu)) => session.handle_pdu(now, pdu).map_err(|e| e.to_string())?,
                            Ok(None) => break,
                            Err(e) => {
                                // ERL 0: a framing or digest error ends the connection.
                                warn!(%peer, initiator, "bad PDU: {e}");
                                return Err(e.to_string());
                            }
                        }
                    }
                    if !answered && session.answers_pings() {
                        debug!(%peer, initiator, "the initiator answers pings: a probe may give it up quickly");
                    }
                    if rbuf.capacity() - rbuf.len() < 16 * 1024 {
                        rbuf.reserve(256 * 1024);
                    }
                }
                Some((id, c)) = done_rx.recv() => session.handle_completion(id, c),
                _ = sleep_until(deadline) => {
                    if let Err(e) = session.handle_timeout(std::time::Instant::now()) {
                        warn!(%peer, initiator, "{e}");
                        return Err(e.to_string());
                    }
                }
                r = probes.recv(), if hear_probes => match r {
                    Ok(p) if p.target.eq_ignore_ascii_case(&target_name) => {
                        info!(%peer, initiator, timeout = ?p.timeout, "probed: pinging the initiator now");
                        session.probe(std::time::Instant::now(), p.timeout);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => hear_probes = false,
                },
                _ = shutdown.wait_for(|s| *s), if !stopping => stopping = true,
                _ = slot.evicted(), if !stopping => {
                    if slot.replaced() {
                        info!(%peer, initiator, "closing the session: its initiator logged in again with its ISID (session reinstatement)");
                    } else {
                        info!(%peer, initiator, "closing the session to make room for another");
                    }
                    stopping = true;
                }
            }
        }
    };
    let outcome: Result<(), String> = ffp.await;
    // Commands still executing (the connection ended under them) finish
    // before the session counts as ended: whoever reopens its disk then
    // (netbootd, at the PC's next boot) is its only writer. Each holds a
    // sender; the channel ends when the last is done.
    drop(done_tx);
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        while done_rx.recv().await.is_some() {}
    })
    .await
    .is_err()
    {
        warn!(%peer, initiator, "commands of the ended session still run after {SHUTDOWN_GRACE:?}");
    }
    notify(SessionEventKind::Ended);
    if let Some(l) = &luns {
        // RESERVE(6) reservations and unit attentions of this nexus end here.
        l.nexus_lost(&nexus);
    }
    outcome
}

/// How a login ended without reaching full feature phase.
enum LoginEnd {
    /// A refusal worth a warning (wrong credentials, a bad request).
    Warn(String),
    /// A close, a time-out, a refusal already logged (rate-limited).
    Quiet(String),
}

impl From<String> for LoginEnd {
    fn from(e: String) -> Self {
        LoginEnd::Quiet(e)
    }
}

/// Data segments at least this long are written from their own buffer.
const ZERO_COPY_MIN: usize = 4096;

/// Emits `p`: its header (and small data) into `buf`; a large data segment,
/// when no data digest is needed over it, is queued by reference after the
/// header with its padding.
fn emit_zero_copy(
    p: netboot_iscsi::wire::Pdu,
    digests: Digests,
    buf: &mut BytesMut,
    chunks: &mut Vec<Bytes>,
) -> Result<(), netboot_iscsi::EmitError> {
    if digests.data || p.data.len() < ZERO_COPY_MIN {
        return p.emit(buf, digests);
    }
    let data = p.data;
    let len = data.len();
    let head = netboot_iscsi::wire::Pdu {
        header: p.header,
        ahs: p.ahs,
        data: Bytes::new(),
    };
    let start = buf.len();
    if digests.header {
        // The header digest covers DataSegmentLength: emit with a stand-in
        // segment of the right length and keep only the header part.
        let mut tmp = BytesMut::new();
        netboot_iscsi::wire::Pdu {
            data: Bytes::from(vec![0u8; len]),
            ..head
        }
        .emit(&mut tmp, digests)?;
        let hdr_len = tmp.len() - len - netboot_iscsi::wire::pad_len(len);
        buf.extend_from_slice(&tmp[..hdr_len]);
    } else {
        head.emit(buf, digests)?;
        // DataSegmentLength, bytes 5..8 of the BHS.
        let l = (len as u32).to_be_bytes();
        buf[start + 5..start + 8].copy_from_slice(&l[1..]);
    }
    chunks.push(buf.split().freeze());
    chunks.push(data);
    let pad = netboot_iscsi::wire::pad_len(len);
    if pad > 0 {
        chunks.push(Bytes::from_static(&[0u8; 4][..pad]));
    }
    Ok(())
}

/// Writes every chunk, in order, with vectored writes.
async fn write_chunks(
    wr: &mut (impl AsyncWriteExt + Unpin),
    chunks: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    let mut i = 0;
    while i < chunks.len() {
        let slices: Vec<std::io::IoSlice<'_>> = chunks[i..]
            .iter()
            .take(64)
            .map(|c| std::io::IoSlice::new(c))
            .collect();
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 && i < chunks.len() {
            let c = &mut chunks[i];
            if n >= c.len() {
                n -= c.len();
                i += 1;
            } else {
                let _ = c.split_to(n);
                n = 0;
            }
        }
        while i < chunks.len() && chunks[i].is_empty() {
            i += 1;
        }
    }
    chunks.clear();
    Ok(())
}

async fn sleep_until(d: Option<std::time::Instant>) {
    match d {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
