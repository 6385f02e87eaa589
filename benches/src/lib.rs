//! Benchmarks live in `benches/` (criterion) and `scripts/` (daemon against
//! peer daemon). This library only holds shared inputs, and the
//! alternatives they are measured against.

pub mod nom_text;

/// Real request shapes, as captured from the clients named.
pub mod tftp_vectors {
    /// iPXE: `blksize=1432 tsize=0`.
    pub const RRQ_IPXE: &[u8] = b"\x00\x01/boot.ipxe\x00octet\x00blksize\x001432\x00tsize\x000\x00";
    /// curl 7.88 with `--tftp-blksize 1468`.
    pub const RRQ_CURL: &[u8] =
        b"\x00\x01big.bin\x00octet\x00tsize\x000\x00blksize\x001468\x00timeout\x006\x00";
    /// tftp-hpa's client: no options.
    pub const RRQ_PLAIN: &[u8] = b"\x00\x01pxelinux.0\x00octet\x00";
    /// A server's OACK to iPXE.
    pub const OACK: &[u8] = b"\x00\x06blksize\x001432\x00tsize\x0033554432\x00";
    /// ACK of block 4242.
    pub const ACK: &[u8] = b"\x00\x04\x10\x92";
    /// ERROR 1.
    pub const ERROR: &[u8] = b"\x00\x05\x00\x01File not found\x00";
}
