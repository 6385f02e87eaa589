//! Text data: `parse_text` never panics, and what it accepts encodes and
//! parses back to the same pairs; `TextReassembler` never holds or returns
//! more than its bound; `split_text` pieces join back to the text; the
//! value decoders never panic and binary values round-trip.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use netboot_iscsi::text::{
    decode_binary, encode_base64, encode_hex, encode_text, parse_number, parse_text, split_text,
    TextReassembler,
};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    text: &'a [u8],
    /// Reassembler bound.
    max: u16,
    /// Pieces pushed into the reassembler: length and C bit.
    pieces: Vec<(u8, bool)>,
    /// Segment size for `split_text`.
    segment: u16,
}

fuzz_target!(|input: Input<'_>| {
    if let Ok(pairs) = parse_text(input.text) {
        let encoded = encode_text(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert!(encoded.len() <= input.text.len());
        assert_eq!(parse_text(&encoded).expect("re-parse"), pairs);
        for (_, v) in &pairs {
            let _ = parse_number(v);
            if let Some(b) = decode_binary(v) {
                if !b.is_empty() {
                    assert_eq!(decode_binary(&encode_hex(&b)).as_deref(), Some(&b[..]));
                    assert_eq!(decode_binary(&encode_base64(&b)).as_deref(), Some(&b[..]));
                }
            }
        }
    }

    // Reassembly: whatever comes out is exactly what went in since the
    // last completed (or refused) text, and never more than the bound.
    let max = usize::from(input.max);
    let mut r = TextReassembler::new(max);
    let mut rest = input.text;
    let mut pending: Vec<u8> = Vec::new();
    for (len, more) in input.pieces {
        let n = usize::from(len).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        match r.push(piece, more) {
            Ok(Some(text)) => {
                pending.extend_from_slice(piece);
                assert!(text.len() <= max);
                assert_eq!(&text[..], &pending[..]);
                pending.clear();
                assert!(!r.is_partial());
            }
            Ok(None) => {
                pending.extend_from_slice(piece);
                assert!(pending.len() <= max);
            }
            Err(_) => {
                assert!(pending.len() + piece.len() > max);
                pending.clear();
                assert!(!r.is_partial());
            }
        }
    }

    // Splitting for the peer's MaxRecvDataSegmentLength.
    let data = Bytes::copy_from_slice(input.text);
    let segment = usize::from(input.segment);
    let parts = split_text(&data, segment);
    assert!(!parts.is_empty());
    assert!(parts.iter().all(|p| p.len() <= segment.max(1)));
    assert_eq!(parts.concat(), input.text);
});
