//! Text data: `key=value` pairs separated by NUL (RFC 7143 §6.1), the
//! reassembly of text split over PDUs with the C bit (§6.3, §11.10.2), and
//! the encodings of numbers and binary values (§6.1: `0x` hex, `0b`
//! base64).
//!
//! ```
//! use netboot_iscsi::text::{encode_text, parse_text};
//! let data = encode_text([("HeaderDigest", "CRC32C,None"), ("X-acme.foo", "1")]);
//! assert_eq!(&data[..], b"HeaderDigest=CRC32C,None\0X-acme.foo=1\0");
//! let pairs = parse_text(&data).unwrap();
//! assert_eq!(pairs[0], ("HeaderDigest".to_string(), "CRC32C,None".to_string()));
//! ```

use crate::ParseError;
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};

/// Longest key name (RFC 7143 §6.1).
pub const MAX_KEY_LEN: usize = 63;

/// Longest encoded value accepted by [`parse_text`]. Ordinary values are
/// limited to 255 bytes by the negotiation; binary values (CHAP challenges
/// and responses) may be longer.
pub const MAX_VALUE_LEN: usize = 8192;

/// Default bound on reassembled text: the largest text a login or text
/// exchange of this crate accepts.
pub const DEFAULT_MAX_TEXT_LEN: usize = 64 * 1024;

/// A list of `key=value` pairs, in wire order.
pub type Pairs = Vec<(String, String)>;

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= MAX_KEY_LEN
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-+@_".contains(&c))
}

/// Parses text data. Every pair must end in a NUL; empty entries (runs of
/// NULs, as some initiators pad) are skipped.
pub fn parse_text(data: &[u8]) -> Result<Pairs, ParseError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(end) = rest.iter().position(|&b| b == 0) else {
            return Err(ParseError::InvalidText {
                reason: "last key=value pair not NUL-terminated",
            });
        };
        let (entry, tail) = rest.split_at(end);
        rest = tail.get(1..).unwrap_or_default();
        if entry.is_empty() {
            continue;
        }
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            return Err(ParseError::InvalidText {
                reason: "pair without `=`",
            });
        };
        let (k, v) = entry.split_at(eq);
        let v = v.get(1..).unwrap_or_default();
        let k = std::str::from_utf8(k).map_err(|_| ParseError::InvalidText {
            reason: "key is not UTF-8",
        })?;
        if !valid_key(k) {
            return Err(ParseError::InvalidText {
                reason: "key has a forbidden character or is too long",
            });
        }
        if v.len() > MAX_VALUE_LEN {
            return Err(ParseError::InvalidText {
                reason: "value too long",
            });
        }
        let v = std::str::from_utf8(v).map_err(|_| ParseError::InvalidText {
            reason: "value is not UTF-8",
        })?;
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Appends `key=value\0` for each pair.
pub fn encode_text_into<K: AsRef<str>, V: AsRef<str>>(
    pairs: impl IntoIterator<Item = (K, V)>,
    buf: &mut BytesMut,
) {
    for (k, v) in pairs {
        buf.put_slice(k.as_ref().as_bytes());
        buf.put_u8(b'=');
        buf.put_slice(v.as_ref().as_bytes());
        buf.put_u8(0);
    }
}

/// Encodes pairs as text data.
pub fn encode_text<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Bytes {
    let mut buf = BytesMut::new();
    encode_text_into(pairs, &mut buf);
    buf.freeze()
}

/// Cuts outgoing text into data segments of at most `max` bytes (the
/// peer's MaxRecvDataSegmentLength). All but the last go out with the C bit
/// set. A pair may be split across segments (RFC 7143 §6.1).
pub fn split_text(data: &Bytes, max: usize) -> Vec<Bytes> {
    let max = max.max(1);
    if data.is_empty() {
        return vec![Bytes::new()];
    }
    let mut out = Vec::new();
    let mut rest = data.clone();
    while !rest.is_empty() {
        let n = rest.len().min(max);
        out.push(rest.split_to(n));
    }
    out
}

/// Joins text that arrives over several PDUs with the C bit, up to a
/// bound on the total size.
#[derive(Debug, Clone)]
pub struct TextReassembler {
    buf: BytesMut,
    max: usize,
}

impl Default for TextReassembler {
    fn default() -> Self {
        TextReassembler::new(DEFAULT_MAX_TEXT_LEN)
    }
}

impl TextReassembler {
    /// A reassembler that refuses more than `max` bytes in total.
    pub fn new(max: usize) -> Self {
        TextReassembler {
            buf: BytesMut::new(),
            max,
        }
    }

    /// Adds the data segment of one PDU. Returns the whole text when the C
    /// bit is clear, `None` while more is to come.
    pub fn push(&mut self, data: &[u8], continue_: bool) -> Result<Option<Bytes>, ParseError> {
        let len = self.buf.len().saturating_add(data.len());
        if len > self.max {
            self.buf.clear();
            return Err(ParseError::TextTooLong { len, max: self.max });
        }
        self.buf.extend_from_slice(data);
        if continue_ {
            Ok(None)
        } else {
            Ok(Some(self.buf.split().freeze()))
        }
    }

    /// Whether part of a text is buffered.
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Drops buffered text.
    pub fn reset(&mut self) {
        self.buf.clear();
    }
}

/// Parses a numerical value: decimal, or hex with `0x`/`0X` (RFC 7143
/// §6.1, decimal-constant and hex-constant).
pub fn parse_number(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || h.len() > 16 {
            return None;
        }
        u64::from_str_radix(h, 16).ok()
    } else {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
}

/// Encodes binary as a hex constant, `0x` followed by lowercase digits.
pub fn encode_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for byte in b {
        s.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    s
}

/// Encodes binary as a base64 constant, `0b` followed by base64.
pub fn encode_base64(b: &[u8]) -> String {
    format!("0b{}", base64::engine::general_purpose::STANDARD.encode(b))
}

/// Decodes a binary value in hex (`0x`, an odd digit count implies a
/// leading zero) or base64 (`0b`) (RFC 7143 §6.1).
pub fn decode_binary(s: &str) -> Option<Vec<u8>> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() {
            return None;
        }
        let digits: Vec<u8> = h
            .bytes()
            .map(|c| (c as char).to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()?;
        let mut out = Vec::with_capacity(digits.len().div_ceil(2));
        let mut it = digits.iter();
        if digits.len() % 2 == 1 {
            out.push(*it.next()?);
        }
        while let (Some(hi), Some(lo)) = (it.next(), it.next()) {
            out.push(hi << 4 | lo);
        }
        Some(out)
    } else if let Some(b) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        base64::engine::general_purpose::STANDARD.decode(b).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_parse_text() {
        let p =
            parse_text(b"InitiatorName=iqn.2020-01.org.example:a\0SessionType=Normal\0\0").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].0, "SessionType");
        assert_eq!(parse_text(b"").unwrap(), vec![]);
        assert_eq!(parse_text(b"SendTargets=\0").unwrap()[0].1, "");
    }

    #[test]
    fn test_parse_text_errors() {
        assert!(matches!(
            parse_text(b"a=b"),
            Err(ParseError::InvalidText { .. })
        ));
        assert!(matches!(
            parse_text(b"ab\0"),
            Err(ParseError::InvalidText { .. })
        ));
        assert!(matches!(
            parse_text(b"a b=c\0"),
            Err(ParseError::InvalidText { .. })
        ));
        assert!(matches!(
            parse_text(b"=c\0"),
            Err(ParseError::InvalidText { .. })
        ));
        assert!(matches!(
            parse_text(b"a=\xff\0"),
            Err(ParseError::InvalidText { .. })
        ));
        let long = format!("{}=1\0", "k".repeat(64));
        assert!(parse_text(long.as_bytes()).is_err());
    }

    #[test]
    fn test_binary_values() {
        assert_eq!(decode_binary("0x0a0B").unwrap(), vec![0x0a, 0x0b]);
        assert_eq!(decode_binary("0xabc").unwrap(), vec![0x0a, 0xbc]);
        assert_eq!(decode_binary("0bAQID").unwrap(), vec![1, 2, 3]);
        assert_eq!(decode_binary("0x"), None);
        assert_eq!(decode_binary("0xzz"), None);
        assert_eq!(decode_binary("12"), None);
        assert_eq!(decode_binary("0b!!"), None);
        assert_eq!(encode_hex(&[0, 0xff]), "0x00ff");
        assert_eq!(encode_base64(&[1, 2, 3]), "0bAQID");
    }

    #[test]
    fn test_parse_number() {
        assert_eq!(parse_number("8192"), Some(8192));
        assert_eq!(parse_number("0x2000"), Some(8192));
        assert_eq!(parse_number("-1"), None);
        assert_eq!(parse_number("99999999999999999999999"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn test_reassembler_bound() {
        let mut r = TextReassembler::new(10);
        assert_eq!(r.push(b"abcd", true).unwrap(), None);
        assert!(r.is_partial());
        assert_eq!(&r.push(b"ef", false).unwrap().unwrap()[..], b"abcdef");
        assert!(!r.is_partial());
        r.push(b"123456", true).unwrap();
        assert_eq!(
            r.push(b"789012", true),
            Err(ParseError::TextTooLong { len: 12, max: 10 })
        );
    }

    fn key() -> impl Strategy<Value = String> {
        "[A-Za-z0-9.+@_-]{1,63}"
    }

    proptest! {
        #[test]
        fn text_round_trip(pairs in prop::collection::vec((key(), "[^\0]{0,40}"), 0..8)) {
            let data = encode_text(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            prop_assert_eq!(parse_text(&data).unwrap(), pairs);
        }

        #[test]
        fn text_split_reassemble(pairs in prop::collection::vec((key(), "[a-z]{0,40}"), 0..8), max in 1usize..50) {
            let data = encode_text(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let parts = split_text(&data, max);
            let mut r = TextReassembler::default();
            let n = parts.len();
            let mut whole = None;
            for (i, p) in parts.iter().enumerate() {
                prop_assert!(p.len() <= max);
                whole = r.push(p, i + 1 < n).unwrap();
            }
            prop_assert_eq!(whole.unwrap(), data);
        }

        #[test]
        fn binary_round_trip(b in prop::collection::vec(any::<u8>(), 1..64)) {
            prop_assert_eq!(decode_binary(&encode_hex(&b)).unwrap(), b.clone());
            prop_assert_eq!(decode_binary(&encode_base64(&b)).unwrap(), b);
        }

        #[test]
        fn parse_text_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_text(&data);
        }

        #[test]
        fn decode_binary_never_panics(s in "\\PC{0,40}") {
            let _ = decode_binary(&s);
            let _ = parse_number(&s);
        }
    }
}
