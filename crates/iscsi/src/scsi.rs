//! The SCSI commands of a target session executed by `netboot_scsi`: what
//! iSCSI adds between the session ([`Event::Execute`](crate::session::Event))
//! and a SCSI [`Target`], for any server that runs both (`iscsid`).
//!
//! * The LUN field of the PDU is decoded as SAM's addressing (an encoding
//!   no unit has goes to a LUN no unit has: LOGICAL UNIT NOT SUPPORTED).
//! * The whole answer is asked for; the session reports what exceeds the
//!   initiator's Expected Data Transfer Length as overflow residual (RFC
//!   7143 §11.4.5.2).
//! * A write whose Expected Data Transfer Length is shorter than its SCSI
//!   transfer length writes only the whole blocks that were sent (its CDB
//!   is rewritten to that length) and reports the rest as underflow, as
//!   libiscsi's residual tests and tgt expect.
//!
//! This is an executor: [`execute`] does the disk I/O of the command on
//! the calling thread (a server calls it from a blocking pool).

use bytes::Bytes;
use netboot_scsi::{decode_lun, with_transfer_length, DataDirection, Nexus, Sense, Status, Target};

use crate::session::Completion;

/// Executes `cdb` for the PDU's LUN field `lun` with the Data-Out `data_out`
/// on `target`, as the I_T nexus `nexus`.
pub fn execute(
    target: &Target,
    nexus: &Nexus,
    lun: u64,
    cdb: &[u8],
    data_out: &[u8],
) -> Completion {
    let lun = decode_lun(lun.to_be_bytes()).unwrap_or(u64::MAX);
    let info = target.cdb_info(lun, cdb).ok();
    let write_len = info
        .filter(|i| i.direction == DataDirection::Out)
        .map(|i| i.transfer_len);
    let block_size = target.lun(lun).map(|u| u.block_size());
    let short_write = match (write_len, block_size) {
        (Some(need), Some(bs)) if (data_out.len() as u64) < need => {
            with_transfer_length(cdb, data_out.len() as u64 / u64::from(bs))
        }
        _ => None,
    };
    let cdb = short_write.as_deref().unwrap_or(cdb);
    let r = target.execute(nexus, lun, cdb, data_out, u32::MAX);
    Completion {
        status: r.status,
        sense: r.sense.map(Bytes::from),
        data_in: Bytes::from(r.data_in),
        write_len,
    }
}

/// LOGICAL UNIT RESET of the PDU's LUN field `lun` (a task management
/// request).
pub fn lun_reset(target: &Target, lun: u64) {
    if let Some(l) = decode_lun(lun.to_be_bytes()) {
        target.lun_reset(l);
    }
}

/// The answer to a SCSI command in a discovery session, which has no
/// logical units: CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND
/// OPERATION CODE.
pub fn not_in_discovery() -> Completion {
    Completion {
        status: Status::CheckCondition,
        sense: Some(Bytes::from(Sense::invalid_opcode().to_bytes(false))),
        data_in: Bytes::new(),
        write_len: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netboot_blockdev::{BlockDevice, MemDisk};
    use netboot_scsi::{Identity, LogicalUnit, LuOptions};
    use std::sync::Arc;

    fn target() -> (Target, Arc<MemDisk>) {
        let disk = Arc::new(MemDisk::new(1 << 20, 512));
        let unit = LogicalUnit::new(
            disk.clone(),
            Identity::for_name("t/0"),
            LuOptions::default(),
        )
        .unwrap();
        let t = Target::new();
        t.add_lun(0, Arc::new(unit)).unwrap();
        (t, disk)
    }

    fn nexus() -> Nexus {
        Nexus::new(1, "iqn.x:i,i,0x400000000001", "iqn.x:t,t,0x0001")
    }

    /// WRITE(10) of 4 blocks with only 1,100 bytes of Data-Out: the two
    /// whole blocks sent are written, the third (partial) and fourth are
    /// not; the command's transfer length is reported for the residual.
    #[test]
    fn a_short_write_writes_the_whole_blocks_sent() {
        let (t, disk) = target();
        let n = nexus();
        // The unit attention of power-on first.
        let tur = [0u8; 6];
        while execute(&t, &n, 0, &tur, &[]).status != Status::Good {}
        let mut cdb = [0u8; 10];
        cdb[0] = 0x2a;
        cdb[8] = 4;
        let c = execute(&t, &n, 0, &cdb, &[0x77; 1100]);
        assert_eq!(c.status, Status::Good);
        assert_eq!(c.write_len, Some(2048));
        let mut b = vec![0u8; 2048];
        disk.read_at(&mut b, 0).unwrap();
        assert!(b[..1024].iter().all(|&x| x == 0x77));
        assert!(b[1024..].iter().all(|&x| x == 0));
    }

    /// A LUN no unit has, a bad LUN encoding, and a discovery session's
    /// command: CHECK CONDITION with sense.
    #[test]
    fn commands_without_a_unit_are_refused_with_sense() {
        let (t, _) = target();
        let n = nexus();
        let inq = [0x12, 0, 0, 0, 36, 0];
        let other = 5u64 << 48;
        let c = execute(&t, &n, other, &[0u8; 6], &[]);
        assert_eq!(c.status, Status::CheckCondition);
        assert!(execute(&t, &n, 0, &inq, &[]).data_in.len() >= 36);
        let c = execute(&t, &n, u64::MAX, &[0u8; 6], &[]);
        assert_eq!(c.status, Status::CheckCondition);
        let d = not_in_discovery();
        assert_eq!(d.status, Status::CheckCondition);
        assert_eq!(d.sense.unwrap()[12], 0x20, "INVALID COMMAND OPERATION CODE");
    }
}
