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
/// boot. While netbootd serves the store (it claims it), the commands that
/// change it ask netbootd to do it, through its API and with the token it
/// keeps in the store; otherwise they change the store themselves, holding
/// the claim. Errors exit 1, bad usage 2.
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
    /// netbootd's API [default: the one of the netbootd serving the
    /// store, else http://127.0.0.1:8067]. `status` and `sessions` ask it;
    /// while netbootd serves the store, every change goes through it.
    #[arg(long, global = true, value_name = "URL", env = "NETBOOT_API")]
    api: Option<String>,
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
    /// Throw the maintenance overlay away (shut the maintenance PC down
    /// first).
    Discard { name: String },
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
    /// volatile PC); prints its path. Not while netbootd serves the store:
    /// it makes the PCs' disks.
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

/// Who makes a change: this process (holding the store's claim until the
/// change is done), or the netbootd that serves the store, through its API.
enum Via {
    Store(#[allow(dead_code)] netboot_image::store::Claim),
    Api(String),
}

/// The API address in the claim of the netbootd serving `store` (None: no
/// netbootd, or it wrote none).
fn served_by(store: &Store) -> Option<String> {
    let owner = store.owner().ok()??;
    let v: serde_json::Value = serde_json::from_str(&owner).ok()?;
    (v["program"] == "netbootd").then(|| v["api"].as_str().map(str::to_owned))?
}

/// How a change is made: the store's claim for this process, or the API of
/// the netbootd that holds it (its own address unless `--api` says).
fn via(store: &Store, api: Option<&str>) -> Result<Via, String> {
    let me = serde_json::json!({ "program": "netbootctl", "pid": std::process::id() });
    // A claim changing hands (a netbootctl finishing) is retried a little.
    for _ in 0..50 {
        if let Some(c) = store.claim(&me.to_string()).map_err(|e| e.to_string())? {
            return Ok(Via::Store(c));
        }
        if let Some(url) = served_by(store) {
            return Ok(Via::Api(api.map_or(url, str::to_owned)));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!(
        "the store {} is being changed by another process ({}): try again",
        store.root().display(),
        store.owner().ok().flatten().unwrap_or_default().trim()
    ))
}

fn run(cli: Cli) -> Result<String, String> {
    let j = cli.json;
    let store = Store::open(&cli.store).map_err(|e| e.to_string())?;
    let base = cli
        .api
        .clone()
        .or_else(|| served_by(&store))
        .unwrap_or_else(|| "http://127.0.0.1:8067".into())
        .trim_end_matches('/')
        .to_owned();
    let from_api = |path: &str, table: fn(&serde_json::Value) -> String| {
        let v = api::get(&base, path).map_err(|e| e.into_message(&base))?;
        Ok::<_, String>(if j { json(&v) } else { table(&v) })
    };
    let path = |p: PathBuf| {
        if j {
            json(&serde_json::json!({ "path": p }))
        } else {
            format!("{}\n", p.display())
        }
    };
    let e = |e: netboot_image::StoreError| e.to_string();
    // The answer of netbootd's API to a change, or an error.
    let post = |url: &str, path: &str, body: Option<serde_json::Value>| {
        api::post(url, path, store.root(), body).map_err(|e| e.into_message(url))
    };
    let version_said = |image: &str, n: u64| {
        if j {
            json(&serde_json::json!({ "image": image, "current": n }))
        } else {
            format!("image {image}: version {n} is current\n")
        }
    };
    Ok(match cli.what {
        What::Status => from_api("/api/v1/clients", api::status_table)?,
        What::Sessions => from_api("/api/v1/sessions", api::sessions_table)?,
        What::Image(ImageCmd::Ls { name }) => {
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
        What::Image(ImageCmd::Export {
            name,
            output,
            format,
        }) => {
            // Versions never change: read beside whoever runs.
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
        What::Client(ClientCmd::Ls) => {
            let v = store.clients().map_err(e)?;
            if j {
                json(&v)
            } else {
                client_table(&v)
            }
        }
        What::Image(c) => {
            let via = via(&store, cli.api.as_deref())?;
            match (c, via) {
                (ImageCmd::Create { name, from, format }, via) => {
                    let m = match via {
                        Via::Store(_) => serde_json::to_value(
                            store.image_create(&name, &from, format).map_err(e)?,
                        )
                        .unwrap_or_default(),
                        Via::Api(u) => {
                            // netbootd reads the file: name it whole.
                            let from = std::fs::canonicalize(&from)
                                .map_err(|err| format!("{}: {err}", from.display()))?;
                            post(
                                &u,
                                "/api/v1/images",
                                Some(serde_json::json!({
                                    "name": name, "from": from,
                                    "format": format.map(|f| f.name()),
                                })),
                            )?
                        }
                    };
                    if j {
                        json(&m)
                    } else {
                        format!("image {name}: version 1 from {}\n", from.display())
                    }
                }
                (ImageCmd::Edit { name }, Via::Store(_)) => {
                    path(store.image_edit(&name).map_err(e)?)
                }
                (ImageCmd::Edit { name }, Via::Api(u)) => {
                    let v = post(&u, &format!("/api/v1/images/{name}/edit"), None)?;
                    path(PathBuf::from(v["path"].as_str().unwrap_or_default()))
                }
                (ImageCmd::Commit { name }, via) => {
                    let n = match via {
                        Via::Store(_) => u64::from(store.image_commit(&name).map_err(e)?),
                        Via::Api(u) => post(&u, &format!("/api/v1/images/{name}/commit"), None)?
                            ["current"]
                            .as_u64()
                            .unwrap_or(0),
                    };
                    version_said(&name, n)
                }
                (ImageCmd::Discard { name }, via) => {
                    match via {
                        Via::Store(_) => store.image_discard(&name).map_err(e)?,
                        Via::Api(u) => {
                            post(&u, &format!("/api/v1/images/{name}/discard"), None)?;
                        }
                    }
                    if j {
                        json(&serde_json::json!({ "image": name, "discarded": true }))
                    } else {
                        format!("image {name}: the edit is thrown away\n")
                    }
                }
                (ImageCmd::Rollback { name, to }, via) => {
                    let n = match via {
                        Via::Store(_) => u64::from(store.image_rollback(&name, to).map_err(e)?),
                        Via::Api(u) => {
                            let q = to.map(|t| format!("?to={t}")).unwrap_or_default();
                            post(&u, &format!("/api/v1/images/{name}/rollback{q}"), None)?
                                ["current"]
                                .as_u64()
                                .unwrap_or(0)
                        }
                    };
                    version_said(&name, n)
                }
                (ImageCmd::Gc { name }, via) => {
                    let gone: Vec<u64> = match via {
                        Via::Store(_) => store
                            .image_gc(&name)
                            .map_err(e)?
                            .into_iter()
                            .map(u64::from)
                            .collect(),
                        Via::Api(u) => post(&u, &format!("/api/v1/images/{name}/gc"), None)?
                            ["removed"]
                            .as_array()
                            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
                            .unwrap_or_default(),
                    };
                    if j {
                        json(&serde_json::json!({ "image": name, "removed": gone }))
                    } else if gone.is_empty() {
                        format!("image {name}: every version is needed\n")
                    } else {
                        let v: Vec<String> = gone.iter().map(u64::to_string).collect();
                        format!("image {name}: removed version {}\n", v.join(", "))
                    }
                }
                (ImageCmd::Ls { .. } | ImageCmd::Export { .. }, _) => {
                    unreachable!("answered above")
                }
            }
        }
        What::Client(c) => {
            let via = via(&store, cli.api.as_deref())?;
            match (c, via) {
                (
                    ClientCmd::Add {
                        name,
                        mac,
                        image,
                        mode,
                        overlay_max,
                    },
                    via,
                ) => {
                    let m = match via {
                        Via::Store(_) => store
                            .client_add(&name, &mac, &image, mode, overlay_max)
                            .map_err(e)?,
                        Via::Api(u) => {
                            let v = post(
                                &u,
                                "/api/v1/clients",
                                Some(serde_json::json!({
                                    "name": name, "mac": mac, "image": image,
                                    "mode": mode, "overlay_max": overlay_max,
                                })),
                            )?;
                            serde_json::from_value(v)
                                .map_err(|err| format!("netbootd's answer: {err}"))?
                        }
                    };
                    if j {
                        json(&m)
                    } else {
                        format!("client {name}: {} boots {image} ({mode})\n", m.mac)
                    }
                }
                (ClientCmd::Disk { name }, Via::Store(_)) => path(store.client_disk(&name).map_err(e)?),
                (ClientCmd::Disk { .. }, Via::Api(_)) => {
                    return Err("netbootd serves this store: it makes the PCs' disks (`client reset NAME` gives a PC a fresh one)".into())
                }
                (ClientCmd::Reset { name }, Via::Store(_)) => path(store.client_reset(&name).map_err(e)?),
                (ClientCmd::Reset { name }, Via::Api(u)) => {
                    let v = post(&u, &format!("/api/v1/clients/{name}/reset"), None)?;
                    if j {
                        json(&v)
                    } else {
                        format!("client {name}: a fresh overlay, made by netbootd\n")
                    }
                }
                (ClientCmd::Ls, _) => unreachable!("answered above"),
            }
        }
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
