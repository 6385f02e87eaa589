//! Option negotiation (RFC 2347, 2348, 2349, 7440): what a server grants,
//! what a client accepts, and the block numbering that follows from it.

use std::time::Duration;

use crate::wire::{Mode, Options, Packet, Request, DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE};
use crate::ParseError;

use super::timer::Timing;

/// What block number follows 65535 (RFC 1350 leaves it open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rollover {
    /// 65535 is followed by 0 (most clients and servers, curl, iPXE).
    #[default]
    Zero,
    /// 65535 is followed by 1 (some old clients).
    One,
}

impl Rollover {
    /// The wire block number of block `index` (block 1 is the first DATA).
    pub fn wire(self, index: u64) -> u16 {
        match self {
            Rollover::Zero => index as u16,
            Rollover::One if index == 0 => 0,
            Rollover::One => ((index - 1) % 65535 + 1) as u16,
        }
    }

    /// The index in `lo..=hi` whose wire number is `wire`, if any.
    /// `hi - lo` must be below 65535.
    pub(super) fn index_in(self, wire: u16, lo: u64, hi: u64) -> Option<u64> {
        let j = match self {
            Rollover::Zero => lo + u64::from(wire.wrapping_sub(self.wire(lo))),
            Rollover::One if lo == 0 => u64::from(wire),
            Rollover::One => {
                if wire == 0 {
                    return None;
                }
                let d = (i64::from(wire) - i64::from(self.wire(lo))).rem_euclid(65535);
                lo + d as u64
            }
        };
        (j <= hi).then_some(j)
    }
}

/// Server-side limits and policy for option negotiation.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest block size granted.
    pub blksize_max: u16,
    /// Largest window granted.
    pub windowsize_max: u16,
    /// Retransmission timing.
    pub timing: Timing,
    /// Block number after 65535.
    pub rollover: Rollover,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            blksize_max: MAX_BLKSIZE,
            windowsize_max: 64,
            timing: Timing::default(),
            rollover: Rollover::Zero,
        }
    }
}

/// Transfer parameters after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Block size in bytes.
    pub blksize: u16,
    /// Blocks per window.
    pub windowsize: u16,
    /// Negotiated `timeout`, if any.
    pub timeout: Option<Duration>,
    /// Block number after 65535.
    pub rollover: Rollover,
}

impl Params {
    pub(super) fn default_with(rollover: Rollover) -> Self {
        Params {
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            timeout: None,
            rollover,
        }
    }
}

/// Decides what a server grants: returns the OACK options (empty when the
/// client asked for nothing the server knows, in which case no OACK is sent)
/// and the transfer parameters.
///
/// `tsize` is the file size for a read request in octet mode (`None` when not
/// known, e.g. netascii, so the option is left out of the OACK; also left out
/// for an empty file, which curl would refuse); for a write request the
/// client's value is echoed as RFC 2349 says.
pub fn negotiate(
    req: &Request<'_>,
    cfg: &ServerConfig,
    is_read: bool,
    tsize: Option<u64>,
) -> (Options, Params) {
    let o = &req.options;
    let mut oack = Options::default();
    let mut p = Params::default_with(cfg.rollover);
    if let Some(b) = o.blksize {
        let b = b.min(cfg.blksize_max.max(MIN_BLKSIZE));
        oack.blksize = Some(b);
        p.blksize = b;
    }
    if let Some(w) = o.windowsize {
        let w = w.min(cfg.windowsize_max.max(1));
        oack.windowsize = Some(w);
        p.windowsize = w;
    }
    if let Some(t) = o.timeout {
        oack.timeout = Some(t);
        p.timeout = Some(Duration::from_secs(u64::from(t)));
    }
    if o.tsize.is_some() {
        // An empty file's tsize is left out: curl refuses `tsize=0` in an
        // OACK, and RFC 2349 lets a server decline the option.
        oack.tsize = if is_read {
            tsize.filter(|&t| t > 0)
        } else {
            o.tsize
        };
    }
    (oack, p)
}

pub(super) fn encode_request(write: bool, filename: &str, mode: Mode, options: Options) -> Vec<u8> {
    let r = Request {
        filename,
        mode,
        options,
    };
    let p = if write {
        Packet::Wrq(r)
    } else {
        Packet::Rrq(r)
    };
    let mut v = vec![0u8; p.buffer_len()];
    let n = p.emit(&mut v).unwrap_or(0);
    v.truncate(n);
    v
}

/// Checks a server's OACK against what the client asked for (RFC 2347: a
/// server may only lower what was asked, and only answer what was asked).
pub(super) fn check_oack(asked: &Options, got: &Options) -> Result<(), ParseError> {
    let bad = |name: &str, v: u64| ParseError::InvalidOption {
        name: name.into(),
        value: v.to_string(),
    };
    if let Some(b) = got.blksize {
        if asked.blksize.is_none_or(|a| b > a) {
            return Err(bad("blksize", b.into()));
        }
    }
    if let Some(w) = got.windowsize {
        if asked.windowsize.is_none_or(|a| w > a) {
            return Err(bad("windowsize", w.into()));
        }
    }
    if let Some(t) = got.timeout {
        if asked.timeout != Some(t) {
            return Err(bad("timeout", t.into()));
        }
    }
    if let (Some(t), None) = (got.tsize, asked.tsize) {
        return Err(bad("tsize", t));
    }
    Ok(())
}

pub(super) fn params_from_oack(o: &Options, rollover: Rollover) -> Params {
    Params {
        blksize: o.blksize.unwrap_or(DEFAULT_BLKSIZE),
        windowsize: o.windowsize.unwrap_or(1),
        timeout: o.timeout.map(|t| Duration::from_secs(u64::from(t))),
        rollover,
    }
}
