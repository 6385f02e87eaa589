//! Frames an arbitrary byte stream with `PduDecoder`, whole and in
//! arbitrary pieces, without and with digests. Both ways must agree, and
//! every decoded PDU must emit and decode back to itself.
//!
//! Input: one control byte (bits 0-1: header and data digests, bits 2-7:
//! piece size, 0 for the whole stream), then the stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use netboot_iscsi::codec::PduDecoder;
use netboot_iscsi::wire::{Digests, Pdu};

/// Small enough that a garbage length field cannot make the decoder
/// reserve much, large enough for any PDU the fuzzer builds.
const MAX_SEGMENT: usize = 1 << 16;

/// Decodes `stream` fed in pieces of `piece` bytes (all at once if 0):
/// the PDUs, and whether framing stopped on an error.
fn frame(stream: &[u8], piece: usize, digests: Digests) -> (Vec<Pdu>, bool) {
    let mut dec = PduDecoder::new(MAX_SEGMENT);
    dec.set_digests(digests);
    let mut buf = BytesMut::new();
    let mut pdus = Vec::new();
    let piece = if piece == 0 {
        stream.len().max(1)
    } else {
        piece
    };
    for chunk in stream.chunks(piece) {
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(pdu)) => pdus.push(pdu),
                Ok(None) => break,
                // The stream is out of sync after an error.
                Err(_) => return (pdus, true),
            }
        }
    }
    (pdus, false)
}

fn round_trip(pdu: &Pdu, digests: Digests) {
    let mut out = BytesMut::new();
    pdu.emit(&mut out, digests).expect("a decoded PDU emits");
    assert_eq!(out.len(), pdu.buffer_len(digests));
    let wire = out.clone().freeze();
    let mut dec = PduDecoder::new(MAX_SEGMENT);
    dec.set_digests(digests);
    let again = dec
        .decode(&mut out)
        .expect("an emitted PDU decodes")
        .expect("an emitted PDU is whole");
    assert!(out.is_empty(), "emit wrote more than one PDU");
    assert_eq!(&again, pdu);
    assert_eq!(&Pdu::parse(wire, digests).expect("parse"), pdu);
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let chosen = Digests {
        header: control & 1 != 0,
        data: control & 2 != 0,
    };
    let piece = usize::from(control >> 2);
    for digests in [Digests::default(), chosen] {
        let (whole, whole_err) = frame(stream, 0, digests);
        let (pieces, pieces_err) = frame(stream, piece, digests);
        // Framing does not depend on how the bytes arrive.
        assert_eq!(whole, pieces);
        assert_eq!(whole_err, pieces_err);
        for pdu in &whole {
            round_trip(pdu, digests);
        }
    }
});
