//! `aoed`: an ATA over Ethernet target daemon, built on `netboot-aoe`.
//!
//! This binary only parses the configuration, opens the disks and packet
//! sockets, and moves frames between the sockets and the sans-IO
//! [`netboot_aoe::target::Target`]s; it stops on SIGINT/SIGTERM.

mod config;
mod iface;
#[cfg(target_os = "linux")]
mod packet;
#[cfg(feature = "pnet")]
mod packet_pnet;
mod server;

// The raw-Ethernet backend: our AF_PACKET code, or pnet_datalink with the
// `pnet` feature (README, "Dependencies").
#[cfg(not(feature = "pnet"))]
use packet as backend;
#[cfg(feature = "pnet")]
use packet_pnet as backend;
#[cfg(not(any(target_os = "linux", feature = "pnet")))]
compile_error!("aoed needs Linux (AF_PACKET) or the `pnet` feature");

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("aoed", &e),
    };
    netboot_daemon::init_logging("AOED_LOG", &cfg.log_level);
    netboot_daemon::finish(server::run(cfg))
}
