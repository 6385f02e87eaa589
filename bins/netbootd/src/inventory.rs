//! The PCs netbootd knows: the file's clients and the store's, their iSCSI
//! targets, CHAP secrets, boot stages and sessions.
//!
//! A PC's target (`IQN-PREFIX:NAME`, LUN 0 its overlay) is made when the PC
//! fetches its script, which is the start of a boot: a volatile PC gets a
//! new overlay then, unless a session of its disk is still open (its
//! writes are never thrown away under it). Only the PC's initiator name
//! with the PC's CHAP secret may log in to it.

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use netboot_image::{Mode, Store};
use netboot_iscsi::login::{Credentials, TargetEntry};
use netboot_iscsid::{Luns, SessionEvent, SessionEventKind, Targets};
use serde::Serialize;
use tracing::{info, warn};

use crate::config::{Client, Config};

/// A PC's boot stages, as Unix times in seconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stages {
    /// iPXE fetched its script.
    pub script: Option<u64>,
    /// iPXE logged in to its disk (the first login after the script).
    pub san_login: Option<u64>,
    /// The OS's own initiator logged in (a later login: the hand-over
    /// through the iBFT).
    pub os_login: Option<u64>,
    /// The last session ended.
    pub offline: Option<u64>,
}

/// A PC as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PcView {
    /// Its name.
    pub name: String,
    /// Its MAC.
    pub mac: String,
    /// Its image.
    pub image: String,
    /// The image version its overlay is over.
    pub version: Option<u32>,
    /// Volatile or persistent.
    pub mode: Mode,
    /// Its target.
    pub target: String,
    /// Open sessions of its disk.
    pub sessions: u32,
    /// Bytes its overlay takes on the server.
    pub overlay_bytes: u64,
    /// Its boot stages.
    pub stages: Stages,
}

#[derive(Debug, Default)]
struct PcState {
    stages: Stages,
    sessions: u32,
    /// A script was fetched since the last login: the next login is iPXE's.
    booting: bool,
}

/// Why a PC gets no script.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not in the file or the store, and enrolment is off.
    #[error("unknown PC {0} (enrol = false)")]
    Unknown(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] netboot_image::StoreError),
    /// The disk cannot be served.
    #[error("{0}")]
    Lun(#[from] netboot_iscsid::LunError),
    /// The secret file cannot be written or read.
    #[error("CHAP secret {}: {source}", path.display())]
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
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
    pcs: Mutex<HashMap<String, PcState>>,
    max_transfer: u32,
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
    ) -> Result<Inventory, String> {
        let inv = Inventory {
            store,
            addr,
            clients: RwLock::new(Vec::new()),
            targets,
            pcs: Mutex::new(HashMap::new()),
            max_transfer,
            metrics: crate::metrics::Metrics::default(),
            cfg: cfg.clone(),
        };
        inv.set_clients(cfg.clients)?;
        Ok(inv)
    }

    /// Replaces the file's client table (start and SIGHUP): new clients are
    /// added to the store; a removed PC's target goes, its open sessions
    /// keep their disk until they end.
    pub fn set_clients(&self, clients: Vec<Client>) -> Result<(), String> {
        for c in &clients {
            match self.store.client_meta(&c.name) {
                Ok(m) if m.mac != c.mac => {
                    return Err(format!(
                        "client {}: the store has it with MAC {}, the file with {}",
                        c.name, m.mac, c.mac
                    ))
                }
                Ok(_) => {}
                Err(netboot_image::StoreError::NoClient(_)) => {
                    self.store
                        .client_add(
                            &c.name,
                            &c.mac,
                            &c.image,
                            c.mode,
                            self.cfg.defaults.overlay_max,
                        )
                        .map_err(|e| format!("client {}: {e}", c.name))?;
                    info!(client = c.name, mac = c.mac, image = c.image, mode = %c.mode, "client added to the store");
                }
                Err(e) => return Err(format!("client {}: {e}", c.name)),
            }
        }
        let old = std::mem::replace(
            &mut *self.clients.write().unwrap_or_else(|e| e.into_inner()),
            clients.clone(),
        );
        for gone in old
            .iter()
            .filter(|o| !clients.iter().any(|c| c.name == o.name))
        {
            if self.targets.remove(&self.target_name(&gone.name)) {
                info!(
                    client = gone.name,
                    "removed from the file: its target is gone (open sessions keep their disk)"
                );
            }
        }
        Ok(())
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

    /// The client name of `mac`: the file's, else the store's, else (with
    /// enrolment) a new client `pc-AABBCCDDEEFF`.
    fn client_for(&self, mac: &str) -> Result<String, Refusal> {
        if let Some(c) = self
            .clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.mac == mac)
        {
            return Ok(c.name.clone());
        }
        if let Some(name) = self.store.client_by_mac(mac)? {
            return Ok(name);
        }
        if !self.cfg.defaults.enrol {
            return Err(Refusal::Unknown(mac.to_owned()));
        }
        let name = format!("pc-{}", mac.replace(':', ""));
        let d = &self.cfg.defaults;
        self.store
            .client_add(&name, mac, &d.image, d.mode, d.overlay_max)?;
        info!(client = name, mac, image = d.image, mode = %d.mode, "new PC enrolled");
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
    pub fn boot(&self, mac: &str) -> Result<String, Refusal> {
        let name = self.client_for(mac)?;
        self.metrics
            .scripts
            .get_or_create(&crate::metrics::Pc { pc: name.clone() })
            .inc();
        let secret = self.secret(&name)?;
        let target = self.target_name(&name);
        let initiator = self.initiator_name(&name);
        let open = {
            let mut pcs = self.pcs.lock().unwrap_or_else(|e| e.into_inner());
            let pc = pcs.entry(name.clone()).or_default();
            pc.stages.script = Some(now());
            pc.booting = true;
            pc.sessions
        };
        if open == 0 || !self.targets.contains(&target) {
            let disk = self.store.open_client_disk(&name)?;
            let meta = self.store.client_meta(&name)?;
            let luns = Luns::single(&target, disk, false, None, self.max_transfer)?;
            self.targets.insert(
                TargetEntry {
                    name: target.clone(),
                    alias: Some(name.clone()),
                    portals: Vec::new(),
                    allowed_initiators: vec![initiator.clone()],
                    chap: Some(Credentials {
                        username: name.clone(),
                        secret: secret.clone().into_bytes(),
                    }),
                    mutual_chap: None,
                },
                luns,
            );
            info!(client = name, mac, target, mode = %meta.mode, version = ?meta.version, "disk ready");
        } else {
            warn!(
                client = name,
                mac,
                sessions = open,
                "boot while a session of its disk is open: the disk is kept as it is"
            );
        }
        Ok(format!(
            "#!ipxe\n\
             set initiator-iqn {initiator}\n\
             set username {name}\n\
             set password {secret}\n\
             sanboot iscsi:{}::{}:0:{target}\n",
            self.addr, self.cfg.iscsi_port
        ))
    }

    /// Records a login or the end of a session (iscsid's observer).
    pub fn session_event(&self, ev: &SessionEvent) {
        let prefix = format!("{}:", self.cfg.iqn_prefix);
        let Some(name) = ev
            .target
            .to_ascii_lowercase()
            .strip_prefix(&prefix)
            .map(str::to_owned)
        else {
            return;
        };
        let mut pcs = self.pcs.lock().unwrap_or_else(|e| e.into_inner());
        let pc = pcs.entry(name.clone()).or_default();
        let t = Some(now());
        match ev.kind {
            SessionEventKind::LoggedIn => {
                self.metrics
                    .logins
                    .get_or_create(&crate::metrics::Pc { pc: name })
                    .inc();
                pc.sessions += 1;
                if std::mem::take(&mut pc.booting) {
                    pc.stages.san_login = t;
                    pc.stages.os_login = None;
                    pc.stages.offline = None;
                } else {
                    pc.stages.os_login = t;
                }
            }
            SessionEventKind::Ended => {
                pc.sessions = pc.sessions.saturating_sub(1);
                if pc.sessions == 0 {
                    pc.stages.offline = t;
                }
            }
        }
    }

    /// Gives PC `name` a new overlay over its image's current version
    /// (refused while a session of its disk is open).
    pub fn reset(&self, name: &str) -> Result<(), String> {
        let open = self
            .pcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map_or(0, |p| p.sessions);
        if open > 0 {
            return Err(format!(
                "{name} has {open} open session(s): reset it when it is off"
            ));
        }
        self.store.client_reset(name).map_err(|e| e.to_string())?;
        // The next boot opens the new overlay.
        self.targets.remove(&self.target_name(name));
        Ok(())
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
                PcView {
                    target: self.target_name(&c.name),
                    mac: c.meta.mac.clone(),
                    image: c.meta.image.clone(),
                    version: c.meta.version,
                    mode: c.meta.mode,
                    sessions: st.map_or(0, |s| s.sessions),
                    overlay_bytes: c.disk_bytes,
                    stages: st.map(|s| s.stages.clone()).unwrap_or_default(),
                    name: c.name,
                }
            })
            .collect())
    }
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
