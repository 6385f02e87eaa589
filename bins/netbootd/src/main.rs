//! `netbootd`: the whole boot server in one process (see the library).
//!
//! This binary only parses the configuration (a mistake: one line naming
//! the file, line and key, exit status 2), installs the signal handlers and
//! runs [`netboot_netbootd::serve`]; it stops on SIGINT/SIGTERM and reloads
//! its client table on SIGHUP.

use std::process::ExitCode;

use clap::Parser;
use netboot_netbootd::config;

fn main() -> ExitCode {
    let cfg = match config::Config::load(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => return netboot_daemon::config_error("netbootd", &e),
    };
    netboot_daemon::init_logging("NETBOOTD_LOG", &cfg.log_level);
    netboot_daemon::run(
        netboot_daemon::Runtime::MultiThread("netbootd"),
        |shutdown| netboot_netbootd::serve(cfg, shutdown),
    )
}
