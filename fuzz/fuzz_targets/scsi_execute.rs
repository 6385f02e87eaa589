//! Drives `netboot_scsi::Target::execute` with arbitrary CDBs and Data-Out
//! on a small in-memory disk: nothing may panic, and Data-In never exceeds
//! the allocation length.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::{arbitrary, fuzz_target};
use netboot_blockdev::MemDisk;
use netboot_scsi::{cdb_info, Identity, LogicalUnit, LuOptions, Nexus, Status, Target};

#[derive(Debug, arbitrary::Arbitrary)]
struct Cmd {
    nexus: u8,
    lun: u8,
    cdb: Vec<u8>,
    data_out: Vec<u8>,
    alloc_len: u16,
}

fuzz_target!(|cmds: Vec<Cmd>| {
    let disk = Arc::new(MemDisk::new(64 * 512, 512));
    let lu = LogicalUnit::new(disk, Identity::new("fuzz"), LuOptions::default()).expect("lu");
    let target = Target::new();
    let _ = target.add_lun(0, Arc::new(lu));
    for cmd in cmds.iter().take(64) {
        let id = u64::from(cmd.nexus % 3);
        let nexus = Nexus::new(
            id,
            format!("iqn.fuzz:{id},i,0x{id:012x}"),
            "iqn.fuzz:t,t,0x1",
        );
        let lun = u64::from(cmd.lun % 2);
        let _ = cdb_info(&cmd.cdb, 512);
        let r = target.execute(
            &nexus,
            lun,
            &cmd.cdb,
            &cmd.data_out,
            u32::from(cmd.alloc_len),
        );
        assert!(r.data_in.len() <= usize::from(cmd.alloc_len));
        assert_eq!(r.sense.is_some(), r.status == Status::CheckCondition);
        if cmd.nexus == 255 {
            target.reset();
        }
    }
});
