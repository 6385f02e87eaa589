//! `iscsid`: an iSCSI target for network boot.
//!
//! The protocol lives in `netboot-iscsi` (PDUs, login, the full feature
//! phase as a sans-IO session) and the SCSI emulation in `netboot-scsi`;
//! this binary parses the configuration, opens the disks, accepts
//! connections and moves PDUs, commands and completions between them.

mod admission;
mod config;
mod luns;
mod server;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("iscsid", &e),
    };
    netboot_daemon::init_logging("ISCSID_LOG", &cfg.log_level);
    netboot_daemon::block_on(
        netboot_daemon::Runtime::MultiThread("iscsid"),
        server::run(cfg),
    )
}
