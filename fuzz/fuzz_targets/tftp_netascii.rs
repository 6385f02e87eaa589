//! Netascii encoding then decoding gives back the input, for any block size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_tftp::netascii::{NetasciiSink, NetasciiSource};
use netboot_tftp::transfer::{ReadSource, WriteSink};

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (chunk, data) = input;
    let chunk = usize::from(chunk).max(1);
    let mut src = NetasciiSource::new(&data[..]);
    let mut sink = NetasciiSink::new(Vec::new());
    let mut off = 0u64;
    let mut buf = vec![0u8; chunk];
    loop {
        let n = src.read_at(off, &mut buf).unwrap();
        sink.write_at(off, &buf[..n]).unwrap();
        off += n as u64;
        src.release(off);
        if n < chunk {
            break;
        }
    }
    sink.finish().unwrap();
    assert_eq!(sink.into_inner(), data);
    // Arbitrary bytes decode without panicking.
    let mut s = NetasciiSink::new(Vec::new());
    s.write_at(0, &data).unwrap();
    s.finish().unwrap();
});
