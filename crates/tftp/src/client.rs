//! An async TFTP client on tokio, and the loop that drives any [`Transfer`]
//! over a UDP socket (the `tftpd` daemon uses it too).
//!
//! ```no_run
//! # async fn demo() -> Result<(), netboot_tftp::Error> {
//! use netboot_tftp::client::{get, ClientOptions};
//! let server = "127.0.0.1:69".parse().unwrap();
//! let image = get(server, "pxelinux.0", &ClientOptions::default()).await?;
//! # let _ = image; Ok(()) }
//! ```

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::transfer::{
    ReadSource, ReceiveTransfer, Rollover, SendTransfer, Timing, Transfer, WriteSink,
};
use crate::wire::{Mode, Options};
use crate::Error;

/// What a client asks for.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Transfer mode.
    pub mode: Mode,
    /// Block size to ask for (`None`: RFC 1350's 512).
    pub blksize: Option<u16>,
    /// Window to ask for (RFC 7440; `None`: lock-step).
    pub windowsize: Option<u16>,
    /// `timeout` option to ask for, in seconds.
    pub timeout: Option<u8>,
    /// Ask for the transfer size (`tsize`).
    pub tsize: bool,
    /// Retransmission timing.
    pub timing: Timing,
    /// Block number after 65535.
    pub rollover: Rollover,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            mode: Mode::Octet,
            blksize: Some(1468),
            windowsize: None,
            timeout: None,
            tsize: true,
            timing: Timing::default(),
            rollover: Rollover::Zero,
        }
    }
}

impl ClientOptions {
    fn options(&self, tsize: Option<u64>) -> Options {
        Options {
            blksize: self.blksize,
            timeout: self.timeout,
            tsize: if self.tsize { tsize } else { None },
            windowsize: self.windowsize,
        }
    }
}

async fn socket_for(server: SocketAddr) -> Result<UdpSocket, Error> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    UdpSocket::bind(local)
        .await
        .map_err(|e| Error::io("bind a UDP socket", e))
}

/// Downloads `filename` from `server` into memory.
pub async fn get(
    server: SocketAddr,
    filename: &str,
    opts: &ClientOptions,
) -> Result<Vec<u8>, Error> {
    get_into(server, filename, Vec::new(), opts).await
}

/// Downloads `filename` from `server` into `sink` and returns the sink.
pub async fn get_into<K: WriteSink>(
    server: SocketAddr,
    filename: &str,
    sink: K,
    opts: &ClientOptions,
) -> Result<K, Error> {
    let sock = socket_for(server).await?;
    let mut t = ReceiveTransfer::client_get(
        server,
        filename,
        opts.mode,
        opts.options(Some(0)),
        sink,
        opts.timing,
        opts.rollover,
    );
    drive(&sock, &mut t).await?;
    Ok(t.into_sink())
}

/// Uploads `size` bytes from `source` to `server` as `filename`.
pub async fn put<S: ReadSource>(
    server: SocketAddr,
    filename: &str,
    source: S,
    size: u64,
    opts: &ClientOptions,
) -> Result<u64, Error> {
    let sock = socket_for(server).await?;
    let mut t = SendTransfer::client_put(
        server,
        filename,
        opts.mode,
        opts.options(Some(size)),
        source,
        opts.timing,
        opts.rollover,
    );
    drive(&sock, &mut t).await?;
    Ok(t.bytes())
}

/// Runs `t` over `sock` until its outcome is known and nothing is left to
/// send; returns the outcome. A receiver returns as soon as the final ACK is
/// out (it does not dally; see [`drive_to_end`] for that).
pub async fn drive<T: Transfer>(sock: &UdpSocket, t: &mut T) -> Result<(), Error> {
    run(sock, t, false).await
}

/// Like [`drive`], but keeps going until the transfer is done, including a
/// receiver's dally period after the final ACK. Servers use this.
pub async fn drive_to_end<T: Transfer>(sock: &UdpSocket, t: &mut T) -> Result<(), Error> {
    run(sock, t, true).await
}

async fn run<T: Transfer>(sock: &UdpSocket, t: &mut T, to_end: bool) -> Result<(), Error> {
    // One buffer each way, sized for the largest datagram TFTP can carry.
    let mut out = vec![0u8; 65536];
    let mut inb = vec![0u8; 65536];
    loop {
        let now = Instant::now().into_std();
        while let Some(tx) = t.poll_transmit(now, &mut out) {
            if tx.len == 0 {
                continue;
            }
            // A failed send is treated as a lost datagram: the time-out
            // recovers it, as it would recover a loss on the wire.
            let _ = sock.send_to(&out[..tx.len], tx.dest).await;
        }
        // Everything due was just sent (an ERROR included), so a known
        // outcome is final unless the caller wants the dally period too.
        let finished = t.is_done() || (!to_end && t.outcome().is_some());
        if finished {
            break;
        }
        let deadline = t.poll_timeout();
        tokio::select! {
            r = sock.recv_from(&mut inb) => match r {
                Ok((n, from)) => t.handle(Instant::now().into_std(), from, &inb[..n]),
                // ICMP port unreachable and friends: keep waiting (without
                // spinning), the retry limit ends a dead transfer.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
            _ = sleep_until(deadline) => t.handle_timeout(Instant::now().into_std()),
        }
    }
    match t.outcome() {
        Some(r) => r.clone(),
        None => Err(Error::Cancelled),
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
