//! `pxed`: a proxyDHCP and PXE boot server, built on `netboot-dhcp`.
//!
//! This binary only parses the configuration, installs the signal handlers
//! and runs [`netboot_pxed::serve`]; it stops on SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use netboot_pxed::config;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("pxed", &e),
    };
    netboot_daemon::init_logging("PXED_LOG", &cfg.log_level);
    netboot_daemon::run(netboot_daemon::Runtime::CurrentThread, |shutdown| {
        netboot_pxed::serve(cfg, shutdown)
    })
}
