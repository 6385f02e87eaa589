//! `aoed`: an ATA over Ethernet target daemon, built on `netboot-aoe`.
//!
//! This binary only parses the configuration, installs the signal handlers
//! and runs [`netboot_aoed::serve`]; it stops on SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use netboot_aoed::config;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("aoed", &e),
    };
    netboot_daemon::init_logging("AOED_LOG", &cfg.log_level);
    netboot_daemon::run(netboot_daemon::Runtime::CurrentThread, |shutdown| {
        netboot_aoed::serve(cfg, shutdown)
    })
}
