//! The SCSI target without any transport: a logical unit on a disk in
//! memory, driven with raw CDBs, as a USB mass-storage gadget, a vhost-scsi
//! backend or a test would drive it.
//!
//! `cargo run -p netboot-examples --example scsi_memdisk`

use std::sync::Arc;

use netboot_blockdev::{BlockDevice, MemDisk};
use netboot_scsi::{Identity, LogicalUnit, LuOptions, Nexus, Status, Target};

fn main() {
    let disk: Arc<dyn BlockDevice> = Arc::new(MemDisk::new(16 << 20, 512));
    let lu = LogicalUnit::new(disk, Identity::new("EXAMPLE0001"), LuOptions::default())
        .expect("valid identity");
    let target = Target::new();
    target.add_lun(0, Arc::new(lu)).expect("LUN 0");
    let nexus = Nexus::new(
        1,
        "iqn.2026-11.org.example:host,i,0x000000000001",
        "example,t,0x0001",
    );

    // The first command after power-on reports the unit attention.
    let r = target.execute(&nexus, 0, &[0x00, 0, 0, 0, 0, 0], &[], 0);
    println!("TEST UNIT READY: {:?} {:?}", r.status, r.sense_key_asc());

    // INQUIRY: vendor and product.
    let r = target.execute(&nexus, 0, &[0x12, 0, 0, 0, 96, 0], &[], 96);
    assert_eq!(r.status, Status::Good);
    println!(
        "INQUIRY: {} {}",
        String::from_utf8_lossy(&r.data_in[8..16]).trim(),
        String::from_utf8_lossy(&r.data_in[16..32]).trim()
    );

    // WRITE(10) one block at LBA 7, then READ(10) it back.
    let block = vec![0x5a; 512];
    let write10 = [0x2a, 0, 0, 0, 0, 7, 0, 0, 1, 0];
    assert_eq!(
        target.execute(&nexus, 0, &write10, &block, 0).status,
        Status::Good
    );
    let read10 = [0x28, 0, 0, 0, 0, 7, 0, 0, 1, 0];
    let r = target.execute(&nexus, 0, &read10, &[], 512);
    assert_eq!(r.data_in, block);

    // Past the end: CHECK CONDITION, LOGICAL BLOCK ADDRESS OUT OF RANGE.
    let beyond = [0x28, 0, 0, 0x01, 0, 0, 0, 0, 1, 0];
    let r = target.execute(&nexus, 0, &beyond, &[], 512);
    println!("READ past the end: {:?} {:?}", r.status, r.sense_key_asc());
}
