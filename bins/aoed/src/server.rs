//! The serving loop: packet sockets in a fanout group, one thread each.
//!
//! Each worker thread (one by default) owns one `AF_PACKET` socket of a `PACKET_FANOUT_LB`
//! group, so the kernel spreads incoming frames over the threads and every
//! thread does receive → [`Target::prepare`] → [`Target::execute`] (disk
//! I/O included) → send without locks or hand-offs. Frames are received and
//! sent in batches (`recvmmsg`/`sendmmsg`). The async [`serve`] only waits
//! for its shutdown (or a worker's failure), then stops the workers and
//! flushes the disks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use netboot_aoe::target::{Ignored, Target, TargetConfig, Work};
use netboot_aoe::wire::MacAddr;
use tracing::{debug, info, warn};

use crate::backend::PacketSocket;
use crate::config::Config;
use crate::iface::Iface;

/// Frames per receive batch.
const BATCH: usize = 32;

/// Why the target cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The interface cannot be used.
    #[error(transparent)]
    Interface(std::io::Error),
    /// A disk (or its image chain) cannot be opened.
    #[error("e{shelf}.{slot}: {}: {source}", path.display())]
    Disk {
        /// Its shelf.
        shelf: u16,
        /// Its slot.
        slot: u8,
        /// The disk.
        path: std::path::PathBuf,
        /// Why.
        source: netboot_image::Error,
    },
    /// A target cannot be served as configured.
    #[error("e{shelf}.{slot}: {source}")]
    Target {
        /// Its shelf.
        shelf: u16,
        /// Its slot.
        slot: u8,
        /// Why.
        source: netboot_aoe::Error,
    },
    /// A packet socket cannot be opened or set up (`what` says which step).
    #[error("{what}: {source}")]
    Socket {
        /// The step, e.g. `packet socket on eth0` or `PACKET_FANOUT`.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A worker thread failed while serving.
    #[error("{0}")]
    Worker(String),
}

/// Serves `cfg` until `shutdown` (or until a worker thread fails): the
/// workers stop, every disk is flushed, and each target's statistics are
/// logged. The workers are threads of their own; the caller's runtime only
/// waits.
pub async fn serve(cfg: Config, mut shutdown: netboot_daemon::Shutdown) -> Result<(), Error> {
    let iface = Iface::lookup(&cfg.interface).map_err(Error::Interface)?;
    let mut targets = Vec::new();
    // Overlays over one golden image share it.
    let images = netboot_image::Images::default();
    for d in &cfg.disks {
        let disk = images
            .open(
                &d.path,
                &netboot_image::OpenOptions {
                    format: d.format,
                    read_only: d.read_only,
                    direct: d.direct,
                    overlay_max: d.overlay_max,
                    ..netboot_image::OpenOptions::default()
                },
            )
            .map_err(|source| Error::Disk {
                shelf: d.shelf,
                slot: d.slot,
                path: d.path.clone(),
                source,
            })?;
        let mut tc = TargetConfig::new(d.shelf, d.slot);
        tc.mtu = iface.mtu;
        tc.buffer_count = cfg.buffer_count;
        tc.allow_macs = d.allow_macs.clone();
        tc.config_string = d.config_string.clone().into_bytes();
        tc.serial = format!("e{}.{}:{}", d.shelf, d.slot, hostname());
        let t = Target::new(disk, tc).map_err(|source| Error::Target {
            shelf: d.shelf,
            slot: d.slot,
            source,
        })?;
        info!(
            target = %format!("e{}.{}", d.shelf, d.slot),
            disk = %d.path.display(),
            format = %d.format,
            sectors = t.sectors(),
            read_only = d.read_only,
            allow_macs = ?d.allow_macs,
            "exporting"
        );
        targets.push(Arc::new(t));
    }
    let targets: Arc<[Arc<Target>]> = targets.into();
    let group = (std::process::id() & 0xffff) as u16;
    let mut sockets = Vec::new();
    for _ in 0..cfg.threads {
        let s = PacketSocket::open(iface.index).map_err(|source| Error::Socket {
            what: format!("packet socket on {}", cfg.interface),
            source,
        })?;
        // Room for every client's full window of jumbo frames.
        s.set_buffers(8 << 20);
        if cfg.qdisc_bypass {
            if let Err(e) = s.set_qdisc_bypass() {
                debug!("PACKET_QDISC_BYPASS: {e}");
            }
        }
        if cfg.threads > 1 {
            s.join_fanout(group).map_err(|source| Error::Socket {
                what: "PACKET_FANOUT".into(),
                source,
            })?;
        }
        sockets.push(s);
    }
    info!(
        interface = %cfg.interface,
        mac = %iface.mac,
        mtu = iface.mtu,
        sectors_per_frame = targets[0].sectors_per_frame(),
        buffer_count = cfg.buffer_count,
        threads = cfg.threads,
        "listening"
    );
    // Announce each target (as vblade does), so initiators that are already
    // up notice it.
    let mut tx = vec![0u8; targets[0].tx_buffer_len()];
    for t in targets.iter() {
        if let Ok(n) = t.announce(iface.mac, &mut tx) {
            if let Err(e) = sockets[0].send(&tx[..n]) {
                warn!("announce: {e}");
            }
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for (i, sock) in sockets.into_iter().enumerate() {
        let targets = targets.clone();
        let stop = stop.clone();
        let mac = iface.mac;
        let mtu = iface.mtu;
        let h = std::thread::Builder::new()
            .name(format!("aoed-{i}"))
            .spawn(move || worker(sock, &targets, mac, mtu, &stop))
            .map_err(|source| Error::Socket {
                what: "spawn a worker thread".into(),
                source,
            })?;
        workers.push(h);
    }

    let mut watch = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = watch.tick() => {
                // A worker stopped on a socket error: shut down too.
                if stop.load(Ordering::Relaxed) {
                    warn!("a worker failed: shutting down");
                    break;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let joined = tokio::task::spawn_blocking(move || {
        let mut failed = None;
        for h in workers {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = Some(e),
                Err(_) => failed = Some("worker panicked".into()),
            }
        }
        failed
    })
    .await;
    let failed = joined.unwrap_or_else(|_| Some("worker panicked".into()));
    for t in targets.iter() {
        if let Err(e) = t.disk().flush() {
            warn!("e{}.{}: flush at shutdown: {e}", t.shelf(), t.slot());
        }
        let s = t.stats();
        info!(
            target = %format!("e{}.{}", t.shelf(), t.slot()),
            replies = s.replies.load(Ordering::Relaxed),
            ignored = s.ignored.load(Ordering::Relaxed),
            errors = s.errors.load(Ordering::Relaxed),
            sectors_read = s.sectors_read.load(Ordering::Relaxed),
            sectors_written = s.sectors_written.load(Ordering::Relaxed),
            "statistics"
        );
    }
    match failed {
        Some(e) => Err(Error::Worker(e)),
        None => Ok(()),
    }
}

fn worker(
    sock: PacketSocket,
    targets: &[Arc<Target>],
    mac: MacAddr,
    mtu: usize,
    stop: &AtomicBool,
) -> Result<(), String> {
    let frame_len = (mtu + 64).max(2048);
    let mut rx: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; frame_len]).collect();
    let mut lens = [0usize; BATCH];
    let tx_len = targets
        .iter()
        .map(|t| t.tx_buffer_len())
        .max()
        .unwrap_or(2048);
    let mut tx: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; tx_len]).collect();
    let mut tx_lens: Vec<usize> = vec![0; BATCH];
    // Accepted requests of one batch: (target, work, received frame).
    let mut items: Vec<(usize, Work, usize)> = Vec::with_capacity(BATCH);
    let fail = |e: std::io::Error| {
        stop.store(true, Ordering::Relaxed);
        format!("socket: {e}")
    };
    let mut full = false;
    while !stop.load(Ordering::Relaxed) {
        // After a full batch more frames are likely waiting: read again
        // without asking poll() first.
        if !full && !sock.wait_readable(200).map_err(fail)? {
            continue;
        }
        let n = sock.recv_batch(&mut rx, &mut lens).map_err(fail)?;
        full = n == BATCH;
        let now = Instant::now();
        items.clear();
        for i in 0..n {
            let frame = &rx[i][..lens[i]];
            for (ti, t) in targets.iter().enumerate() {
                match t.prepare(now, mac, frame) {
                    Ok(work) => items.push((ti, work, i)),
                    Err(Ignored::NotForUs | Ignored::Own | Ignored::Response) => {}
                    Err(why) => {
                        debug!(target_addr = %format!("e{}.{}", t.shelf(), t.slot()), "ignored frame: {why:?}")
                    }
                }
            }
        }
        while tx.len() < items.len() {
            tx.push(vec![0u8; tx_len]);
            tx_lens.push(0);
        }
        // In order; runs of reads (writes) of consecutive sectors of one
        // disk go to the disk as one preadv (pwritev). Replies leave after
        // the whole batch's I/O, so a FLUSH's reply still follows the
        // writes before it.
        let mut i = 0;
        while i < items.len() {
            let ti = items[i].0;
            let mut j = i + 1;
            while j < items.len()
                && items[j].0 == ti
                && Target::continues(&items[j - 1].1, &items[j].1)
            {
                j += 1;
            }
            let t = &targets[ti];
            if j - i == 1 {
                let r = items[i].2;
                tx_lens[i] = t.execute(&items[i].1, &rx[r][..lens[r]], &mut tx[i]);
            } else {
                let works: Vec<&Work> = items[i..j].iter().map(|x| &x.1).collect();
                let rxs: Vec<&[u8]> = items[i..j].iter().map(|x| &rx[x.2][..lens[x.2]]).collect();
                let mut txs: Vec<&mut [u8]> =
                    tx[i..j].iter_mut().map(|b| b.as_mut_slice()).collect();
                t.execute_run(&works, &rxs, &mut txs, &mut tx_lens[i..j]);
            }
            i = j;
        }
        if !items.is_empty() {
            send(&sock, &tx[..items.len()], &tx_lens[..items.len()]);
        }
    }
    Ok(())
}

fn send(sock: &PacketSocket, tx: &[Vec<u8>], lens: &[usize]) {
    let frames: Vec<&[u8]> = tx
        .iter()
        .zip(lens)
        .filter(|(_, l)| **l > 0)
        .map(|(b, l)| &b[..*l])
        .collect();
    if let Err(e) = sock.send_batch(&frames) {
        warn!("send: {e}");
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
