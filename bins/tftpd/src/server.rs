//! The daemon's event loop: one task per listening socket, one task per
//! transfer, each transfer on its own socket (its TID).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netboot_tftp::client::{drive, drive_to_end};
use netboot_tftp::netascii::{NetasciiSink, NetasciiSource};
use netboot_tftp::transfer::{ReceiveTransfer, SendTransfer, Transfer};
use netboot_tftp::wire::{emit_error, ErrorCode, Mode, Packet, Request};
use tokio::net::UdpSocket;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::files::{Refusal, Root};
use crate::first_answer::{patience, FirstAnswer};
use crate::net;
use netboot_daemon::RateLimit;

/// What a program that runs the server beside others (netbootd) adds to
/// it: files made on request instead of read from the root, and a report
/// of every transfer. See [`serve_with`].
pub trait Hooks: Send + Sync + 'static {
    /// Whether a read request for `name` (as the client sent it) is for a
    /// file the hooks make. Asked for every read request, on the
    /// listener's task: no I/O.
    fn makes(&self, name: &str) -> bool {
        let _ = name;
        false
    }

    /// The contents of `name` for `client`, or why it is refused (the
    /// code and message go to the client, the reason to the log). Runs on
    /// the blocking pool: it may do I/O.
    fn make(&self, client: SocketAddr, name: &str) -> Result<Vec<u8>, Refusal> {
        let _ = (client, name);
        Err(Refusal {
            code: netboot_tftp::wire::ErrorCode::FileNotFound,
            message: "File not found",
            reason: "not made here".into(),
        })
    }

    /// A transfer ended (from its task: must not block).
    fn done(&self, report: &Report) {
        let _ = report;
    }
}

/// How a transfer ended, for [`Hooks::done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every byte was acknowledged.
    Complete,
    /// The client never answered its first packet.
    Abandoned,
    /// It failed (an error from the client, too many time-outs).
    Failed,
    /// The server stopped it (shutdown).
    Aborted,
}

impl Outcome {
    /// `complete`, `abandoned`, `failed`, `aborted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Abandoned => "abandoned",
            Outcome::Failed => "failed",
            Outcome::Aborted => "aborted",
        }
    }
}

/// One ended transfer.
#[derive(Debug, Clone)]
pub struct Report {
    /// The client.
    pub client: SocketAddr,
    /// The file, as the client named it.
    pub file: String,
    /// An upload.
    pub write: bool,
    /// Bytes moved.
    pub bytes: u64,
    /// How long it ran.
    pub duration: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// No hooks.
struct NoHooks;

impl Hooks for NoHooks {}

struct Shared {
    cfg: Config,
    root: Root,
    hooks: Arc<dyn Hooks>,
    permits: Arc<Semaphore>,
    active: Mutex<Clients>,
    /// Refusals for load (per address, server busy) logged: a flood must
    /// not fill the log.
    refusal_log: Mutex<RateLimit>,
    /// Flips to true when transfers must stop now.
    abort: watch::Receiver<bool>,
}

/// The clients with a transfer in progress. At most one entry per running
/// transfer, so bounded by `--max-transfers` (plus requests being admitted).
#[derive(Debug, Default)]
struct Clients {
    /// A retransmitted request from the same address and port must not
    /// start a second transfer.
    ports: HashSet<SocketAddr>,
    /// Transfers per client address, for `--max-transfers-per-address`.
    per_address: HashMap<IpAddr, usize>,
}

#[derive(Debug, PartialEq, Eq)]
enum Admission {
    Admitted,
    /// A transfer for this address and port runs already.
    Duplicate,
    /// The address has `--max-transfers-per-address` transfers running.
    TooMany,
}

impl Clients {
    fn admit(&mut self, client: SocketAddr, per_address: usize) -> Admission {
        if self.ports.contains(&client) {
            return Admission::Duplicate;
        }
        let n = self
            .per_address
            .entry(client.ip().to_canonical())
            .or_insert(0);
        if *n >= per_address {
            return Admission::TooMany;
        }
        *n += 1;
        self.ports.insert(client);
        Admission::Admitted
    }

    /// The end of a transfer [`Clients::admit`] admitted.
    fn release(&mut self, client: SocketAddr) {
        if !self.ports.remove(&client) {
            return;
        }
        let ip = client.ip().to_canonical();
        if let Some(n) = self.per_address.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&ip);
            }
        }
    }
}

/// Why the server cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The root directory cannot be opened.
    #[error("root {}: {source}", path.display())]
    Root {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
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

/// Serves `cfg` until `shutdown`: then no new transfers are taken, and the
/// running ones get `cfg.shutdown_grace` to finish before they are aborted.
pub async fn serve(cfg: Config, shutdown: netboot_daemon::Shutdown) -> Result<(), Error> {
    serve_with(cfg, Arc::new(NoHooks), shutdown).await
}

/// [`serve`] with `hooks`: read requests for the files they make are
/// answered with what they make (admitted and limited as any other
/// transfer), and every transfer's end is reported to them.
pub async fn serve_with(
    cfg: Config,
    hooks: Arc<dyn Hooks>,
    mut shutdown: netboot_daemon::Shutdown,
) -> Result<(), Error> {
    let root = Root::open(&cfg.root).map_err(|source| Error::Root {
        path: cfg.root.clone(),
        source,
    })?;
    let mut listeners = Vec::new();
    for addr in &cfg.listen {
        let listen = |source| Error::Listen {
            addr: *addr,
            source,
        };
        let sock = net::bind_listener(*addr).map_err(listen)?;
        let local = sock.local_addr().map_err(listen)?;
        info!(%local, "listening");
        listeners.push((sock, local));
    }
    info!(
        root = %root.path().display(),
        write = cfg.allow_write,
        overwrite = cfg.allow_overwrite,
        max_transfers = cfg.max_transfers,
        per_address = cfg.max_transfers_per_address,
        "serving"
    );
    let (abort_tx, abort_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        permits: Arc::new(Semaphore::new(cfg.max_transfers)),
        cfg,
        root,
        hooks,
        active: Mutex::new(Clients::default()),
        refusal_log: Mutex::new(RateLimit::new(Duration::from_secs(10), 5)),
        abort: abort_rx,
    });
    let mut tasks = JoinSet::new();
    for (sock, local) in listeners {
        tasks.spawn(listen(Arc::new(sock), local, shared.clone()));
    }
    shutdown.wait().await;
    info!("no new transfers");
    tasks.abort_all();
    let max = shared.cfg.max_transfers as u32;
    let grace = shared.cfg.shutdown_grace;
    let drained = tokio::time::timeout(grace, shared.permits.acquire_many(max)).await;
    if drained.is_err() {
        warn!(
            in_flight = max as usize - shared.permits.available_permits(),
            "transfers still running after {grace:?}: aborting them"
        );
        let _ = abort_tx.send(true);
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            shared.permits.acquire_many(max),
        )
        .await;
    }
    Ok(())
}

async fn listen(sock: Arc<UdpSocket>, local: SocketAddr, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let r = match net::recv_with_local(&sock, &mut buf).await {
            Ok(r) => r,
            Err(e) => {
                debug!(%local, "receive error: {e}");
                continue;
            }
        };
        handle_request(&sock, local, &buf[..r.len], r.from, r.local, &shared).await;
    }
}

async fn reply_error(sock: &UdpSocket, to: SocketAddr, code: ErrorCode, msg: &str) {
    let mut b = [0u8; 128];
    let n = emit_error(code, msg, &mut b);
    let _ = sock.send_to(&b[..n], to).await;
}

async fn handle_request(
    sock: &UdpSocket,
    listener: SocketAddr,
    datagram: &[u8],
    client: SocketAddr,
    local: Option<std::net::IpAddr>,
    shared: &Arc<Shared>,
) {
    let (req, write) = match Packet::parse(datagram) {
        Ok(Packet::Rrq(r)) => (r, false),
        Ok(Packet::Wrq(r)) => (r, true),
        Ok(p) => {
            // DATA/ACK/ERROR to the listening port belong to no transfer.
            // Not answered, so the port cannot be used to reflect traffic.
            debug!(%client, opcode = p.opcode(), "ignoring non-request on the listening port");
            return;
        }
        Err(e) => {
            warn!(%client, "malformed request: {e}");
            if datagram.len() >= 2 && matches!(datagram[1], 1 | 2) && datagram[0] == 0 {
                reply_error(sock, client, e.tftp_code(), &e.to_string()).await;
            }
            return;
        }
    };
    let kind = if write { "write" } else { "read" };
    if req.mode == Mode::Mail {
        warn!(%client, file = req.filename, "refused: mail mode");
        return reply_error(
            sock,
            client,
            ErrorCode::IllegalOperation,
            "Mail mode not supported",
        )
        .await;
    }
    let per_address = shared.cfg.max_transfers_per_address;
    let admission = shared
        .active
        .lock()
        .expect("lock")
        .admit(client, per_address);
    match admission {
        Admission::Admitted => {}
        Admission::Duplicate => {
            debug!(%client, file = req.filename, "duplicate request for a running transfer");
            return;
        }
        Admission::TooMany => {
            if let Some(suppressed) = shared
                .refusal_log
                .lock()
                .expect("lock")
                .allow(Instant::now())
            {
                warn!(%client, file = req.filename, suppressed, "refused: {per_address} transfers from this address running (--max-transfers-per-address)");
            }
            return reply_error(
                sock,
                client,
                ErrorCode::NotDefined,
                "Too many transfers from your address, try later",
            )
            .await;
        }
    }
    let guard = ActiveGuard {
        shared: shared.clone(),
        client,
    };
    let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
        if let Some(suppressed) = shared
            .refusal_log
            .lock()
            .expect("lock")
            .allow(Instant::now())
        {
            warn!(%client, file = req.filename, suppressed, "refused: {} transfers running", shared.cfg.max_transfers);
        }
        return reply_error(
            sock,
            client,
            ErrorCode::NotDefined,
            "Server busy, try later",
        )
        .await;
    };
    let tsock = match net::bind_transfer(listener, local, shared.cfg.port_range)
        .or_else(|_| net::bind_transfer(listener, None, shared.cfg.port_range))
    {
        Ok(s) => s,
        Err(e) => {
            warn!(%client, file = req.filename, "refused: no transfer socket: {e}");
            return reply_error(sock, client, ErrorCode::NotDefined, "Server out of ports").await;
        }
    };
    if write && !shared.cfg.allow_write {
        warn!(%client, file = req.filename, "refused write: writes are disabled");
        return reply_error(
            &tsock,
            client,
            ErrorCode::AccessViolation,
            "Access violation",
        )
        .await;
    }
    if let (true, Some(limit), Some(tsize)) = (write, shared.cfg.max_upload, req.options.tsize) {
        if tsize > limit {
            info!(%client, file = ?req.filename, tsize, limit, "refused write: larger than --max-upload");
            return reply_error(
                &tsock,
                client,
                ErrorCode::DiskFull,
                "File larger than the server accepts",
            )
            .await;
        }
    }
    if !write && shared.hooks.makes(req.filename) {
        made_file(datagram, client, tsock, permit, guard, shared.clone());
        return;
    }
    let opened = if write {
        shared
            .root
            .create_upload(
                req.filename,
                shared.cfg.allow_overwrite,
                shared.cfg.max_upload,
            )
            .map(Opened::Write)
    } else {
        shared
            .root
            .open_read(req.filename)
            .map(|(f, size)| Opened::Read(f, size))
    };
    let opened = match opened {
        Ok(o) => o,
        Err(Refusal {
            code,
            message,
            reason,
        }) => {
            if code == ErrorCode::AccessViolation {
                warn!(%client, file = ?req.filename, "refused {kind}: {reason}");
            } else if code == ErrorCode::FileNotFound {
                info!(%client, file = ?req.filename, kind, "{reason}");
            } else {
                info!(%client, file = ?req.filename, "refused {kind}: {reason}");
            }
            return reply_error(&tsock, client, code, message).await;
        }
    };
    let name = req.filename.to_owned();
    let cfg = &shared.cfg.transfer;
    let abort = shared.abort.clone();
    match (opened, req.mode) {
        (Opened::Read(f, size), Mode::Octet) => {
            let t = SendTransfer::server(client, &req, f, Some(size), cfg);
            spawn_transfer(t, tsock, client, name, "read", req, permit, guard, abort);
        }
        (Opened::Read(f, _), _) => {
            let t = SendTransfer::server(client, &req, NetasciiSource::new(f), None, cfg);
            spawn_transfer(t, tsock, client, name, "read", req, permit, guard, abort);
        }
        (Opened::Write(u), Mode::Octet) => {
            let t = ReceiveTransfer::server(client, &req, u, cfg);
            spawn_transfer(t, tsock, client, name, "write", req, permit, guard, abort);
        }
        (Opened::Write(u), _) => {
            let t = ReceiveTransfer::server(client, &req, NetasciiSink::new(u), cfg);
            spawn_transfer(t, tsock, client, name, "write", req, permit, guard, abort);
        }
    }
}

/// Answers a read request for a file the hooks make: made on the blocking
/// pool (the listener goes on), then sent as any file is. The request is
/// parsed again from a copy of `datagram`, in the task.
fn made_file(
    datagram: &[u8],
    client: SocketAddr,
    tsock: UdpSocket,
    permit: OwnedSemaphorePermit,
    guard: ActiveGuard,
    shared: Arc<Shared>,
) {
    let datagram = datagram.to_vec();
    tokio::spawn(async move {
        let Ok(Packet::Rrq(req)) = Packet::parse(&datagram) else {
            return;
        };
        let (hooks, name) = (shared.hooks.clone(), req.filename.to_owned());
        let made = tokio::task::spawn_blocking(move || hooks.make(client, &name)).await;
        let data = match made {
            Ok(Ok(d)) => d,
            Ok(Err(Refusal {
                code,
                message,
                reason,
            })) => {
                info!(%client, file = ?req.filename, "refused read: {reason}");
                return reply_error(&tsock, client, code, message).await;
            }
            Err(e) => {
                warn!(%client, file = ?req.filename, "making the file failed: {e}");
                return reply_error(&tsock, client, ErrorCode::NotDefined, "Server error").await;
            }
        };
        let name = req.filename.to_owned();
        let cfg = &shared.cfg.transfer;
        let abort = shared.abort.clone();
        if req.mode == Mode::Octet {
            let size = data.len() as u64;
            let t = SendTransfer::server(client, &req, data, Some(size), cfg);
            spawn_transfer(t, tsock, client, name, "read", req, permit, guard, abort);
        } else {
            let src = NetasciiSource::new(std::io::Cursor::new(data));
            let t = SendTransfer::server(client, &req, src, None, cfg);
            spawn_transfer(t, tsock, client, name, "read", req, permit, guard, abort);
        }
    });
}

enum Opened {
    Read(std::fs::File, u64),
    Write(crate::files::Upload),
}

/// Removes the client from the active set when its transfer ends.
struct ActiveGuard {
    shared: Arc<Shared>,
    client: SocketAddr,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Ok(mut a) = self.shared.active.lock() {
            a.release(self.client);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn spawn_transfer<T: Transfer + Send + 'static>(
    t: T,
    sock: UdpSocket,
    client: SocketAddr,
    file: String,
    kind: &'static str,
    req: Request<'_>,
    permit: OwnedSemaphorePermit,
    guard: ActiveGuard,
    mut abort: watch::Receiver<bool>,
) {
    let mode = req.mode.as_str();
    let asked = req.options;
    debug!(%client, file, kind, mode, ?asked, "transfer starting");
    let started = Instant::now();
    let patience = patience(guard.shared.cfg.transfer.timing.initial_rto);
    let mut t = FirstAnswer::new(t, client, started, patience);
    tokio::spawn(async move {
        // Until the outcome is known (for an upload: the final ACK is out).
        let aborted = tokio::select! {
            _ = drive(&sock, &mut t) => false,
            _ = abort.wait_for(|a| *a) => true,
        };
        if aborted {
            t.abort(ErrorCode::NotDefined, "Server shutting down");
            let mut buf = vec![0u8; t.max_datagram_len().max(516)];
            while let Some(tx) = t.poll_transmit(Instant::now(), &mut buf) {
                let _ = sock.send_to(&buf[..tx.len], tx.dest).await;
            }
        }
        let duration = started.elapsed();
        let ms = duration.as_millis() as u64;
        let bytes = t.bytes();
        let outcome = match t.outcome() {
            Some(Ok(())) => {
                info!(%client, file, kind, mode, bytes, ms, "transfer complete");
                Outcome::Complete
            }
            Some(Err(_)) if t.gave_up() => {
                info!(
                    %client, file, kind, mode, ms,
                    "transfer abandoned: no answer from the client in {patience:?}"
                );
                Outcome::Abandoned
            }
            Some(Err(e)) => {
                warn!(%client, file, kind, mode, bytes, ms, "transfer failed: {e}");
                Outcome::Failed
            }
            None => {
                warn!(%client, file, kind, mode, bytes, ms, "transfer aborted");
                Outcome::Aborted
            }
        };
        guard.shared.hooks.done(&Report {
            client,
            file: file.clone(),
            write: kind == "write",
            bytes,
            duration,
            outcome,
        });
        // The client is done: its address may start its next transfer (an
        // upload's dally must not count against --max-transfers-per-address,
        // or quick successive uploads would be refused).
        drop(guard);
        if !aborted && !t.is_done() {
            // An upload lingers to repeat the final ACK if it was lost.
            tokio::select! {
                _ = drive_to_end(&sock, &mut t) => {}
                _ = abort.wait_for(|a| *a) => {}
            }
        }
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_admission_counts_ports_of_one_address() {
        let mut c = Clients::default();
        let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
        assert_eq!(c.admit(a("127.0.0.2:1000"), 2), Admission::Admitted);
        assert_eq!(c.admit(a("127.0.0.2:1000"), 2), Admission::Duplicate);
        assert_eq!(c.admit(a("127.0.0.2:1001"), 2), Admission::Admitted);
        assert_eq!(c.admit(a("127.0.0.2:1002"), 2), Admission::TooMany);
        // An IPv4-mapped IPv6 address is the same host.
        assert_eq!(c.admit(a("[::ffff:127.0.0.2]:1003"), 2), Admission::TooMany);
        // Other addresses are not affected.
        assert_eq!(c.admit(a("127.0.0.1:1000"), 2), Admission::Admitted);
        c.release(a("127.0.0.2:1000"));
        assert_eq!(c.admit(a("127.0.0.2:1002"), 2), Admission::Admitted);
        // A release of something never admitted changes nothing.
        c.release(a("127.0.0.2:9999"));
        assert_eq!(c.admit(a("127.0.0.2:1004"), 2), Admission::TooMany);
        for p in ["127.0.0.2:1001", "127.0.0.2:1002", "127.0.0.1:1000"] {
            c.release(a(p));
        }
        assert!(c.ports.is_empty() && c.per_address.is_empty(), "{c:?}");
    }
}
