//! `iscsid` as a library: the iSCSI target of the netboot project, for the
//! `iscsid` binary and for programs that run it beside other servers
//! (`netbootd`).
//!
//! The protocol lives in `netboot-iscsi` (PDUs, login, the full feature
//! phase as a sans-IO session) and the SCSI emulation in `netboot-scsi`;
//! [`serve`] opens the disks, accepts connections and moves PDUs, commands
//! and completions between them, on the caller's tokio runtime, until the
//! [`Shutdown`](netboot_daemon::Shutdown) it is given stops it. [`Config`]
//! is plain data; [`config::Cli`] is how the binary makes one.

mod admission;
pub mod config;
mod luns;
mod reinstate;
mod server;
mod targets;

pub use config::Config;
pub use luns::{LunError, Luns};
pub use server::{serve, serve_targets, Error};
pub use targets::{Io, SessionEvent, SessionEventKind, Targets};
