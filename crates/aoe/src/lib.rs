//! ATA over Ethernet (AoE, protocol definition revision 11): wire format, a
//! target that executes frames against a block device, and a sans-IO
//! client.
//!
//! Layers, bottom up:
//!
//! * [`wire`]: parse and emit Ethernet + AoE frames (ATA, query config, MAC
//!   mask list, reserve/release). Zero-copy parsing from `&[u8]`, emission
//!   into a caller's buffer sized by `buffer_len()`. No I/O.
//! * [`ata`]: the ATA command subset and IDENTIFY DEVICE data.
//! * [`target`]: one exported [`BlockDevice`](netboot_blockdev::BlockDevice)
//!   at a shelf.slot address, driven by received frames, the interface MAC
//!   and the time that the caller passes in. No sockets, no clock, but an
//!   executor: `prepare` decides without I/O, `execute` does the (blocking)
//!   disk I/O, `process` is both.
//! * [`client`]: discovery, reads, writes and flushes with tags,
//!   retransmission with adaptive time-outs and a window of outstanding
//!   frames, driven the same way (`handle`, `poll_transmit`,
//!   `poll_timeout`, `handle_timeout`, `poll_event`).
//!
//! The `aoed` daemon and the `aoectl` tool of the netboot project move
//! frames between these and an `AF_PACKET` socket.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use netboot_aoe::client::{Client, ClientConfig, Completion, Event};
//! use netboot_aoe::target::{Target, TargetConfig};
//! use netboot_aoe::wire::MacAddr;
//! use netboot_blockdev::{BlockDevice, MemDisk};
//!
//! let disk = Arc::new(MemDisk::new(1 << 20, 512));
//! disk.write_at(b"hello, AoE", 4096).unwrap();
//! let target = Target::new(disk, TargetConfig::new(1, 2)).unwrap();
//! let target_mac = MacAddr([2, 0, 0, 0, 0, 1]);
//! let mut client = Client::new(MacAddr([2, 0, 0, 0, 0, 2]), ClientConfig::default());
//!
//! // Carry frames between the two by hand until the client has an answer.
//! let now = Instant::now();
//! let (mut buf, mut reply) = (vec![0u8; 9000], vec![0u8; target.tx_buffer_len()]);
//! let mut pump = |client: &mut Client| {
//!     while let Some(n) = client.poll_transmit(now, &mut buf) {
//!         if let Some(m) = target.process(now, target_mac, &buf[..n], &mut reply) {
//!             client.handle(now, &reply[..m]);
//!         }
//!     }
//! };
//! client.discover(now, 0xffff, 0xff);
//! pump(&mut client);
//! let Some(Event::Discovered(info)) = client.poll_event() else { panic!() };
//! assert_eq!((info.shelf, info.slot), (1, 2));
//! client.attach(info);
//! let id = client.read(8, 1).unwrap();
//! pump(&mut client);
//! let Some(Event::Done { id: done, result: Ok(Completion::Read(data)) }) = client.poll_event() else { panic!() };
//! assert_eq!(done, id);
//! assert_eq!(&data[..10], b"hello, AoE");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ata;
pub mod client;
pub mod error;
pub mod target;
pub mod wire;

pub use error::{EmitError, Error, ParseError};
