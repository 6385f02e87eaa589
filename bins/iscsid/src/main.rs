//! `iscsid`: an iSCSI target for network boot.
//!
//! This binary only parses the configuration, installs the signal handlers
//! and runs [`netboot_iscsid::serve`].

use std::process::ExitCode;

use clap::Parser;
use netboot_iscsid::config;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("iscsid", &e),
    };
    netboot_daemon::init_logging("ISCSID_LOG", &cfg.log_level);
    netboot_daemon::run(netboot_daemon::Runtime::MultiThread("iscsid"), |shutdown| {
        netboot_iscsid::serve(cfg, shutdown)
    })
}
