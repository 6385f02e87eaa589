//! `pxed` as a library: the proxyDHCP and PXE boot server of the netboot
//! project, for the `pxed` binary and for programs that run it beside other
//! servers (`netbootd`).
//!
//! [`serve`] binds the sockets on one interface and feeds datagrams into
//! the sans-IO [`netboot_dhcp::policy::ProxyServer`] (and, with a range,
//! the [`netboot_dhcp::authoritative::AuthoritativeServer`], whose leases
//! [`leases`] keeps on disk) until the
//! [`Shutdown`](netboot_daemon::Shutdown) it is given stops it. [`Config`]
//! is plain data; [`config::Cli`] is how the binary makes one.

pub mod config;
pub mod leases;
pub mod net;
mod server;

pub use config::Config;
pub use server::{serve, serve_observed, BootRequest, Error, Observer, Stats};
