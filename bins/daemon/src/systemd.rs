//! systemd's service notifications (`Type=notify`, `WatchdogSec=`) with the
//! `sd-notify` crate: readiness, the stop, and watchdog pings. A daemon not
//! started by systemd (no `NOTIFY_SOCKET`, no `WATCHDOG_USEC`) sends
//! nothing.
//!
//! The notification socket is written from a thread of its own: a service
//! manager that does not read (a full socket blocks the writer) never
//! stalls the runtime; notifications it is too slow for are dropped.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::OnceLock;
use std::time::Duration;

use sd_notify::NotifyState;
use tracing::warn;

use crate::Shutdown;

enum Note {
    Ready(String),
    Stopping,
    Watchdog,
}

fn send(note: Note) {
    static QUEUE: OnceLock<Option<SyncSender<Note>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        std::env::var_os("NOTIFY_SOCKET")?;
        let (tx, rx) = sync_channel::<Note>(8);
        let spawned = std::thread::Builder::new()
            .name("sd-notify".into())
            .spawn(move || {
                for note in rx {
                    let r = match &note {
                        Note::Ready(status) => sd_notify::notify(
                            false,
                            &[NotifyState::Ready, NotifyState::Status(status)],
                        ),
                        Note::Stopping => sd_notify::notify(false, &[NotifyState::Stopping]),
                        Note::Watchdog => sd_notify::notify(false, &[NotifyState::Watchdog]),
                    };
                    if let Err(e) = r {
                        warn!("cannot notify systemd: {e}");
                    }
                }
            });
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                warn!("cannot start the systemd notifier: {e}");
                None
            }
        }
    });
    if let Some(q) = queue {
        // Full: the service manager is behind; this one is dropped.
        let _ = q.try_send(note);
    }
}

/// `READY=1` with a status line: every socket is bound, clients can come.
pub fn ready(status: &str) {
    send(Note::Ready(status.to_owned()));
}

/// `STOPPING=1`: the stop has begun (sessions finish their commands).
pub fn stopping() {
    send(Note::Stopping);
}

/// Sends `WATCHDOG=1` at half the interval systemd asks for, from the
/// runtime it is spawned on: a runtime that stops turning stops the pings,
/// and systemd restarts the daemon. Returns at `shutdown`, and at once
/// without a watchdog.
pub async fn watchdog(mut shutdown: Shutdown) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_micros(usec / 2));
    loop {
        tokio::select! {
            _ = tick.tick() => send(Note::Watchdog),
            _ = shutdown.wait() => return,
        }
    }
}
