//! `iscsid`: an iSCSI target for network boot.
//!
//! The protocol lives in `netboot-iscsi` (PDUs, login, the full feature
//! phase as a sans-IO session) and the SCSI emulation in `netboot-scsi`;
//! this binary parses the configuration, opens the disks, accepts
//! connections and moves PDUs, commands and completions between them.

mod config;
mod luns;
mod server;

use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info};

fn main() -> ExitCode {
    let cli = config::Cli::parse();
    let cfg = match config::Config::load(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("iscsid: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ISCSID_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("iscsid")
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
