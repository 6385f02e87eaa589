//! Parse any frame; whatever parses must emit into buffer_len() bytes, and
//! one emit/parse round later the bytes must be stable (the first emit may
//! add the zero padding of short frames).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_aoe::wire::Frame;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::parse(data) {
        let mut buf = vec![0u8; f.buffer_len()];
        let n = f.emit(&mut buf).expect("emit into buffer_len bytes");
        assert_eq!(n, buf.len());
        let g = Frame::parse(&buf).expect("emitted frame parses");
        assert_eq!(g.eth, f.eth);
        assert_eq!(g.aoe, f.aoe);
        let mut again = vec![0u8; g.buffer_len()];
        g.emit(&mut again).expect("emit again");
        assert_eq!(again, buf);
        // Too small a buffer is an error, never a panic.
        let mut small = vec![0u8; n - 1];
        assert!(f.emit(&mut small).is_err());
    }
});
