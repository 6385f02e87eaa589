//! TFTP for network boot: wire format, sans-IO transfer state machines, and
//! an async client.
//!
//! Layers, bottom up:
//!
//! * [`wire`]: parse and emit packets (RRQ, WRQ, DATA, ACK, ERROR, OACK) and
//!   options (RFC 1350, 2347, 2348, 2349, 7440). Zero-copy, no I/O.
//! * [`transfer`]: the transfer state machines for both roles, driven by
//!   datagrams and time that the caller passes in (no sockets, no clock, no
//!   runtime), so firmware, tests and fuzzers can run them anywhere.
//! * [`netascii`]: the `netascii` mode's line-end translation.
//! * [`path`]: safe resolution of requested names below a server root.
//! * `client` (feature `tokio`): fetch or send a file in one call.
//!
//! The `tftpd` daemon of the netboot project is a thin tokio loop around
//! [`transfer`].
//!
//! ```
//! use netboot_tftp::transfer::{ReceiveTransfer, SendTransfer, ServerConfig, Timing, Transfer, Rollover};
//! use netboot_tftp::wire::{Mode, Options, Packet};
//! use std::time::Instant;
//!
//! // A client asks for a file; a server answers from memory. We carry the
//! // datagrams between them by hand.
//! let server_addr = "127.0.0.1:69".parse().unwrap();
//! let client_addr = "127.0.0.1:40000".parse().unwrap();
//! let transfer_addr = "127.0.0.1:50000".parse().unwrap();
//! let mut client = ReceiveTransfer::client_get(server_addr, "hello.txt", Mode::Octet,
//!     Options::default(), Vec::new(), Timing::default(), Rollover::Zero);
//! let now = Instant::now();
//! let mut buf = vec![0u8; 1024];
//! let t = client.poll_transmit(now, &mut buf).unwrap();
//! let Packet::Rrq(req) = Packet::parse(&buf[..t.len]).unwrap() else { unreachable!() };
//! let mut server = SendTransfer::server(client_addr, &req, b"hi!".to_vec(), Some(3), &ServerConfig::default());
//! let mut sbuf = vec![0u8; 1024];
//! while !client.is_done() || !server.is_done() {
//!     if let Some(t) = server.poll_transmit(now, &mut sbuf) {
//!         client.handle(now, transfer_addr, &sbuf[..t.len]);
//!     } else if let Some(t) = client.poll_transmit(now, &mut buf) {
//!         server.handle(now, client_addr, &buf[..t.len]);
//!     } else {
//!         // Only the receiver's dally timer is left.
//!         client.handle_timeout(client.poll_timeout().unwrap());
//!     }
//! }
//! assert_eq!(client.into_sink(), b"hi!");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod netascii;
pub mod path;
pub mod transfer;
pub mod wire;

#[cfg(feature = "tokio")]
pub mod client;

pub use error::{EmitError, Error, ParseError};
