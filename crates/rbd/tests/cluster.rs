//! RBD disks against a real single-node Ceph cluster (testkit::ceph), with
//! qemu's RBD driver (qemu-io, qemu-img) as the oracle: what we write qemu
//! reads, what qemu writes we read; clones of one snapshot see their own
//! writes only; asynchronous requests complete; the exclusive lock passes
//! from one writer to the next.

use std::process::Command;
use std::time::Duration;

use netboot_blockdev::BlockDevice;
use netboot_rbd::{Cluster, RbdDisk, Spec};
use netboot_testkit::ceph;

const MIB: u64 = 1 << 20;

fn qemu(prog: &str, args: &[&str]) -> String {
    netboot_testkit::need(prog);
    let o = netboot_testkit::run(Command::new(prog).args(args), Duration::from_secs(120));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{prog} {args:?}: {text}");
    text
}

#[test]
fn disks_snapshots_and_clones_as_qemu_sees_them() {
    let c = ceph::Cluster::start(2 << 30);
    c.rbd(&["create", "--size", "64M", "golden"]);
    // qemu writes, we read.
    let golden = c.spec("rbd/golden");
    qemu(
        "qemu-io",
        &["-f", "raw", "-c", "write -P 0x5a 1M 64k", &golden],
    );
    let spec = Spec::parse(&golden).unwrap();
    let d = RbdDisk::open(&spec, false).unwrap();
    assert_eq!((d.size(), d.block_size()), (64 * MIB, 512));
    let mut b = vec![0u8; 65536];
    d.read_at(&mut b, MIB).unwrap();
    assert!(b.iter().all(|&x| x == 0x5a));
    // We write, qemu reads.
    d.write_at(&[0xa7; 8192], 3 * MIB).unwrap();
    d.flush().unwrap();
    drop(d);
    let out = qemu(
        "qemu-io",
        &["-f", "raw", "-r", "-c", "read -P 0xa7 3M 8k", &golden],
    );
    assert!(!out.contains("verification failed"), "{out}");
    // A version: a protected snapshot; two PCs: clones of it.
    let pool = Cluster::connect(Some(&c.conf), None)
        .unwrap()
        .pool("rbd")
        .unwrap();
    pool.snapshot("golden", "v1").unwrap();
    pool.clone_image("golden", "v1", "pc1").unwrap();
    pool.clone_image("golden", "v1", "pc2").unwrap();
    let pc1 = pool.open("pc1", None, false).unwrap();
    let pc2 = pool.open("pc2", None, false).unwrap();
    pc1.write_at(&[1; 4096], 0).unwrap();
    pc2.write_at(&[2; 4096], 0).unwrap();
    let mut x = [0u8; 4096];
    pc1.read_at(&mut x, 0).unwrap();
    assert!(x.iter().all(|&b| b == 1), "pc1's own write");
    pc2.read_at(&mut x, 0).unwrap();
    assert!(x.iter().all(|&b| b == 2), "pc2's own write");
    // Both see the golden image where they did not write.
    pc2.read_at(&mut b, MIB).unwrap();
    assert!(b.iter().all(|&x| x == 0x5a));
    // The snapshot is read-only, and unchanged.
    let v1 = pool.open("golden", Some("v1"), false).unwrap();
    assert!(v1.read_only());
    assert!(v1.write_at(&[0; 512], 0).is_err());
    v1.read_at(&mut x, 0).unwrap();
    assert!(x.iter().all(|&b| b == 0), "the snapshot is unchanged");
    // Discard reads zeros; a write past the end is refused.
    pc1.discard(0, 4096).unwrap();
    pc1.read_at(&mut x, 0).unwrap();
    assert!(x.iter().all(|&b| b == 0), "a discarded range reads zeros");
    assert!(pc1.write_at(&[0; 512], 64 * MIB).is_err());
    pc1.flush().unwrap();
    drop((pc1, pc2));
    // qemu sees each clone's own write.
    for (img, p) in [("pc1", "0"), ("pc2", "2")] {
        // pc1's discarded range reads zeros, pc2 its write.
        let out = qemu(
            "qemu-io",
            &[
                "-f",
                "raw",
                "-r",
                "-c",
                &format!("read -P {p} 0 4k"),
                &c.spec(&format!("rbd/{img}")),
            ],
        );
        assert!(!out.contains("verification failed"), "{img}: {out}");
    }
    // Metadata of an image (what the store keeps there).
    pool.set_metadata("pc1", "netboot.mac", "52:54:00:00:00:01")
        .unwrap();
    assert_eq!(
        pool.metadata("pc1", "netboot.mac").unwrap().as_deref(),
        Some("52:54:00:00:00:01")
    );
    assert_eq!(pool.metadata("pc1", "netboot.none").unwrap(), None);
    // A snapshot with clones cannot go.
    assert!(pool.remove_snapshot("golden", "v1").is_err());
}

/// Requests that hold no thread: many at once from one task; a future
/// dropped before its request completes frees nothing librbd still uses.
#[tokio::test(flavor = "current_thread")]
async fn asynchronous_io_completes_from_librbds_callback() {
    let c = ceph::Cluster::start(1 << 30);
    c.rbd(&["create", "--size", "16M", "disk"]);
    let d = RbdDisk::open(&Spec::parse(&c.spec("rbd/disk")).unwrap(), false).unwrap();
    let writes = (0..64u8).map(|i| d.write_async(vec![i; 4096], u64::from(i) * 4096));
    for r in futures_join(writes).await {
        r.unwrap();
    }
    let reads = (0..64u8).map(|i| d.read_async(4096, u64::from(i) * 4096));
    for (i, r) in futures_join(reads).await.into_iter().enumerate() {
        assert!(r.unwrap().iter().all(|&b| b == i as u8), "block {i}");
    }
    // Dropped at once: the request still completes into its own buffer.
    drop(d.read_async(1 << 20, 0));
    let f = d.write_async(vec![9; 1 << 20], 4 << 20);
    drop(f);
    assert!(d.read_async(512, 16 << 20).await.is_err(), "past the end");
    d.flush().unwrap();
}

/// Awaits every future, in order (no extra crate for join_all).
async fn futures_join<T>(fs: impl Iterator<Item = impl std::future::Future<Output = T>>) -> Vec<T> {
    let handles: Vec<_> = fs.collect();
    let mut out = Vec::new();
    for f in handles {
        out.push(f.await);
    }
    out
}

/// One writer at a time: a second handle takes the exclusive lock only
/// after the first is gone (closed, or dead and blocklisted).
#[test]
fn the_exclusive_lock_passes_to_the_next_writer() {
    let c = ceph::Cluster::start(1 << 30);
    c.rbd(&["create", "--size", "16M", "pc"]);
    let spec = Spec::parse(&c.spec("rbd/pc")).unwrap();
    let a = RbdDisk::open(&spec, false).unwrap();
    a.lock_exclusive().unwrap();
    assert!(a.owns_lock().unwrap());
    a.write_at(&[7; 512], 0).unwrap();
    drop(a);
    let b = RbdDisk::open(&spec, false).unwrap();
    b.lock_exclusive().unwrap();
    assert!(b.owns_lock().unwrap());
    let mut x = [0u8; 512];
    b.read_at(&mut x, 0).unwrap();
    assert_eq!(x, [7; 512]);
}

/// An unreachable cluster is a clear error, soon.
#[test]
fn an_unreachable_cluster_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ceph.conf");
    std::fs::write(
        &conf,
        "[global]\nmon host = 127.0.0.1:1\nauth cluster required = none\nauth service required = none\nauth client required = none\n",
    )
    .unwrap();
    let t = std::time::Instant::now();
    let e = RbdDisk::open(
        &Spec::parse(&format!("rbd:rbd/x:conf={}", conf.display())).unwrap(),
        false,
    )
    .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert!(e.to_string().contains("ceph cluster"), "{e}");
}
