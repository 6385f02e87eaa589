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

use crate::config::Config;
use crate::targets::Targets;
use netboot_aoe_net::Iface;
use netboot_aoe_net::PacketSocket;

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
pub async fn serve(cfg: Config, shutdown: netboot_daemon::Shutdown) -> Result<(), Error> {
    let iface = Iface::lookup(&cfg.interface).map_err(Error::Interface)?;
    let targets = Targets::default();
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
        let mut tc = target_config(&cfg, &iface, d.shelf, d.slot);
        tc.allow_macs = d.allow_macs.clone();
        tc.config_string = d.config_string.clone().into_bytes();
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
        targets.insert(&format!("e{}.{}", d.shelf, d.slot), t);
    }
    serve_targets(cfg, targets, shutdown).await
}

/// The target settings `cfg` and the interface give every disk at
/// `shelf.slot` (buffers, MTU, serial); a caller of [`serve_targets`] adds
/// its own (MAC mask, config string).
pub fn target_config(cfg: &Config, iface: &Iface, shelf: u16, slot: u8) -> TargetConfig {
    let mut tc = TargetConfig::new(shelf, slot);
    tc.mtu = iface.mtu;
    tc.buffer_count = cfg.buffer_count;
    tc.serial = format!("e{shelf}.{slot}:{}", hostname());
    tc
}

/// Serves the disks of `targets` (which the caller may change meanwhile)
/// on `cfg.interface` until `shutdown`, as [`serve`] does; `cfg.disks` is
/// not read.
pub async fn serve_targets(
    cfg: Config,
    targets: Targets,
    mut shutdown: netboot_daemon::Shutdown,
) -> Result<(), Error> {
    let iface = Iface::lookup(&cfg.interface).map_err(Error::Interface)?;
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
        sectors_per_frame = netboot_aoe::target::sectors_per_frame(iface.mtu),
        buffer_count = cfg.buffer_count,
        threads = cfg.threads,
        "listening"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for (i, sock) in sockets.into_iter().enumerate() {
        let targets = targets.clone();
        let stop = stop.clone();
        let mac = iface.mac;
        let mtu = iface.mtu;
        let h = std::thread::Builder::new()
            .name(format!("aoed-{i}"))
            // The first worker announces disks as they are added (as
            // vblade does at its start), so initiators that are already up
            // notice them.
            .spawn(move || worker(sock, &targets, mac, mtu, &stop, i == 0))
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
    for e in targets.snapshot().iter() {
        let t = &e.target;
        if let Err(err) = t.disk().flush() {
            warn!("e{}.{}: flush at shutdown: {err}", t.shelf(), t.slot());
        }
        let s = t.stats();
        info!(
            target = %format!("e{}.{}", t.shelf(), t.slot()),
            name = %e.name,
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
    targets: &Targets,
    mac: MacAddr,
    mtu: usize,
    stop: &AtomicBool,
    announces: bool,
) -> Result<(), String> {
    let frame_len = (mtu + 64).max(2048);
    let mut rx: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; frame_len]).collect();
    let mut lens = [0usize; BATCH];
    let mut tx_len = 2048;
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
        if announces {
            for t in targets.take_announcements() {
                let mut b = vec![0u8; t.tx_buffer_len()];
                if let Ok(n) = t.announce(mac, &mut b) {
                    if let Err(e) = sock.send(&b[..n]) {
                        warn!("announce: {e}");
                    }
                }
            }
        }
        // After a full batch more frames are likely waiting: read again
        // without asking poll() first.
        if !full && !sock.wait_readable(200).map_err(fail)? {
            continue;
        }
        let n = sock.recv_batch(&mut rx, &mut lens).map_err(fail)?;
        full = n == BATCH;
        let now = Instant::now();
        let unix = Targets::now();
        // This batch's table: disks added or removed meanwhile count from
        // the next one.
        let table = targets.snapshot();
        let need = table
            .iter()
            .map(|e| e.target.tx_buffer_len())
            .max()
            .unwrap_or(0);
        if need > tx_len {
            tx_len = need;
            tx.iter_mut().for_each(|b| b.resize(tx_len, 0));
        }
        items.clear();
        for i in 0..n {
            let frame = &rx[i][..lens[i]];
            // Disks may share an address with other MACs allowed (netbootd's
            // PCs): a MAC refused by one is news only if none took it.
            let mut taken = false;
            let mut refused = None;
            for (ti, e) in table.iter().enumerate() {
                match e.target.prepare(now, mac, frame) {
                    Ok(work) => {
                        targets.saw(e, work.eth.dst, &work.op, unix);
                        items.push((ti, work, i));
                        taken = true;
                    }
                    Err(Ignored::NotForUs | Ignored::Own | Ignored::Response) => {}
                    Err(why @ Ignored::MacNotAllowed(_)) => refused = Some((ti, why)),
                    Err(why) => {
                        let t = &e.target;
                        debug!(target_addr = %format!("e{}.{}", t.shelf(), t.slot()), "ignored frame: {why:?}")
                    }
                }
            }
            if let (false, Some((ti, why))) = (taken, refused) {
                let t = &table[ti].target;
                debug!(target_addr = %format!("e{}.{}", t.shelf(), t.slot()), "ignored frame: {why:?}")
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
            let t = &table[ti].target;
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
