//! Command line and TOML configuration of `iscsid`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

/// An iSCSI target for network boot (RFC 7143): serves disk images to iPXE,
/// Linux and Windows initiators.
///
/// One target from the command line (`--target IQN --disk PATH`, the disk is
/// LUN 0), or any number from a TOML file (`--config`, example below).
///
/// Hostile clients are bounded: each address may have a few connections
/// that have not logged in yet (`--max-logins-per-address`), a connection
/// must send its first PDU within 5 s and finish its login within
/// `--login-timeout`, idle sessions are pinged (NOP-In) and closed when a
/// ping goes unanswered. When all `--max-sessions` are taken, a login from
/// an address with few sessions takes the place of a session whose ping is
/// unanswered or of the address holding the most; otherwise it is refused
/// with status 0x0302 (out of resources).
/// The TOML example of the long `--help`, as lines that paste into a file.
pub const TOML_EXAMPLE: &str = r#"Example configuration file (every key is optional but name and disk):

  listen = ["0.0.0.0:3260"]
  max_sessions = 256
  max_logins_per_address = 8
  login_timeout = 15        # seconds
  nop_interval = 10         # seconds idle before a NOP-In ping
  nop_timeout = 20          # seconds a ping may go unanswered
  [[target]]
  name = "iqn.2026-11.org.example:pc1"
  chap = "user:secret"                 # optional
  mutual_chap = "target:othersecret"   # optional
  allow_initiators = ["iqn.2026-11.org.example:pc1"]  # optional
  [[target.lun]]
  id = 0
  disk = "/srv/images/pc1.img"
  size = "20G"         # create a sparse raw image if missing
  block_size = 512
  read_only = false
  [[target.lun]]
  id = 1
  disk = "/srv/images/pc1-data.qcow2"   # an overlay over a golden image
  format = "qcow2"     # default: qcow2 for *.qcow2, raw otherwise
  overlay_max = "10G"  # most space the overlay may take
"#;

#[derive(Debug, Parser)]
#[command(name = "iscsid", version, about, long_about, after_long_help = TOML_EXAMPLE)]
pub struct Cli {
    /// Address to listen on (repeatable). Default: `[::]:3260` and `0.0.0.0:3260`.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,
    /// Another portal SendTargets names beside the one an initiator asked
    /// (repeatable): a second gateway that serves the same targets.
    #[arg(long, value_name = "ADDR:PORT")]
    portal: Vec<SocketAddr>,
    /// Target name (IQN) of the command-line target.
    #[arg(long, value_name = "IQN")]
    target: Option<String>,
    /// Disk image or block device served as LUN 0.
    #[arg(long, value_name = "PATH")]
    disk: Option<PathBuf>,
    /// Create a sparse image of this size if the disk file is missing (e.g. 20G, 512M; raw only).
    #[arg(long, value_name = "SIZE")]
    size: Option<String>,
    /// The disk's format; never guessed from its contents. Default: qcow2
    /// for a `*.qcow2` file, raw otherwise. A qcow2 overlay's backing files
    /// must lie in the disk's directory and record their format.
    #[arg(long, value_name = "raw|qcow2")]
    format: Option<netboot_image::Format>,
    /// Most space a qcow2 --disk may take on the server (e.g. 10G): writes
    /// past it fail with SPACE ALLOCATION FAILED; a warning at 80 %.
    #[arg(long, value_name = "SIZE")]
    overlay_max: Option<String>,
    /// Refuse writes.
    #[arg(long)]
    read_only: bool,
    /// Logical block size.
    #[arg(long, value_name = "512|4096", default_value_t = 512)]
    block_size: u32,
    /// Require one-way CHAP with these credentials.
    #[arg(long, value_name = "USER:SECRET")]
    chap: Option<String>,
    /// Credentials the target proves when the initiator asks for mutual CHAP.
    #[arg(long, value_name = "USER:SECRET")]
    mutual_chap: Option<String>,
    /// Initiator allowed to log in (repeatable; default: everyone).
    #[arg(long, value_name = "IQN")]
    allow_initiator: Vec<String>,
    /// Most sessions (logged in or logging in) at once. Default: 256.
    #[arg(long, value_name = "N")]
    max_sessions: Option<usize>,
    /// Most connections per client address that have not logged in yet
    /// (more are closed at once). Default: 8.
    #[arg(long, value_name = "N")]
    max_logins_per_address: Option<usize>,
    /// Seconds a connection has to log in. Default: 15.
    #[arg(long, value_name = "SECS")]
    login_timeout: Option<u64>,
    /// Seconds a session may be idle before it is pinged with a NOP-In. Default: 10.
    #[arg(long, value_name = "SECS")]
    nop_interval: Option<u64>,
    /// Seconds a NOP-In ping may go unanswered before the session is closed. Default: 20.
    #[arg(long, value_name = "SECS")]
    nop_timeout: Option<u64>,
    /// Bypass the page cache (O_DIRECT) for the disks.
    #[arg(long)]
    direct: bool,
    #[command(flatten)]
    common: netboot_daemon::CommonArgs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Vec<SocketAddr>>,
    portals: Option<Vec<SocketAddr>>,
    max_sessions: Option<usize>,
    max_logins_per_address: Option<usize>,
    login_timeout: Option<u64>,
    nop_interval: Option<u64>,
    nop_timeout: Option<u64>,
    log_level: Option<String>,
    direct: Option<bool>,
    discovery_chap: Option<String>,
    #[serde(default)]
    target: Vec<FileTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTarget {
    name: String,
    alias: Option<String>,
    chap: Option<String>,
    mutual_chap: Option<String>,
    #[serde(default)]
    allow_initiators: Vec<String>,
    #[serde(default)]
    lun: Vec<FileLun>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLun {
    id: u64,
    disk: PathBuf,
    format: Option<String>,
    overlay_max: Option<String>,
    size: Option<String>,
    #[serde(default)]
    read_only: bool,
    block_size: Option<u32>,
}

/// A CHAP user and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Chap {
    pub user: String,
    pub secret: String,
}

impl std::fmt::Debug for Chap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chap({})", self.user)
    }
}

fn parse_chap(s: &str, what: &str) -> Result<Chap, String> {
    let (u, p) = s
        .split_once(':')
        .ok_or_else(|| format!("{what}: expected USER:SECRET"))?;
    if u.is_empty() || p.is_empty() {
        return Err(format!("{what}: user and secret must not be empty"));
    }
    Ok(Chap {
        user: u.into(),
        secret: p.into(),
    })
}

use netboot_image::parse_size;

#[derive(Debug, Clone)]
pub struct LunConfig {
    pub id: u64,
    pub disk: PathBuf,
    pub format: netboot_image::Format,
    pub overlay_max: Option<u64>,
    pub size: Option<u64>,
    pub read_only: bool,
    pub block_size: u32,
}

#[derive(Debug, Clone)]
pub struct TargetConf {
    pub name: String,
    pub alias: Option<String>,
    pub chap: Option<Chap>,
    pub mutual_chap: Option<Chap>,
    pub allow_initiators: Vec<String>,
    pub luns: Vec<LunConfig>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    /// Portals SendTargets names besides the one asked (other gateways).
    pub portals: Vec<SocketAddr>,
    pub max_sessions: usize,
    pub max_logins_per_address: usize,
    pub login_timeout: Duration,
    pub nop_interval: Duration,
    pub nop_timeout: Duration,
    /// Idle time before a session's first ping, if shorter than
    /// `nop_interval` (see `SessionConfig::first_ping`; not a flag).
    pub first_ping: Option<Duration>,
    pub direct: bool,
    pub log_level: String,
    pub discovery_chap: Option<Chap>,
    pub targets: Vec<TargetConf>,
    /// How sessions negotiate and how much they may ask for.
    pub limits: Limits,
}

/// The iSCSI and SCSI limits of every session, in one place: what the
/// target offers in negotiation, the command window, and the largest
/// transfer of one command (which the block limits VPD page reports and
/// the session enforces before it solicits any data).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Operational parameters the target wants (RFC 7143 §13).
    pub preferences: netboot_iscsi::negotiate::Preferences,
    /// Commands an initiator may queue (MaxCmdSN - ExpCmdSN + 1).
    pub cmd_window: u32,
    /// Largest transfer of one command, in bytes.
    pub max_transfer: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            preferences: netboot_iscsi::negotiate::Preferences {
                max_recv_data_segment_length: 256 * 1024,
                max_burst_length: 1 << 20,
                first_burst_length: 256 * 1024,
                // Write data is always solicited with R2T and sent in
                // Data-Out PDUs whose DataSN and offsets are checked (what
                // iPXE does anyway). Immediate or unsolicited data would
                // save one round trip per write, but libiscsi's conformance
                // tests then cannot exercise DataSN checking and task abort
                // as they assume.
                immediate_data: false,
                initial_r2t: true,
                max_outstanding_r2t: 8,
                ..netboot_iscsi::negotiate::Preferences::default()
            },
            cmd_window: 64,
            max_transfer: netboot_scsi::LuOptions::default().max_transfer_bytes,
        }
    }
}

fn check_block_size(bs: u32) -> Result<u32, String> {
    if bs == 512 || bs == 4096 {
        Ok(bs)
    } else {
        Err(format!("block size {bs}: must be 512 or 4096"))
    }
}

/// A LUN's size, when given, is a whole number of its blocks.
fn check_size(size: Option<u64>, bs: u32, what: &str) -> Result<Option<u64>, String> {
    match size {
        Some(n) if n % u64::from(bs) != 0 => Err(format!(
            "{what} {n}: not a multiple of the block size {bs} (e.g. 64M, 20G)"
        )),
        s => Ok(s),
    }
}

/// The format of `disk`: as given, else from its name. Only raw disks are
/// created from a size (given for an existing qcow2 file, it is unused).
fn disk_format(
    given: Option<netboot_image::Format>,
    disk: &std::path::Path,
    size: Option<u64>,
) -> Result<netboot_image::Format, String> {
    let f = given.unwrap_or_else(|| netboot_image::Format::for_path(disk));
    if f == netboot_image::Format::Qcow2 && size.is_some() && !disk.exists() {
        return Err(format!(
            "{}: a size creates raw images only (make qcow2 overlays with qemu-img create -b)",
            disk.display()
        ));
    }
    Ok(f)
}

/// A time-out in whole seconds, 1 to 3600.
fn seconds(v: Option<u64>, default: u64, what: &str) -> Result<Duration, String> {
    match v.unwrap_or(default) {
        n @ 1..=3600 => Ok(Duration::from_secs(n)),
        n => Err(format!("{what} {n}: must be 1 to 3600 seconds")),
    }
}

impl Config {
    pub fn load(cli: Cli) -> Result<Config, String> {
        let file: FileConfig = netboot_daemon::read_config(cli.common.config.as_deref())?;
        let mut targets = Vec::new();
        for t in file.target {
            let mut luns = Vec::new();
            for l in t.lun {
                if luns.iter().any(|o: &LunConfig| o.id == l.id) {
                    return Err(format!("target {}: LUN {} configured twice", t.name, l.id));
                }
                let block_size = check_block_size(l.block_size.unwrap_or(512))?;
                let size = l.size.as_deref().map(parse_size).transpose()?;
                let format = l
                    .format
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e| format!("target {} LUN {}: {e}", t.name, l.id))?;
                luns.push(LunConfig {
                    id: l.id,
                    overlay_max: l.overlay_max.as_deref().map(parse_size).transpose()?,
                    format: disk_format(format, &l.disk, size)?,
                    disk: l.disk,
                    size: check_size(size, block_size, "size")?,
                    read_only: l.read_only,
                    block_size,
                });
            }
            if luns.is_empty() {
                return Err(format!("target {}: no [[target.lun]]", t.name));
            }
            targets.push(TargetConf {
                name: t.name,
                alias: t.alias,
                chap: t
                    .chap
                    .as_deref()
                    .map(|c| parse_chap(c, "chap"))
                    .transpose()?,
                mutual_chap: t
                    .mutual_chap
                    .as_deref()
                    .map(|c| parse_chap(c, "mutual_chap"))
                    .transpose()?,
                allow_initiators: t.allow_initiators,
                luns,
            });
        }
        match (&cli.target, &cli.disk) {
            (Some(name), Some(disk)) => targets.push(TargetConf {
                name: name.clone(),
                alias: None,
                chap: cli
                    .chap
                    .as_deref()
                    .map(|c| parse_chap(c, "--chap"))
                    .transpose()?,
                mutual_chap: cli
                    .mutual_chap
                    .as_deref()
                    .map(|c| parse_chap(c, "--mutual-chap"))
                    .transpose()?,
                allow_initiators: cli.allow_initiator.clone(),
                luns: vec![LunConfig {
                    id: 0,
                    overlay_max: cli.overlay_max.as_deref().map(parse_size).transpose()?,
                    disk: disk.clone(),
                    format: disk_format(
                        cli.format,
                        disk,
                        cli.size.as_deref().map(parse_size).transpose()?,
                    )?,
                    size: check_size(
                        cli.size.as_deref().map(parse_size).transpose()?,
                        check_block_size(cli.block_size)?,
                        "--size",
                    )?,
                    read_only: cli.read_only,
                    block_size: check_block_size(cli.block_size)?,
                }],
            }),
            (None, None) => {}
            _ => return Err("--target and --disk go together".into()),
        }
        if targets.is_empty() {
            return Err("no target: give --target IQN --disk PATH, or --config FILE".into());
        }
        for (i, t) in targets.iter().enumerate() {
            if !(t.name.starts_with("iqn.")
                || t.name.starts_with("eui.")
                || t.name.starts_with("naa."))
            {
                return Err(format!(
                    "target name {:?} is not an iqn./eui./naa. name",
                    t.name
                ));
            }
            if let Some(l) = t
                .luns
                .iter()
                .find(|l| l.overlay_max.is_some() && l.format == netboot_image::Format::Raw)
            {
                return Err(format!(
                    "target {} LUN {} ({}): a size limit applies to qcow2 overlays only",
                    t.name,
                    l.id,
                    l.disk.display()
                ));
            }
            if targets[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&t.name))
            {
                return Err(format!("target {} configured twice", t.name));
            }
        }
        let listen = if !cli.listen.is_empty() {
            cli.listen
        } else {
            file.listen.unwrap_or_else(|| {
                vec![
                    "[::]:3260".parse().expect("literal"),
                    "0.0.0.0:3260".parse().expect("literal"),
                ]
            })
        };
        let log_level = cli.common.log_level(file.log_level);
        Ok(Config {
            listen,
            portals: if cli.portal.is_empty() {
                file.portals.unwrap_or_default()
            } else {
                cli.portal
            },
            max_sessions: cli.max_sessions.or(file.max_sessions).unwrap_or(256).max(1),
            max_logins_per_address: cli
                .max_logins_per_address
                .or(file.max_logins_per_address)
                .unwrap_or(8)
                .max(1),
            login_timeout: seconds(
                cli.login_timeout.or(file.login_timeout),
                15,
                "login timeout",
            )?,
            nop_interval: seconds(cli.nop_interval.or(file.nop_interval), 10, "NOP interval")?,
            nop_timeout: seconds(cli.nop_timeout.or(file.nop_timeout), 20, "NOP timeout")?,
            first_ping: None,
            direct: cli.direct || file.direct.unwrap_or(false),
            log_level,
            discovery_chap: file
                .discovery_chap
                .as_deref()
                .map(|c| parse_chap(c, "discovery_chap"))
                .transpose()?,
            targets,
            limits: Limits::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The iSCSI session refuses what the SCSI layer would: the two
    /// crates' defaults agree, and iscsid sets both from one value.
    #[test]
    fn one_largest_transfer_for_session_and_logical_unit() {
        let lu = netboot_scsi::LuOptions::default().max_transfer_bytes;
        assert_eq!(
            netboot_iscsi::session::SessionConfig::default().max_transfer,
            lu
        );
        assert_eq!(Limits::default().max_transfer, lu);
    }

    fn load(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["iscsid"];
        v.extend_from_slice(args);
        Config::load(Cli::try_parse_from(v).map_err(|e| e.to_string())?)
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("20g").unwrap(), 20 << 30);
        assert!(parse_size("0").is_err());
        assert!(parse_size("9999999999T").is_err());
        assert!(parse_size("5Q").is_err());
    }

    #[test]
    fn command_line_target() {
        let c = load(&[
            "--target",
            "iqn.2026-11.org.example:disk",
            "--disk",
            "/tmp/x.img",
            "--size",
            "64M",
            "--chap",
            "u:s",
        ])
        .unwrap();
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.targets[0].luns[0].size, Some(64 << 20));
        assert_eq!(c.targets[0].chap.as_ref().unwrap().user, "u");
        assert_eq!(c.listen.len(), 2);
        assert!(load(&["--target", "iqn.x"]).is_err());
        assert!(load(&[]).is_err());
        assert!(load(&["--target", "bad", "--disk", "/x"]).is_err());
        assert!(load(&["--target", "iqn.x:y", "--disk", "/x", "--chap", "nocolon"]).is_err());
    }

    #[test]
    fn toml_targets() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("iscsid.toml");
        std::fs::write(
            &f,
            r#"
listen = ["127.0.0.1:3260"]
[[target]]
name = "iqn.2026-11.org.example:a"
allow_initiators = ["iqn.x:pc"]
[[target.lun]]
id = 0
disk = "/tmp/a.img"
size = "1G"
[[target.lun]]
id = 1
disk = "/tmp/b.img"
read_only = true
block_size = 4096
[[target]]
name = "iqn.2026-11.org.example:b"
mutual_chap = "t:secret"
[[target.lun]]
id = 0
disk = "/tmp/c.img"
"#,
        )
        .unwrap();
        let c = load(&["--config", f.to_str().unwrap()]).unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.targets[0].luns[1].block_size, 4096);
        assert!(c.targets[0].luns[1].read_only);
        assert_eq!(c.listen, vec!["127.0.0.1:3260".parse().unwrap()]);
        std::fs::write(&f, "[[target]]\nname = \"iqn.a:b\"\n").unwrap();
        assert!(load(&["--config", f.to_str().unwrap()]).is_err(), "no LUN");
        std::fs::write(
            &f,
            "[[target]]\nname = \"iqn.a:b\"\n[[target.lun]]\nid = 0\ndisk = \"/a\"\n\
             [[target.lun]]\nid = 0\ndisk = \"/b\"\n",
        )
        .unwrap();
        let e = load(&["--config", f.to_str().unwrap()]).unwrap_err();
        assert_eq!(e, "target iqn.a:b: LUN 0 configured twice");
    }

    #[test]
    fn sizes_are_whole_blocks_and_time_outs_in_range() {
        let base = ["--target", "iqn.x:y", "--disk", "/x", "--size"];
        let e = load(&[&base[..], &["1000"]].concat()).unwrap_err();
        assert!(
            e.contains("--size 1000: not a multiple of the block size 512"),
            "{e}"
        );
        let e = load(&[&base[..], &["6K", "--block-size", "4096"]].concat()).unwrap_err();
        assert!(e.contains("not a multiple of the block size 4096"), "{e}");
        assert!(load(&[&base[..], &["1024"]].concat()).is_ok());
        let e = load(&[&base[..], &["1M", "--nop-timeout", "0"]].concat()).unwrap_err();
        assert_eq!(e, "NOP timeout 0: must be 1 to 3600 seconds");
        let c = load(&[&base[..], &["1M", "--login-timeout", "3"]].concat()).unwrap();
        assert_eq!(c.login_timeout, Duration::from_secs(3));
        assert_eq!(c.nop_interval, Duration::from_secs(10));
        assert_eq!(c.max_logins_per_address, 8);
    }

    #[test]
    fn formats_come_from_the_flag_or_the_name() {
        use netboot_image::Format;
        let c = load(&["--target", "iqn.x:y", "--disk", "/x/pc.qcow2"]).unwrap();
        assert_eq!(c.targets[0].luns[0].format, Format::Qcow2);
        let c = load(&["--target", "iqn.x:y", "--disk", "/x/pc.img"]).unwrap();
        assert_eq!(c.targets[0].luns[0].format, Format::Raw);
        let c = load(&[
            "--target", "iqn.x:y", "--disk", "/x/pc", "--format", "qcow2",
        ])
        .unwrap();
        assert_eq!(c.targets[0].luns[0].format, Format::Qcow2);
        let c = load(&[
            "--target",
            "iqn.x:y",
            "--disk",
            "/x/a.qcow2",
            "--format",
            "raw",
        ])
        .unwrap();
        assert_eq!(c.targets[0].luns[0].format, Format::Raw);
        assert!(load(&["--target", "iqn.x:y", "--disk", "/x/a", "--format", "vmdk"]).is_err());
        let e = load(&[
            "--target",
            "iqn.x:y",
            "--disk",
            "/nonexistent/a.qcow2",
            "--size",
            "1G",
        ])
        .unwrap_err();
        assert!(e.contains("a size creates raw images only"), "{e}");
        let lim =
            |disk: &str| load(&["--target", "iqn.x:y", "--disk", disk, "--overlay-max", "2G"]);
        assert_eq!(
            lim("/x/a.qcow2").unwrap().targets[0].luns[0].overlay_max,
            Some(2 << 30)
        );
        let e = lim("/x/a.img").unwrap_err();
        assert!(
            e.contains("a size limit applies to qcow2 overlays only"),
            "{e}"
        );
    }

    /// The example of the long help, pasted into a file (indentation
    /// removed), is a valid configuration.
    #[test]
    fn the_help_example_pastes_into_a_file() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        let start = help
            .find("Example configuration file")
            .expect("example in --help");
        let toml: String = help[start..]
            .lines()
            .skip(1)
            .filter(|l| l.starts_with("  "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        assert!(toml.contains("[[target.lun]]\nid = 0\n"), "{toml}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("iscsid.toml");
        std::fs::write(&f, &toml).unwrap();
        let c = load(&["--config", f.to_str().unwrap()]).unwrap();
        assert_eq!(c.targets[0].luns[0].size, Some(20 << 30));
        assert_eq!(c.nop_timeout, Duration::from_secs(20));
    }
}
