//! The lease file of the optional authoritative mode (`--range`): the
//! bound leases of [`netboot_dhcp::lease::Pool`], kept on disk so that a
//! restart hands every client the address it had.
//!
//! The pool itself is pure logic in `netboot-dhcp`; [`save`] and [`load`]
//! do the file I/O (write to a temporary file, fsync, rename, fsync the
//! directory: a lease that was ACKed is on disk).

use std::io::Write;
use std::path::Path;

use netboot_dhcp::lease::{Lease, Pool};
use serde::{Deserialize, Serialize};

/// The on-disk form.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseFile {
    leases: Vec<Lease>,
}

/// Reads saved leases; a missing file is no leases.
pub fn load(path: &Path) -> Result<Vec<Lease>, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice::<LeaseFile>(&b)
            .map(|f| f.leases)
            .map_err(|e| format!("lease file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("lease file {}: {e}", path.display())),
    }
}

/// Writes the bound leases durably: temporary file, fsync, rename over the
/// old file, fsync the directory.
pub fn save(pool: &Pool, path: &Path) -> std::io::Result<()> {
    let file = LeaseFile {
        leases: pool.bound().cloned().collect(),
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// The file's bytes, as pxed has always written them: a daemon
    /// upgraded in place reads its old file, and an old one reads ours.
    #[test]
    fn the_lease_file_format_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.json");
        let mut p = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        p.request("id:01:52:54:00:00:00:01", ip("10.0.0.13"), 100)
            .unwrap();
        p.request("hw:52:54:00:00:00:02", ip("10.0.0.10"), 200)
            .unwrap();
        save(&p, &path).unwrap();
        let want = r#"{
  "leases": [
    {
      "client": "hw:52:54:00:00:00:02",
      "ip": "10.0.0.10",
      "expires": 3800,
      "state": "bound"
    },
    {
      "client": "id:01:52:54:00:00:00:01",
      "ip": "10.0.0.13",
      "expires": 3700,
      "state": "bound"
    }
  ]
}"#;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
        let back = load(&path).unwrap();
        assert_eq!(back, p.bound().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn leases_survive_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/leases.json");
        let mut p = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        p.request("aa", ip("10.0.0.13"), 0).unwrap();
        p.offer("bb", None, 0).unwrap(); // offers are not saved
        save(&p, &path).unwrap();
        let mut q = Pool::new(ip("10.0.0.10"), ip("10.0.0.20"), 3600);
        assert_eq!(q.restore(load(&path).unwrap(), 100), 1);
        assert_eq!(q.offer("aa", None, 100), Some(ip("10.0.0.13")));
        // Ended leases and leases outside a new range are dropped.
        let mut r = Pool::new(ip("10.0.0.10"), ip("10.0.0.12"), 3600);
        assert_eq!(r.restore(load(&path).unwrap(), 100), 0);
        assert_eq!(q.restore(load(&path).unwrap(), 4000), 0);
        assert!(load(&dir.path().join("none.json")).unwrap().is_empty());
        std::fs::write(&path, b"{").unwrap();
        assert!(load(&path).unwrap_err().contains("lease file"));
    }
}
