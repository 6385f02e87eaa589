//! The SCSI side of a target: its logical units on their disks, opened
//! from the configuration (what runs the commands is
//! `netboot_iscsi::scsi`).

use std::sync::Arc;

use netboot_blockdev::BlockDevice;
use netboot_image::{Images, OpenOptions};
use netboot_iscsi::session::Completion;
use netboot_scsi::{Identity, LogicalUnit, LuOptions, Target};

use crate::config::TargetConf;

pub use netboot_scsi::Nexus;

/// The logical units of one iSCSI target.
#[derive(Debug)]
pub struct Luns {
    target: Target,
    disks: Vec<Arc<dyn BlockDevice>>,
}

/// Why a LUN cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LunError {
    /// The disk file is missing and no size was given to create it.
    #[error(
        "LUN {lun} ({}): no such file; to create a sparse image give its size \
         (--size 20G, or size = \"20G\" in the [[target.lun]])",
        path.display()
    )]
    Missing {
        /// The LUN.
        lun: u64,
        /// The disk.
        path: std::path::PathBuf,
    },
    /// The disk (or its image chain) cannot be opened.
    #[error("LUN {lun} ({}): {source}", path.display())]
    Open {
        /// The LUN.
        lun: u64,
        /// The disk.
        path: std::path::PathBuf,
        /// Why.
        source: netboot_image::Error,
    },
    /// The disk has no blocks.
    #[error("LUN {lun} ({}): empty disk", path.display())]
    Empty {
        /// The LUN.
        lun: u64,
        /// The disk.
        path: std::path::PathBuf,
    },
    /// The logical unit cannot be set up over the disk.
    #[error("LUN {lun}: {source}")]
    Unit {
        /// The LUN.
        lun: u64,
        /// Why.
        source: netboot_scsi::Error,
    },
    /// The LUN number cannot be addressed.
    #[error("LUN {0} is out of range")]
    Range(u64),
}

impl Luns {
    /// Opens (creating where asked) every disk of `t`; overlays share their
    /// backing images through `images`.
    pub fn open(
        t: &TargetConf,
        direct: bool,
        max_transfer: u32,
        images: &Images,
    ) -> Result<Luns, LunError> {
        let target = Target::new();
        let mut disks = Vec::new();
        for l in &t.luns {
            // `rbd:POOL/IMAGE` is a disk on a Ceph cluster, not a file.
            let rbd = netboot_image::is_rbd(&l.disk);
            if !rbd && l.size.is_none() && !l.disk.exists() {
                return Err(LunError::Missing {
                    lun: l.id,
                    path: l.disk.clone(),
                });
            }
            let disk = images
                .open(
                    &l.disk,
                    &OpenOptions {
                        format: l.format,
                        read_only: l.read_only,
                        block_size: l.block_size,
                        create_size: l.size,
                        direct,
                        root: None,
                        overlay_max: l.overlay_max,
                    },
                )
                .map_err(|source| LunError::Open {
                    lun: l.id,
                    path: l.disk.clone(),
                    source,
                })?;
            if disk.size() == 0 {
                return Err(LunError::Empty {
                    lun: l.id,
                    path: l.disk.clone(),
                });
            }
            // Persistent reservations are kept beside the disk.
            // Persistent reservations are kept beside a file; an RBD disk's
            // last as long as the target runs.
            let pr_path = (!rbd).then(|| {
                let mut p = l.disk.clone().into_os_string();
                p.push(".pr");
                p.into()
            });
            disks.push(disk.clone());
            let unit = unit(&t.name, l.id, disk, l.read_only, pr_path, max_transfer)?;
            target
                .add_lun(l.id, Arc::new(unit))
                .map_err(|_| LunError::Range(l.id))?;
        }
        Ok(Luns { target, disks })
    }

    /// One disk as LUN 0 of the target `name`: what `netbootd` serves each
    /// PC. `pr_path` keeps persistent reservations across restarts.
    pub fn single(
        name: &str,
        disk: Arc<dyn BlockDevice>,
        read_only: bool,
        pr_path: Option<std::path::PathBuf>,
        max_transfer: u32,
    ) -> Result<Luns, LunError> {
        let target = Target::new();
        let u = unit(name, 0, disk.clone(), read_only, pr_path, max_transfer)?;
        target
            .add_lun(0, Arc::new(u))
            .map_err(|_| LunError::Range(0))?;
        Ok(Luns {
            target,
            disks: vec![disk],
        })
    }

    /// Executes one command (on a blocking thread: it does disk I/O), as
    /// `netboot_iscsi::scsi` does for a session.
    pub fn execute(&self, nexus: &Nexus, lun: u64, cdb: &[u8], data_out: &[u8]) -> Completion {
        netboot_iscsi::scsi::execute(&self.target, nexus, lun, cdb, data_out)
    }

    pub fn lun_reset(&self, lun: u64, _nexus: &Nexus) {
        netboot_iscsi::scsi::lun_reset(&self.target, lun);
    }

    pub fn target_reset(&self, _nexus: &Nexus) {
        self.target.reset();
    }

    pub fn nexus_lost(&self, nexus: &Nexus) {
        self.target.nexus_lost(nexus);
    }

    /// Claims every writable disk for this target's writes alone (see
    /// `BlockDevice::claim`: an RBD image's exclusive lock). Blocking.
    pub fn claim(&self) -> Result<(), netboot_blockdev::Error> {
        for d in &self.disks {
            d.claim()?;
        }
        Ok(())
    }

    /// Flushes every disk (on shutdown).
    pub fn flush(&self) -> Result<(), netboot_blockdev::Error> {
        for d in &self.disks {
            d.flush()?;
        }
        Ok(())
    }
}

/// The logical unit `id` of target `name` over `disk`.
fn unit(
    name: &str,
    id: u64,
    disk: Arc<dyn BlockDevice>,
    read_only: bool,
    pr_path: Option<std::path::PathBuf>,
    max_transfer: u32,
) -> Result<LogicalUnit, LunError> {
    LogicalUnit::new(
        disk,
        // A stable serial number per target and LUN.
        Identity::for_name(&format!("{name}/{id}")),
        LuOptions {
            read_only,
            pr_path,
            max_transfer_bytes: max_transfer,
            // 65535 blocks: a WRITE SAME larger than one maximal transfer
            // is refused rather than half supported.
            max_write_same_blocks: 65535,
            ..LuOptions::default()
        },
    )
    .map_err(|source| LunError::Unit { lun: id, source })
}
