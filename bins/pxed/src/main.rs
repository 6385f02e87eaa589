//! `pxed`: a proxyDHCP and PXE boot server, built on `netboot-dhcp`.
//!
//! This binary only parses the configuration, installs the signal handlers
//! and runs [`netboot_pxed::serve`]; it stops on SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use netboot_pxed::{config, Error};

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("pxed", &e),
    };
    netboot_daemon::init_logging("PXED_LOG", &cfg.log_level);
    netboot_daemon::block_on(netboot_daemon::Runtime::CurrentThread, async {
        let shutdown = netboot_daemon::Shutdown::on_signals().map_err(Error::Signals)?;
        netboot_pxed::serve(cfg, shutdown).await
    })
}
