//! Parse any datagram and read every typed option; whatever parses must
//! emit and parse back to the same owned form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_dhcp::wire::{Message, Repr};
use netboot_dhcp::EmitError;

fn touch(m: &Message<'_>) {
    let _ = m.message_type();
    let _ = m.subnet_mask();
    let _ = m.routers().map(|r| r.map(Iterator::count));
    let _ = m.dns_servers().map(|r| r.map(Iterator::count));
    let _ = m.broadcast_address();
    let _ = m.requested_ip();
    let _ = m.lease_time();
    let _ = m.server_id();
    let _ = m.max_message_size();
    let _ = m.pxe_vendor_class();
    let _ = m.boot_file();
    let _ = m.user_classes().map(|u| u.iter().count());
    let _ = m.client_archs().map(|a| a.map(Iterator::count));
    let _ = m.client_ndi();
    let _ = m.client_uuid();
    let _ = m.pxe_boot_item();
    if let Some(v) = m.vendor_specific() {
        let _ = netboot_dhcp::wire::encap::PxeVendor::parse(&v.to_cow());
    }
    if let Ok(Some(o)) = m.ipxe_options() {
        let _ = (o.features(), o.version(), o.bus_id(), o.no_pxedhcp());
    }
    for o in m.raw_options() {
        let v = m.option(o.code).expect("a yielded code has a value");
        let mut buf = vec![0u8; v.len()];
        assert_eq!(v.copy_to(&mut buf).unwrap().len(), v.len());
        assert_eq!(v.bytes().count(), v.len());
    }
}

fn emit(r: &Repr) -> Result<Vec<u8>, EmitError> {
    let mut buf = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut buf)?;
    assert_eq!(n, buf.len());
    assert!(r.emit(&mut buf[..n - 1]).is_err());
    Ok(buf)
}

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else { return };
    touch(&m);
    let repr = m.to_repr();
    match emit(&repr) {
        Ok(buf) => {
            let again = Message::parse(&buf).expect("emitted message parses");
            touch(&again);
            assert_eq!(again.to_repr(), repr);
        }
        // Joining the instances of an option spread over `file` and
        // `sname` can make it too long for its field; nothing else fails.
        Err(EmitError::TooLong { .. }) => {}
        Err(e) => panic!("emit failed: {e}"),
    }
});
