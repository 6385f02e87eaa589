//! Command line and TOML configuration.

use std::path::PathBuf;

use clap::Parser;
use netboot_aoe::wire::MacAddr;
use serde::Deserialize;

/// An ATA over Ethernet (AoE r11) target: exports disk images or block
/// devices as shelf.slot on one Ethernet interface.
///
/// One disk comes from --shelf/--slot/--disk; more from a TOML file given
/// with --config:
///
/// ```toml
/// interface = "eth0"
/// buffer_count = 64
/// [[disk]]
/// shelf = 1
/// slot = 0
/// disk = "/srv/aoe/root.img"
/// format = "raw"      # default: qcow2 for *.qcow2, raw otherwise
/// overlay_max = "10G"  # qcow2 only: most space the overlay may take
/// read_only = false
/// allow_macs = ["52:54:00:12:34:56"]
/// ```
///
/// The command line wins over the file for the global settings.
/// Writes acknowledged before a FLUSH CACHE that succeeded are durable
/// (fdatasync). SIGINT/SIGTERM stop the daemon cleanly.
#[derive(Debug, Parser)]
#[command(name = "aoed", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    /// Ethernet interface to serve on.
    #[arg(long, short = 'i', value_name = "IFACE")]
    interface: Option<String>,
    /// Shelf (major) address of --disk, 0..=65534.
    #[arg(long, value_name = "N")]
    shelf: Option<u16>,
    /// Slot (minor) address of --disk, 0..=254.
    #[arg(long, value_name = "M")]
    slot: Option<u8>,
    /// Disk image or block device to export.
    #[arg(long, value_name = "PATH")]
    disk: Option<PathBuf>,
    /// The format of --disk; never guessed from its contents. Default:
    /// qcow2 for a `*.qcow2` file, raw otherwise. A qcow2 overlay's backing
    /// files must lie in its directory and record their format.
    #[arg(long, value_name = "raw|qcow2")]
    format: Option<netboot_image::Format>,
    /// Most space a qcow2 --disk may take on the server (e.g. 10G): writes
    /// past it fail with an ATA error (ABRT); a warning at 80 %.
    #[arg(long, value_name = "SIZE")]
    overlay_max: Option<String>,
    /// Refuse writes to --disk.
    #[arg(long)]
    read_only: bool,
    /// Serve --disk only to this source MAC, e.g. 52:54:00:12:34:56
    /// (repeatable; default: everyone).
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    allow_mac: Vec<MacAddr>,
    /// Initial config string of --disk.
    #[arg(long, value_name = "TEXT")]
    config_string: Option<String>,
    /// Open disks with O_DIRECT (aligned requests bypass the page cache).
    #[arg(long)]
    direct: bool,
    /// Outstanding requests a client may send (advertised buffer count).
    #[arg(long, value_name = "N")]
    buffer_count: Option<u16>,
    /// Receive/I-O threads, each with a socket of one fanout group (default
    /// 1: on a small machine shared with the clients one thread is fastest).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Send through the interface's queueing discipline instead of past it
    /// (PACKET_QDISC_BYPASS is the default), e.g. to shape aoed's traffic
    /// with tc.
    #[arg(long)]
    no_qdisc_bypass: bool,
    #[command(flatten)]
    common: netboot_daemon::CommonArgs,
}

/// A MAC address as `--allow-mac` and `allow_macs` take it; the error
/// says what was expected (the wire type's own error only names the field).
fn parse_mac(s: &str) -> Result<MacAddr, String> {
    s.parse().map_err(|_| {
        format!("{s:?} is not a MAC address: expected six hex bytes such as 52:54:00:12:34:56")
    })
}

/// One `[[disk]]` of the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDisk {
    shelf: u16,
    slot: u8,
    disk: PathBuf,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    overlay_max: Option<String>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    allow_macs: Vec<String>,
    #[serde(default)]
    config_string: Option<String>,
    #[serde(default)]
    direct: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    interface: Option<String>,
    buffer_count: Option<u16>,
    threads: Option<usize>,
    log_level: Option<String>,
    #[serde(default)]
    disk: Vec<FileDisk>,
}

/// One exported disk.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    pub shelf: u16,
    pub slot: u8,
    pub path: PathBuf,
    pub format: netboot_image::Format,
    /// Most bytes a qcow2 overlay may take on disk.
    pub overlay_max: Option<u64>,
    pub read_only: bool,
    pub allow_macs: Vec<MacAddr>,
    pub config_string: String,
    pub direct: bool,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub interface: String,
    pub buffer_count: u16,
    pub threads: usize,
    pub qdisc_bypass: bool,
    pub log_level: String,
    pub disks: Vec<DiskConfig>,
}

impl Config {
    pub fn load(cli: Cli) -> Result<Config, String> {
        let file: FileConfig = netboot_daemon::read_config(cli.common.config.as_deref())?;
        let interface = cli
            .interface
            .or(file.interface)
            .ok_or("no --interface given")?;
        let mut disks = Vec::new();
        for d in file.disk {
            let allow_macs = d
                .allow_macs
                .iter()
                .map(|m| {
                    parse_mac(m)
                        .map_err(|e| format!("[[disk]] e{}.{}: allow_macs: {e}", d.shelf, d.slot))
                })
                .collect::<Result<Vec<MacAddr>, String>>()?;
            let format = match d.format.as_deref() {
                Some(f) => f
                    .parse()
                    .map_err(|e| format!("[[disk]] e{}.{}: format: {e}", d.shelf, d.slot))?,
                None => netboot_image::Format::for_path(&d.disk),
            };
            let overlay_max = d
                .overlay_max
                .as_deref()
                .map(netboot_image::parse_size)
                .transpose()
                .map_err(|e| format!("[[disk]] e{}.{}: overlay_max: {e}", d.shelf, d.slot))?;
            disks.push(DiskConfig {
                shelf: d.shelf,
                slot: d.slot,
                format,
                overlay_max,
                path: d.disk,
                read_only: d.read_only,
                allow_macs,
                config_string: d.config_string.unwrap_or_default(),
                direct: d.direct,
            });
        }
        match (cli.shelf, cli.slot, cli.disk) {
            (Some(shelf), Some(slot), Some(path)) => disks.push(DiskConfig {
                shelf,
                slot,
                format: cli
                    .format
                    .unwrap_or_else(|| netboot_image::Format::for_path(&path)),
                overlay_max: cli
                    .overlay_max
                    .as_deref()
                    .map(netboot_image::parse_size)
                    .transpose()
                    .map_err(|e| format!("--overlay-max: {e}"))?,
                path,
                read_only: cli.read_only,
                allow_macs: cli.allow_mac,
                config_string: cli.config_string.unwrap_or_default(),
                direct: cli.direct,
            }),
            (None, None, None) => {}
            _ => return Err("--shelf, --slot and --disk go together".into()),
        }
        if let Some(d) = disks
            .iter()
            .find(|d| d.overlay_max.is_some() && d.format == netboot_image::Format::Raw)
        {
            return Err(format!(
                "e{}.{} ({}): a size limit applies to qcow2 overlays only",
                d.shelf,
                d.slot,
                d.path.display()
            ));
        }
        if disks.is_empty() {
            return Err(
                "no disk to export: give --shelf/--slot/--disk or [[disk]] in --config".into(),
            );
        }
        for (i, d) in disks.iter().enumerate() {
            if d.shelf == 0xffff || d.slot == 0xff {
                return Err(format!(
                    "e{}.{}: 65535 and 255 are broadcast addresses",
                    d.shelf, d.slot
                ));
            }
            if d.config_string.len() > netboot_aoe::wire::MAX_CONFIG_LEN {
                return Err(format!(
                    "e{}.{}: config string longer than 1024 bytes",
                    d.shelf, d.slot
                ));
            }
            if disks[..i]
                .iter()
                .any(|o| o.shelf == d.shelf && o.slot == d.slot)
            {
                return Err(format!("e{}.{} is configured twice", d.shelf, d.slot));
            }
        }
        let threads = cli.threads.or(file.threads).unwrap_or(1);
        if !(1..=64).contains(&threads) {
            return Err(format!("--threads {threads} is outside 1..=64"));
        }
        let buffer_count = cli.buffer_count.or(file.buffer_count).unwrap_or(64);
        if buffer_count == 0 {
            return Err("--buffer-count must be at least 1".into());
        }
        let log_level = cli.common.log_level(file.log_level);
        Ok(Config {
            interface,
            buffer_count,
            threads,
            qdisc_bypass: !cli.no_qdisc_bypass,
            log_level,
            disks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(args: &[&str], toml: Option<&str>) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aoed.toml");
        let p = path.to_str().unwrap().to_owned();
        let mut argv = vec!["aoed"];
        argv.extend_from_slice(args);
        if let Some(t) = toml {
            std::fs::write(&path, t).unwrap();
            argv.extend_from_slice(&["--config", &p]);
        }
        Config::load(Cli::try_parse_from(argv).map_err(|e| e.to_string())?)
    }

    const DISK: [&str; 8] = [
        "-i", "eth0", "--shelf", "1", "--slot", "2", "--disk", "/d.img",
    ];

    #[test]
    fn a_size_limit_takes_sizes_and_qcow2_disks_only() {
        let mut args = DISK.to_vec();
        args.extend_from_slice(&["--overlay-max", "2G"]);
        let e = load(&args, None).unwrap_err();
        assert!(
            e.contains("e1.2 (/d.img): a size limit applies to qcow2 overlays only"),
            "{e}"
        );
        args.extend_from_slice(&["--format", "qcow2"]);
        assert_eq!(
            load(&args, None).unwrap().disks[0].overlay_max,
            Some(2 << 30)
        );
        let t = "[[disk]]\nshelf = 3\nslot = 4\ndisk = \"/d.qcow2\"\noverlay_max = \"lots\"\n";
        let e = load(&["-i", "eth0"], Some(t)).unwrap_err();
        assert!(e.starts_with("[[disk]] e3.4: overlay_max: "), "{e}");
    }

    #[test]
    fn formats_come_from_the_flag_the_key_or_the_name() {
        use netboot_image::Format;
        assert_eq!(load(&DISK, None).unwrap().disks[0].format, Format::Raw);
        let mut args = DISK.to_vec();
        args.extend_from_slice(&["--format", "qcow2"]);
        assert_eq!(load(&args, None).unwrap().disks[0].format, Format::Qcow2);
        let t = "[[disk]]\nshelf = 3\nslot = 4\ndisk = \"/d.qcow2\"\n";
        let c = load(&["-i", "eth0"], Some(t)).unwrap();
        assert_eq!(c.disks[0].format, Format::Qcow2);
        let t = "[[disk]]\nshelf = 3\nslot = 4\ndisk = \"/d\"\nformat = \"vmdk\"\n";
        let e = load(&["-i", "eth0"], Some(t)).unwrap_err();
        assert!(
            e.contains("e3.4: format: unknown image format \"vmdk\""),
            "{e}"
        );
    }

    #[test]
    fn allow_mac_errors_name_the_flag_and_the_value() {
        let mut args = DISK.to_vec();
        args.extend_from_slice(&["--allow-mac", "zz:zz"]);
        let e = load(&args, None).unwrap_err();
        assert!(e.contains("'--allow-mac <MAC>'"), "{e}");
        assert!(e.contains("\"zz:zz\" is not a MAC address"), "{e}");
        assert!(!e.contains("invalid value 0"), "{e}");
        let e = load(
            &["-i", "eth0"],
            Some(
                "[[disk]]\nshelf = 3\nslot = 4\ndisk = \"/d\"\nallow_macs = [\"52:54:00:12:34\"]\n",
            ),
        )
        .unwrap_err();
        assert!(
            e.contains("[[disk]] e3.4: allow_macs: \"52:54:00:12:34\" is not a MAC address"),
            "{e}"
        );
        // Good ones, in both spellings.
        let mut args = DISK.to_vec();
        args.extend_from_slice(&[
            "--allow-mac",
            "52:54:00:12:34:56",
            "--allow-mac",
            "02-00-00-00-00-0a",
        ]);
        let c = load(&args, None).unwrap();
        assert_eq!(c.disks[0].allow_macs.len(), 2);
        assert_eq!(c.disks[0].allow_macs[1].0, [2, 0, 0, 0, 0, 10]);
    }
}
