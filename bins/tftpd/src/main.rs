//! `tftpd`: a TFTP server for network boot, built on `netboot-tftp`.
//!
//! This binary only parses the configuration, binds sockets and feeds
//! datagrams and time into the sans-IO transfers of `netboot_tftp`.

mod config;
mod files;
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
            eprintln!("tftpd: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg.log_level);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tftpd")
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("TFTPD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
