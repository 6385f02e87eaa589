//! Raw Ethernet for ATA over Ethernet, shared by the `aoed` target and the
//! `aoectl` client: a [`PacketSocket`] bound to one interface and the AoE
//! ethertype (0x88A2), with batched receive and send, and the facts of an
//! interface ([`Iface`]: index, MAC, MTU).
//!
//! Two backends with one interface: our own `AF_PACKET` code on Linux (the
//! default; `recvmmsg`/`sendmmsg`, `PACKET_FANOUT`, `PACKET_QDISC_BYPASS`,
//! socket buffer sizes), or `pnet_datalink` with the `pnet` feature (BPF on
//! the BSDs and macOS; fewer knobs, one frame per call, see its module).
//! The protocol itself is `netboot-aoe`'s; this crate only moves frames.
//!
//! The `libc` calls that have no safe wrapper for packet sockets are in
//! `packet.rs`, the crate's only `unsafe` code, each block with its
//! `SAFETY:` comment.

#![warn(missing_docs)]

mod iface;
#[cfg(target_os = "linux")]
mod packet;
#[cfg(feature = "pnet")]
mod packet_pnet;

#[cfg(not(any(target_os = "linux", feature = "pnet")))]
compile_error!("netboot-aoe-net needs Linux (AF_PACKET) or the `pnet` feature");

pub use iface::Iface;
#[cfg(not(feature = "pnet"))]
pub use packet::PacketSocket;
#[cfg(feature = "pnet")]
pub use packet_pnet::PacketSocket;
