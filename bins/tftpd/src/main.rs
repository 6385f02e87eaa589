//! `tftpd`: a TFTP server for network boot, built on `netboot-tftp`.
//!
//! This binary only parses the configuration, installs the signal handlers
//! and runs [`netboot_tftpd::serve`].

use std::process::ExitCode;

use clap::Parser;
use netboot_tftpd::config;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("tftpd", &e),
    };
    netboot_daemon::init_logging("TFTPD_LOG", &cfg.log_level);
    netboot_daemon::run(netboot_daemon::Runtime::MultiThread("tftpd"), |shutdown| {
        netboot_tftpd::serve(cfg, shutdown)
    })
}
