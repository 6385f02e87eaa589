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
use tracing::{error, info};

fn main() -> ExitCode {
    let cli = config::Cli::parse();
    let cfg = match config::Config::load(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aoed: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg.log_level);
    match server::run(cfg) {
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("AOED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
