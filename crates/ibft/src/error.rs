//! The crate's errors: [`ParseError`] for a table that cannot be read,
//! [`EmitError`] for a model that cannot be built into one, and [`Error`],
//! either of them.

use core::fmt;

/// A structure of the table, as named in errors: `control`, `initiator`,
/// `nic0`, `nic1`, `target0`, `target1`, or the fixed `header` (the ACPI
/// header, the reserved bytes and the control structure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Structure {
    /// The ACPI header and the 12 reserved bytes after it.
    Header,
    /// The control structure.
    Control,
    /// The initiator structure.
    Initiator,
    /// NIC structure 0 or 1.
    Nic(u8),
    /// Target structure 0 or 1.
    Target(u8),
}

impl fmt::Display for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Structure::Header => f.write_str("header"),
            Structure::Control => f.write_str("control"),
            Structure::Initiator => f.write_str("initiator"),
            Structure::Nic(i) => write!(f, "nic{i}"),
            Structure::Target(i) => write!(f, "target{i}"),
        }
    }
}

/// A string field of a structure, such as `target0.chap_secret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StringField {
    /// The structure the field belongs to.
    pub structure: Structure,
    /// The field's name.
    pub name: &'static str,
}

impl fmt::Display for StringField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.structure, self.name)
    }
}

/// What is wrong with a table. Each variant names the structure or field
/// and the offending value. The lenient parser ([`crate::parse_lenient`])
/// reports the problems it tolerated with the same variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes end before `what` is complete.
    #[error("table is {len} bytes, too short for the {what} ({needed} bytes needed)")]
    Truncated {
        /// What could not be read.
        what: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The ACPI signature is not `iBFT`.
    #[error("signature is {found:02x?}, expected \"iBFT\"")]
    Signature {
        /// The four signature bytes found.
        found: [u8; 4],
    },
    /// The ACPI header's length is shorter than the fixed part or longer
    /// than the bytes given.
    #[error("ACPI header length {declared} does not fit: {available} bytes given, {min} at least")]
    Length {
        /// Length in the header.
        declared: u32,
        /// Bytes given to the parser.
        available: usize,
        /// Smallest possible table.
        min: usize,
    },
    /// The ACPI header's revision is not 1.
    #[error("ACPI revision is {found}, expected 1")]
    Revision {
        /// Revision found.
        found: u8,
    },
    /// The bytes of the table do not sum to zero.
    #[error("checksum byte {stored:#04x} leaves the table summing to {sum:#04x}, not 0")]
    Checksum {
        /// Checksum byte stored in the header.
        stored: u8,
        /// Sum of all bytes of the table, modulo 256.
        sum: u8,
    },
    /// A structure header carries the wrong structure id.
    #[error("{structure} at offset {offset:#x} has structure id {found}, expected {expected}")]
    StructureId {
        /// Which structure.
        structure: Structure,
        /// Its offset in the table.
        offset: usize,
        /// Id found.
        found: u8,
        /// Id expected.
        expected: u8,
    },
    /// A structure header's length is not the structure's size.
    #[error("{structure} at offset {offset:#x} has length {found}, expected {expected}")]
    StructureLength {
        /// Which structure.
        structure: Structure,
        /// Its offset in the table.
        offset: usize,
        /// Length found.
        found: u16,
        /// Length expected.
        expected: u16,
    },
    /// A structure header's version is not 1.
    #[error("{structure} has version {found}, expected 1")]
    StructureVersion {
        /// Which structure.
        structure: Structure,
        /// Version found.
        found: u8,
    },
    /// A structure header's index does not match the slot it is in.
    #[error("{structure} has index {found}, expected {expected}")]
    StructureIndex {
        /// Which structure.
        structure: Structure,
        /// Index found.
        found: u8,
        /// Index expected.
        expected: u8,
    },
    /// A structure's offset places it (partly) past the end of the table.
    #[error(
        "{structure} at offset {offset:#x} ends at {end:#x}, past the table's end {table_len:#x}"
    )]
    OffsetPastEnd {
        /// Which structure.
        structure: Structure,
        /// Its offset.
        offset: usize,
        /// Where it would end.
        end: usize,
        /// Table length.
        table_len: usize,
    },
    /// Two structures share bytes.
    #[error(
        "{first} ({first_start:#x}..{first_end:#x}) overlaps {second} (from {second_start:#x})"
    )]
    Overlap {
        /// The structure that starts first.
        first: Structure,
        /// Its start.
        first_start: usize,
        /// Its end (exclusive).
        first_end: usize,
        /// The structure that starts inside the first.
        second: Structure,
        /// Its start.
        second_start: usize,
    },
    /// A string's bytes (or its terminating NUL) lie past the table's end.
    #[error(
        "{field} at offset {offset:#x} with length {len} runs past the table's end {table_len:#x}"
    )]
    StringPastEnd {
        /// Which string.
        field: StringField,
        /// Its offset.
        offset: usize,
        /// Its length.
        len: usize,
        /// Table length.
        table_len: usize,
    },
    /// A string has a length but offset 0.
    #[error("{field} has length {len} but offset 0")]
    StringOffsetZero {
        /// Which string.
        field: StringField,
        /// Its length.
        len: usize,
    },
    /// The byte after a string is not NUL.
    #[error("{field} at offset {offset:#x} with length {len} is not NUL-terminated (found {found:#04x})")]
    StringUnterminated {
        /// Which string.
        field: StringField,
        /// Its offset.
        offset: usize,
        /// Its length.
        len: usize,
        /// The byte found where the NUL should be.
        found: u8,
    },
    /// A string is not valid UTF-8 (iBFT strings are ASCII).
    #[error("{field} at offset {offset:#x} is not valid UTF-8")]
    StringNotUtf8 {
        /// Which string.
        field: StringField,
        /// Its offset.
        offset: usize,
    },
    /// A string's bytes lie inside a structure.
    #[error("{field} at offset {offset:#x} overlaps {structure}")]
    StringOverlaps {
        /// Which string.
        field: StringField,
        /// Its offset.
        offset: usize,
        /// The structure it overlaps.
        structure: Structure,
    },
    /// A string of the model cannot be stored (it contains a NUL byte).
    #[error("{field} contains a NUL byte at position {position}")]
    StringHasNul {
        /// Which string.
        field: StringField,
        /// Index of the NUL byte.
        position: usize,
    },
}

/// Why a model cannot be built into a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// A string of the model cannot be stored (it contains a NUL byte).
    #[error("{field} contains a NUL byte at position {position}")]
    StringHasNul {
        /// Which string.
        field: StringField,
        /// Index of the NUL byte.
        position: usize,
    },
    /// The built table would not fit 16-bit offsets.
    #[error("the table would be {len} bytes; iBFT offsets are 16-bit (at most 65535)")]
    TooLarge {
        /// Length the table would have.
        len: usize,
    },
    /// The layout's alignment is not a power of two between 1 and 4096.
    #[error("alignment {0} is not a power of two between 1 and 4096")]
    Alignment(usize),
}

/// Either of the crate's errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A table could not be read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A model could not be built.
    #[error(transparent)]
    Emit(#[from] EmitError),
}
