//! `ibft`: build, check and dump iSCSI Boot Firmware Tables.

mod config;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use netboot_ibft::{parse, parse_lenient, Layout};

/// Where Linux shows the iBFT when the firmware put it in the ACPI tables.
const SYSFS_TABLE: &str = "/sys/firmware/acpi/tables/iBFT";

/// The most `ibft` reads of a table or a TOML description. An iBFT is a
/// few KiB (its length field could say 4 GiB, the kernel maps at most a
/// page or so); reading `/dev/zero` or a disk by mistake must end with an
/// error, not with the memory full.
const MAX_INPUT: u64 = 1 << 20;

#[derive(Parser, Debug)]
#[command(
    name = "ibft",
    version,
    about = "Build, check and dump iSCSI Boot Firmware Tables (iBFT)",
    long_about = "Build, check and dump iSCSI Boot Firmware Tables (iBFT), the ACPI table \
firmware such as iPXE leaves behind after booting from an iSCSI disk, so that the \
operating system can find its initiator name, NIC settings and target again.\n\n\
Inputs (tables and TOML files) are read up to 1 MiB: a larger one is refused.\n\n\
Exit status: 0 success, 1 the table is invalid (check) or unreadable (dump), 2 usage or I/O error \
(or an input over 1 MiB)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a table readably (or as JSON). Problems that the spec forbids
    /// but that can be read past are listed as warnings on stderr.
    Dump {
        /// The table [default: /sys/firmware/acpi/tables/iBFT]; `-` reads
        /// stdin. At most 1 MiB is read.
        file: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Print CHAP secrets instead of `<hidden>`.
        #[arg(long)]
        show_secrets: bool,
        /// Look for the table in a physical-memory image instead (such as
        /// /dev/mem): in 0x80000-0xFFFFF on 16-byte boundaries, where BIOS
        /// firmware like iPXE leaves it and the Linux kernel looks.
        #[arg(long, value_name = "MEMORY", conflicts_with = "file")]
        scan: Option<PathBuf>,
    },
    /// Validate a table strictly (the spec and the Linux kernel's checks):
    /// prints every problem found, exits 1 if there is one.
    Check {
        /// The table [default: /sys/firmware/acpi/tables/iBFT]; `-` reads
        /// stdin. At most 1 MiB is read.
        file: Option<PathBuf>,
        /// Look for the table in a physical-memory image (see `dump --scan`).
        #[arg(long, value_name = "MEMORY", conflicts_with = "file")]
        scan: Option<PathBuf>,
    },
    /// Build a table from a TOML description (see `ibft.example.toml`). The
    /// output works with qemu's `-acpitable file=ibft.bin`.
    Build {
        /// The TOML description (at most 1 MiB).
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Where to write the table; `-` writes stdout.
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// Structure placement; overrides `layout` in the config.
        #[arg(long, value_enum)]
        layout: Option<LayoutArg>,
    },
}

/// Structure placement of a built table.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum LayoutArg {
    /// Compact, 8-byte aligned, as the spec asks.
    Spec,
    /// As iPXE builds it: 16-byte aligned, room for two NICs and two targets.
    Ipxe,
}

impl From<LayoutArg> for Layout {
    fn from(l: LayoutArg) -> Layout {
        match l {
            LayoutArg::Spec => Layout::SPEC,
            LayoutArg::Ipxe => Layout::IPXE,
        }
    }
}

/// Reads at most [`MAX_INPUT`] bytes of `from` (named `what` in errors,
/// `hint` appended); more is an error, found by asking for one byte beyond
/// the bound.
fn read_bounded(from: impl std::io::Read, what: &str, hint: &str) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut from.take(MAX_INPUT + 1), &mut v)
        .map_err(|e| format!("reading {what}: {e}"))?;
    if v.len() as u64 > MAX_INPUT {
        return Err(format!(
            "{what} is larger than 1 MiB ({MAX_INPUT} bytes), the most ibft reads{hint}"
        ));
    }
    Ok(v)
}

fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    const HINT: &str = " (an iBFT is a few KiB; to search a memory image such as /dev/mem, \
                        use --scan)";
    let path = file.cloned().unwrap_or_else(|| PathBuf::from(SYSFS_TABLE));
    if path.as_os_str() == "-" {
        return read_bounded(std::io::stdin().lock(), "stdin", HINT);
    }
    let f = std::fs::File::open(&path).map_err(|e| {
        let hint = if file.is_none() && e.kind() == std::io::ErrorKind::NotFound {
            " (no iBFT in the ACPI tables: the firmware did not boot from iSCSI, or put \
             the table only in base memory; give a file)"
        } else {
            ""
        };
        format!("reading {}: {e}{hint}", path.display())
    })?;
    read_bounded(f, &path.display().to_string(), HINT)
}

/// The table from a physical-memory image (a file whose offset N is
/// physical address N, such as /dev/mem), found as the Linux kernel finds it.
fn scan_memory(path: &PathBuf) -> Result<Vec<u8>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let range = netboot_ibft::wire::BIOS_SCAN_RANGE;
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    f.seek(SeekFrom::Start(range.start as u64))
        .map_err(|e| format!("seeking in {}: {e}", path.display()))?;
    let mut mem = Vec::with_capacity(range.len());
    f.take(range.len() as u64)
        .read_to_end(&mut mem)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    match netboot_ibft::find_in_memory(&mem, range.start) {
        Some((addr, table)) => {
            eprintln!("ibft: found a table at {addr:#x} in {}", path.display());
            Ok(table.to_vec())
        }
        None => Err(format!(
            "no iBFT (signature, length and checksum) in {:#x}-{:#x} of {}",
            range.start,
            range.end - 1,
            path.display()
        )),
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Dump {
            file,
            json,
            show_secrets,
            scan,
        } => {
            let bytes = match &scan {
                Some(m) => scan_memory(m)?,
                None => read_input(file.as_ref())?,
            };
            let l = match parse_lenient(&bytes) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("ibft: cannot read the table: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            for p in &l.problems {
                eprintln!("ibft: warning: {p}");
            }
            let opts = show::Options { show_secrets };
            if json {
                let v = show::json(&l.table, &bytes, &l.problems, opts);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).expect("JSON of a Value")
                );
            } else {
                print!("{}", show::text(&l.table, &bytes, opts));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { file, scan } => {
            let bytes = match &scan {
                Some(m) => scan_memory(m)?,
                None => read_input(file.as_ref())?,
            };
            match parse(&bytes) {
                Ok(t) => {
                    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                    println!(
                        "ok: valid iBFT, {len} bytes, initiator {}, {} NIC(s), {} target(s)",
                        if t.initiator.is_some() {
                            "present"
                        } else {
                            "absent"
                        },
                        t.nics.iter().flatten().count(),
                        t.targets.iter().flatten().count(),
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(first) => {
                    println!("invalid: {first}");
                    // The lenient parse lists the rest of what is wrong.
                    match parse_lenient(&bytes) {
                        Ok(l) => {
                            for p in l.problems.iter().filter(|p| **p != first) {
                                println!("invalid: {p}");
                            }
                        }
                        Err(e) if e != first => println!("invalid: {e}"),
                        Err(_) => {}
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Build {
            config,
            output,
            layout,
        } => {
            let f = std::fs::File::open(&config)
                .map_err(|e| format!("reading {}: {e}", config.display()))?;
            let text = String::from_utf8(read_bounded(f, &config.display().to_string(), "")?)
                .map_err(|e| format!("{}: not UTF-8 text: {e}", config.display()))?;
            let cfg: config::Config =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", config.display()))?;
            let layout = layout.or(cfg.layout).unwrap_or(LayoutArg::Spec);
            let table = cfg
                .to_table()
                .map_err(|e| format!("{}: {e}", config.display()))?;
            let bytes = table
                .build_with(layout.into())
                .map_err(|e| format!("{}: {e}", config.display()))?;
            if output.as_os_str() == "-" {
                std::io::Write::write_all(&mut std::io::stdout(), &bytes)
                    .map_err(|e| format!("writing stdout: {e}"))?;
            } else {
                std::fs::write(&output, &bytes)
                    .map_err(|e| format!("writing {}: {e}", output.display()))?;
                eprintln!("ibft: wrote {} ({} bytes)", output.display(), bytes.len());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    netboot_daemon::die_quietly_on_closed_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ibft: {e}");
            ExitCode::from(2)
        }
    }
}
