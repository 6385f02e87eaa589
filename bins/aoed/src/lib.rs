//! `aoed` as a library: the ATA over Ethernet target of the netboot
//! project, for the `aoed` binary and for programs that run it beside other
//! servers (`netbootd`).
//!
//! [`serve`] opens the disks and packet sockets and moves frames between
//! the sockets and the [`netboot_aoe::target::Target`]s (executors over the
//! disks) on worker threads of its own, until the
//! [`Shutdown`](netboot_daemon::Shutdown) it is given stops it. [`Config`]
//! is plain data; [`config::Cli`] is how the binary makes one.

pub mod config;
pub mod iface;
#[cfg(target_os = "linux")]
mod packet;
#[cfg(feature = "pnet")]
mod packet_pnet;
mod server;
pub mod targets;

// The raw-Ethernet backend: our AF_PACKET code, or pnet_datalink with the
// `pnet` feature (README, "Dependencies").
#[cfg(not(feature = "pnet"))]
use packet as backend;
#[cfg(feature = "pnet")]
use packet_pnet as backend;
#[cfg(not(any(target_os = "linux", feature = "pnet")))]
compile_error!("aoed needs Linux (AF_PACKET) or the `pnet` feature");

pub use config::Config;
pub use iface::Iface;
pub use server::{serve, serve_targets, target_config, Error};
pub use targets::Targets;
