//! `pxed`: a proxyDHCP and PXE boot server, built on `netboot-dhcp`.
//!
//! This binary only parses the configuration, binds the sockets on one
//! interface, and feeds datagrams into the sans-IO
//! [`netboot_dhcp::policy::ProxyServer`] (and, with `--range`, the lease
//! pool of [`leases`]); it stops on SIGINT/SIGTERM.

mod config;
mod leases;
mod net;
mod server;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("pxed", &e),
    };
    netboot_daemon::init_logging("PXED_LOG", &cfg.log_level);
    netboot_daemon::block_on(netboot_daemon::Runtime::CurrentThread, server::run(cfg))
}
