//! Command line and `netboot.toml`.
//!
//! Every mistake in the file is one error naming the file, the line and the
//! key (unknown keys, bad values, duplicate names or MACs, a client naming
//! an image the store does not have); `main` prints it and exits with 2.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Parser;
use netboot_image::{Mode, Store};
use serde::Deserialize;
use toml::Spanned;

/// The TOML example of the long `--help`.
pub const TOML_EXAMPLE: &str = r#"Example netboot.toml (every key is optional):

  [server]
  interface = "eth1"
  address = "10.0.0.2"          # default: the interface's first IPv4 address
  http_port = 80                # per-PC iPXE scripts
  scripts = "http"              # how iPXE gets them; "tftp" for builds without HTTP
  iscsi_port = 3260
  tftp_port = 69
  ipxe_dir = "/usr/lib/ipxe"    # undionly.kpxe, ipxe.efi (Debian's ipxe package)
  files_dir = "/srv/netboot"    # HTTP /files/: kernels, initrds, wimboot (default: ipxe_dir)
  iqn_prefix = "iqn.2026-12.org.netboot"
  aoe_target = "e0.0"           # the address AoE PCs boot (sanboot aoe:e0.0)
  [dhcp]
  mode = "proxy"                # beside the site's DHCP server; or "authoritative"
  # range = "10.0.0.100-10.0.0.199"   # authoritative only
  # router = "10.0.0.1"
  # dns = ["10.0.0.1"]
  [store]
  path = "/var/lib/netboot"
  [defaults]
  image = "win11"               # default: the first image in the store
  mode = "volatile"             # or "persistent"
  protocol = "iscsi"            # or "aoe": raw Ethernet, every PC at aoe_target,
                                # each seeing only its own disk (its MAC)
  overlay_max = "20G"
  enrol = true                  # unknown PCs get a client of their own
  menu = false                  # an iPXE menu before each boot (boot, local disk, shell)
  menu_timeout = 5              # seconds until the menu's default is taken
  # A Linux image that is a bare file system: the script hooks the disk
  # (the OS logs in again from the iBFT) and boots a kernel from files_dir.
  # kernel = "debian/vmlinuz"
  # initrd = ["debian/initrd.img"]
  # cmdline = "root=/dev/sda ro"
  [[client]]
  name = "pc042"
  mac = "52:54:00:12:34:56"
  mode = "persistent"           # the other keys default to [defaults]
  # kernel = ""                 # this one boots its disk (no kernel)
  # version = 3                 # pinned: new overlays over version 3, not the current
  # maintenance = true          # the image's maintenance PC: while an edit is
                                # open (netbootctl image edit), its menu offers
                                # the edit and boots it by default
  [api]
  listen = "127.0.0.1:8067"     # the JSON API and the administrator's page (/)
  # password = "..."            # for the page, besides the API token (keep this file 0600)
  # public_view = false         # the page readable without logging in
  # tls_cert = "/etc/netboot/cert.pem"   # the page and the API over TLS (PEM
  # tls_key = "/etc/netboot/key.pem"     # chain and key), e.g. with --http 0.0.0.0:8443
"#;

/// The whole boot server in one process: proxyDHCP (or DHCP), TFTP for
/// iPXE, per-PC iPXE scripts over HTTP, and each PC's own disk over iSCSI,
/// a copy-on-write overlay over a golden image of the store.
///
/// `netbootd --interface eth1 --store /var/lib/netboot` boots every PXE PC
/// on eth1 (BIOS and UEFI) from the store's first image, each with its own
/// volatile overlay (made anew at every boot). `netboot.toml` names PCs,
/// their images and modes (see below); SIGHUP reloads its client table.
#[derive(Debug, Parser)]
#[command(name = "netbootd", version, about, long_about, after_long_help = TOML_EXAMPLE)]
pub struct Cli {
    /// The network to serve.
    #[arg(long, short = 'i', value_name = "IFACE")]
    interface: Option<String>,
    /// The image store [default: /var/lib/netboot].
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// The image PCs boot unless their client entry says otherwise
    /// [default: the first image in the store].
    #[arg(long, value_name = "NAME")]
    image: Option<String>,
    /// Where the API and the administrator's page listen [default:
    /// 127.0.0.1:8067, or [api] listen]. Put TLS in front (a reverse
    /// proxy) if this is not localhost.
    #[arg(long, value_name = "ADDR:PORT")]
    http: Option<SocketAddr>,
    #[command(flatten)]
    common: netboot_daemon::CommonArgs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerFile,
    #[serde(default)]
    dhcp: DhcpFile,
    #[serde(default)]
    store: StoreFile,
    #[serde(default)]
    defaults: DefaultsFile,
    #[serde(default)]
    client: Vec<ClientFile>,
    #[serde(default)]
    api: ApiFile,
    log_level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    interface: Option<String>,
    address: Option<Ipv4Addr>,
    http_port: Option<u16>,
    iscsi_port: Option<u16>,
    tftp_port: Option<u16>,
    dhcp_port: Option<u16>,
    pxe_port: Option<u16>,
    ipxe_dir: Option<PathBuf>,
    files_dir: Option<PathBuf>,
    iqn_prefix: Option<Spanned<String>>,
    aoe_target: Option<Spanned<String>>,
    scripts: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DhcpFile {
    mode: Option<Spanned<String>>,
    range: Option<Spanned<String>>,
    router: Option<Ipv4Addr>,
    dns: Option<Vec<Ipv4Addr>>,
    lease_file: Option<PathBuf>,
    lease_time: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    image: Option<Spanned<String>>,
    mode: Option<Mode>,
    protocol: Option<Spanned<String>>,
    overlay_max: Option<Spanned<String>>,
    enrol: Option<bool>,
    kernel: Option<Spanned<String>>,
    initrd: Option<Spanned<Paths>>,
    cmdline: Option<Spanned<String>>,
    menu: Option<bool>,
    menu_timeout: Option<Spanned<u32>>,
}

/// One file or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Paths {
    One(String),
    Many(Vec<String>),
}

impl Paths {
    fn list(&self) -> Vec<String> {
        match self {
            Paths::One(p) => vec![p.clone()],
            Paths::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    name: Spanned<String>,
    mac: Spanned<String>,
    image: Option<Spanned<String>>,
    mode: Option<Mode>,
    protocol: Option<Spanned<String>>,
    hostname: Option<String>,
    version: Option<Spanned<u32>>,
    kernel: Option<Spanned<String>>,
    initrd: Option<Spanned<Paths>>,
    cmdline: Option<Spanned<String>>,
    maintenance: Option<Spanned<bool>>,
    menu: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    listen: Option<SocketAddr>,
    password: Option<Spanned<String>>,
    public_view: Option<bool>,
    tls_cert: Option<Spanned<PathBuf>>,
    tls_key: Option<Spanned<PathBuf>>,
}

/// How netbootd takes part in DHCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpMode {
    /// proxyDHCP: only the PXE part, beside the site's DHCP server.
    Proxy,
    /// Hands out addresses too, from `range`.
    Authoritative {
        /// First and last address.
        range: (Ipv4Addr, Ipv4Addr),
        /// Default gateway handed out.
        router: Option<Ipv4Addr>,
        /// DNS servers handed out.
        dns: Vec<Ipv4Addr>,
        /// Where leases survive restarts.
        lease_file: PathBuf,
        /// Lease time in seconds.
        lease_time: Option<u32>,
    },
}

/// How iPXE fetches the PCs' scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scripts {
    /// `http://SERVER/boot.ipxe`, then `/boot/MAC.ipxe`.
    #[default]
    Http,
    /// `tftp://SERVER/boot.ipxe`, then `boot/MAC.ipxe`, for iPXE builds
    /// without HTTP.
    Tftp,
}

/// How a PC reaches its disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// iSCSI: a target of its own, its initiator name and CHAP secret.
    #[default]
    Iscsi,
    /// ATA over Ethernet: the shared address `aoe_target`, where only its
    /// MAC is answered, by its own disk.
    Aoe,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Iscsi => "iscsi",
            Protocol::Aoe => "aoe",
        })
    }
}

/// What a PC boots unless its client entry says otherwise.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// The image (always one the store has).
    pub image: String,
    /// Volatile (the default: a new overlay at every boot) or persistent.
    pub mode: Mode,
    /// Most bytes an overlay may take.
    pub overlay_max: Option<u64>,
    /// Whether an unknown PC gets a client of its own (named `pc-` and its
    /// MAC) or is refused.
    pub enrol: bool,
    /// A kernel to start from `files_dir` with the disk hooked (None: the
    /// PC boots the disk itself).
    pub kernel: Option<KernelBoot>,
    /// Whether scripts show a menu (boot, local disk, iPXE shell) first.
    pub menu: bool,
    /// Seconds until a menu's default is taken.
    pub menu_timeout: u32,
    /// How PCs reach their disks.
    pub protocol: Protocol,
}

/// How a PC boots an operating system whose loader is not on its disk (a
/// Linux golden image that is a bare file system): its script `sanhook`s
/// the disk, which leaves the iBFT for the OS's initiator, then loads a
/// kernel and initrds over HTTP from `files_dir` and boots them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBoot {
    /// The kernel, a path under `files_dir`.
    pub kernel: String,
    /// Initrds, paths under `files_dir`, in order.
    pub initrd: Vec<String>,
    /// The kernel's command line.
    pub cmdline: String,
}

/// A PC of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its name (the store's client name and the end of its target IQN).
    pub name: String,
    /// Its MAC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Its image.
    pub image: String,
    /// Its mode.
    pub mode: Mode,
    /// Its host name (for the script's `hostname` setting).
    pub hostname: Option<String>,
    /// A kernel to start with the disk hooked (None: the disk is booted).
    pub kernel: Option<KernelBoot>,
    /// The maintenance PC of its image (at most one per image): while the
    /// image has a maintenance overlay open (`netbootctl image edit`), its
    /// script offers a menu that boots that overlay by default.
    pub maintenance: bool,
    /// The version its new overlays are over (None: the current one).
    pub pin: Option<u32>,
    /// Whether its script shows a menu first.
    pub menu: bool,
    /// How it reaches its disk.
    pub protocol: Protocol,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The served interface.
    pub interface: String,
    /// The address PCs reach the servers at (None: the interface's).
    pub address: Option<Ipv4Addr>,
    /// HTTP port of the scripts.
    pub http_port: u16,
    /// How iPXE fetches the scripts.
    pub scripts: Scripts,
    /// iSCSI port.
    pub iscsi_port: u16,
    /// TFTP port.
    pub tftp_port: u16,
    /// DHCP port.
    pub dhcp_port: u16,
    /// PXE boot server port.
    pub pxe_port: u16,
    /// Where the iPXE binaries are (the TFTP root).
    pub ipxe_dir: PathBuf,
    /// What `GET /files/...` serves (kernels, initrds, wimboot, `ipxe.efi`
    /// for UEFI HTTP boot).
    pub files_dir: PathBuf,
    /// Target names are `IQN-PREFIX:NAME`.
    pub iqn_prefix: String,
    /// The shelf and slot every AoE PC boots (each sees its own disk).
    pub aoe_target: (u16, u8),
    /// DHCP mode.
    pub dhcp: DhcpMode,
    /// The store's directory.
    pub store: PathBuf,
    /// Defaults of every PC.
    pub defaults: Defaults,
    /// The PCs of the file.
    pub clients: Vec<Client>,
    /// Where the API and the page listen.
    pub api_listen: SocketAddr,
    /// A password for the page besides the API token.
    pub api_password: Option<String>,
    /// The page can be read without logging in.
    pub public_view: bool,
    /// Certificate chain and key (PEM) of the page and the API over TLS.
    pub api_tls: Option<(PathBuf, PathBuf)>,
    /// Log level or filter.
    pub log_level: String,
    /// The file, for reloads.
    pub file: Option<PathBuf>,
}

/// The line of byte `at` in `text` (1-based).
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The file being read, for errors that name its lines.
struct Src<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Src<'_> {
    /// The line of `v`.
    fn line<T>(&self, v: &Spanned<T>) -> usize {
        line_of(self.text, v.span().start)
    }

    /// An error at `v`, the value of `key`.
    fn at<T>(&self, v: &Spanned<T>, key: &str, msg: impl std::fmt::Display) -> String {
        format!(
            "{}, line {}: {key}: {msg}",
            self.path.display(),
            self.line(v)
        )
    }
}

impl Config {
    /// The configuration from the command line and the file it names.
    pub fn load(cli: Cli) -> Result<Config, String> {
        let (file, text) = read(cli.common.config.as_deref())?;
        let path = cli
            .common
            .config
            .clone()
            .unwrap_or_else(|| "(no file)".into());
        let interface = cli
            .interface
            .or(file.server.interface.clone())
            .ok_or("--interface is required (the network to serve)")?;
        let store_dir = cli
            .store
            .or(file.store.path.clone())
            .unwrap_or_else(|| PathBuf::from("/var/lib/netboot"));
        let store =
            Store::open(&store_dir).map_err(|e| format!("store {}: {e}", store_dir.display()))?;
        let src = Src {
            path: &path,
            text: &text,
        };
        let files_dir = file
            .server
            .files_dir
            .clone()
            .or(file.server.ipxe_dir.clone())
            .unwrap_or_else(|| PathBuf::from("/usr/lib/ipxe"));
        let defaults = defaults(&src, &file.defaults, cli.image, &store, &files_dir)?;
        let clients = clients(&src, &file.client, &defaults, &store, &files_dir)?;
        let iqn_prefix = match &file.server.iqn_prefix {
            Some(p) if !p.get_ref().starts_with("iqn.") || p.get_ref().len() > 200 => {
                return Err(src.at(
                    p,
                    "server.iqn_prefix",
                    "must start with iqn. (e.g. iqn.2026-12.org.example)",
                ));
            }
            Some(p) => p.get_ref().to_ascii_lowercase(),
            None => "iqn.2026-12.org.netboot".into(),
        };
        let dhcp = dhcp(&src, &file.dhcp, &store_dir)?;
        let (dhcp_port, pxe_port) = (
            file.server.dhcp_port.unwrap_or(67),
            file.server.pxe_port.unwrap_or(4011),
        );
        if dhcp_port == 0 || pxe_port == 0 || dhcp_port == pxe_port {
            return Err(format!(
                "{}: server.dhcp_port ({dhcp_port}) and server.pxe_port ({pxe_port}) must be two ports from 1 to 65535",
                path.display()
            ));
        }
        let scripts = match &file.server.scripts {
            Some(v) => match v.get_ref().as_str() {
                "http" => Scripts::Http,
                "tftp" => Scripts::Tftp,
                other => {
                    return Err(src.at(v, "server.scripts", format!("{other:?}: http or tftp")))
                }
            },
            None => Scripts::Http,
        };
        let aoe_target = match &file.server.aoe_target {
            Some(v) => aoe_address(&src, v)?,
            None => (0, 0),
        };
        Ok(Config {
            interface,
            address: file.server.address,
            http_port: file.server.http_port.unwrap_or(80),
            scripts,
            iscsi_port: file.server.iscsi_port.unwrap_or(3260),
            tftp_port: file.server.tftp_port.unwrap_or(69),
            dhcp_port,
            pxe_port,
            ipxe_dir: file
                .server
                .ipxe_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/usr/lib/ipxe")),
            files_dir,
            iqn_prefix,
            aoe_target,
            dhcp,
            store: store_dir,
            defaults,
            clients,
            api_listen: cli
                .http
                .or(file.api.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8067))),
            api_password: match &file.api.password {
                Some(p) if p.get_ref().len() < 8 => {
                    return Err(src.at(p, "api.password", "use at least 8 characters"))
                }
                Some(p) => Some(p.get_ref().clone()),
                None => None,
            },
            public_view: file.api.public_view.unwrap_or(false),
            api_tls: match (&file.api.tls_cert, &file.api.tls_key) {
                (None, None) => None,
                (Some(c), Some(k)) => {
                    for (v, key) in [(c, "api.tls_cert"), (k, "api.tls_key")] {
                        if !v.get_ref().is_file() {
                            return Err(src.at(
                                v,
                                key,
                                format!("{} is not a file", v.get_ref().display()),
                            ));
                        }
                    }
                    Some((c.get_ref().clone(), k.get_ref().clone()))
                }
                (Some(v), None) | (None, Some(v)) => {
                    return Err(src.at(v, "api", "tls_cert and tls_key go together"))
                }
            },
            log_level: cli.common.log_level(file.log_level),
            file: cli.common.config,
        })
    }

    /// The client table of the file as it is now (SIGHUP): the rest of
    /// the configuration stays as it was started.
    pub fn reload_clients(&self, store: &Store) -> Result<Vec<Client>, String> {
        let (file, text) = read(self.file.as_deref())?;
        let path = self.file.clone().unwrap_or_default();
        let src = Src {
            path: &path,
            text: &text,
        };
        clients(&src, &file.client, &self.defaults, store, &self.files_dir)
    }
}

fn read(path: Option<&Path>) -> Result<(FileConfig, String), String> {
    let Some(p) = path else {
        return Ok((FileConfig::default(), String::new()));
    };
    let text =
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    let file = toml::from_str::<FileConfig>(&text).map_err(|e| {
        let line = e.span().map(|s| line_of(&text, s.start));
        let msg = e.message().to_owned();
        match line {
            Some(l) => format!("{}, line {l}: {msg}", p.display()),
            None => format!("{}: {msg}", p.display()),
        }
    })?;
    Ok((file, text))
}

fn defaults(
    src: &Src<'_>,
    d: &DefaultsFile,
    cli_image: Option<String>,
    store: &Store,
    files_dir: &Path,
) -> Result<Defaults, String> {
    let images = store
        .images()
        .map_err(|e| format!("store {}: {e}", store.root().display()))?;
    let have = |name: &str| images.iter().any(|i| i.name == name);
    let image = match (cli_image, &d.image) {
        (Some(i), _) if !have(&i) => {
            return Err(format!(
                "--image {i}: no such image in the store {}",
                store.root().display()
            ))
        }
        (Some(i), _) => i,
        (None, Some(i)) if !have(i.get_ref()) => {
            return Err(src.at(i, "defaults.image", format!("no image {:?} in the store {}", i.get_ref(), store.root().display())));
        }
        (None, Some(i)) => i.get_ref().clone(),
        (None, None) => images.first().map(|i| i.name.clone()).ok_or_else(|| {
            format!(
                "the store {} has no image: add one with `netbootctl --store {} image create NAME --from DISK`",
                store.root().display(),
                store.root().display()
            )
        })?,
    };
    let protocol = match &d.protocol {
        Some(p) => protocol(src, p, "defaults.protocol")?,
        None => Protocol::Iscsi,
    };
    let overlay_max = match &d.overlay_max {
        Some(s) => Some(
            netboot_image::parse_size(s.get_ref())
                .map_err(|e| src.at(s, "defaults.overlay_max", e))?,
        ),
        None => None,
    };
    let kernel = kernel_boot(
        src,
        "defaults",
        files_dir,
        None,
        (&d.kernel, &d.initrd, &d.cmdline),
    )?;
    let menu_timeout = match &d.menu_timeout {
        Some(t) if *t.get_ref() > 3600 => {
            return Err(src.at(t, "defaults.menu_timeout", "at most 3600 seconds"))
        }
        Some(t) => *t.get_ref(),
        None => 5,
    };
    Ok(Defaults {
        image,
        mode: d.mode.unwrap_or(Mode::Volatile),
        overlay_max,
        enrol: d.enrol.unwrap_or(true),
        kernel,
        menu: d.menu.unwrap_or(false),
        menu_timeout,
        protocol,
    })
}

type KernelKeys<'a> = (
    &'a Option<Spanned<String>>,
    &'a Option<Spanned<Paths>>,
    &'a Option<Spanned<String>>,
);

/// The kernel boot of a table (`defaults` or `client`): its own keys over
/// `inherit` (the defaults' boot), key by key; `kernel = ""` in a client
/// turns the defaults' kernel off (the PC boots its disk).
fn kernel_boot(
    src: &Src<'_>,
    table: &str,
    files_dir: &Path,
    inherit: Option<&KernelBoot>,
    (kernel, initrd, cmdline): KernelKeys<'_>,
) -> Result<Option<KernelBoot>, String> {
    let kernel_path = match kernel {
        Some(k) if k.get_ref().is_empty() => return Ok(None),
        Some(k) => {
            boot_file(src, k, &format!("{table}.kernel"), k.get_ref(), files_dir)?;
            k.get_ref().clone()
        }
        None => match inherit {
            Some(b) => b.kernel.clone(),
            None => {
                if let Some(v) = initrd
                    .as_ref()
                    .map(|v| v.span())
                    .or(cmdline.as_ref().map(|v| v.span()))
                {
                    return Err(format!(
                        "{}, line {}: {table}: initrd and cmdline need a kernel (kernel = \"PATH\" under files_dir)",
                        src.path.display(),
                        line_of(src.text, v.start)
                    ));
                }
                return Ok(None);
            }
        },
    };
    let initrd = match initrd {
        Some(list) => {
            let list_of = list.get_ref().list();
            for p in &list_of {
                boot_file(src, list, &format!("{table}.initrd"), p, files_dir)?;
            }
            list_of
        }
        None => inherit.map(|b| b.initrd.clone()).unwrap_or_default(),
    };
    let cmdline = match cmdline {
        Some(c) => {
            let t = c.get_ref();
            // It goes into the PC's iPXE script, on the kernel's line.
            if t.len() > 2048 || !t.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(src.at(
                    c,
                    &format!("{table}.cmdline"),
                    "use at most 2048 printable ASCII characters, no line breaks",
                ));
            }
            t.clone()
        }
        None => inherit.map(|b| b.cmdline.clone()).unwrap_or_default(),
    };
    Ok(Some(KernelBoot {
        kernel: kernel_path,
        initrd,
        cmdline,
    }))
}

/// Checks that `path` (the value of `key`, at `at`) names a file under
/// `files_dir` that netbootd serves as `/files/PATH`.
fn boot_file<T>(
    src: &Src<'_>,
    at: &Spanned<T>,
    key: &str,
    path: &str,
    files_dir: &Path,
) -> Result<(), String> {
    let ok = !path.is_empty()
        && path.len() <= 255
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && path
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "._-+/".contains(ch));
    if !ok {
        return Err(src.at(
            at,
            key,
            format!("{path:?}: a path under files_dir, of letters, digits and ._-+/ (no .., not absolute)"),
        ));
    }
    let full = files_dir.join(path);
    if !full.is_file() {
        return Err(src.at(
            at,
            key,
            format!(
                "{} is not a file (paths are under files_dir, {})",
                full.display(),
                files_dir.display()
            ),
        ));
    }
    Ok(())
}

fn protocol(src: &Src<'_>, p: &Spanned<String>, key: &str) -> Result<Protocol, String> {
    match p.get_ref().as_str() {
        "iscsi" => Ok(Protocol::Iscsi),
        "aoe" => Ok(Protocol::Aoe),
        other => Err(src.at(p, key, format!("unknown protocol {other:?} (iscsi or aoe)"))),
    }
}

/// `eSHELF.SLOT` (vblade's and aoetools' form), not a broadcast address.
fn aoe_address(src: &Src<'_>, v: &Spanned<String>) -> Result<(u16, u8), String> {
    let bad = || {
        src.at(
            v,
            "server.aoe_target",
            format!(
                "{:?}: eSHELF.SLOT, e.g. e0.0 (shelf below 65535, slot below 255)",
                v.get_ref()
            ),
        )
    };
    let (shelf, slot) = v
        .get_ref()
        .strip_prefix('e')
        .and_then(|r| r.split_once('.'))
        .ok_or_else(bad)?;
    let shelf: u16 = shelf.parse().map_err(|_| bad())?;
    let slot: u8 = slot.parse().map_err(|_| bad())?;
    if shelf == u16::MAX || slot == u8::MAX {
        return Err(bad());
    }
    Ok((shelf, slot))
}

fn clients(
    src: &Src<'_>,
    list: &[ClientFile],
    defaults: &Defaults,
    store: &Store,
    files_dir: &Path,
) -> Result<Vec<Client>, String> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut macs: HashMap<String, usize> = HashMap::new();
    // Image to the line of its maintenance PC.
    let mut maintainers: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for c in list {
        let name = c.name.get_ref();
        let line = src.line(&c.name);
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
            || name.starts_with('.')
        {
            return Err(src.at(
                &c.name,
                "client.name",
                format!("{name:?}: use 1-64 letters, digits, '-', '_' or '.'"),
            ));
        }
        if let Some(first) = names.insert(name.to_ascii_lowercase(), line) {
            return Err(src.at(
                &c.name,
                "client.name",
                format!("{name:?} is also the name of the client on line {first}"),
            ));
        }
        let mac = netboot_image::store::parse_mac(c.mac.get_ref())
            .map_err(|e| src.at(&c.mac, "client.mac", e))?;
        if let Some(first) = macs.insert(mac.clone(), line) {
            return Err(src.at(
                &c.mac,
                "client.mac",
                format!("{mac} is also the MAC of the client on line {first}"),
            ));
        }
        let image = match &c.image {
            Some(i) => {
                store.image_meta(i.get_ref()).map_err(|_| {
                    src.at(
                        i,
                        "client.image",
                        format!(
                            "no image {:?} in the store {}",
                            i.get_ref(),
                            store.root().display()
                        ),
                    )
                })?;
                i.get_ref().clone()
            }
            None => defaults.image.clone(),
        };
        let protocol = match &c.protocol {
            Some(p) => protocol(src, p, "client.protocol")?,
            None => defaults.protocol,
        };
        if let Some(h) = &c.hostname {
            // It goes into the PC's iPXE script.
            let ok = !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.');
            if !ok {
                return Err(src.at(
                    &c.name,
                    "client.hostname",
                    format!("{h:?} of this client: use letters, digits, '-' and '.'"),
                ));
            }
        }
        let pin = match &c.version {
            Some(v) => {
                let n = *v.get_ref();
                let meta = store
                    .image_meta(&image)
                    .map_err(|e| src.at(v, "client.version", e))?;
                if meta.version(n).is_none() {
                    let have: Vec<String> =
                        meta.versions.iter().map(|v| v.number.to_string()).collect();
                    return Err(src.at(
                        v,
                        "client.version",
                        format!(
                            "image {image:?} has no version {n} (it has {})",
                            have.join(", ")
                        ),
                    ));
                }
                Some(n)
            }
            None => None,
        };
        let kernel = kernel_boot(
            src,
            "client",
            files_dir,
            defaults.kernel.as_ref(),
            (&c.kernel, &c.initrd, &c.cmdline),
        )?;
        let maintenance = match &c.maintenance {
            Some(m) if *m.get_ref() && protocol == Protocol::Aoe => {
                return Err(src.at(
                    m,
                    "client.maintenance",
                    "the maintenance PC boots over iSCSI (protocol = \"iscsi\"): its edit is a target of its own",
                ));
            }
            Some(m) if *m.get_ref() => {
                // One maintenance overlay per image, one PC that edits it.
                if let Some(first) = maintainers.insert(image.clone(), src.line(m)) {
                    return Err(src.at(
                        m,
                        "client.maintenance",
                        format!(
                            "image {image:?} has its maintenance PC on line {first} already (one per image)"
                        ),
                    ));
                }
                true
            }
            _ => false,
        };
        out.push(Client {
            name: name.clone(),
            mac,
            image,
            mode: c.mode.unwrap_or(defaults.mode),
            hostname: c.hostname.clone(),
            kernel,
            maintenance,
            pin,
            menu: c.menu.unwrap_or(defaults.menu),
            protocol,
        });
    }
    Ok(out)
}

fn dhcp(src: &Src<'_>, d: &DhcpFile, store: &Path) -> Result<DhcpMode, String> {
    let mode = d
        .mode
        .as_ref()
        .map(|m| m.get_ref().as_str())
        .unwrap_or("proxy");
    match mode {
        "proxy" => {
            if let Some(r) = &d.range {
                return Err(src.at(r, "dhcp.range", "only with mode = \"authoritative\""));
            }
            Ok(DhcpMode::Proxy)
        }
        "authoritative" => {
            let range = d.range.as_ref().ok_or_else(|| {
                format!(
                    "{}: dhcp.mode = \"authoritative\" needs dhcp.range (e.g. \"10.0.0.100-10.0.0.199\")",
                    src.path.display()
                )
            })?;
            Ok(DhcpMode::Authoritative {
                range: netboot_pxed::config::parse_range(range.get_ref())
                    .map_err(|e| src.at(range, "dhcp.range", e))?,
                router: d.router,
                dns: d.dns.clone().unwrap_or_default(),
                lease_file: d
                    .lease_file
                    .clone()
                    .unwrap_or_else(|| store.join("leases.json")),
                lease_time: d.lease_time,
            })
        }
        other => {
            let m = d.mode.as_ref().expect("mode given");
            Err(src.at(
                m,
                "dhcp.mode",
                format!("unknown mode {other:?} (proxy or authoritative)"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aoe_addresses_are_eshelf_dot_slot_and_not_broadcast() {
        let text = "x";
        let src = Src {
            path: Path::new("netboot.toml"),
            text,
        };
        let v = |s: &str| Spanned::new(0..1, s.to_owned());
        assert_eq!(aoe_address(&src, &v("e0.0")), Ok((0, 0)));
        assert_eq!(aoe_address(&src, &v("e65534.254")), Ok((65534, 254)));
        for bad in ["e1.255", "e65535.0", "0.0", "e1", "e1.x", "e-1.0"] {
            let e = aoe_address(&src, &v(bad)).unwrap_err();
            assert!(
                e.contains("server.aoe_target") && e.contains("line 1"),
                "{bad}: {e}"
            );
        }
    }
}
