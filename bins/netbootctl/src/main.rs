//! `netbootctl`: the image store's command line. Golden images with
//! numbered versions, a maintenance overlay to make the next one, and the
//! PCs (clients) with their overlays; see `netboot_image::store`.

mod api;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use netboot_image::store::{ClientInfo, ImageInfo};
use netboot_image::{Format, Mode, Store};

/// The netboot image store: golden images with versions, updated once and
/// rolled back once, and the per-PC copy-on-write overlays over them.
///
/// Versions are immutable: version 1 is the imported file, version N+1 a
/// qcow2 layer over its base made with `image edit` and sealed with `image
/// commit`. Persistent PCs stay on the version they have until `client
/// reset`; volatile PCs get a new overlay over the current version at every
/// boot. Errors exit 1, bad usage 2.
#[derive(Debug, Parser)]
#[command(name = "netbootctl", version, about, long_about)]
struct Cli {
    /// The store's directory.
    #[arg(
        long,
        value_name = "DIR",
        env = "NETBOOT_STORE",
        default_value = "/var/lib/netboot"
    )]
    store: PathBuf,
    /// Machine-readable output (JSON) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// netbootd's API (`status`, `sessions`; `client reset` goes through
    /// it while netbootd runs).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "NETBOOT_API",
        default_value = "http://127.0.0.1:8067"
    )]
    api: String,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Golden images and their versions.
    #[command(subcommand)]
    Image(ImageCmd),
    /// PCs and their overlays.
    #[command(subcommand)]
    Client(ClientCmd),
    /// The PCs of the running netbootd: image@version, mode, sessions,
    /// their latest boot stage, bytes read and written, overlay size.
    Status,
    /// The open sessions of the running netbootd: PC, initiator, since.
    Sessions,
}

#[derive(Debug, Subcommand)]
enum ImageCmd {
    /// Import FILE as version 1 of a new image (a copy; a reflink where the
    /// file system can).
    Create {
        name: String,
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// FILE's format (default: qcow2 for *.qcow2, raw otherwise).
        #[arg(long, value_name = "raw|qcow2")]
        format: Option<Format>,
    },
    /// Versions, sizes, the current one, and who uses each.
    Ls { name: Option<String> },
    /// The maintenance overlay over the current version (made if
    /// missing); prints its path. Boot one PC from it and change it.
    Edit { name: String },
    /// Seal the maintenance overlay as version N+1 and make it current
    /// (shut the maintenance PC down first).
    Commit { name: String },
    /// Make version N (default: the one before the current) current.
    Rollback {
        name: String,
        #[arg(long, value_name = "N")]
        to: Option<u32>,
    },
    /// A flattened copy of NAME (or NAME@N): a backup, or a disk for a VM.
    Export {
        /// NAME or NAME@VERSION.
        #[arg(value_name = "NAME[@N]")]
        name: String,
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Output format (default: qcow2 for *.qcow2, raw otherwise).
        #[arg(long, value_name = "raw|qcow2")]
        format: Option<Format>,
    },
    /// Remove the versions nothing needs any more.
    Gc { name: String },
}

#[derive(Debug, Subcommand)]
enum ClientCmd {
    /// Add a PC by its MAC address.
    Add {
        name: String,
        #[arg(long, value_name = "MAC")]
        mac: String,
        #[arg(long, value_name = "IMAGE")]
        image: String,
        #[arg(long, value_name = "volatile|persistent", default_value = "persistent")]
        mode: Mode,
        /// Most space its overlay may take (e.g. 20G): writes past it fail
        /// cleanly, a warning at 80 %.
        #[arg(long, value_name = "SIZE", value_parser = netboot_image::parse_size)]
        overlay_max: Option<u64>,
    },
    /// Every PC: image, version, mode, whether it is behind, overlay size.
    Ls,
    /// The overlay this PC boots now (made if missing; a new one for a
    /// volatile PC); prints its path.
    Disk { name: String },
    /// A fresh overlay over the current version; prints its path. While
    /// netbootd runs, it does it (refused while the PC has a session).
    Reset { name: String },
}

/// Prints `text`; a closed stdout (`| head`) ends the program quietly.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        say_error(&format!("cannot write the output: {e}"));
        std::process::exit(1);
    }
}

/// Writes `netbootctl: E` to stderr; a closed stderr is not a panic.
fn say_error(e: &str) {
    let _ = writeln!(std::io::stderr(), "netbootctl: {e}");
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A table with a header row, columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect();
        s.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

fn image_table(images: &[ImageInfo]) -> String {
    let mut rows = Vec::new();
    for i in images {
        for v in &i.meta.versions {
            let mut users = i.users.get(&v.number).cloned().unwrap_or_default();
            if i.meta.edit_base == Some(v.number) {
                users.push("(edit)".into());
            }
            rows.push(vec![
                i.name.clone(),
                v.number.to_string(),
                if v.number == i.meta.current { "*" } else { "" }.into(),
                v.format.to_string(),
                human(v.size),
                human(i.bytes.get(&v.number).copied().unwrap_or(0)),
                v.base.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                users.join(","),
            ]);
        }
    }
    table(
        &[
            "IMAGE", "VERSION", "CURRENT", "FORMAT", "SIZE", "ON DISK", "BASE", "USED BY",
        ],
        &rows,
    )
}

fn client_table(clients: &[ClientInfo]) -> String {
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.meta.mac.clone(),
                c.meta.image.clone(),
                c.meta.mode.to_string(),
                c.meta
                    .version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                c.current.to_string(),
                if c.behind { "behind" } else { "" }.into(),
                human(c.disk_bytes),
            ]
        })
        .collect();
    table(
        &[
            "CLIENT", "MAC", "IMAGE", "MODE", "VERSION", "CURRENT", "STATE", "OVERLAY",
        ],
        &rows,
    )
}

fn run(cli: Cli) -> Result<String, String> {
    let j = cli.json;
    let base = cli.api.trim_end_matches('/').to_owned();
    let from_api = |path: &str, table: fn(&serde_json::Value) -> String| {
        let v = api::get(&base, path).map_err(|e| e.into_message(&base))?;
        Ok::<_, String>(if j { json(&v) } else { table(&v) })
    };
    match cli.what {
        What::Status => return from_api("/api/v1/clients", api::status_table),
        What::Sessions => return from_api("/api/v1/sessions", api::sessions_table),
        What::Client(ClientCmd::Reset { ref name }) => {
            match api::post(&base, &format!("/api/v1/clients/{name}/reset"), &cli.store) {
                Ok(()) => {
                    return Ok(if j {
                        json(&serde_json::json!({ "client": name, "reset_by": "netbootd" }))
                    } else {
                        format!("client {name}: a fresh overlay, made by netbootd\n")
                    })
                }
                // netbootd does not run: the store directly.
                Err(api::ApiError::Down(_)) => {}
                Err(e) => return Err(e.into_message(&base)),
            }
        }
        _ => {}
    }
    let store = Store::open(&cli.store).map_err(|e| e.to_string())?;
    let path = |p: PathBuf| {
        if j {
            json(&serde_json::json!({ "path": p }))
        } else {
            format!("{}\n", p.display())
        }
    };
    let e = |e: netboot_image::StoreError| e.to_string();
    Ok(match cli.what {
        What::Image(c) => match c {
            ImageCmd::Create { name, from, format } => {
                let m = store.image_create(&name, &from, format).map_err(e)?;
                if j {
                    json(&m)
                } else {
                    format!("image {name}: version 1 from {}\n", from.display())
                }
            }
            ImageCmd::Ls { name } => {
                let v = match name {
                    Some(n) => vec![store.image(&n).map_err(e)?],
                    None => store.images().map_err(e)?,
                };
                if j {
                    json(&v)
                } else {
                    image_table(&v)
                }
            }
            ImageCmd::Edit { name } => path(store.image_edit(&name).map_err(e)?),
            ImageCmd::Commit { name } => {
                let n = store.image_commit(&name).map_err(e)?;
                if j {
                    json(&serde_json::json!({ "image": name, "current": n }))
                } else {
                    format!("image {name}: version {n} is current\n")
                }
            }
            ImageCmd::Rollback { name, to } => {
                let n = store.image_rollback(&name, to).map_err(e)?;
                if j {
                    json(&serde_json::json!({ "image": name, "current": n }))
                } else {
                    format!("image {name}: version {n} is current\n")
                }
            }
            ImageCmd::Export {
                name,
                output,
                format,
            } => {
                let (name, version) = match name.split_once('@') {
                    Some((n, v)) => (
                        n.to_owned(),
                        Some(v.parse::<u32>().map_err(|_| {
                            format!("{name:?}: the version after '@' must be a number")
                        })?),
                    ),
                    None => (name, None),
                };
                let format = format.unwrap_or_else(|| Format::for_path(&output));
                store
                    .image_export(&name, version, &output, format)
                    .map_err(e)?;
                path(output)
            }
            ImageCmd::Gc { name } => {
                let gone = store.image_gc(&name).map_err(e)?;
                if j {
                    json(&serde_json::json!({ "image": name, "removed": gone }))
                } else if gone.is_empty() {
                    format!("image {name}: every version is needed\n")
                } else {
                    let v: Vec<String> = gone.iter().map(u32::to_string).collect();
                    format!("image {name}: removed version {}\n", v.join(", "))
                }
            }
        },
        What::Client(c) => match c {
            ClientCmd::Add {
                name,
                mac,
                image,
                mode,
                overlay_max,
            } => {
                let m = store
                    .client_add(&name, &mac, &image, mode, overlay_max)
                    .map_err(e)?;
                if j {
                    json(&m)
                } else {
                    format!("client {name}: {} boots {image} ({mode})\n", m.mac)
                }
            }
            ClientCmd::Ls => {
                let v = store.clients().map_err(e)?;
                if j {
                    json(&v)
                } else {
                    client_table(&v)
                }
            }
            ClientCmd::Disk { name } => path(store.client_disk(&name).map_err(e)?),
            ClientCmd::Reset { name } => path(store.client_reset(&name).map_err(e)?),
        },
        // Answered above, without the store.
        What::Status => from_api("/api/v1/clients", api::status_table)?,
        What::Sessions => from_api("/api/v1/sessions", api::sessions_table)?,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            print(&out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            say_error(&e);
            ExitCode::FAILURE
        }
    }
}
