//! iSCSI for network boot: wire format, text negotiation and sans-IO login
//! state machines (RFC 7143; CHAP per RFC 1994).
//!
//! Layers, bottom up:
//!
//! * [`wire`]: every PDU of RFC 7143 §11 in both directions, as owned
//!   `Copy` header structs with parse and emit, plus AHS, padding and
//!   CRC32C digests. No I/O, no state.
//! * [`codec`]: frames PDUs out of a byte stream with limits checked before
//!   anything is reserved; data segments are slices of the receive buffer.
//! * [`text`]: `key=value` text data, C-bit reassembly, number and binary
//!   encodings (§6.1).
//! * [`negotiate`]: the negotiation rules of §6.2 for every key of §13 and
//!   the resulting [`negotiate::SessionParams`].
//! * [`login`]: the target and initiator login state machines (§6.3),
//!   with `None` and CHAP (one-way and mutual) authentication.
//! * [`discovery`]: `SendTargets` answers and the target side of Text
//!   exchanges.
//!
//! Nothing here opens a socket, reads a clock or spawns a task: the daemon
//! (or a test) moves bytes, this crate decides what they mean. Peer input
//! never panics; failures name the field and the value, by layer: the wire
//! and text layers fail with [`ParseError`] (input that cannot be read) or
//! [`EmitError`] (output that cannot be written), and a login, negotiation,
//! discovery exchange or session with [`Error`], which carries both beside
//! the protocol's own failures and maps to a Login Response status.
//!
//! ```
//! use std::sync::Arc;
//! use bytes::BytesMut;
//! use netboot_iscsi::codec::PduDecoder;
//! use netboot_iscsi::login::{InitiatorConfig, InitiatorLogin, TargetConfig, TargetEntry, TargetLogin, LoginState};
//! use netboot_iscsi::wire::{Digests, Pdu};
//!
//! let config = Arc::new(TargetConfig {
//!     targets: vec![TargetEntry { name: "iqn.2024-01.org.example:disk0".into(), ..TargetEntry::default() }],
//!     ..TargetConfig::default()
//! });
//! let mut target = TargetLogin::new(config, 1);
//! let mut initiator = InitiatorLogin::new(InitiatorConfig::new(
//!     "iqn.2024-01.org.example:pc",
//!     Some("iqn.2024-01.org.example:disk0".into()),
//! ));
//!
//! // Carry PDUs through bytes, as over TCP.
//! let carry = |pdu: &Pdu| {
//!     let mut buf = BytesMut::new();
//!     pdu.emit(&mut buf, Digests::default()).unwrap();
//!     PduDecoder::default().decode(&mut buf).unwrap().unwrap()
//! };
//! let mut request = initiator.start();
//! while let Some(next) = initiator.handle(&carry(&target.handle(&carry(&request)))).unwrap() {
//!     request = next;
//! }
//! assert_eq!(target.state(), LoginState::FullFeature);
//! assert_eq!(initiator.result().unwrap().tsih, 1);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod discovery;
pub mod error;
pub mod login;
pub mod negotiate;
pub mod scsi;
pub mod session;
pub mod text;
pub mod wire;

pub use error::{EmitError, Error, ParseError};
