//! The crate's error type: failures to set up a logical unit.
//!
//! Errors of individual SCSI commands are not Rust errors: they are
//! [`Sense`](crate::Sense) data inside a [`Response`](crate::Response).

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong creating a [`LogicalUnit`](crate::LogicalUnit).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An [`Identity`](crate::Identity) field is too long or not printable ASCII.
    #[error("identity field `{field}` is invalid: {reason}")]
    InvalidIdentity {
        /// The field (`vendor`, `product`, `revision`, `serial`).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The block device has a block size other than 512 or 4096.
    #[error("unsupported block size {0}")]
    BlockSize(u32),
    /// Reading or writing the persistent-reservation state file failed.
    #[error("persistent reservation state {path}: {source}")]
    PrStateIo {
        /// The state file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The persistent-reservation state file cannot be parsed.
    #[error("persistent reservation state {path}, line {line}: {reason}")]
    PrStateCorrupt {
        /// The state file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
