//! Accepted names never contain a component that could leave the root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_tftp::path::components;

fuzz_target!(|name: &str| {
    if let Ok(parts) = components(name) {
        assert!(!parts.is_empty());
        for p in parts {
            assert!(!p.is_empty() && p != "." && p != "..");
            assert!(!p.contains('/') && !p.contains('\\'));
            assert!(!p.chars().any(char::is_control));
        }
    }
});
