//! The file side of a transfer: positional reads and writes.

use std::io;

/// Where a sender reads file data from.
pub trait ReadSource {
    /// Reads up to `buf.len()` bytes at `offset` of the transfer stream,
    /// filling `buf` completely unless the stream ends. Returns the count.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// The peer has acknowledged everything before `upto`: it will not be
    /// read again. Sources that buffer (netascii) drop it.
    fn release(&mut self, upto: u64) {
        let _ = upto;
    }
}

/// Where a receiver writes file data to. Data arrives strictly in order.
pub trait WriteSink {
    /// Writes `data` at `offset` of the transfer stream.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// The last block has arrived. Called before the final ACK is sent, so a
    /// sink that makes the data durable here (fsync, rename) guarantees that
    /// an acknowledged upload is never lost.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ReadSource for &[u8] {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

impl ReadSource for Vec<u8> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }
}

#[cfg(unix)]
impl ReadSource for std::fs::File {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match FileExt::read_at(self, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

impl WriteSink for Vec<u8> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let off = usize::try_from(offset).map_err(|_| io::ErrorKind::OutOfMemory)?;
        let end = off
            .checked_add(data.len())
            .ok_or(io::ErrorKind::OutOfMemory)?;
        if self.len() < end {
            self.resize(end, 0);
        }
        self[off..end].copy_from_slice(data);
        Ok(())
    }
}

#[cfg(unix)]
impl WriteSink for std::fs::File {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.write_all_at(data, offset)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}
