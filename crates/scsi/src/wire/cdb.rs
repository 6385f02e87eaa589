//! Per-command facts a transport needs before execution: data direction
//! and expected transfer length ([`cdb_info`]), and the table of supported
//! commands with their CDB usage masks (REPORT SUPPORTED OPERATION CODES).

use super::{op, Cdb, Sense};

/// Direction of the data phase of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataDirection {
    /// No data transfer.
    None,
    /// Data-In: target to initiator (READ, INQUIRY, ...).
    In,
    /// Data-Out: initiator to target (WRITE, MODE SELECT, ...).
    Out,
}

/// What [`cdb_info`] says about a CDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CdbInfo {
    /// Data direction.
    pub direction: DataDirection,
    /// Bytes the CDB asks to transfer in that direction (the allocation
    /// length for Data-In commands, the block or parameter-list size for
    /// Data-Out). Zero for [`DataDirection::None`].
    pub transfer_len: u64,
    /// Length of the CDB for this operation code.
    pub cdb_len: usize,
}

/// One supported command (operation code and, for commands with service
/// actions, the service action).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CmdDesc {
    pub op: u8,
    pub sa: Option<u8>,
    /// CDB usage data: the bits the device server looks at. Its length is
    /// the CDB length.
    pub usage: &'static [u8],
}

const fn d(op: u8, sa: Option<u8>, usage: &'static [u8]) -> CmdDesc {
    CmdDesc { op, sa, usage }
}

const FF: u8 = 0xff;

/// Every command this crate implements, in opcode order.
pub(crate) static COMMANDS: &[CmdDesc] = &[
    d(op::TEST_UNIT_READY, None, &[0x00, 0, 0, 0, 0, 0]),
    d(op::REQUEST_SENSE, None, &[0x03, 0x01, 0, 0, FF, 0]),
    d(op::READ_6, None, &[0x08, 0x1f, FF, FF, FF, 0]),
    d(op::WRITE_6, None, &[0x0a, 0x1f, FF, FF, FF, 0]),
    d(op::INQUIRY, None, &[0x12, 0x01, FF, FF, FF, 0]),
    d(op::MODE_SELECT_6, None, &[0x15, 0x11, 0, 0, FF, 0]),
    d(op::RESERVE_6, None, &[0x16, 0, 0, 0, 0, 0]),
    d(op::RELEASE_6, None, &[0x17, 0, 0, 0, 0, 0]),
    d(op::MODE_SENSE_6, None, &[0x1a, 0x08, FF, FF, FF, 0]),
    d(op::START_STOP_UNIT, None, &[0x1b, 0x01, 0, 0x0f, 0xf7, 0]),
    d(op::PREVENT_ALLOW, None, &[0x1e, 0, 0, 0, 0x03, 0]),
    d(
        op::READ_CAPACITY_10,
        None,
        &[0x25, 0, FF, FF, FF, FF, 0, 0, 0x01, 0],
    ),
    d(
        op::READ_10,
        None,
        &[0x28, 0xf8, FF, FF, FF, FF, 0, FF, FF, 0],
    ),
    d(
        op::WRITE_10,
        None,
        &[0x2a, 0xf8, FF, FF, FF, FF, 0, FF, FF, 0],
    ),
    d(
        op::WRITE_VERIFY_10,
        None,
        &[0x2e, 0xf2, FF, FF, FF, FF, 0, FF, FF, 0],
    ),
    d(
        op::VERIFY_10,
        None,
        &[0x2f, 0xf6, FF, FF, FF, FF, 0, FF, FF, 0],
    ),
    d(
        op::PRE_FETCH_10,
        None,
        &[0x34, 0x02, FF, FF, FF, FF, 0, FF, FF, 0],
    ),
    d(
        op::SYNC_CACHE_10,
        None,
        &[0x35, 0x02, FF, FF, FF, FF, 0, FF, FF, 0],
    ),
    d(
        op::READ_DEFECT_DATA_10,
        None,
        &[0x37, 0, 0x1f, 0, 0, 0, 0, FF, FF, 0],
    ),
    d(
        op::WRITE_SAME_10,
        None,
        &[0x41, 0xf8, FF, FF, FF, FF, 0, FF, FF, 0],
    ),
    d(op::UNMAP, None, &[0x42, 0x01, 0, 0, 0, 0, 0, FF, FF, 0]),
    d(
        op::SANITIZE,
        Some(op::SA_SANITIZE_OVERWRITE),
        &[0x48, 0x81, 0, 0, 0, 0, 0, FF, FF, 0],
    ),
    d(
        op::SANITIZE,
        Some(op::SA_SANITIZE_BLOCK_ERASE),
        &[0x48, 0x82, 0, 0, 0, 0, 0, FF, FF, 0],
    ),
    d(
        op::SANITIZE,
        Some(op::SA_SANITIZE_CRYPTO_ERASE),
        &[0x48, 0x83, 0, 0, 0, 0, 0, FF, FF, 0],
    ),
    d(
        op::SANITIZE,
        Some(op::SA_SANITIZE_EXIT_FAILURE_MODE),
        &[0x48, 0x9f, 0, 0, 0, 0, 0, FF, FF, 0],
    ),
    d(
        op::MODE_SELECT_10,
        None,
        &[0x55, 0x11, 0, 0, 0, 0, 0, FF, FF, 0],
    ),
    d(
        op::MODE_SENSE_10,
        None,
        &[0x5a, 0x18, FF, FF, 0, 0, 0, FF, FF, 0],
    ),
    d(op::PR_IN, Some(0), &[0x5e, 0x1f, 0, 0, 0, 0, 0, FF, FF, 0]),
    d(op::PR_IN, Some(1), &[0x5e, 0x1f, 0, 0, 0, 0, 0, FF, FF, 0]),
    d(op::PR_IN, Some(2), &[0x5e, 0x1f, 0, 0, 0, 0, 0, FF, FF, 0]),
    d(op::PR_IN, Some(3), &[0x5e, 0x1f, 0, 0, 0, 0, 0, FF, FF, 0]),
    d(
        op::PR_OUT,
        Some(0),
        &[0x5f, 0x1f, FF, 0, 0, FF, FF, FF, FF, 0],
    ),
    d(
        op::PR_OUT,
        Some(1),
        &[0x5f, 0x1f, FF, 0, 0, FF, FF, FF, FF, 0],
    ),
    d(
        op::PR_OUT,
        Some(2),
        &[0x5f, 0x1f, FF, 0, 0, FF, FF, FF, FF, 0],
    ),
    d(
        op::PR_OUT,
        Some(3),
        &[0x5f, 0x1f, FF, 0, 0, FF, FF, FF, FF, 0],
    ),
    d(
        op::PR_OUT,
        Some(4),
        &[0x5f, 0x1f, FF, 0, 0, FF, FF, FF, FF, 0],
    ),
    d(
        op::PR_OUT,
        Some(5),
        &[0x5f, 0x1f, FF, 0, 0, FF, FF, FF, FF, 0],
    ),
    d(
        op::PR_OUT,
        Some(6),
        &[0x5f, 0x1f, FF, 0, 0, FF, FF, FF, FF, 0],
    ),
    d(
        op::READ_16,
        None,
        &[
            0x88, 0xf8, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::COMPARE_AND_WRITE,
        None,
        &[
            0x89, 0xf8, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0, 0, FF, 0, 0,
        ],
    ),
    d(
        op::WRITE_16,
        None,
        &[
            0x8a, 0xf8, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::ORWRITE_16,
        None,
        &[
            0x8b, 0xf8, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::WRITE_VERIFY_16,
        None,
        &[
            0x8e, 0xf2, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::VERIFY_16,
        None,
        &[
            0x8f, 0xf6, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::PRE_FETCH_16,
        None,
        &[
            0x90, 0x02, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::SYNC_CACHE_16,
        None,
        &[
            0x91, 0x02, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::WRITE_SAME_16,
        None,
        &[
            0x93, 0xf9, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::WRITE_ATOMIC_16,
        None,
        &[
            0x9c, 0xf8, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0, FF, FF, 0, 0,
        ],
    ),
    d(
        op::SERVICE_ACTION_IN_16,
        Some(op::SA_READ_CAPACITY_16),
        &[
            0x9e, 0x1f, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::SERVICE_ACTION_IN_16,
        Some(op::SA_GET_LBA_STATUS),
        &[
            0x9e, 0x1f, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0,
        ],
    ),
    d(
        op::REPORT_LUNS,
        None,
        &[0xa0, 0, FF, 0, 0, 0, FF, FF, FF, FF, 0, 0],
    ),
    d(
        op::MAINTENANCE_IN,
        Some(op::SA_REPORT_SUPPORTED_OPCODES),
        &[0xa3, 0x1f, 0x87, FF, FF, FF, FF, FF, FF, FF, 0, 0],
    ),
    d(
        op::READ_12,
        None,
        &[0xa8, 0xf8, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0],
    ),
    d(
        op::WRITE_12,
        None,
        &[0xaa, 0xf8, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0],
    ),
    d(
        op::WRITE_VERIFY_12,
        None,
        &[0xae, 0xf2, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0],
    ),
    d(
        op::VERIFY_12,
        None,
        &[0xaf, 0xf6, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0],
    ),
    d(
        op::READ_DEFECT_DATA_12,
        None,
        &[0xb7, 0x1f, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0],
    ),
];

/// The CDB length of an opcode from its group code (SPC-4 4.2.5.1), or
/// `None` for variable-length and vendor-specific groups.
pub(crate) fn cdb_len(opcode: u8) -> Option<usize> {
    match opcode >> 5 {
        0 => Some(6),
        1 | 2 => Some(10),
        4 => Some(16),
        5 => Some(12),
        _ => None,
    }
}

/// Looks up a supported command; `Err` is the sense to return for an
/// unsupported opcode or service action.
pub(crate) fn lookup(c: &Cdb) -> Result<&'static CmdDesc, Sense> {
    let mut any = false;
    for desc in COMMANDS.iter().filter(|d| d.op == c.op()) {
        any = true;
        match desc.sa {
            None => return Ok(desc),
            Some(sa) if sa == c.sa() => return Ok(desc),
            Some(_) => {}
        }
    }
    if any {
        Err(Sense::invalid_field_in_cdb(1, Some(4)))
    } else {
        Err(Sense::invalid_opcode())
    }
}

/// Returns the data direction and expected transfer length of `cdb`, so a
/// transport knows how much Data-Out to collect (R2T) before calling
/// `execute`, or how much Data-In to expect. `block_size` is the logical
/// block size of the addressed LU (512 or 4096).
///
/// `Err` carries the sense data to return without executing: INVALID
/// COMMAND OPERATION CODE for unsupported commands and INVALID FIELD IN
/// CDB for a CDB shorter than its opcode requires.
///
/// ```
/// use netboot_scsi::{cdb_info, DataDirection};
/// // WRITE(10) of 8 blocks at LBA 0.
/// let info = cdb_info(&[0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0], 512).unwrap();
/// assert_eq!(info.direction, DataDirection::Out);
/// assert_eq!(info.transfer_len, 4096);
/// ```
pub fn cdb_info(cdb: &[u8], block_size: u32) -> Result<CdbInfo, Sense> {
    let opcode = *cdb.first().ok_or_else(Sense::invalid_opcode)?;
    let len = cdb_len(opcode).ok_or_else(Sense::invalid_opcode)?;
    let c = Cdb::new(cdb);
    lookup(&c)?;
    if cdb.len() < len {
        return Err(Sense::invalid_field_in_cdb(0, None));
    }
    let bs = u64::from(block_size);
    let blocks = |n: u64| n.saturating_mul(bs);
    use DataDirection::{In, None as No, Out};
    let (direction, transfer_len) = match opcode {
        op::TEST_UNIT_READY
        | op::RESERVE_6
        | op::RELEASE_6
        | op::START_STOP_UNIT
        | op::PREVENT_ALLOW
        | op::PRE_FETCH_10
        | op::PRE_FETCH_16
        | op::SYNC_CACHE_10
        | op::SYNC_CACHE_16 => (No, 0),
        op::REQUEST_SENSE | op::INQUIRY | op::MODE_SENSE_6 => {
            if opcode == op::INQUIRY {
                (In, u64::from(c.u16(3)))
            } else {
                (In, u64::from(c.b(4)))
            }
        }
        op::MODE_SENSE_10 | op::PR_IN => (In, u64::from(c.u16(7))),
        op::READ_CAPACITY_10 => (In, 8),
        op::SERVICE_ACTION_IN_16 => (In, u64::from(c.u32(10))),
        op::REPORT_LUNS | op::MAINTENANCE_IN => (In, u64::from(c.u32(6))),
        op::READ_6 => {
            let n = match c.b(4) {
                0 => 256,
                n => u64::from(n),
            };
            (In, blocks(n))
        }
        op::READ_10 => (In, blocks(u64::from(c.u16(7)))),
        op::READ_12 => (In, blocks(u64::from(c.u32(6)))),
        op::READ_16 => (In, blocks(u64::from(c.u32(10)))),
        op::WRITE_6 => {
            let n = match c.b(4) {
                0 => 256,
                n => u64::from(n),
            };
            (Out, blocks(n))
        }
        op::WRITE_10 | op::WRITE_VERIFY_10 => (Out, blocks(u64::from(c.u16(7)))),
        op::WRITE_12 | op::WRITE_VERIFY_12 => (Out, blocks(u64::from(c.u32(6)))),
        op::WRITE_16 | op::WRITE_VERIFY_16 | op::ORWRITE_16 => (Out, blocks(u64::from(c.u32(10)))),
        op::WRITE_ATOMIC_16 => (Out, blocks(u64::from(c.u16(12)))),
        op::READ_DEFECT_DATA_10 => (In, u64::from(c.u16(7))),
        op::READ_DEFECT_DATA_12 => (In, u64::from(c.u32(6))),
        op::SANITIZE => (Out, u64::from(c.u16(7))),
        op::VERIFY_10 | op::VERIFY_12 | op::VERIFY_16 => {
            let n = match opcode {
                op::VERIFY_10 => u64::from(c.u16(7)),
                op::VERIFY_12 => u64::from(c.u32(6)),
                _ => u64::from(c.u32(10)),
            };
            match (c.b(1) >> 1) & 3 {
                0 | 2 => (No, 0),
                1 => (Out, blocks(n)),
                _ => (Out, if n == 0 { 0 } else { bs }),
            }
        }
        op::WRITE_SAME_10 => (Out, bs),
        op::WRITE_SAME_16 => {
            if c.b(1) & 0x01 != 0 {
                (No, 0)
            } else {
                (Out, bs)
            }
        }
        op::COMPARE_AND_WRITE => (Out, blocks(u64::from(c.b(13)) * 2)),
        op::UNMAP | op::MODE_SELECT_10 => (Out, u64::from(c.u16(7))),
        op::MODE_SELECT_6 => (Out, u64::from(c.b(4))),
        op::PR_OUT => (Out, u64::from(c.u32(5))),
        _ => return Err(Sense::invalid_opcode()),
    };
    let direction = if transfer_len == 0 { No } else { direction };
    Ok(CdbInfo {
        direction,
        transfer_len,
        cdb_len: len,
    })
}

/// The CDB of a WRITE or WRITE AND VERIFY (10, 12, 16) with its transfer
/// length set to `blocks`: what a transport runs when the initiator sent
/// fewer whole blocks than the CDB asks for (iSCSI's Expected Data Transfer
/// Length below the transfer length: only what was sent is written).
/// `None` for other commands, for WRITE(6) (whose 0 means 256 blocks, so
/// a shorter write cannot always be said) and for a count that does not fit.
pub fn with_transfer_length(cdb: &[u8], blocks: u64) -> Option<Vec<u8>> {
    let mut c = cdb.to_vec();
    let field = match *cdb.first()? {
        op::WRITE_10 | op::WRITE_VERIFY_10 if c.len() >= 10 => 7..9,
        op::WRITE_12 | op::WRITE_VERIFY_12 if c.len() >= 12 => 6..10,
        op::WRITE_16 | op::WRITE_VERIFY_16 if c.len() >= 16 => 10..14,
        _ => return None,
    };
    if field.len() == 2 {
        c[field].copy_from_slice(&u16::try_from(blocks).ok()?.to_be_bytes());
    } else {
        c[field].copy_from_slice(&u32::try_from(blocks).ok()?.to_be_bytes());
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cdb_info_read_write() {
        let i = cdb_info(&[0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0], 4096).unwrap();
        assert_eq!(
            (i.direction, i.transfer_len, i.cdb_len),
            (DataDirection::In, 8192, 10)
        );
        let i = cdb_info(&[0x08, 0, 0, 0, 0, 0], 512).unwrap();
        assert_eq!(i.transfer_len, 256 * 512);
        let i = cdb_info(&[0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], 512).unwrap();
        assert_eq!((i.direction, i.transfer_len), (DataDirection::Out, 1024));
        let i = cdb_info(&[0x00; 6], 512).unwrap();
        assert_eq!(i.direction, DataDirection::None);
        let i = cdb_info(&[0x2f, 0x02, 0, 0, 0, 0, 0, 0, 3, 0], 512).unwrap();
        assert_eq!((i.direction, i.transfer_len), (DataDirection::Out, 1536));
        let i = cdb_info(&[0x93, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], 512).unwrap();
        assert_eq!(i.direction, DataDirection::None);
    }

    #[test]
    fn test_cdb_info_errors() {
        assert_eq!(cdb_info(&[], 512), Err(Sense::invalid_opcode()));
        assert_eq!(cdb_info(&[0xc0; 16], 512), Err(Sense::invalid_opcode()));
        assert_eq!(cdb_info(&[0x28, 0, 0], 512).unwrap_err().asc, 0x24);
        // Unknown service action of SERVICE ACTION IN(16).
        assert_eq!(
            cdb_info(&[0x9e, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 512)
                .unwrap_err()
                .asc,
            0x24
        );
    }

    #[test]
    fn table_is_consistent() {
        for d in COMMANDS {
            assert_eq!(d.usage[0], d.op);
            assert_eq!(Some(d.usage.len()), cdb_len(d.op), "opcode {:#x}", d.op);
        }
    }

    #[test]
    fn a_write_is_shortened_to_the_blocks_sent() {
        let w10 = [0x2a, 0, 0, 0, 0, 8, 0, 0, 16, 0];
        let c = with_transfer_length(&w10, 3).unwrap();
        assert_eq!(&c[7..9], &[0, 3]);
        assert_eq!(c[..7], w10[..7]);
        let w16 = [0x8e, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0];
        assert_eq!(
            &with_transfer_length(&w16, 5).unwrap()[10..14],
            &[0, 0, 0, 5]
        );
        let w12 = [0xaa, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0];
        assert_eq!(
            &with_transfer_length(&w12, 7).unwrap()[6..10],
            &[0, 0, 0, 7]
        );
        assert!(
            with_transfer_length(&[0x0a, 0, 0, 0, 4, 0], 2).is_none(),
            "WRITE(6)"
        );
        assert!(
            with_transfer_length(&[0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0], 2).is_none(),
            "READ"
        );
        assert!(
            with_transfer_length(&w10, 1 << 16).is_none(),
            "too many for 16 bits"
        );
        assert!(with_transfer_length(&w10[..9], 1).is_none(), "short CDB");
    }
}
