//! What the netboot daemons (`tftpd`, `iscsid`, `aoed`, `pxed`) share, so
//! that they behave alike at 3 a.m.: the same log format and level flags,
//! the same TOML file handling, and the same exit codes (2: bad
//! configuration, 1: failure while running, 0: clean stop on SIGINT or
//! SIGTERM).
//!
//! Output that cannot be written never stops or kills a daemon: log lines
//! go through a lossy queue to a writer thread ([`lost_lines`] counts what
//! was lost), and the few direct writes ignore errors. Tools call
//! [`die_quietly_on_closed_pipe`] instead.
//!
//! Under systemd, [`systemd`] tells it when a daemon is ready, when it
//! stops, and that it is alive (the watchdog).

// Only `sigpipe` has (one block of) unsafe code.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod log_writer;
mod sigpipe;
pub mod systemd;

pub use log_writer::{flush as flush_logs, lost_lines};
pub use sigpipe::die_quietly_on_closed_pipe;

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use tracing::{error, info};

/// Reads the TOML file at `path` into `T` (whose unknown keys should be
/// refused with `#[serde(deny_unknown_fields)]`); no path gives
/// `T::default()`. Errors name the file.
pub fn read_config<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T, String> {
    let Some(p) = path else {
        return Ok(T::default());
    };
    let text =
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    toml::from_str::<T>(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// The flags every daemon has, flattened into its clap `Cli`
/// (`#[command(flatten)]`): the log level, `-v` and the configuration file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// More logging (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

impl CommonArgs {
    /// The effective log level, given the file's (see [`log_level`]).
    pub fn log_level(&self, configured: Option<String>) -> String {
        log_level(self.verbose, self.log_level.clone().or(configured))
    }
}

/// The log level from `-v` counts and a configured level: `-v` is debug,
/// `-vv` trace; without them the configured level, else `info`.
pub fn log_level(verbose: u8, configured: Option<String>) -> String {
    match (verbose, configured) {
        (0, Some(l)) => l,
        (0, None) => "info".into(),
        (1, _) => "debug".into(),
        _ => "trace".into(),
    }
}

/// Logs to stderr at `level` (a level or a tracing filter); the environment
/// variable `env_var` (e.g. `TFTPD_LOG`), when set, wins. Colours only on a
/// terminal. Lines are queued for a writer thread of their own and dropped
/// (counted, then noted in the log) when stderr is closed, full or slow:
/// serving never waits for the log. [`finish`] writes out what is queued.
pub fn init_logging(env_var: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env_var)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log_writer::stderr())
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // Its own report of a failed write is an eprintln!, which panics
        // on a closed stderr (and took tftpd's listener task with it).
        .log_internal_errors(false)
        .init();
}

/// A configuration error: printed as `NAME: error` (logging is not set up
/// yet; a closed stderr is ignored), exit status 2.
pub fn config_error(name: &str, e: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{name}: {e}");
    ExitCode::from(2)
}

/// When a daemon stops: SIGINT or SIGTERM ([`Shutdown::on_signals`], the
/// one signal handler of a process), or a [`StopHandle`] (tests, or a
/// process such as `netbootd` that runs several servers). Clones all see the
/// same stop.
#[derive(Debug, Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

/// Stops the [`Shutdown`] it was made with (and every clone of it).
#[derive(Debug)]
pub struct StopHandle(tokio::sync::watch::Sender<bool>);

impl StopHandle {
    /// Stops now.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// A shutdown that `StopHandle::stop` triggers.
    pub fn new() -> (StopHandle, Shutdown) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (StopHandle(tx), Shutdown(rx))
    }

    /// Installs the SIGINT and SIGTERM handlers now (inside a tokio
    /// runtime): a signal right after a daemon says "listening" stops it
    /// cleanly instead of killing it. The signal is logged.
    pub fn on_signals() -> std::io::Result<Shutdown> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (stop, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            info!("{name}: shutting down");
            systemd::stopping();
            stop.stop();
        });
        Ok(shutdown)
    }

    /// Whether the stop has come.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits for the stop (at once if it has come; also when every
    /// [`StopHandle`] is gone).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}

/// The end of a daemon's run: `stopped` and status 0, or the error and 1;
/// the log lines still queued are written out.
pub fn finish<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    let code = match result {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    };
    flush_logs();
    code
}

/// Which tokio runtime a daemon runs on.
#[derive(Debug, Clone, Copy)]
pub enum Runtime<'a> {
    /// One thread (DHCP's few datagrams).
    CurrentThread,
    /// A worker per core, threads named after the daemon.
    MultiThread(&'a str),
}

/// Runs `fut` on a new runtime and [`finish`]es with its result.
pub fn block_on<E: std::fmt::Display>(
    rt: Runtime<'_>,
    fut: impl Future<Output = Result<(), E>>,
) -> ExitCode {
    let built = match rt {
        Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Runtime::MultiThread(name) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(name)
            .build(),
    };
    match built {
        Ok(rt) => finish(rt.block_on(fut)),
        Err(e) => finish(Err(format!("cannot start the runtime: {e}"))),
    }
}

/// A daemon's `main` after its configuration: on a new runtime, installs
/// the SIGINT/SIGTERM handlers ([`Shutdown::on_signals`]) and runs `serve`
/// with them until it ends, pinging systemd's watchdog meanwhile if it
/// asks for one ([`systemd::watchdog`]); [`finish`]es with its result.
pub fn run<F, Fut, E>(rt: Runtime<'_>, serve: F) -> ExitCode
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    block_on(rt, async move {
        let shutdown =
            Shutdown::on_signals().map_err(|e| format!("cannot handle SIGINT/SIGTERM: {e}"))?;
        tokio::spawn(systemd::watchdog(shutdown.clone()));
        serve(shutdown).await.map_err(|e| e.to_string())
    })
}

/// At most `burst` warnings per `period`; the rest are counted and
/// reported with the next one let through. A flood of garbage cannot fill
/// the log.
#[derive(Debug)]
pub struct RateLimit {
    period: Duration,
    burst: u32,
    window: Instant,
    used: u32,
    suppressed: u64,
}

impl RateLimit {
    /// A limiter that lets `burst` lines through per `period`.
    pub fn new(period: Duration, burst: u32) -> Self {
        RateLimit {
            period,
            burst,
            window: Instant::now(),
            used: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)`: log now, `n` were suppressed before; `None`: stay quiet.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.window) >= self.period {
            self.window = now;
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug)]
    #[serde(deny_unknown_fields)]
    struct C {
        a: Option<u32>,
    }

    #[test]
    fn config_files_and_levels() {
        assert_eq!(read_config::<C>(None).unwrap().a, None);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        std::fs::write(&p, "a = 3\n").unwrap();
        assert_eq!(read_config::<C>(Some(&p)).unwrap().a, Some(3));
        std::fs::write(&p, "b = 3\n").unwrap();
        let e = read_config::<C>(Some(&p)).unwrap_err();
        assert!(e.contains("x.toml") && e.contains("unknown field"), "{e}");
        let e = read_config::<C>(Some(&dir.path().join("none.toml"))).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        assert_eq!(log_level(0, None), "info");
        assert_eq!(log_level(0, Some("warn".into())), "warn");
        assert_eq!(log_level(1, Some("warn".into())), "debug");
        assert_eq!(log_level(2, None), "trace");
    }

    #[test]
    fn rate_limit_lets_a_burst_through_then_counts() {
        let mut r = RateLimit::new(Duration::from_secs(10), 3);
        let t = Instant::now();
        assert_eq!(r.allow(t), Some(0));
        assert_eq!(r.allow(t), Some(0));
        assert_eq!(r.allow(t), Some(0));
        assert_eq!(r.allow(t), None);
        assert_eq!(r.allow(t), None);
        assert_eq!(r.allow(t + Duration::from_secs(11)), Some(2));
    }
}
