//! Parsing a captured DISCOVER and reading the options the policy needs
//! allocates nothing (a counting global allocator checks it).

// A global allocator is `unsafe` by definition; this test binary only
// forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use netboot_dhcp::policy::classify;
use netboot_dhcp::wire::{code, Message};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::SeqCst) {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const FIXTURES: &[&[u8]] = &[
    include_bytes!("data/ipxe_discover.bin"),
    include_bytes!("data/ipxe_request.bin"),
    include_bytes!("data/legacy_discover.bin"),
    include_bytes!("data/legacy_request_4011.bin"),
    include_bytes!("data/dnsmasq_offer_bios.bin"),
];

#[test]
fn parse_and_common_accessors_do_not_allocate() {
    let mut sink = 0usize;
    COUNTING.store(true, Ordering::SeqCst);
    for bytes in FIXTURES {
        let m = Message::parse(bytes).unwrap();
        sink += usize::from(m.message_type().unwrap().map(u8::from).unwrap_or(0));
        sink += m
            .pxe_vendor_class()
            .map_or(0, |v| usize::from(v.arch.map_or(0, |a| a.0)));
        sink += m.client_arch().unwrap().map_or(0, |a| usize::from(a.0));
        sink += usize::from(m.is_ipxe_user_class());
        sink += m.client_uuid().unwrap().map_or(0, |u| usize::from(u.0[0]));
        sink += m.client_ndi().unwrap().map_or(0, |n| usize::from(n.major));
        sink += m.max_message_size().unwrap().map_or(0, usize::from);
        sink += m.parameter_request_list().map_or(0, |v| v.len());
        sink += m.client_id().map_or(0, |v| v.len());
        sink += m
            .server_id()
            .unwrap()
            .map_or(0, |a| usize::from(a.octets()[0]));
        sink += m
            .pxe_boot_item()
            .unwrap()
            .map_or(0, |b| usize::from(b.kind));
        sink += m.option(code::VENDOR_SPECIFIC).map_or(0, |v| v.len());
        if let Some(o) = m.ipxe_options().unwrap() {
            sink += o.features().iter().count();
            sink += usize::from(o.version().map_or(0, |v| v.0));
        }
        sink += m.raw_options().count();
        let class = classify(&m).unwrap();
        sink += class.map_or(0, |c| usize::from(c.ipxe));
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert!(sink > 0);
    assert_eq!(ALLOCS.load(Ordering::SeqCst), 0);
}
