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
use tracing::{error, info};

fn main() -> ExitCode {
    let cli = config::Cli::parse();
    let cfg = match config::Config::load(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pxed: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg.log_level);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(server::run(cfg)) {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PXED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
