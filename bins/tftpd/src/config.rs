//! Command line and TOML configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use netboot_tftp::transfer::{Rollover, ServerConfig, Timing};
use netboot_tftp::wire::{MAX_BLKSIZE, MIN_BLKSIZE};
use serde::Deserialize;

/// A fast, hardened TFTP server for network boot (RFC 1350, 2347, 2348, 2349, 7440).
///
/// Serves files below --root, read-only unless --allow-write. Every option can
/// also be set in a TOML file given with --config (keys as the long options,
/// with underscores: `root`, `listen`, `allow_write`, `blksize_max`, ...);
/// the command line wins over the file.
#[derive(Debug, Parser)]
#[command(name = "tftpd", version, about, long_about)]
pub struct Cli {
    /// Directory to serve.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Address to listen on (repeatable). Default: `[::]:69` and `0.0.0.0:69`.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,
    /// Accept write requests (creates new files only).
    #[arg(long)]
    allow_write: bool,
    /// With --allow-write, also replace existing files.
    #[arg(long)]
    allow_overwrite: bool,
    /// Largest upload accepted, in bytes (suffixes K, M, G: powers of 1024).
    /// A larger announced `tsize` is refused at once; an upload that grows
    /// past it gets ERROR 3 and its temporary file is removed. Default: no
    /// limit but the disk. TOML: `max_upload = "512M"` or a number of bytes.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    max_upload: Option<u64>,
    /// Most transfers at once; further requests get ERROR 0 "server busy".
    /// Default: 512.
    #[arg(long, value_name = "N")]
    max_transfers: Option<usize>,
    /// Most transfers at once from one client address (any port); further
    /// requests from it get ERROR 0 "Too many transfers from your address,
    /// try later", so that one host cannot take every slot of
    /// --max-transfers. Default: 8.
    #[arg(long, value_name = "N")]
    max_transfers_per_address: Option<usize>,
    /// Largest block size granted (8..=65464).
    #[arg(long, value_name = "BYTES")]
    blksize_max: Option<u16>,
    /// Largest window granted (RFC 7440; 1 disables windows).
    #[arg(long, value_name = "BLOCKS")]
    windowsize_max: Option<u16>,
    /// Initial retransmission time-out in seconds; the adaptive time-out stays
    /// between 50 ms and 4x this value (or the client's `timeout` option).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Retransmissions before a transfer is abandoned. A client that never
    /// answers at all (no ACK of the first DATA or OACK, no DATA 1 of an
    /// upload) is given up sooner: after 3x --timeout (at least 1 s).
    #[arg(long, value_name = "N")]
    retries: Option<u32>,
    /// Local ports for transfers (default: any ephemeral port).
    #[arg(long, value_name = "LOW-HIGH", value_parser = parse_range)]
    port_range: Option<(u16, u16)>,
    /// Block number after 65535: 0 (default, as curl and iPXE expect) or 1.
    #[arg(long, value_name = "0|1")]
    rollover: Option<u8>,
    /// Seconds to let transfers finish on SIGINT/SIGTERM before aborting them.
    #[arg(long, value_name = "SECONDS")]
    shutdown_grace: Option<u64>,
    #[command(flatten)]
    common: netboot_daemon::CommonArgs,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("expected a size like 512M, got {s:?}"))
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("expected LOW-HIGH, got {s:?}"))?;
    let lo: u16 = a
        .trim()
        .parse()
        .map_err(|e| format!("low port {a:?}: {e}"))?;
    let hi: u16 = b
        .trim()
        .parse()
        .map_err(|e| format!("high port {b:?}: {e}"))?;
    if lo == 0 || lo > hi {
        return Err(format!("port range {lo}-{hi} is empty or starts at 0"));
    }
    Ok((lo, hi))
}

/// `max_upload` in the TOML file: a number of bytes (`1048576`) or a string
/// as on the command line (`"1M"`).
fn size_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a size in bytes (1048576) or a string like \"512M\"")
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Ok(Some(n))
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
            u64::try_from(n)
                .map(Some)
                .map_err(|_| E::custom(format!("max_upload {n}: a size cannot be negative")))
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            parse_size(s)
                .map(Some)
                .map_err(|e| E::custom(format!("max_upload: {e}")))
        }
    }
    d.deserialize_any(V)
}

/// The same settings as the command line, from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    root: Option<PathBuf>,
    listen: Option<Vec<SocketAddr>>,
    allow_write: Option<bool>,
    allow_overwrite: Option<bool>,
    #[serde(default, deserialize_with = "size_or_string")]
    max_upload: Option<u64>,
    max_transfers: Option<usize>,
    max_transfers_per_address: Option<usize>,
    blksize_max: Option<u16>,
    windowsize_max: Option<u16>,
    timeout: Option<f64>,
    retries: Option<u32>,
    port_range: Option<String>,
    rollover: Option<u8>,
    shutdown_grace: Option<u64>,
    log_level: Option<String>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub allow_write: bool,
    pub allow_overwrite: bool,
    pub max_upload: Option<u64>,
    pub max_transfers: usize,
    pub max_transfers_per_address: usize,
    pub port_range: Option<(u16, u16)>,
    pub shutdown_grace: Duration,
    pub log_level: String,
    pub transfer: ServerConfig,
}

/// The transfer settings of an initial time-out and a retry count (the
/// adaptive time-out stays between 50 ms, or less, and 4 times it).
fn transfer(
    blksize_max: u16,
    windowsize_max: u16,
    timeout: Duration,
    retries: u32,
    rollover: Rollover,
) -> ServerConfig {
    ServerConfig {
        blksize_max,
        windowsize_max,
        timing: Timing {
            initial_rto: timeout,
            min_rto: Duration::from_millis(50).min(timeout),
            max_rto: timeout * 4,
            retries,
            dally: timeout * 2,
        },
        rollover,
    }
}

impl Config {
    /// Serves `root` read-only on `listen` with the defaults of the
    /// command line (512 transfers, 8 per address, blksize up to 65464,
    /// windowsize up to 64, 1 s initial time-out, 6 retries): what a
    /// program that runs tftpd as a library starts from.
    pub fn new(root: PathBuf, listen: Vec<SocketAddr>) -> Config {
        Config {
            root,
            listen,
            allow_write: false,
            allow_overwrite: false,
            max_upload: None,
            max_transfers: 512,
            max_transfers_per_address: 8,
            port_range: None,
            shutdown_grace: Duration::from_secs(5),
            log_level: "info".into(),
            transfer: transfer(MAX_BLKSIZE, 64, Duration::from_secs(1), 6, Rollover::Zero),
        }
    }

    /// The configuration of the command line and the file it names.
    pub fn load(cli: Cli) -> Result<Config, String> {
        let file: FileConfig = netboot_daemon::read_config(cli.common.config.as_deref())?;
        let root = cli
            .root
            .or(file.root)
            .unwrap_or_else(|| PathBuf::from("/srv/tftp"));
        let listen = if !cli.listen.is_empty() {
            cli.listen
        } else {
            file.listen.unwrap_or_else(|| {
                vec![
                    "[::]:69".parse().expect("literal address"),
                    "0.0.0.0:69".parse().expect("literal address"),
                ]
            })
        };
        let blksize_max = cli.blksize_max.or(file.blksize_max).unwrap_or(MAX_BLKSIZE);
        if !(MIN_BLKSIZE..=MAX_BLKSIZE).contains(&blksize_max) {
            return Err(format!(
                "--blksize-max {blksize_max} is outside {MIN_BLKSIZE}..={MAX_BLKSIZE}"
            ));
        }
        let windowsize_max = cli.windowsize_max.or(file.windowsize_max).unwrap_or(64);
        if windowsize_max == 0 {
            return Err("--windowsize-max must be at least 1".into());
        }
        let timeout = cli.timeout.or(file.timeout).unwrap_or(1.0);
        if !(0.01..=255.0).contains(&timeout) {
            return Err(format!("--timeout {timeout} is outside 0.01..=255 seconds"));
        }
        let timeout = Duration::from_secs_f64(timeout);
        let retries = cli.retries.or(file.retries).unwrap_or(6);
        let port_range = match (cli.port_range, file.port_range) {
            (Some(r), _) => Some(r),
            (None, Some(s)) => Some(parse_range(&s)?),
            (None, None) => None,
        };
        let rollover = match cli.rollover.or(file.rollover).unwrap_or(0) {
            0 => Rollover::Zero,
            1 => Rollover::One,
            n => return Err(format!("--rollover {n}: must be 0 or 1")),
        };
        let max_transfers = cli.max_transfers.or(file.max_transfers).unwrap_or(512);
        if max_transfers == 0 {
            return Err("--max-transfers must be at least 1".into());
        }
        let max_transfers_per_address = cli
            .max_transfers_per_address
            .or(file.max_transfers_per_address)
            .unwrap_or(8);
        if max_transfers_per_address == 0 {
            return Err("--max-transfers-per-address 0: must be at least 1".into());
        }
        let log_level = cli.common.log_level(file.log_level);
        Ok(Config {
            root,
            listen,
            allow_write: cli.allow_write || file.allow_write.unwrap_or(false),
            allow_overwrite: cli.allow_overwrite || file.allow_overwrite.unwrap_or(false),
            max_upload: cli.max_upload.or(file.max_upload),
            max_transfers,
            max_transfers_per_address,
            port_range,
            shutdown_grace: Duration::from_secs(
                cli.shutdown_grace.or(file.shutdown_grace).unwrap_or(5),
            ),
            log_level,
            transfer: transfer(blksize_max, windowsize_max, timeout, retries, rollover),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["tftpd"];
        v.extend_from_slice(args);
        Config::load(Cli::try_parse_from(v).map_err(|e| e.to_string())?)
    }

    #[test]
    fn defaults() {
        let c = load(&[]).unwrap();
        assert_eq!(c.root, PathBuf::from("/srv/tftp"));
        assert_eq!(c.listen.len(), 2);
        assert!(!c.allow_write);
        assert_eq!(c.transfer.blksize_max, 65464);
        assert_eq!(c.transfer.timing.initial_rto, Duration::from_secs(1));
        assert_eq!((c.max_transfers, c.max_transfers_per_address), (512, 8));
    }

    #[test]
    fn per_address_limit_from_flag_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tftpd.toml");
        std::fs::write(&f, "max_transfers_per_address = 3\n").unwrap();
        let conf = f.to_str().unwrap();
        assert_eq!(
            load(&["--config", conf]).unwrap().max_transfers_per_address,
            3
        );
        let c = load(&["--config", conf, "--max-transfers-per-address", "20"]).unwrap();
        assert_eq!(c.max_transfers_per_address, 20, "command line wins");
        let e = load(&["--max-transfers-per-address", "0"]).unwrap_err();
        assert!(e.contains("--max-transfers-per-address 0"), "{e}");
        std::fs::write(&f, "max_transfers_per_address = 0\n").unwrap();
        assert!(load(&["--config", conf]).is_err());
    }

    #[test]
    fn flags_and_file() {
        let dir = std::env::temp_dir().join(format!("tftpd-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("tftpd.toml");
        std::fs::write(
            &f,
            "root = \"/tmp\"\nblksize_max = 1468\nport_range = \"5000-5100\"\nlisten = [\"127.0.0.1:6969\"]\n",
        )
        .unwrap();
        let c = load(&["--config", f.to_str().unwrap(), "--blksize-max", "1024"]).unwrap();
        assert_eq!(c.root, PathBuf::from("/tmp"));
        assert_eq!(c.transfer.blksize_max, 1024, "command line wins");
        assert_eq!(c.port_range, Some((5000, 5100)));
        assert_eq!(c.listen, vec!["127.0.0.1:6969".parse().unwrap()]);
        std::fs::write(&f, "bogus = 1\n").unwrap();
        assert!(load(&["--config", f.to_str().unwrap()])
            .unwrap_err()
            .contains("bogus"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn max_upload_in_the_file_as_number_or_string() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tftpd.toml");
        let with = |text: &str| {
            std::fs::write(&f, text).unwrap();
            load(&["--config", f.to_str().unwrap()])
        };
        assert_eq!(
            with("max_upload = 1048576\n").unwrap().max_upload,
            Some(1 << 20)
        );
        assert_eq!(
            with("max_upload = \"1M\"\n").unwrap().max_upload,
            Some(1 << 20)
        );
        assert_eq!(with("max_upload = 0\n").unwrap().max_upload, Some(0));
        let e = with("max_upload = -1\n").unwrap_err();
        assert!(e.contains("max_upload") && e.contains("-1"), "{e}");
        let e = with("max_upload = \"lots\"\n").unwrap_err();
        assert!(e.contains("max_upload") && e.contains("lots"), "{e}");
        let e = with("max_upload = 1.5\n").unwrap_err();
        assert!(e.contains("max_upload") && e.contains("512M"), "{e}");
        // The command line wins.
        std::fs::write(&f, "max_upload = 1048576\n").unwrap();
        let c = load(&["--config", f.to_str().unwrap(), "--max-upload", "2K"]).unwrap();
        assert_eq!(c.max_upload, Some(2048));
    }

    #[test]
    fn refuses_bad_values() {
        assert!(load(&["--blksize-max", "4"]).is_err());
        assert!(load(&["--windowsize-max", "0"]).is_err());
        assert!(load(&["--port-range", "10-5"]).is_err());
        assert!(load(&["--rollover", "2"]).is_err());
        assert!(load(&["--timeout", "0"]).is_err());
    }
}
