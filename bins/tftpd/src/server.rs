//! The daemon's event loop: one task per listening socket, one task per
//! transfer, each transfer on its own socket (its TID).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
use crate::net;

struct Shared {
    cfg: Config,
    root: Root,
    permits: Arc<Semaphore>,
    /// Clients with a transfer in progress: a retransmitted request from
    /// the same address and port must not start a second one.
    active: Mutex<HashSet<SocketAddr>>,
    /// Flips to true when transfers must stop now.
    abort: watch::Receiver<bool>,
}

pub async fn run(cfg: Config) -> Result<(), String> {
    let root = Root::open(&cfg.root).map_err(|e| format!("root {}: {e}", cfg.root.display()))?;
    let mut listeners = Vec::new();
    for addr in &cfg.listen {
        let sock =
            net::bind_listener(*addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = sock.local_addr().map_err(|e| e.to_string())?;
        info!(%local, "listening");
        listeners.push((sock, local));
    }
    info!(
        root = %root.path().display(),
        write = cfg.allow_write,
        overwrite = cfg.allow_overwrite,
        max_transfers = cfg.max_transfers,
        "serving"
    );
    let (abort_tx, abort_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        permits: Arc::new(Semaphore::new(cfg.max_transfers)),
        cfg,
        root,
        active: Mutex::new(HashSet::new()),
        abort: abort_rx,
    });
    let mut tasks = JoinSet::new();
    for (sock, local) in listeners {
        tasks.spawn(listen(Arc::new(sock), local, shared.clone()));
    }
    shutdown_signal().await;
    info!("shutting down: no new transfers");
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

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
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
    if !shared.active.lock().expect("lock").insert(client) {
        debug!(%client, file = req.filename, "duplicate request for a running transfer");
        return;
    }
    let guard = ActiveGuard {
        shared: shared.clone(),
        client,
    };
    let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
        warn!(%client, file = req.filename, "refused: {} transfers running", shared.cfg.max_transfers);
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
            a.remove(&self.client);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn spawn_transfer<T: Transfer + Send + 'static>(
    mut t: T,
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
    tokio::spawn(async move {
        let started = Instant::now();
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
        let ms = started.elapsed().as_millis() as u64;
        let bytes = t.bytes();
        match t.outcome() {
            Some(Ok(())) => info!(%client, file, kind, mode, bytes, ms, "transfer complete"),
            Some(Err(e)) => warn!(%client, file, kind, mode, bytes, ms, "transfer failed: {e}"),
            None => warn!(%client, file, kind, mode, bytes, ms, "transfer aborted"),
        }
        if !aborted && !t.is_done() {
            // An upload lingers to repeat the final ACK if it was lost.
            tokio::select! {
                _ = drive_to_end(&sock, &mut t) => {}
                _ = abort.wait_for(|a| *a) => {}
            }
        }
        drop(guard);
        drop(permit);
    });
}
