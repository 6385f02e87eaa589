//! A transport-agnostic SCSI block target: SPC-4 / SBC-3 direct-access
//! device emulation on a [`netboot_blockdev::BlockDevice`].
//!
//! Not a sans-IO state machine but an **executor over a `BlockDevice`**:
//! [`LogicalUnit::execute`] and [`Target::execute`] run a command to its
//! end, doing the disk I/O (and the persistent-reservation state file's
//! writes) blocking, in the caller's thread; call them from a thread pool
//! (iscsid uses tokio's blocking pool). There are no sockets, no threads of
//! its own and no clock, and nothing depends on a transport: transports
//! (iSCSI, AoE-to-SCSI bridges, vhost-scsi, USB mass storage) hand each
//! command's CDB and Data-Out to this crate and send back what it returns.
//!
//! Layers:
//!
//! * [`wire`]: operation codes, [`cdb_info`] (data direction and
//!   expected transfer length of a CDB, so the transport knows how much
//!   Data-Out to solicit before executing), [`Sense`] data in fixed (0x70)
//!   and descriptor (0x72) format.
//! * [`LogicalUnit`]: one LU (`LogicalUnit::new(dev, Identity, LuOptions)`)
//!   with mode pages, persistent reservations, RESERVE(6), unit attentions
//!   and medium state, each behind its own mutex.
//!   [`LogicalUnit::execute`] takes `&self`: commands from several
//!   threads run concurrently; the disk is not a lock.
//! * [`Target`]: LUNs by number, REPORT LUNS, and the LOGICAL UNIT NOT
//!   SUPPORTED answers for missing LUNs; `reset`/`lun_reset`/`nexus_lost`
//!   hooks for task management and session loss.
//!
//! A command returns a [`Response`]: [`Status`], sense bytes and Data-In
//! truncated to the allocation length (the transport computes residuals).
//! Every I_T nexus is named by a [`Nexus`] (initiator and target port
//! names plus a stable id). Both live in modules of their own (`response`,
//! `nexus`) below the logical unit and the target, which both use them.
//!
//! ```
//! use std::sync::Arc;
//! use netboot_blockdev::MemDisk;
//! use netboot_scsi::{cdb_info, DataDirection, Identity, LogicalUnit, LuOptions, Nexus, Status, Target};
//!
//! let disk = Arc::new(MemDisk::new(1 << 20, 512));
//! let lu = LogicalUnit::new(disk, Identity::new("disk0"), LuOptions::default()).unwrap();
//! let target = Target::new();
//! target.add_lun(0, Arc::new(lu)).unwrap();
//! let nexus = Nexus::new(1, "iqn.2024-01.org.example:host,i,0x000000000001", "iqn.2024-01.org.netboot:disk,t,0x1");
//!
//! // The first command reports the POWER ON unit attention.
//! let r = target.execute(&nexus, 0, &[0x00; 6], &[], 0);
//! assert_eq!(r.status, Status::CheckCondition);
//! assert_eq!(r.sense_key_asc(), Some((0x6, 0x29, 0x00)));
//!
//! // WRITE(10) one block at LBA 2, then read it back.
//! let write = [0x2a, 0, 0, 0, 0, 2, 0, 0, 1, 0];
//! let info = cdb_info(&write, 512).unwrap();
//! assert_eq!((info.direction, info.transfer_len), (DataDirection::Out, 512));
//! let r = target.execute(&nexus, 0, &write, &[0xab; 512], 0);
//! assert_eq!(r.status, Status::Good);
//! let r = target.execute(&nexus, 0, &[0x28, 0, 0, 0, 0, 2, 0, 0, 1, 0], &[], 512);
//! assert_eq!(r.data_in, vec![0xab; 512]);
//!
//! // A LUN that does not exist.
//! let r = target.execute(&nexus, 7, &[0x00; 6], &[], 0);
//! assert_eq!(r.sense_key_asc(), Some((0x5, 0x25, 0x00)));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
mod lu;
mod nexus;
mod response;
mod target;
pub mod wire;

pub use error::{Error, Result};
pub use lu::{Identity, LogicalUnit, LuOptions, PrType};
pub use nexus::Nexus;
pub use response::{Response, Status};
pub use target::{decode_lun, encode_lun, Target};
pub use wire::{
    cdb_info, with_transfer_length, CdbInfo, DataDirection, FieldPointer, Sense, SenseKey,
};
