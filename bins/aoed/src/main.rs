//! `aoed`: an ATA over Ethernet target daemon, built on `netboot-aoe`.
//!
//! This binary only parses the configuration, opens the disks and packet
//! sockets, and moves frames between the sockets and the sans-IO
//! [`netboot_aoe::target::Target`]s; it stops on SIGINT/SIGTERM.

mod config;
mod packet;
mod server;

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
