//! DHCPv4 for network boot: the wire format with the PXE and iPXE options,
//! a sans-IO proxyDHCP / PXE boot-server policy, and a sans-IO
//! authoritative DHCP server with an address pool.
//!
//! Layers, bottom up:
//!
//! * [`wire`]: parse a DHCP message as a checked zero-copy [`wire::Message`]
//!   (no allocation; RFC 3396 long options and option 52 overload handled),
//!   read typed options, and build and emit an owned [`wire::Repr`] into a
//!   caller's buffer. [`wire::encap`] handles the PXE (43) and iPXE (175)
//!   sub-options.
//! * [`policy`]: classify a client (firmware architecture, iPXE or not,
//!   which protocols its iPXE supports) and answer it from a table of
//!   rules: the proxyDHCP OFFER to a DISCOVER on port 67 and the boot-server
//!   ACK to a REQUEST on port 4011, and nothing at all to non-PXE clients.
//!   No sockets, no clock: the `pxed` daemon feeds it datagrams.
//! * [`lease`]: the address pool of an authoritative server (offers,
//!   bound leases, declined addresses) over a clock passed in as unix
//!   seconds; with the `serde` feature its leases serialize, so a daemon
//!   can keep them across restarts.
//! * [`authoritative`]: for networks where we are the only DHCP server,
//!   answers DISCOVER, REQUEST, INFORM, RELEASE and DECLINE from a
//!   [`lease::Pool`], with the [`policy`]'s PXE next stage in the same
//!   OFFER or ACK; it says what to send, where, and when the pool must be
//!   saved first. No sockets, no files, no clock.
//!
//! ```
//! use netboot_dhcp::policy::{Outcome, Policy, Port, ProxyServer, Rule, ServerIdentity};
//! use netboot_dhcp::wire::{code, Message, MessageType, Op, RawOption, Repr};
//! use std::net::Ipv4Addr;
//!
//! // A legacy BIOS PXE ROM's DISCOVER.
//! let mut req = Repr::new(Op::Request);
//! req.header.xid = 42;
//! req.options.push(RawOption::message_type(MessageType::Discover));
//! req.options.push(RawOption::u16(code::CLIENT_ARCH, 0));
//! req.options.push(RawOption::new(code::VENDOR_CLASS_ID,
//!     &b"PXEClient:Arch:00000:UNDI:002001"[..]));
//! let mut buf = [0u8; 576];
//! let n = req.emit(&mut buf).unwrap();
//!
//! let server = ProxyServer::new(
//!     Policy::new(vec![Rule::for_arch("bios", "undionly.kpxe").unwrap()]),
//!     ServerIdentity::new(Ipv4Addr::new(10, 77, 0, 1)),
//! );
//! let msg = Message::parse(&buf[..n]).unwrap();
//! let Outcome::Reply(reply) = server.handle(Port::Dhcp, &msg).unwrap() else { panic!() };
//! let mut out = [0u8; 576];
//! let n = reply.repr.emit(&mut out).unwrap();
//! let offer = Message::parse(&out[..n]).unwrap();
//! assert_eq!(offer.message_type().unwrap(), Some(MessageType::Offer));
//! assert_eq!(offer.file(), Some(&b"undionly.kpxe"[..]));
//! assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authoritative;
pub mod error;
pub mod lease;
pub mod policy;
pub mod wire;

pub use error::{EmitError, Error, ParseError, PolicyError};
