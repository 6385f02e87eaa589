//! Parse any bytes as an iBFT, strictly and leniently. What the strict
//! parser accepts must build again (in both layouts) into a table that
//! parses to the same model; the lenient parser must accept everything the
//! strict one does, with no problems listed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_ibft::{parse, parse_lenient, Layout};

fuzz_target!(|data: &[u8]| {
    let lenient = parse_lenient(data);
    if let Ok(t) = parse(data) {
        let l = lenient.expect("lenient accepts what strict accepts");
        assert!(l.problems.is_empty());
        assert_eq!(l.table, t);
        for layout in [Layout::SPEC, Layout::IPXE] {
            // Strings with a NUL inside were rejected by the strict parse,
            // so building can only fail on size.
            match t.build_with(layout) {
                Ok(bytes) => assert_eq!(parse(&bytes).expect("built table parses"), t),
                Err(e) => assert!(matches!(e, netboot_ibft::EmitError::TooLarge { .. }), "{e}"),
            }
        }
    }
});
