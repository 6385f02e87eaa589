//! `tftpd`: a TFTP server for network boot, built on `netboot-tftp`.
//!
//! This binary only parses the configuration, binds sockets and feeds
//! datagrams and time into the sans-IO transfers of `netboot_tftp`.

mod config;
mod files;
mod first_answer;
mod net;
mod server;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("tftpd", &e),
    };
    netboot_daemon::init_logging("TFTPD_LOG", &cfg.log_level);
    netboot_daemon::block_on(
        netboot_daemon::Runtime::MultiThread("tftpd"),
        server::run(cfg),
    )
}
