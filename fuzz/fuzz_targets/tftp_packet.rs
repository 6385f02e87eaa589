//! Parse any datagram; whatever parses must emit and parse back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_tftp::wire::Packet;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::parse(data) {
        let mut buf = vec![0u8; p.buffer_len()];
        let n = p.emit(&mut buf).expect("emit into buffer_len bytes");
        assert_eq!(n, buf.len());
        let again = Packet::parse(&buf).expect("emitted packet parses");
        assert_eq!(again, p);
        // Too small a buffer is an error, never a panic.
        if n > 0 {
            assert!(p.emit(&mut buf[..n - 1]).is_err());
        }
    }
});
