//! The PCs netbootd knows: the file's clients and the store's, their iSCSI
//! targets, CHAP secrets, boot stages and sessions.
//!
//! A boot starts with the PC's PXE DHCP request ([`Inventory::new_boot`],
//! called for pxed's answered DISCOVERs and REQUESTs): a session of the PC's disk still
//! open then is its last boot's (a PC reset without a logout), so it is
//! probed and dropped if nobody answers; a volatile PC then gets a new
//! overlay. A session that answers keeps the disk as it is: writes are
//! never thrown away under a live initiator. The PC's target
//! (`IQN-PREFIX:NAME`, LUN 0 its overlay) is opened then, or when it
//! fetches its script if no DHCP request was seen (an iPXE started some
//! other way); only the PC's initiator name with the PC's CHAP secret may
//! log in to it.

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netboot_image::{Mode, Store};
use netboot_iscsi::login::{Credentials, TargetEntry};
use netboot_iscsid::{Luns, SessionEvent, SessionEventKind, Targets};
use serde::Serialize;
use tracing::{info, warn};

use crate::config::{Client, Config, KernelBoot, Protocol};

/// The most PCs enrolled automatically (clients `pc-MAC`): each costs an
/// overlay and a directory in the store, and a MAC costs an attacker
/// nothing.
pub const MAX_ENROLLED: usize = 1024;

/// How long a session of a PC that asks DHCP for a new boot has to answer
/// a ping before it counts as its last boot's, and is dropped.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long an AoE PC's disk must have been idle before the API resets it
/// (AoE has no sessions that tell whether the PC runs).
pub const AOE_IDLE: Duration = Duration::from_secs(30);

/// A PC's boot stages, as Unix times in seconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stages {
    /// The firmware asked DHCP for a boot.
    pub dhcp: Option<u64>,
    /// iPXE fetched its script.
    pub script: Option<u64>,
    /// iPXE logged in to its disk (the first login after the script).
    pub san_login: Option<u64>,
    /// The OS's own initiator logged in (a later login: the hand-over
    /// through the iBFT).
    pub os_login: Option<u64>,
    /// The last SCSI command of its disk completed.
    pub last_io: Option<u64>,
    /// The last session ended.
    pub offline: Option<u64>,
}

/// What a PC's sessions did since netbootd started.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct PcIo {
    /// SCSI commands executed.
    pub commands: u64,
    /// Bytes read from its disk.
    pub read_bytes: u64,
    /// Bytes written to its disk.
    pub written_bytes: u64,
}

/// What a PC is doing, as far as netbootd can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PcPhase {
    /// Never seen since netbootd started.
    Unknown,
    /// Between its DHCP request and its operating system's login: the
    /// firmware, iPXE, or the OS starting.
    Booting,
    /// Its operating system uses its disk.
    Running,
    /// Not seen since its last session ended.
    Off,
}

/// How long a boot may take before a PC that did not get to its OS counts
/// as off.
pub const BOOT_TIME: Duration = Duration::from_secs(600);

impl PcPhase {
    /// The phase of a PC with `stages`, `sessions` open (iSCSI) and, over
    /// AoE, its last I/O in `stages.last_io`, at `now` (Unix seconds).
    pub fn of(stages: &Stages, sessions: u32, protocol: Protocol, now: u64) -> PcPhase {
        let boot = stages.dhcp.max(stages.script);
        let booted_since = |t: Option<u64>| match (t, boot) {
            (Some(t), Some(b)) => t >= b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let alive = match protocol {
            Protocol::Iscsi => sessions > 0,
            Protocol::Aoe => stages
                .last_io
                .is_some_and(|t| now.saturating_sub(t) < AOE_IDLE.as_secs()),
        };
        if alive && booted_since(stages.os_login) {
            return PcPhase::Running;
        }
        match boot {
            Some(b) if now.saturating_sub(b) < BOOT_TIME.as_secs() || alive => PcPhase::Booting,
            None if !alive && stages.os_login.is_none() => PcPhase::Unknown,
            _ if alive => PcPhase::Running,
            _ => PcPhase::Off,
        }
    }
}

/// A PC as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PcView {
    /// Its name.
    pub name: String,
    /// What it is doing.
    pub state: PcPhase,
    /// Its MAC.
    pub mac: String,
    /// Its image.
    pub image: String,
    /// The image version its overlay is over.
    pub version: Option<u32>,
    /// Volatile or persistent.
    pub mode: Mode,
    /// How it reaches its disk.
    pub protocol: Protocol,
    /// The version its new overlays are over, if pinned.
    pub pin: Option<u32>,
    /// The image's current version.
    pub current: u32,
    /// Its overlay is over another version than its next one would be.
    pub behind: bool,
    /// Its target (iSCSI) or the AoE address it boots.
    pub target: String,
    /// Open sessions of its disk.
    pub sessions: u32,
    /// Bytes its overlay takes on the server.
    pub overlay_bytes: u64,
    /// Its boot stages.
    pub stages: Stages,
    /// What its sessions did.
    pub io: PcIo,
    /// The address it last fetched its script or logged in from.
    pub ip: Option<String>,
    /// The host name its last DHCP request named (option 12; the PC's
    /// word, shown as text).
    pub dhcp_hostname: Option<String>,
    /// Most bytes its overlay may take.
    pub overlay_max: Option<u64>,
    /// When anything of it was last seen (a stage or its last I/O), in
    /// Unix seconds.
    pub last_seen: Option<u64>,
}

/// An open session of a PC's disk, as `GET /api/v1/sessions` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionView {
    /// The PC.
    pub pc: String,
    /// Its target.
    pub target: String,
    /// The initiator's name.
    pub initiator: String,
    /// The initiator's address and port.
    pub peer: String,
    /// When it logged in, in Unix seconds.
    pub since: u64,
}

#[derive(Debug, Default)]
struct PcState {
    stages: Stages,
    /// The open sessions, oldest first.
    open: Vec<SessionView>,
    /// A script was fetched since the last login: the next login is iPXE's.
    booting: bool,
    /// Its disk was made ready at the DHCP request of this boot (no login
    /// since): the script fetch keeps it, another request does not redo it.
    fresh: bool,
    /// A DHCP request of it is being handled (the next waits).
    checking: bool,
    /// The address it last fetched its script or logged in from.
    ip: Option<String>,
    /// Option 12 of its last DHCP request.
    dhcp_hostname: Option<String>,
}

impl PcState {
    /// Its open sessions.
    fn sessions(&self) -> u32 {
        u32::try_from(self.open.len()).unwrap_or(u32::MAX)
    }
}

/// Why a PC gets no script.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not in the file or the store, and enrolment is off.
    #[error("unknown PC {0} (enrol = false)")]
    Unknown(String),
    /// [`MAX_ENROLLED`] PCs were enrolled already.
    #[error("unknown PC {0}: {MAX_ENROLLED} PCs are enrolled already (name it in the file, or remove enrolled ones)")]
    Full(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] netboot_image::StoreError),
    /// The disk cannot be served.
    #[error("{0}")]
    Lun(#[from] netboot_iscsid::LunError),
    /// The AoE disk cannot be served.
    #[error("{0}")]
    Aoe(netboot_aoe::Error),
    /// The secret file cannot be written or read.
    #[error("CHAP secret {}: {source}", path.display())]
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Why an action of the API was not done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// The store refused it or failed.
    #[error(transparent)]
    Store(#[from] netboot_image::StoreError),
    /// Not now: a session of a disk it changes is open.
    #[error("{0}")]
    Busy(String),
}

/// What netbootd's AoE disks are served with.
#[derive(Debug, Clone, Copy)]
pub struct AoeSite {
    /// The MTU of the served interface.
    pub mtu: usize,
    /// Frames an initiator may have outstanding.
    pub buffer_count: u16,
}

impl Default for AoeSite {
    fn default() -> Self {
        AoeSite {
            mtu: 1500,
            buffer_count: 64,
        }
    }
}

/// The PCs, their targets and their states.
#[derive(Debug)]
pub struct Inventory {
    pub(crate) store: Store,
    cfg: Config,
    /// The address PCs reach us at.
    pub(crate) addr: Ipv4Addr,
    clients: RwLock<Vec<Client>>,
    targets: Targets,
    /// The AoE disks, by PC name.
    aoe: netboot_aoed::Targets,
    /// What the AoE disks are served with.
    aoe_site: AoeSite,
    pcs: Mutex<HashMap<String, PcState>>,
    max_transfer: u32,
    /// Clients `pc-MAC` enrolled at most.
    max_enrolled: usize,
    /// Held while a PC's disk is made ready or reset (DHCP, script and API
    /// may race).
    setup: Mutex<()>,
    /// MAC to client name, of the file and the store (a DHCP request is
    /// looked up here, without store I/O: anyone can send them).
    macs: RwLock<HashMap<String, String>>,
    /// Image to the PC whose maintenance target serves its edit.
    editing: Mutex<HashMap<String, String>>,
    /// Each PC's I/O counters of the last minutes (for the page).
    history: Mutex<HashMap<String, std::collections::VecDeque<crate::web::render::Sample>>>,
    /// Its metrics.
    pub metrics: crate::metrics::Metrics,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Inventory {
    /// The inventory of `cfg`: every client of the file is added to the
    /// store if it is not there yet.
    pub fn new(
        cfg: Config,
        store: Store,
        addr: Ipv4Addr,
        targets: Targets,
        max_transfer: u32,
        aoe: netboot_aoed::Targets,
        aoe_site: AoeSite,
    ) -> Result<Inventory, String> {
        let inv = Inventory {
            store,
            addr,
            clients: RwLock::new(Vec::new()),
            targets,
            aoe,
            aoe_site,
            pcs: Mutex::new(HashMap::new()),
            max_transfer,
            max_enrolled: MAX_ENROLLED,
            setup: Mutex::new(()),
            macs: RwLock::new(HashMap::new()),
            editing: Mutex::new(HashMap::new()),
            history: Mutex::new(HashMap::new()),
            metrics: crate::metrics::Metrics::default(),
            cfg: cfg.clone(),
        };
        inv.set_clients(cfg.clients)?;
        for c in inv.store.clients().map_err(|e| e.to_string())? {
            inv.know(&c.meta.mac, &c.name);
        }
        Ok(inv)
    }

    /// Replaces the file's client table (start and SIGHUP): new clients are
    /// added to the store; a removed PC's target goes, its open sessions
    /// keep their disk until they end.
    pub fn set_clients(&self, clients: Vec<Client>) -> Result<(), String> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        for c in &clients {
            match self.store.client_meta(&c.name) {
                Ok(m) if m.mac != c.mac => {
                    return Err(format!(
                        "client {}: the store has it with MAC {}, the file with {}",
                        c.name, m.mac, c.mac
                    ))
                }
                Ok(m) => self.sync_client(c, &m)?,
                Err(netboot_image::StoreError::NoClient(_)) => {
                    let m = self
                        .store
                        .client_add(
                            &c.name,
                            &c.mac,
                            &c.image,
                            c.mode,
                            self.cfg.defaults.overlay_max,
                        )
                        .map_err(|e| format!("client {}: {e}", c.name))?;
                    info!(client = c.name, mac = c.mac, image = c.image, mode = %c.mode, "client added to the store");
                    // Its pin.
                    self.sync_client(c, &m)?;
                }
                Err(e) => return Err(format!("client {}: {e}", c.name)),
            }
        }
        for c in &clients {
            self.know(&c.mac, &c.name);
        }
        let old = std::mem::replace(
            &mut *self.clients.write().unwrap_or_else(|e| e.into_inner()),
            clients.clone(),
        );
        for gone in old
            .iter()
            .filter(|o| !clients.iter().any(|c| c.name == o.name))
        {
            let aoe = self.aoe.remove(&gone.name);
            if self.targets.remove(&self.target_name(&gone.name)) || aoe {
                info!(
                    client = gone.name,
                    "removed from the file: its target is gone (open sessions keep their disk)"
                );
            }
        }
        Ok(())
    }

    /// Makes the store's client `c.name` (now `m`) what the file says: its
    /// image, mode and pinned version. Another image takes effect now (its
    /// target goes; open sessions keep their disk); the others at its next
    /// new overlay. The caller holds `setup`.
    fn sync_client(&self, c: &Client, m: &netboot_image::store::ClientMeta) -> Result<(), String> {
        let u = netboot_image::store::ClientUpdate {
            image: (m.image != c.image).then(|| c.image.clone()),
            mode: (m.mode != c.mode).then_some(c.mode),
            pin: (m.pin != c.pin).then_some(c.pin),
            overlay_max: None,
        };
        if u == netboot_image::store::ClientUpdate::default() {
            return Ok(());
        }
        self.store
            .client_update(&c.name, &u)
            .map_err(|e| format!("client {}: {e}", c.name))?;
        info!(client = c.name, image = c.image, mode = %c.mode, pin = ?c.pin, "client changed in the store as the file says");
        if u.image.is_some() {
            warn!(client = c.name, old = m.image, new = c.image, "another image: its overlay over the old one is gone, the next boot gets one over the new image");
            self.targets.remove(&self.target_name(&c.name));
            self.aoe.remove(&c.name);
        }
        Ok(())
    }

    /// Records that `mac` is client `name`.
    fn know(&self, mac: &str, name: &str) {
        self.macs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(mac.to_owned(), name.to_owned());
    }

    /// The target name of PC `name`.
    pub fn target_name(&self, name: &str) -> String {
        format!("{}:{}", self.cfg.iqn_prefix, name.to_ascii_lowercase())
    }

    /// The initiator name PC `name`'s script sets.
    pub fn initiator_name(&self, name: &str) -> String {
        format!(
            "{}:{}.initiator",
            self.cfg.iqn_prefix,
            name.to_ascii_lowercase()
        )
    }

    /// The client name of `mac`: the file's, else the store's.
    fn known_client(&self, mac: &str) -> Result<Option<String>, Refusal> {
        if let Some(c) = self
            .clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.mac == mac)
        {
            return Ok(Some(c.name.clone()));
        }
        let name = self.store.client_by_mac(mac)?;
        if let Some(n) = &name {
            self.know(mac, n);
        }
        Ok(name)
    }

    /// The client name of `mac`: the file's, else the store's, else (with
    /// enrolment) a new client `pc-AABBCCDDEEFF`.
    fn client_for(&self, mac: &str) -> Result<String, Refusal> {
        if let Some(name) = self.known_client(mac)? {
            return Ok(name);
        }
        if !self.cfg.defaults.enrol {
            return Err(Refusal::Unknown(mac.to_owned()));
        }
        // Anyone on the LAN can claim a new MAC: enrolment is bounded.
        let enrolled = self
            .store
            .clients()?
            .iter()
            .filter(|c| c.name.starts_with("pc-"))
            .count();
        if enrolled >= self.max_enrolled {
            return Err(Refusal::Full(mac.to_owned()));
        }
        let name = format!("pc-{}", mac.replace(':', ""));
        let d = &self.cfg.defaults;
        self.store
            .client_add(&name, mac, &d.image, d.mode, d.overlay_max)?;
        info!(client = name, mac, image = d.image, mode = %d.mode, "new PC enrolled");
        self.know(mac, &name);
        Ok(name)
    }

    /// PC `name`'s CHAP secret, made on first use (mode 0600 in the store).
    fn secret(&self, name: &str) -> Result<String, Refusal> {
        let path = self.store.root().join("netbootd").join("chap").join(name);
        secret_file(&path, 12).map_err(|source| Refusal::Secret { path, source })
    }

    /// The start of a boot of the PC with `mac`: makes its target ready
    /// (a new overlay for a volatile PC without open sessions) and returns
    /// its iPXE script. Blocking (store and disk I/O).
    pub fn boot(&self, mac: &str, from: Option<std::net::IpAddr>) -> Result<String, Refusal> {
        let name = self.client_for(mac)?;
        self.metrics
            .scripts
            .get_or_create(&crate::metrics::Pc { pc: name.clone() })
            .inc();
        let target = self.target_name(&name);
        let initiator = self.initiator_name(&name);
        let protocol = self.protocol_of(&name);
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        let (open, fresh) = self.pc(&name, |pc| {
            pc.stages.script = Some(now());
            pc.booting = true;
            if let Some(ip) = from {
                pc.ip = Some(ip.to_string());
            }
            (pc.sessions(), pc.fresh)
        });
        let served = match protocol {
            Protocol::Iscsi => self.targets.contains(&target),
            Protocol::Aoe => self.aoe.contains(&name),
        };
        if protocol == Protocol::Aoe && !fresh {
            // AoE has no sessions to probe: a PC that fetches its script
            // runs iPXE, not its operating system, so this is a new boot
            // (the neighbour table said the request is the PC's).
            self.ready_disk(&name, mac)?;
            self.pc(&name, |pc| pc.fresh = true);
            self.aoe.arm(&name);
        } else if protocol == Protocol::Aoe {
            // The same boot's script again.
        } else if !served || (open == 0 && !fresh) {
            self.ready_disk(&name, mac)?;
        } else if fresh {
            // Made ready at this boot's DHCP request.
        } else {
            warn!(
                client = name,
                mac,
                sessions = open,
                "boot while a session of its disk is open: the disk is kept as it is"
            );
        }
        let client = self.file_client(&name);
        // The image's edit, for its maintenance PC (its own target).
        let maintenance = match &client {
            Some(c) if c.maintenance => self.ready_maintenance(&name, &c.image)?,
            _ => None,
        };
        let version = self.store.client_meta(&name)?.version;
        let (hostname, kernel, image, menu) = match &client {
            Some(c) => (
                c.hostname.clone(),
                c.kernel.clone(),
                c.image.clone(),
                c.menu,
            ),
            // Enrolled (in the store, not in the file): the defaults.
            None => {
                let d = &self.cfg.defaults;
                (
                    None,
                    d.kernel.clone(),
                    self.store.client_meta(&name)?.image,
                    d.menu,
                )
            }
        };
        // Checked when the file was read (letters, digits, '-', '.').
        let hostname = hostname
            .map(|h| format!("set hostname {h}\n"))
            .unwrap_or_default();
        let mut script = format!("#!ipxe\n{hostname}");
        let own = match protocol {
            Protocol::Iscsi => {
                let secret = self.secret(&name)?;
                script.push_str(&format!(
                    "set initiator-iqn {initiator}\n\
                     set username {name}\n\
                     set password {secret}\n"
                ));
                self.boot_lines(&self.iscsi_uri(&target), kernel.as_ref())
            }
            Protocol::Aoe => {
                let (shelf, slot) = self.cfg.aoe_target;
                self.boot_lines(&format!("aoe:e{shelf}.{slot}"), kernel.as_ref())
            }
        };
        if !menu && maintenance.is_none() {
            script.push_str(&own);
            return Ok(script);
        }
        // Names of PCs and images are letters, digits and ._- (checked by
        // the store): nothing in them means anything to iPXE.
        let v = version.map(|v| format!(" version {v}")).unwrap_or_default();
        let default = if maintenance.is_some() {
            "maintenance"
        } else {
            "boot"
        };
        script.push_str(&format!(
            "menu netboot: {name}\nitem boot Boot {image}{v} (its own disk)\n"
        ));
        if let Some(base) = maintenance {
            script.push_str(&format!(
                "item maintenance Maintenance of {image}: the edit over version {base}\n"
            ));
        }
        script.push_str(&format!(
            "item local Boot from the local disk\n\
             item shell iPXE shell\n\
             choose --default {default} --timeout {} choice || set choice {default}\n\
             goto ${{choice}}\n\
             :boot\n{own}",
            u64::from(self.cfg.defaults.menu_timeout) * 1000
        ));
        if maintenance.is_some() {
            let t = self.maintenance_target(&name);
            script.push_str(&format!(
                ":maintenance\n{}",
                self.boot_lines(&self.iscsi_uri(&t), kernel.as_ref())
            ));
        }
        script.push_str(":local\nexit\n:shell\nshell\n");
        Ok(script)
    }

    /// The file's entry of PC `name` (None: enrolled, in the store only).
    fn file_client(&self, name: &str) -> Option<Client> {
        self.clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.name == name)
            .cloned()
    }

    /// iPXE's URI of iSCSI target `target`.
    fn iscsi_uri(&self, target: &str) -> String {
        format!("iscsi:{}::{}:0:{target}", self.addr, self.cfg.iscsi_port)
    }

    /// How PC `name` reaches its disk: the file's word, else the defaults'.
    fn protocol_of(&self, name: &str) -> Protocol {
        self.file_client(name)
            .map_or(self.cfg.defaults.protocol, |c| c.protocol)
    }

    /// The script lines that boot from the disk at `san` (iPXE's URI):
    /// `sanboot`, or, with a kernel, `sanhook` (the disk stays hooked, and
    /// in the iBFT, for the OS's own initiator) and the kernel and initrds
    /// from `/files/` (paths and command line were checked when the file
    /// was read).
    fn boot_lines(&self, san: &str, kernel: Option<&KernelBoot>) -> String {
        let Some(k) = kernel else {
            return format!("sanboot {san}\n");
        };
        let url = |p: &str| format!("http://{}:{}/files/{p}", self.addr, self.cfg.http_port);
        // Each initrd by name (its file name; the later of two alike with
        // its place in front): a UEFI kernel's stub loads the initrds the
        // command line names with `initrd=` (a BIOS kernel ignores it).
        let mut names: Vec<String> = Vec::new();
        for (n, i) in k.initrd.iter().enumerate() {
            let base = i.rsplit('/').next().unwrap_or(i).to_owned();
            names.push(if names.contains(&base) {
                format!("{n}-{base}")
            } else {
                base
            });
        }
        let mut s = format!("sanhook {san}\nkernel {}", url(&k.kernel));
        for n in &names {
            s.push_str(&format!(" initrd={n}"));
        }
        if !k.cmdline.is_empty() {
            s.push(' ');
            s.push_str(&k.cmdline);
        }
        s.push('\n');
        for (i, n) in k.initrd.iter().zip(&names) {
            s.push_str(&format!("initrd --name {n} {}\n", url(i)));
        }
        s.push_str("boot\n");
        s
    }

    /// The target of PC `name`'s maintenance boot (the edit of its image).
    pub fn maintenance_target(&self, name: &str) -> String {
        format!("{}:maintenance", self.target_name(name))
    }

    /// Opens the edit of `image` as the maintenance target of its
    /// maintenance PC `name` if the image has an edit open; returns the
    /// version the edit is over. The caller holds `setup`.
    fn ready_maintenance(&self, name: &str, image: &str) -> Result<Option<u32>, Refusal> {
        let Some(base) = self.store.image_meta(image)?.edit_base else {
            return Ok(None);
        };
        let target = self.maintenance_target(name);
        if self.targets.contains(&target) {
            return Ok(Some(base));
        }
        if self.sessions_to(name, &target) > 0 {
            // A commit was refused under this session: it has the edit
            // open, a second handle would be a second writer.
            warn!(client = name, image, "the maintenance session of the last boot is still open: not offered again until it ends");
            return Ok(None);
        }
        // The edit exists (edit_base is set): this opens it, under our
        // claim of the store nobody else changes it meanwhile.
        let path = self.store.image_edit(image)?;
        let disk = self.store.open_disk(&path, false)?;
        let luns = Luns::single(&target, disk, false, None, self.max_transfer)?;
        self.insert_target(name, &target, luns)?;
        self.editing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(image.to_owned(), name.to_owned());
        info!(
            client = name,
            image, base, target, "maintenance disk ready: the edit of the image"
        );
        Ok(Some(base))
    }

    /// Serves `luns` as `target`, for PC `name`'s initiator name and CHAP
    /// secret only.
    fn insert_target(&self, name: &str, target: &str, luns: Luns) -> Result<(), Refusal> {
        let secret = self.secret(name)?;
        self.targets.insert(
            TargetEntry {
                name: target.to_owned(),
                alias: Some(name.to_owned()),
                portals: Vec::new(),
                allowed_initiators: vec![self.initiator_name(name)],
                chap: Some(Credentials {
                    username: name.to_owned(),
                    secret: secret.into_bytes(),
                }),
                mutual_chap: None,
            },
            luns,
        );
        Ok(())
    }

    /// Serves every PC's overlay as it is (no new ones): a PC that was
    /// running when netbootd stopped logs in again (its OS's initiator
    /// recovers the session) and finds its disk. The next boot of a
    /// volatile PC makes it a new one as always. Blocking.
    pub fn reopen_disks(&self) -> Result<usize, String> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for c in self.store.clients().map_err(|e| e.to_string())? {
            let Some(disk) = self
                .store
                .open_current_disk(&c.name)
                .map_err(|e| format!("client {}: {e}", c.name))?
            else {
                continue;
            };
            self.serve_disk(&c.name, &c.meta.mac, disk)
                .map_err(|e| format!("client {}: {e}", c.name))?;
            n += 1;
        }
        Ok(n)
    }

    /// Opens PC `name`'s disk (a volatile PC's anew) as its target, for its
    /// initiator name and CHAP secret only. Blocking (store and disk I/O);
    /// the caller holds `setup`.
    fn ready_disk(&self, name: &str, mac: &str) -> Result<(), Refusal> {
        let target = self.target_name(name);
        let protocol = self.protocol_of(name);
        let served = match protocol {
            Protocol::Iscsi => self.targets.contains(&target),
            Protocol::Aoe => self.aoe.contains(name),
        };
        if self.store.client_meta(name)?.mode == Mode::Persistent && served {
            // Its one overlay is open already: a second handle would be a
            // second writer.
            return Ok(());
        }
        let disk = self.store.open_client_disk(name)?;
        self.serve_disk(name, mac, disk)
    }

    /// Serves `disk` as PC `name`'s (with `mac`): its iSCSI target, or its
    /// AoE disk at the shared address. The caller holds `setup`.
    fn serve_disk(
        &self,
        name: &str,
        mac: &str,
        disk: Arc<dyn netboot_blockdev::BlockDevice>,
    ) -> Result<(), Refusal> {
        let target = self.target_name(name);
        let protocol = self.protocol_of(name);
        let meta = self.store.client_meta(name)?;
        match protocol {
            Protocol::Iscsi => {
                let luns = Luns::single(&target, disk, false, None, self.max_transfer)?;
                self.insert_target(name, &target, luns)?;
                // A PC that switched protocols leaves no disk behind.
                self.aoe.remove(name);
            }
            Protocol::Aoe => {
                let (shelf, slot) = self.cfg.aoe_target;
                let mut tc = netboot_aoe::target::TargetConfig::new(shelf, slot);
                tc.mtu = self.aoe_site.mtu;
                tc.buffer_count = self.aoe_site.buffer_count;
                tc.serial = format!("{name}.{}", meta.generation);
                tc.allow_macs = vec![aoe_mac(mac)?];
                tc.mask_locked = true;
                let t = netboot_aoe::target::Target::new(disk, tc).map_err(Refusal::Aoe)?;
                self.aoe.insert(name, t);
                self.targets.remove(&target);
            }
        }
        info!(client = name, mac, target, mode = %meta.mode, version = ?meta.version, generation = meta.generation, "disk ready");
        Ok(())
    }

    /// The PC with `mac` asked DHCP for a boot (pxed's observer: the
    /// PXE firmware's request, or iPXE's, which finds the disk made for
    /// this boot and leaves it): a new boot. A session of its disk
    /// still open is probed ([`PROBE_TIMEOUT`]) and dropped if it does not
    /// answer; then a volatile PC's disk is made anew. If a session
    /// answers, a live initiator has the disk (another machine with this
    /// MAC, or a forged request): nothing changes. Unknown MACs are left
    /// to the script fetch (enrolment).
    pub async fn new_boot(self: Arc<Self>, mac: String) {
        if let Some(name) = self.begin_new_boot(&mac, None) {
            self.finish_new_boot(mac, name).await;
        }
    }

    /// The part of [`new_boot`](Self::new_boot) that cannot wait, for the
    /// DHCP server's receive loop: the client of `mac` if it is one netbootd
    /// knows and no request of it is being handled (then the caller runs
    /// [`finish_new_boot`](Self::finish_new_boot)). No I/O: a flood of
    /// requests, forged MACs or not, costs a map look-up each and at most
    /// one task per known PC.
    pub fn begin_new_boot(&self, mac: &str, hostname: Option<&str>) -> Option<String> {
        let name = self
            .macs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(mac)
            .cloned()?;
        self.pc(&name, |pc| {
            if let Some(h) = hostname {
                // The PC's word: kept short, shown escaped.
                pc.dhcp_hostname = Some(h.chars().take(64).collect());
            }
            if pc.checking {
                return false;
            }
            pc.checking = true;
            pc.stages.dhcp = Some(now());
            true
        })
        .then_some(name)
    }

    /// The rest of a new boot of PC `name` begun by
    /// [`begin_new_boot`](Self::begin_new_boot).
    pub async fn finish_new_boot(self: Arc<Self>, mac: String, name: String) {
        let (open, fresh) = self.pc(&name, |pc| (pc.sessions(), pc.fresh));
        if self.protocol_of(&name) == Protocol::Aoe {
            // No sessions to probe: the disk is made ready when the PC's
            // iPXE fetches its script (a request the neighbour table ties
            // to the PC), not on a DHCP request anyone can send.
            self.pc(&name, |pc| {
                pc.fresh = false;
                pc.checking = false;
            });
            return;
        }
        if !(fresh && open == 0) {
            // Not a repeated request of the same boot.
            self.clone().renew(&name, &mac, open).await;
        }
        self.pc(&name, |pc| pc.checking = false);
    }

    /// [`new_boot`](Self::new_boot) of PC `name` with `open` sessions.
    async fn renew(self: Arc<Self>, name: &str, mac: &str, open: u32) {
        if open > 0 {
            info!(
                client = name,
                mac,
                sessions = open,
                "new boot while a session of its disk is open: probing it"
            );
            self.targets.probe(&self.target_name(name), PROBE_TIMEOUT);
            self.targets
                .probe(&self.maintenance_target(name), PROBE_TIMEOUT);
            let deadline = Instant::now() + PROBE_TIMEOUT + Duration::from_secs(1);
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let left = self.pc(name, |pc| pc.sessions());
                if left == 0 {
                    info!(client = name, mac, "the last boot's session is gone");
                    break;
                }
                if Instant::now() >= deadline {
                    warn!(
                        client = name,
                        mac,
                        sessions = left,
                        "a DHCP boot request while a session of its disk lives on: the disk is kept as it is (a live initiator: two machines with one MAC, or a forged request; or an iPXE, which cannot be probed, until its session times out)"
                    );
                    return;
                }
            }
        }
        let inv = self.clone();
        let (n, m) = (name.to_owned(), mac.to_owned());
        let r = tokio::task::spawn_blocking(move || {
            let _setup = inv.setup.lock().unwrap_or_else(|e| e.into_inner());
            if inv.pc(&n, |pc| pc.sessions()) > 0 {
                // A login came in meanwhile: it has the disk.
                return Ok(());
            }
            inv.ready_disk(&n, &m).map_err(|e| e.to_string())?;
            // Under `setup`: a login after this clears it.
            inv.pc(&n, |pc| pc.fresh = true);
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = r {
            warn!(client = name, mac, "cannot make its disk ready: {e}");
        }
    }

    /// Runs `f` on PC `name`'s state (made if new) under the lock.
    fn pc<T>(&self, name: &str, f: impl FnOnce(&mut PcState) -> T) -> T {
        let mut pcs = self.pcs.lock().unwrap_or_else(|e| e.into_inner());
        f(pcs.entry(name.to_owned()).or_default())
    }

    /// Records a login or the end of a session (iscsid's observer).
    pub fn session_event(&self, ev: &SessionEvent) {
        let prefix = format!("{}:", self.cfg.iqn_prefix);
        let target = ev.target.to_ascii_lowercase();
        let Some(rest) = target.strip_prefix(&prefix) else {
            return;
        };
        // Its own disk, or its image's edit (the maintenance target).
        let name = rest.strip_suffix(":maintenance").unwrap_or(rest).to_owned();
        let mut pcs = self.pcs.lock().unwrap_or_else(|e| e.into_inner());
        let pc = pcs.entry(name.clone()).or_default();
        let t = Some(now());
        match ev.kind {
            SessionEventKind::LoggedIn => {
                self.metrics
                    .logins
                    .get_or_create(&crate::metrics::Pc { pc: name.clone() })
                    .inc();
                pc.open.push(SessionView {
                    pc: name,
                    target: ev.target.clone(),
                    initiator: ev.initiator.clone(),
                    peer: ev.peer.to_string(),
                    since: now(),
                });
                pc.fresh = false;
                pc.ip = Some(ev.peer.ip().to_string());
                if std::mem::take(&mut pc.booting) {
                    pc.stages.san_login = t;
                    pc.stages.os_login = None;
                    pc.stages.offline = None;
                } else {
                    pc.stages.os_login = t;
                }
            }
            SessionEventKind::Ended => {
                let peer = ev.peer.to_string();
                if let Some(i) = pc
                    .open
                    .iter()
                    .position(|s| s.peer == peer && s.initiator == ev.initiator)
                {
                    pc.open.remove(i);
                }
                if pc.open.is_empty() {
                    pc.stages.offline = t;
                }
            }
        }
    }

    /// Open sessions of PC `name` to `target`.
    fn sessions_to(&self, name: &str, target: &str) -> usize {
        self.pcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map_or(0, |pc| {
                pc.open
                    .iter()
                    .filter(|s| s.target.eq_ignore_ascii_case(target))
                    .count()
            })
    }

    /// Records what an AoE PC did at its disk (aoed's observer): the first
    /// read or write after its script is iPXE's (the SAN login of AoE); a
    /// discovery after that is the operating system's driver taking the
    /// disk over.
    pub fn aoe_event(&self, ev: &netboot_aoed::targets::Event) {
        use netboot_aoed::targets::EventKind;
        let mut pcs = self.pcs.lock().unwrap_or_else(|e| e.into_inner());
        let pc = pcs.entry(ev.name.clone()).or_default();
        let t = Some(now());
        match ev.kind {
            EventKind::FirstIo => {
                self.metrics
                    .logins
                    .get_or_create(&crate::metrics::Pc {
                        pc: ev.name.clone(),
                    })
                    .inc();
                pc.booting = false;
                pc.fresh = false;
                pc.stages.san_login = t;
                pc.stages.os_login = None;
                pc.stages.offline = None;
            }
            EventKind::Discovered
                if pc.stages.san_login.is_some() && !pc.booting && pc.stages.os_login.is_none() =>
            {
                pc.stages.os_login = t;
            }
            _ => {}
        }
    }

    /// Gives PC `name` a new overlay over its image's current version (or
    /// its pin); refused while a session of its disk is open.
    pub fn reset(&self, name: &str) -> Result<PathBuf, ActionError> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        let open = self
            .pcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map_or(0, PcState::sessions);
        if open > 0 {
            return Err(ActionError::Busy(format!(
                "{name} has {open} open session(s): reset it when it is off"
            )));
        }
        // AoE has no sessions: recent I/O is the sign of a PC running.
        if let Some(last) = self.aoe.io(name).and_then(|io| io.last) {
            if now().saturating_sub(last) < AOE_IDLE.as_secs() {
                return Err(ActionError::Busy(format!(
                    "{name} used its AoE disk {} s ago: reset it when it is off",
                    now().saturating_sub(last)
                )));
            }
        }
        let path = self.store.client_reset(name)?;
        // The next boot opens the new overlay.
        self.targets.remove(&self.target_name(name));
        self.aoe.remove(name);
        Ok(path)
    }

    /// Adds a PC to the store (it boots at its next DHCP request).
    pub fn client_add(
        &self,
        name: &str,
        mac: &str,
        image: &str,
        mode: Mode,
        overlay_max: Option<u64>,
    ) -> Result<netboot_image::store::ClientMeta, ActionError> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        let meta = self.store.client_add(name, mac, image, mode, overlay_max)?;
        self.know(&meta.mac, name);
        Ok(meta)
    }

    /// Imports `from` as version 1 of a new image `name`.
    pub fn image_create(
        &self,
        name: &str,
        from: &std::path::Path,
        format: Option<netboot_image::Format>,
    ) -> Result<netboot_image::store::ImageMeta, ActionError> {
        Ok(self.store.image_create(name, from, format)?)
    }

    /// Opens the edit of image `name` (its maintenance overlay over the
    /// current version): its maintenance PC boots it from its next script.
    pub fn image_edit(&self, name: &str) -> Result<PathBuf, ActionError> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.store.image_edit(name)?)
    }

    /// Seals the edit of image `name` as its next version, now current;
    /// refused while the maintenance PC's session of it is open.
    pub fn image_commit(&self, name: &str) -> Result<u32, ActionError> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        self.close_edit(name)?;
        Ok(self.store.image_commit(name)?)
    }

    /// Throws the edit of image `name` away; refused while the maintenance
    /// PC's session of it is open.
    pub fn image_discard(&self, name: &str) -> Result<(), ActionError> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        self.close_edit(name)?;
        Ok(self.store.image_discard(name)?)
    }

    /// Makes version `to` (default: the one before) of image `name`
    /// current: PCs get it with their next new overlay.
    pub fn image_rollback(&self, name: &str, to: Option<u32>) -> Result<u32, ActionError> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.store.image_rollback(name, to)?)
    }

    /// Removes the versions of image `name` nothing needs.
    pub fn image_gc(&self, name: &str) -> Result<Vec<u32>, ActionError> {
        let _setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.store.image_gc(name)?)
    }

    /// Closes the maintenance target of image `name`'s edit, if one is
    /// open: taken out of the table first (no new logins); its sessions
    /// are probed ([`PROBE_TIMEOUT`]: a PC switched off sends nothing);
    /// refused if one is still open then (that PC's next script opens the
    /// edit again once the session is gone). Blocking; the caller holds
    /// `setup`.
    fn close_edit(&self, image: &str) -> Result<(), ActionError> {
        let Some(pc) = self
            .editing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(image)
            .cloned()
        else {
            return Ok(());
        };
        let target = self.maintenance_target(&pc);
        self.targets.remove(&target);
        let mut open = self.sessions_to(&pc, &target);
        if open > 0 {
            // A maintenance PC that was switched off sends nothing: its
            // session is probed as at a new boot, and dropped if dead.
            self.targets.probe(&target, PROBE_TIMEOUT);
            let deadline = Instant::now() + PROBE_TIMEOUT + Duration::from_secs(1);
            while open > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
                open = self.sessions_to(&pc, &target);
            }
        }
        if open > 0 {
            return Err(ActionError::Busy(format!(
                "{pc} still runs the maintenance of {image} ({open} session(s) of its edit): shut it down first"
            )));
        }
        self.editing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(image);
        info!(client = pc, image, "maintenance disk closed");
        Ok(())
    }

    /// How many samples of each PC's I/O are kept (10 s apart: the last 10
    /// minutes).
    pub const HISTORY: usize = 60;

    /// Takes a sample of every served PC's I/O counters (netbootd does,
    /// every 10 s).
    pub fn sample(&self) {
        let t = now();
        let names: Vec<String> = self
            .macs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        for name in names {
            let (read, written) = match self.protocol_of(&name) {
                Protocol::Iscsi => self
                    .targets
                    .io(&self.target_name(&name))
                    .map_or((0, 0), |io| (io.read_bytes, io.written_bytes)),
                Protocol::Aoe => self.aoe.io(&name).map_or((0, 0), |io| {
                    (io.sectors_read * 512, io.sectors_written * 512)
                }),
            };
            let q = h.entry(name).or_default();
            if q.len() == Self::HISTORY {
                q.pop_front();
            }
            q.push_back(crate::web::render::Sample {
                at: t,
                read,
                written,
            });
        }
    }

    /// PC `name`'s samples, oldest first.
    pub fn history(&self, name: &str) -> Vec<crate::web::render::Sample> {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The maintenance PC of `image` (of the file), and whether a session
    /// of its maintenance target is open.
    pub fn maintenance_of(&self, image: &str) -> Option<(String, bool)> {
        let pc = self
            .clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.maintenance && c.image == image)
            .map(|c| c.name.clone())?;
        let open = self.sessions_to(&pc, &self.maintenance_target(&pc)) > 0;
        Some((pc, open))
    }

    /// Every open session of a PC's disk, by PC.
    pub fn sessions(&self) -> Vec<SessionView> {
        let pcs = self.pcs.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<SessionView> = pcs.values().flat_map(|p| p.open.clone()).collect();
        v.sort_by(|a, b| (&a.pc, a.since).cmp(&(&b.pc, b.since)));
        v
    }

    /// Every PC of the store, with its state.
    pub fn view(&self) -> Result<Vec<PcView>, netboot_image::StoreError> {
        let pcs = self.pcs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self
            .store
            .clients()?
            .into_iter()
            .map(|c| {
                let st = pcs.get(&c.name);
                let protocol = self.protocol_of(&c.name);
                let (target, io, last) = match protocol {
                    Protocol::Iscsi => {
                        let target = self.target_name(&c.name);
                        let io = self.targets.io(&target).unwrap_or_default();
                        let pc = PcIo {
                            commands: io.commands,
                            read_bytes: io.read_bytes,
                            written_bytes: io.written_bytes,
                        };
                        (target, pc, io.last)
                    }
                    Protocol::Aoe => {
                        let (shelf, slot) = self.cfg.aoe_target;
                        let io = self.aoe.io(&c.name).unwrap_or_default();
                        let pc = PcIo {
                            commands: io.replies,
                            read_bytes: io.sectors_read * 512,
                            written_bytes: io.sectors_written * 512,
                        };
                        (format!("e{shelf}.{slot}"), pc, io.last)
                    }
                };
                let mut stages = st.map(|s| s.stages.clone()).unwrap_or_default();
                stages.last_io = last;
                let s = &stages;
                let last_seen = [
                    s.dhcp,
                    s.script,
                    s.san_login,
                    s.os_login,
                    s.last_io,
                    s.offline,
                ]
                .into_iter()
                .flatten()
                .max();
                let sessions = st.map_or(0, PcState::sessions);
                PcView {
                    state: PcPhase::of(&stages, sessions, protocol, now()),
                    io,
                    protocol,
                    pin: c.meta.pin,
                    current: c.current,
                    behind: c.behind,
                    target,
                    mac: c.meta.mac.clone(),
                    image: c.meta.image.clone(),
                    version: c.meta.version,
                    mode: c.meta.mode,
                    sessions,
                    ip: st.and_then(|s| s.ip.clone()),
                    dhcp_hostname: st.and_then(|s| s.dhcp_hostname.clone()),
                    overlay_max: c.meta.overlay_max,
                    last_seen,
                    overlay_bytes: c.disk_bytes,
                    stages,
                    name: c.name,
                }
            })
            .collect())
    }
}

/// `mac` (as the store keeps it) as AoE's.
fn aoe_mac(mac: &str) -> Result<netboot_aoe::wire::MacAddr, Refusal> {
    mac.parse()
        .map_err(|_| Refusal::Store(netboot_image::StoreError::BadMac(mac.into())))
}

/// The secret in `path`; made of `n` random bytes in hex (a file of mode
/// 0600, synced) when the file is missing or shorter.
pub fn secret_file(path: &std::path::Path, n: usize) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 2 * n => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = random_hex(n);
    let mut o = std::fs::OpenOptions::new();
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.write(true).create(true).truncate(true).open(path)?;
    f.write_all(secret.as_bytes())?;
    f.sync_all()?;
    info!(path = %path.display(), "secret written");
    Ok(secret)
}

/// `n` random bytes in hex.
pub fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const PC1: &str = "52:54:00:00:00:01";

    /// An inventory over a store with one image `golden`, the client `pc1`
    /// (volatile, host name `pc1.office`) and `defaults` as the file's
    /// `[defaults]` table.
    fn inventory(defaults: &str) -> (tempfile::TempDir, Arc<Inventory>) {
        inventory_with(defaults, "")
    }

    /// [`inventory`] with `client` as more keys of `pc1`; `files_dir`
    /// holds `linux/vmlinuz` and `linux/initrd.img`.
    fn inventory_with(defaults: &str, client: &str) -> (tempfile::TempDir, Arc<Inventory>) {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        std::fs::create_dir_all(files.join("linux")).unwrap();
        std::fs::write(files.join("linux/vmlinuz"), b"k").unwrap();
        std::fs::write(files.join("linux/initrd.img"), b"i").unwrap();
        let raw = dir.path().join("golden.raw");
        std::fs::write(&raw, vec![0u8; 1 << 20]).unwrap();
        let root = dir.path().join("store");
        let store = Store::open(&root).unwrap();
        store.image_create("golden", &raw, None).unwrap();
        let file = dir.path().join("netboot.toml");
        std::fs::write(
            &file,
            format!(
                "[server]\ninterface = \"lo\"\nfiles_dir = \"{}\"\n[store]\npath = \"{}\"\n\
                 [defaults]\n{defaults}\n\
                 [[client]]\nname = \"pc1\"\nmac = \"{PC1}\"\nhostname = \"pc1.office\"\n{client}\n",
                files.display(),
                root.display()
            ),
        )
        .unwrap();
        let cli = crate::config::Cli::try_parse_from([
            "netbootd".as_ref(),
            "--config".as_ref(),
            file.as_os_str(),
        ])
        .unwrap();
        let cfg = Config::load(cli).unwrap();
        let inv = Inventory::new(
            cfg,
            store,
            Ipv4Addr::LOCALHOST,
            Targets::default(),
            1 << 20,
            netboot_aoed::Targets::default(),
            AoeSite::default(),
        )
        .unwrap();
        (dir, Arc::new(inv))
    }

    fn generation(inv: &Inventory, name: &str) -> u64 {
        inv.store.client_meta(name).unwrap().generation
    }

    fn session(inv: &Inventory, name: &str, kind: SessionEventKind) {
        inv.session_event(&SessionEvent {
            target: inv.target_name(name),
            initiator: inv.initiator_name(name),
            peer: "127.0.0.1:40000".parse().unwrap(),
            kind,
        });
    }

    #[test]
    fn a_script_sets_the_host_name_initiator_credentials_and_disk() {
        let (_d, inv) = inventory("enrol = false");
        let script = inv.boot(PC1, None).unwrap();
        let secret = std::fs::read_to_string(inv.store.root().join("netbootd/chap/pc1")).unwrap();
        assert_eq!(
            script,
            format!(
                "#!ipxe\nset hostname pc1.office\n\
                 set initiator-iqn iqn.2026-12.org.netboot:pc1.initiator\n\
                 set username pc1\nset password {}\n\
                 sanboot iscsi:127.0.0.1::3260:0:iqn.2026-12.org.netboot:pc1\n",
                secret.trim()
            )
        );
        assert!(inv.targets.contains("iqn.2026-12.org.netboot:pc1"));
    }

    /// A kernel boot: the disk is hooked (for the iBFT), kernel and initrd
    /// come from /files/; an enrolled PC gets the defaults' kernel; a
    /// client's `kernel = ""` boots its disk.
    #[test]
    fn a_kernel_boot_hooks_the_disk_and_loads_kernel_and_initrd_over_http() {
        let d = "kernel = \"linux/vmlinuz\"\ninitrd = \"linux/initrd.img\"\ncmdline = \"console=ttyS0 root=/dev/sda\"";
        let (_d, inv) = inventory(d);
        let script = inv.boot(PC1, None).unwrap();
        let tail = "sanhook iscsi:127.0.0.1::3260:0:iqn.2026-12.org.netboot:pc1\n\
                    kernel http://127.0.0.1:80/files/linux/vmlinuz initrd=initrd.img console=ttyS0 root=/dev/sda\n\
                    initrd --name initrd.img http://127.0.0.1:80/files/linux/initrd.img\n\
                    boot\n";
        assert!(script.ends_with(tail), "{script}");
        assert!(!script.contains("sanboot"), "{script}");
        let other = inv.boot("52:54:00:00:00:77", None).unwrap();
        assert!(
            other.contains("\nsanhook ")
                && other.contains(
                    "/files/linux/vmlinuz initrd=initrd.img console=ttyS0 root=/dev/sda\n"
                ),
            "{other}"
        );
        // The client's own keys, one by one over the defaults'.
        let (_d, inv) = inventory_with(d, "cmdline = \"quiet\"");
        let script = inv.boot(PC1, None).unwrap();
        assert!(
            script.contains("/files/linux/vmlinuz initrd=initrd.img quiet\ninitrd "),
            "{script}"
        );
        let (_d, inv) = inventory_with(d, "kernel = \"\"");
        let script = inv.boot(PC1, None).unwrap();
        assert!(
            script.ends_with("sanboot iscsi:127.0.0.1::3260:0:iqn.2026-12.org.netboot:pc1\n"),
            "{script}"
        );
    }

    /// What the DHCP server's loop asks: no task for an unknown MAC, nor a
    /// second one for a PC whose request is being handled.
    #[test]
    fn a_dhcp_request_of_an_unknown_or_busy_pc_starts_nothing() {
        let (_d, inv) = inventory("enrol = false");
        assert_eq!(inv.begin_new_boot("52:54:00:00:00:99", None), None);
        assert_eq!(inv.begin_new_boot(PC1, None).as_deref(), Some("pc1"));
        assert_eq!(inv.begin_new_boot(PC1, None), None, "one at a time");
    }

    /// A menu (boot, local disk, shell) when asked for; the maintenance PC
    /// of an image with an edit open gets "maintenance" too, by default,
    /// on a target of its own that only it may log in to. A commit closes
    /// that target (refused while it has a session) and the next
    /// volatile disk is over the new version.
    #[test]
    fn the_maintenance_pc_boots_the_edit_until_it_is_committed() {
        let (_d, inv) = inventory_with("enrol = true\nmenu_timeout = 2", "maintenance = true");
        // No edit open: its plain script.
        let plain = inv.boot(PC1, None).unwrap();
        assert!(
            !plain.contains("menu") && plain.contains("\nsanboot "),
            "{plain}"
        );
        inv.image_edit("golden").unwrap();
        let script = inv.boot(PC1, None).unwrap();
        let mt = inv.maintenance_target("pc1");
        assert_eq!(mt, "iqn.2026-12.org.netboot:pc1:maintenance");
        for line in [
            "menu netboot: pc1",
            "item boot Boot golden version 1 (its own disk)",
            "item maintenance Maintenance of golden: the edit over version 1",
            "choose --default maintenance --timeout 2000 choice || set choice maintenance",
            ":boot",
            "sanboot iscsi:127.0.0.1::3260:0:iqn.2026-12.org.netboot:pc1",
            ":maintenance",
            &format!("sanboot iscsi:127.0.0.1::3260:0:{mt}"),
            ":local",
            "exit",
        ] {
            assert!(script.lines().any(|l| l == line), "{line:?} in\n{script}");
        }
        assert!(inv.targets.contains(&mt));
        // Another PC of the image gets no maintenance.
        let other = inv.boot("52:54:00:00:00:42", None).unwrap();
        assert!(!other.contains("maintenance"), "{other}");
        // A session of the edit: the commit is refused, the edit stays.
        let login = |kind| {
            inv.session_event(&SessionEvent {
                target: mt.clone(),
                initiator: inv.initiator_name("pc1"),
                peer: "127.0.0.1:40001".parse().unwrap(),
                kind,
            })
        };
        login(SessionEventKind::LoggedIn);
        assert_eq!(inv.sessions()[0].target, mt);
        let e = inv.image_commit("golden").unwrap_err();
        assert!(matches!(e, ActionError::Busy(_)), "{e}");
        assert!(e.to_string().contains("shut it down"), "{e}");
        assert_eq!(inv.store.image_meta("golden").unwrap().edit_base, Some(1));
        // Its next script does not open a second writer of the edit.
        let again = inv.boot(PC1, None).unwrap();
        assert!(!again.contains(":maintenance"), "{again}");
        login(SessionEventKind::Ended);
        assert_eq!(inv.image_commit("golden").unwrap(), 2);
        assert!(!inv.targets.contains(&mt));
        let after = inv.boot(PC1, None).unwrap();
        assert!(!after.contains("menu"), "{after}");
        assert_eq!(inv.store.client_meta("pc1").unwrap().version, Some(2));
        assert_eq!(inv.image_rollback("golden", None).unwrap(), 1);
        assert!(matches!(
            inv.image_discard("golden"),
            Err(ActionError::Store(netboot_image::StoreError::NoEdit(_)))
        ));
    }

    /// `menu = true` for every PC: boot by default; a pinned PC's disk is
    /// over its pin whatever is current.
    #[test]
    fn a_menu_for_every_pc_and_a_pinned_version() {
        let (_d, inv) = inventory("menu = true");
        inv.image_edit("golden").unwrap();
        inv.image_commit("golden").unwrap();
        let script = inv.boot("52:54:00:00:00:42", None).unwrap();
        assert!(
            script.contains("choose --default boot --timeout 5000 choice")
                && !script.contains("maintenance"),
            "{script}"
        );
        assert_eq!(
            inv.store.client_meta("pc-525400000042").unwrap().version,
            Some(2)
        );
        let (_d, inv) = inventory_with("enrol = false", "version = 1");
        inv.image_edit("golden").unwrap();
        inv.image_commit("golden").unwrap();
        inv.boot(PC1, None).unwrap();
        let m = inv.store.client_meta("pc1").unwrap();
        assert_eq!((m.pin, m.version), (Some(1), Some(1)));
    }

    /// An AoE PC boots the shared address, its disk answering its MAC
    /// only (a locked list); a volatile one gets a new disk when its iPXE
    /// fetches the script (not on a DHCP request), once per boot; its
    /// first I/O is its SAN login, a later discovery the OS taking over.
    #[tokio::test]
    async fn an_aoe_pc_gets_its_disk_at_the_shared_address() {
        let (_d, inv) = inventory("protocol = \"aoe\"\nenrol = false");
        let g0 = generation(&inv, "pc1");
        inv.clone().new_boot(PC1.into()).await;
        assert_eq!(generation(&inv, "pc1"), g0, "not on DHCP");
        let i = inv.clone();
        let script = tokio::task::spawn_blocking(move || i.boot(PC1, None).unwrap())
            .await
            .unwrap();
        assert!(script.ends_with("\nsanboot aoe:e0.0\n"), "{script}");
        assert!(!script.contains("password"), "{script}");
        let g1 = generation(&inv, "pc1");
        assert_eq!(g1, g0 + 1);
        assert!(inv.aoe.contains("pc1") && !inv.targets.contains(&inv.target_name("pc1")));
        let t = inv.aoe.get("pc1").unwrap();
        assert_eq!(t.mask_list(), vec!["52:54:00:00:00:01".parse().unwrap()]);
        inv.boot(PC1, None).unwrap();
        assert_eq!(generation(&inv, "pc1"), g1, "the same boot's script");
        let ev = |kind| {
            inv.aoe_event(&netboot_aoed::targets::Event {
                name: "pc1".into(),
                mac: "52:54:00:00:00:01".parse().unwrap(),
                kind,
            })
        };
        use netboot_aoed::targets::EventKind;
        ev(EventKind::Discovered);
        ev(EventKind::FirstIo);
        ev(EventKind::Discovered);
        let v = inv.view().unwrap();
        let st = &v[0].stages;
        assert!(st.script.is_some() && st.san_login.is_some() && st.os_login.is_some());
        assert_eq!(
            (v[0].protocol, v[0].target.as_str()),
            (Protocol::Aoe, "e0.0")
        );
        inv.boot(PC1, None).unwrap();
        assert_eq!(generation(&inv, "pc1"), g1 + 1, "the next boot");
    }

    /// A restarted netbootd serves every PC's overlay as it is: a running
    /// PC logs in again to the disk it had, not a new one.
    #[test]
    fn a_restart_serves_the_overlays_as_they_are() {
        let (_d, inv) = inventory("enrol = true");
        inv.boot(PC1, None).unwrap();
        inv.boot("52:54:00:00:00:42", None).unwrap();
        let g = generation(&inv, "pc1");
        let again = Inventory::new(
            inv.cfg.clone(),
            Store::open(inv.store.root()).unwrap(),
            Ipv4Addr::LOCALHOST,
            Targets::default(),
            1 << 20,
            netboot_aoed::Targets::default(),
            AoeSite::default(),
        )
        .unwrap();
        assert_eq!(again.reopen_disks().unwrap(), 2);
        assert!(again.targets.contains(&again.target_name("pc1")));
        assert!(again
            .targets
            .contains(&again.target_name("pc-525400000042")));
        assert_eq!(generation(&again, "pc1"), g, "the same overlay");
    }

    #[test]
    fn a_pcs_phase_follows_its_stages() {
        let t = 1_000_000;
        let st = |dhcp, script, os, last| Stages {
            dhcp,
            script,
            san_login: script,
            os_login: os,
            last_io: last,
            offline: None,
        };
        let i = Protocol::Iscsi;
        let a = Protocol::Aoe;
        assert_eq!(PcPhase::of(&Stages::default(), 0, i, t), PcPhase::Unknown);
        assert_eq!(
            PcPhase::of(&st(Some(t - 5), None, None, None), 0, i, t),
            PcPhase::Booting
        );
        assert_eq!(
            PcPhase::of(&st(Some(t - 50), Some(t - 40), None, None), 1, i, t),
            PcPhase::Booting,
            "iPXE's session"
        );
        assert_eq!(
            PcPhase::of(&st(Some(t - 50), Some(t - 40), Some(t - 20), None), 1, i, t),
            PcPhase::Running
        );
        assert_eq!(
            PcPhase::of(
                &st(Some(t - 5000), Some(t - 4990), Some(t - 4980), None),
                0,
                i,
                t
            ),
            PcPhase::Off
        );
        // A new boot after the last OS login, its old session still open.
        assert_eq!(
            PcPhase::of(
                &st(Some(t - 5), Some(t - 4990), Some(t - 4980), None),
                1,
                i,
                t
            ),
            PcPhase::Booting
        );
        assert_eq!(
            PcPhase::of(
                &st(Some(t - 90), Some(t - 80), Some(t - 60), Some(t - 2)),
                0,
                a,
                t
            ),
            PcPhase::Running
        );
        assert_eq!(
            PcPhase::of(
                &st(Some(t - 900), Some(t - 880), Some(t - 860), Some(t - 700)),
                0,
                a,
                t
            ),
            PcPhase::Off
        );
    }

    #[test]
    fn unknown_pcs_are_refused_without_enrolment() {
        let (_d, inv) = inventory("enrol = false");
        assert!(matches!(
            inv.boot("52:54:00:00:00:99", None),
            Err(Refusal::Unknown(m)) if m == "52:54:00:00:00:99"
        ));
        assert_eq!(inv.store.clients().unwrap().len(), 1);
    }

    /// Anyone can claim new MACs: enrolment stops at the limit, PCs of the
    /// file still boot.
    #[test]
    fn enrolment_stops_at_its_limit() {
        let (_d, inv) = inventory("enrol = true");
        let mut inv = Arc::into_inner(inv).unwrap();
        inv.max_enrolled = 2;
        inv.boot("52:54:00:00:00:10", None).unwrap();
        inv.boot("52:54:00:00:00:11", None).unwrap();
        // Known ones boot again.
        inv.boot("52:54:00:00:00:10", None).unwrap();
        let e = inv.boot("52:54:00:00:00:12", None).unwrap_err();
        assert!(
            matches!(&e, Refusal::Full(m) if m == "52:54:00:00:00:12"),
            "{e}"
        );
        assert!(e.to_string().contains("enrolled already"), "{e}");
        inv.boot(PC1, None).unwrap();
        let names: Vec<_> = inv
            .store
            .clients()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    /// The firmware's DHCP request makes a volatile PC's disk anew, once
    /// per boot: a repeated request and the script fetch keep it; after a
    /// session, the next boot's request makes it anew again.
    #[tokio::test]
    async fn a_new_boot_makes_a_volatile_disk_anew_once() {
        let (_d, inv) = inventory("mode = \"volatile\"\nenrol = false");
        let g0 = generation(&inv, "pc1");
        inv.clone().new_boot(PC1.into()).await;
        let g1 = generation(&inv, "pc1");
        assert_eq!(g1, g0 + 1);
        assert!(inv.targets.contains(&inv.target_name("pc1")));
        inv.clone().new_boot(PC1.into()).await;
        let i = inv.clone();
        tokio::task::spawn_blocking(move || i.boot(PC1, None).unwrap())
            .await
            .unwrap();
        assert_eq!(generation(&inv, "pc1"), g1, "same boot, same disk");
        session(&inv, "pc1", SessionEventKind::LoggedIn);
        let open = inv.sessions();
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].pc, "pc1");
        assert_eq!(open[0].peer, "127.0.0.1:40000");
        session(&inv, "pc1", SessionEventKind::Ended);
        assert!(inv.sessions().is_empty());
        inv.clone().new_boot(PC1.into()).await;
        assert_eq!(generation(&inv, "pc1"), g1 + 1, "the next boot");
        let v = inv.view().unwrap();
        assert!(v[0].stages.dhcp.is_some(), "{v:?}");
        // Unknown MACs are left to the script fetch.
        inv.clone().new_boot("52:54:00:00:00:99".into()).await;
        assert_eq!(inv.store.clients().unwrap().len(), 1);
    }

    /// A session that cannot be probed (no initiator behind it here: the
    /// event came without a connection) counts as open for the probe's
    /// time and keeps the disk: the request is logged, nothing changes.
    #[tokio::test]
    async fn a_session_that_stays_keeps_the_disk() {
        let (_d, inv) = inventory("mode = \"volatile\"\nenrol = false");
        inv.clone().new_boot(PC1.into()).await;
        session(&inv, "pc1", SessionEventKind::LoggedIn);
        let g = generation(&inv, "pc1");
        let t = Instant::now();
        inv.clone().new_boot(PC1.into()).await;
        assert!(t.elapsed() >= PROBE_TIMEOUT);
        assert_eq!(generation(&inv, "pc1"), g);
    }
}
