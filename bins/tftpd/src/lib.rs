//! `tftpd` as a library: the TFTP server of the netboot project, for the
//! `tftpd` binary and for programs that run it beside other servers
//! (`netbootd`).
//!
//! [`Config`] is plain data ([`config::Cli`] is how the binary makes one
//! from flags and a TOML file); [`serve`] runs the server on the caller's
//! tokio runtime until the [`Shutdown`](netboot_daemon::Shutdown) it is
//! given stops it, and says with a typed [`Error`] why it could not start.
//! It feeds datagrams and time into the sans-IO transfers of
//! `netboot_tftp`.

pub mod config;
mod files;
mod first_answer;
mod net;
mod server;

pub use config::Config;
pub use files::Refusal;
pub use server::{serve, serve_with, Error, Hooks, Outcome, Report};
