//! Netascii translation (RFC 1350 mode `netascii`, RFC 764 NVT ASCII).
//!
//! On the wire a line ends in CR LF and a bare CR is sent as CR NUL. The
//! encoder turns local LF into CR LF and CR into CR NUL; the decoder undoes
//! it. Both are streaming: a CR that ends one block is resolved by the first
//! byte of the next.

use std::io::{self, Read};

use crate::transfer::{ReadSource, WriteSink};

/// Streaming local-to-netascii encoder.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    /// Second byte of a pair that did not fit the previous output.
    pending: Option<u8>,
}

impl Encoder {
    /// Encodes from `input` into `out`. Returns `(consumed, written)`; stops
    /// when either side is exhausted.
    pub fn encode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let (mut i, mut o) = (0, 0);
        if let Some(b) = self.pending {
            if out.is_empty() {
                return (0, 0);
            }
            out[0] = b;
            o = 1;
            self.pending = None;
        }
        while i < input.len() && o < out.len() {
            let b = input[i];
            i += 1;
            let (first, second) = match b {
                b'\n' => (b'\r', Some(b'\n')),
                b'\r' => (b'\r', Some(0)),
                b => (b, None),
            };
            out[o] = first;
            o += 1;
            if let Some(s) = second {
                if o < out.len() {
                    out[o] = s;
                    o += 1;
                } else {
                    self.pending = Some(s);
                }
            }
        }
        (i, o)
    }

    /// True when a byte is still owed to the output.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }
}

/// Streaming netascii-to-local decoder.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    cr: bool,
}

impl Decoder {
    /// Decodes `input`, appending to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.cr {
                self.cr = false;
                match b {
                    b'\n' => out.push(b'\n'),
                    0 => out.push(b'\r'),
                    b'\r' => {
                        // CR CR: the first stands alone (lenient), the
                        // second may start a pair.
                        out.push(b'\r');
                        self.cr = true;
                    }
                    b => {
                        // Bare CR followed by something else: keep both.
                        out.push(b'\r');
                        out.push(b);
                    }
                }
            } else if b == b'\r' {
                self.cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Flushes a trailing bare CR at end of transfer.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.cr) {
            out.push(b'\r');
        }
    }
}

/// A [`ReadSource`] that serves a local file as netascii.
///
/// The converted stream has no fixed relation to file offsets, so it is
/// produced sequentially and the bytes not yet acknowledged are kept for
/// retransmission; [`ReadSource::release`] drops what the peer has acked, so
/// memory stays bounded by the window (windowsize × blksize).
#[derive(Debug)]
pub struct NetasciiSource<R> {
    inner: R,
    encoder: Encoder,
    /// Converted bytes starting at stream offset `base`.
    buf: Vec<u8>,
    base: u64,
    raw: Box<[u8]>,
    raw_len: usize,
    raw_pos: usize,
    eof: bool,
}

impl<R: Read> NetasciiSource<R> {
    /// Wraps a reader of local text.
    pub fn new(inner: R) -> Self {
        NetasciiSource {
            inner,
            encoder: Encoder::default(),
            buf: Vec::new(),
            base: 0,
            raw: vec![0u8; 16 * 1024].into_boxed_slice(),
            raw_len: 0,
            raw_pos: 0,
            eof: false,
        }
    }

    /// Converts until `buf` reaches `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while self.buf.len() < want && (!self.eof || self.encoder.has_pending()) {
            if self.raw_pos == self.raw_len && !self.eof {
                self.raw_len = loop {
                    match self.inner.read(&mut self.raw) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r?,
                    }
                };
                self.raw_pos = 0;
                self.eof = self.raw_len == 0;
            }
            let start = self.buf.len();
            let room = (want - start).max(2);
            self.buf.resize(start + room, 0);
            let (used, wrote) = self.encoder.encode(
                &self.raw[self.raw_pos..self.raw_len],
                &mut self.buf[start..],
            );
            self.raw_pos += used;
            self.buf.truncate(start + wrote);
        }
        Ok(())
    }
}

impl<R: Read> ReadSource for NetasciiSource<R> {
    fn read_at(&mut self, offset: u64, out: &mut [u8]) -> io::Result<usize> {
        let rel = offset.checked_sub(self.base).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "netascii offset already released",
            )
        })?;
        let rel = usize::try_from(rel).map_err(|_| io::ErrorKind::InvalidInput)?;
        self.fill(rel.saturating_add(out.len()))?;
        let avail = self.buf.len().saturating_sub(rel).min(out.len());
        out[..avail].copy_from_slice(&self.buf[rel..rel + avail]);
        Ok(avail)
    }

    fn release(&mut self, upto: u64) {
        if upto > self.base {
            let n = usize::try_from(upto - self.base)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            self.buf.drain(..n);
            self.base += n as u64;
        }
    }
}

/// A [`WriteSink`] that decodes netascii before handing bytes to `inner`.
#[derive(Debug)]
pub struct NetasciiSink<W> {
    inner: W,
    decoder: Decoder,
    scratch: Vec<u8>,
    written: u64,
}

impl<W: WriteSink> NetasciiSink<W> {
    /// Wraps a sink of local bytes.
    pub fn new(inner: W) -> Self {
        NetasciiSink {
            inner,
            decoder: Decoder::default(),
            scratch: Vec::new(),
            written: 0,
        }
    }

    /// The wrapped sink.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: WriteSink> WriteSink for NetasciiSink<W> {
    fn write_at(&mut self, _offset: u64, data: &[u8]) -> io::Result<()> {
        self.scratch.clear();
        self.decoder.decode(data, &mut self.scratch);
        self.inner.write_at(self.written, &self.scratch)?;
        self.written += self.scratch.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.scratch.clear();
        self.decoder.finish(&mut self.scratch);
        self.inner.write_at(self.written, &self.scratch)?;
        self.written += self.scratch.len() as u64;
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_all(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut src = NetasciiSource::new(input);
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = src.read_at(out.len() as u64, &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
            src.release(out.len() as u64);
            if n < chunk {
                return out;
            }
        }
    }

    fn decode_all(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut sink = NetasciiSink::new(Vec::new());
        let mut off = 0;
        for c in input.chunks(chunk.max(1)) {
            sink.write_at(off, c).unwrap();
            off += c.len() as u64;
        }
        sink.finish().unwrap();
        sink.into_inner()
    }

    #[test]
    fn encodes_line_ends_and_bare_cr() {
        assert_eq!(encode_all(b"a\nb\rc\r\n", 512), b"a\r\nb\r\0c\r\0\r\n");
        // A pair split across blocks of one byte.
        assert_eq!(encode_all(b"\n\n", 1), b"\r\n\r\n");
        assert_eq!(encode_all(b"", 8), b"");
    }

    #[test]
    fn decodes_line_ends_and_bare_cr() {
        assert_eq!(decode_all(b"a\r\nb\r\0c", 512), b"a\nb\rc");
        assert_eq!(decode_all(b"a\r\nb\r\0c", 1), b"a\nb\rc");
        assert_eq!(decode_all(b"x\r", 1), b"x\r");
        assert_eq!(decode_all(b"x\ry", 2), b"x\ry");
    }

    #[test]
    fn rereads_unreleased_window() {
        let mut src = NetasciiSource::new(&b"l1\nl2\nl3\n"[..]);
        let mut a = [0u8; 4];
        let mut b = [0u8; 4];
        assert_eq!(src.read_at(0, &mut a).unwrap(), 4);
        assert_eq!(src.read_at(4, &mut b).unwrap(), 4);
        // Retransmission of the first block before any release.
        let mut again = [0u8; 4];
        assert_eq!(src.read_at(0, &mut again).unwrap(), 4);
        assert_eq!(a, again);
        src.release(4);
        assert!(src.read_at(0, &mut again).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()], 0..2000), chunk in 1usize..600) {
            let enc = encode_all(&data, chunk);
            prop_assert_eq!(decode_all(&enc, chunk), data);
        }
    }
}
