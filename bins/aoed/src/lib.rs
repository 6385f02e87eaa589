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
mod server;
pub mod targets;

pub use config::Config;
pub use netboot_aoe_net::Iface;
pub use server::{serve, serve_targets, target_config, Error};
pub use targets::Targets;
