//! TFTP options: RFC 2347 (extension), 2348 (`blksize`), 2349 (`timeout`,
//! `tsize`) and 7440 (`windowsize`).

use crate::ParseError;

/// Smallest block size a client may ask for (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;
/// Largest block size (RFC 2348): 65535 minus IP and UDP headers.
pub const MAX_BLKSIZE: u16 = 65464;
/// Block size without the option (RFC 1350).
pub const DEFAULT_BLKSIZE: u16 = 512;

/// The options TFTP knows. `None` means "not present".
///
/// In requests, values are read leniently as the RFCs ask of a server: an
/// out-of-range or malformed value makes the option count as absent (and so
/// not acknowledged), a block or window size above the protocol maximum is
/// clamped to it, and a non-numeric `tsize` (atftp sends `tsize=enable`)
/// counts as `tsize=0`. In an OACK every value must be valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Options {
    /// Block size in bytes, `8..=65464` (RFC 2348).
    pub blksize: Option<u16>,
    /// Retransmission time-out in seconds, `1..=255` (RFC 2349).
    pub timeout: Option<u8>,
    /// Transfer size in bytes (RFC 2349); `0` in a read request asks the server for it.
    pub tsize: Option<u64>,
    /// Blocks sent before waiting for an ACK, `1..=65535` (RFC 7440).
    pub windowsize: Option<u16>,
}

/// Which option a name refers to, compared case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Blksize,
    Timeout,
    Tsize,
    Windowsize,
}

fn known(name: &str) -> Option<Known> {
    if name.eq_ignore_ascii_case("blksize") {
        Some(Known::Blksize)
    } else if name.eq_ignore_ascii_case("timeout") {
        Some(Known::Timeout)
    } else if name.eq_ignore_ascii_case("tsize") {
        Some(Known::Tsize)
    } else if name.eq_ignore_ascii_case("windowsize") {
        Some(Known::Windowsize)
    } else {
        None
    }
}

/// Parses a decimal number of at most 20 digits without sign or spaces.
fn number(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

impl Options {
    /// True when no option is present.
    pub fn is_empty(&self) -> bool {
        *self == Options::default()
    }

    /// Applies one option from a request, leniently (see the type's docs).
    /// Unknown names and repeated options are ignored (first one wins).
    pub(crate) fn apply_request(&mut self, name: &str, value: &str) {
        let Some(k) = known(name) else { return };
        let n = number(value);
        match k {
            Known::Blksize if self.blksize.is_none() => {
                if let Some(n) = n.filter(|&n| n >= u64::from(MIN_BLKSIZE)) {
                    self.blksize = Some(n.min(u64::from(MAX_BLKSIZE)) as u16);
                }
            }
            Known::Timeout if self.timeout.is_none() => {
                if let Some(n) = n.filter(|n| (1..=255).contains(n)) {
                    self.timeout = Some(n as u8);
                }
            }
            Known::Tsize if self.tsize.is_none() => self.tsize = Some(n.unwrap_or(0)),
            Known::Windowsize if self.windowsize.is_none() => {
                if let Some(n) = n.filter(|&n| n >= 1) {
                    self.windowsize = Some(n.min(65535) as u16);
                }
            }
            _ => {}
        }
    }

    /// Applies one option from an OACK, strictly: a value out of range is an
    /// error, unknown options are ignored.
    pub(crate) fn apply_oack(&mut self, name: &str, value: &str) -> Result<(), ParseError> {
        let Some(k) = known(name) else {
            return Ok(());
        };
        let bad = || ParseError::InvalidOption {
            name: name.to_owned(),
            value: value.to_owned(),
        };
        let n = number(value).ok_or_else(bad)?;
        match k {
            Known::Blksize => {
                if !(u64::from(MIN_BLKSIZE)..=u64::from(MAX_BLKSIZE)).contains(&n) {
                    return Err(bad());
                }
                self.blksize = Some(n as u16);
            }
            Known::Timeout => {
                if !(1..=255).contains(&n) {
                    return Err(bad());
                }
                self.timeout = Some(n as u8);
            }
            Known::Tsize => self.tsize = Some(n),
            Known::Windowsize => {
                if !(1..=65535).contains(&n) {
                    return Err(bad());
                }
                self.windowsize = Some(n as u16);
            }
        }
        Ok(())
    }

    /// Bytes the options take on the wire.
    pub fn buffer_len(&self) -> usize {
        let mut len = 0;
        self.for_each(|name, value| len += name.len() + 1 + digits(value) + 1);
        len
    }

    /// Writes the options as `name\0value\0` pairs; `buf` must hold
    /// [`Options::buffer_len`] bytes.
    pub(crate) fn emit(&self, buf: &mut [u8]) -> usize {
        let mut pos = 0;
        self.for_each(|name, value| {
            buf[pos..pos + name.len()].copy_from_slice(name.as_bytes());
            pos += name.len();
            buf[pos] = 0;
            pos += 1;
            pos += write_decimal(value, &mut buf[pos..]);
            buf[pos] = 0;
            pos += 1;
        });
        pos
    }

    fn for_each(&self, mut f: impl FnMut(&'static str, u64)) {
        if let Some(v) = self.blksize {
            f("blksize", u64::from(v));
        }
        if let Some(v) = self.timeout {
            f("timeout", u64::from(v));
        }
        if let Some(v) = self.tsize {
            f("tsize", v);
        }
        if let Some(v) = self.windowsize {
            f("windowsize", u64::from(v));
        }
    }
}

fn digits(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

fn write_decimal(v: u64, buf: &mut [u8]) -> usize {
    let n = digits(v);
    let mut x = v;
    for i in (0..n).rev() {
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_options_are_lenient() {
        let mut o = Options::default();
        o.apply_request("BLKSIZE", "70000");
        o.apply_request("timeout", "0");
        o.apply_request("tsize", "enable");
        o.apply_request("WindowSize", "100000");
        o.apply_request("x-unknown", "1");
        assert_eq!(
            o,
            Options {
                blksize: Some(MAX_BLKSIZE),
                timeout: None,
                tsize: Some(0),
                windowsize: Some(65535)
            }
        );
        let mut o = Options::default();
        o.apply_request("blksize", "7");
        o.apply_request("blksize", "1024");
        assert_eq!(o.blksize, Some(1024), "the first valid occurrence wins");
        let mut o = Options::default();
        o.apply_request("blksize", "+512");
        o.apply_request("timeout", "256");
        o.apply_request("windowsize", "0");
        assert!(o.is_empty());
    }

    #[test]
    fn oack_options_are_strict() {
        let mut o = Options::default();
        assert!(o.apply_oack("blksize", "7").is_err());
        assert!(o.apply_oack("blksize", "65465").is_err());
        assert!(o.apply_oack("timeout", "0").is_err());
        assert!(o.apply_oack("windowsize", "0").is_err());
        assert!(o.apply_oack("tsize", "abc").is_err());
        assert_eq!(
            o.apply_oack("tsize", "abc").unwrap_err().to_string(),
            "option `tsize` has invalid value \"abc\""
        );
        o.apply_oack("Blksize", "1432").unwrap();
        o.apply_oack("tsize", "18446744073709551615").unwrap();
        assert_eq!(o.blksize, Some(1432));
        assert_eq!(o.tsize, Some(u64::MAX));
    }

    #[test]
    fn decimal() {
        let mut b = [0u8; 24];
        for v in [0u64, 9, 10, 65464, u64::MAX] {
            let n = write_decimal(v, &mut b);
            assert_eq!(std::str::from_utf8(&b[..n]).unwrap(), v.to_string());
            assert_eq!(n, digits(v));
        }
    }
}
