//! The iSCSI Boot Firmware Table (iBFT): a typed model, a builder, and a
//! strict and a lenient parser.
//!
//! After firmware (such as iPXE's `sanboot`) has booted from an iSCSI disk,
//! it leaves an ACPI table with the signature `iBFT` in memory so that the
//! operating system can find its initiator name, NIC settings and target
//! again and take the disk over. Linux shows it as
//! `/sys/firmware/acpi/tables/iBFT` (when it is in the ACPI tables) and in
//! `/sys/firmware/ibft/`.
//!
//! * [`Table`] and the structures in [`model`]: what the table says.
//! * [`Table::build`] / [`Table::build_with`]: bytes from the model, with
//!   the checksum set so that the whole table sums to zero; [`Layout`]
//!   chooses the spec's compact 8-byte alignment or iPXE's layout.
//! * [`parse`]: strict, every error names the structure or field and the
//!   offending value; [`parse_lenient`]: reads tables from firmware that
//!   gets details wrong and lists what it tolerated.
//! * [`wire`]: offsets and sizes of every field.
//!
//! The crate is `no_std` (it needs `alloc`) when its default `std` feature
//! is off, so firmware and boot loaders can use it.
//!
//! ```
//! use netboot_ibft::{parse, Table, Initiator, Nic, Target, Origin, flags};
//! use std::net::{IpAddr, Ipv4Addr};
//!
//! let valid = flags::BLOCK_VALID | flags::FIRMWARE_BOOT_SELECTED;
//! let table = Table {
//!     initiator: Some(Initiator {
//!         flags: valid,
//!         name: "iqn.2026-11.org.example:pc1".into(),
//!         ..Default::default()
//!     }),
//!     nics: [Some(Nic {
//!         flags: valid,
//!         ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15))),
//!         prefix_len: 24,
//!         origin: Origin::DHCP,
//!         mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
//!         ..Default::default()
//!     }), None],
//!     targets: [Some(Target {
//!         flags: valid,
//!         ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2))),
//!         port: 3260,
//!         name: "iqn.2026-11.org.example:disk".into(),
//!         ..Default::default()
//!     }), None],
//!     ..Default::default()
//! };
//! let bytes = table.build().unwrap();
//! assert_eq!(&bytes[..4], b"iBFT");
//! assert_eq!(bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);
//! assert_eq!(parse(&bytes).unwrap(), table);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod error;
pub mod model;
pub mod wire;

pub use error::{EmitError, Error, ParseError, StringField, Structure};
pub use model::{
    flags, lun_from_number, AcpiHeader, ChapType, Control, Initiator, Nic, Origin, Table, Target,
};
pub use wire::{find_in_memory, parse, parse_lenient, Layout, Lenient};
