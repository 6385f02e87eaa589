//! The store's life cycle, with qemu's tools as the oracle for every file
//! it makes: import, edit, commit, clients on versions, rollback, reset,
//! export and gc.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netboot_blockdev::BlockDevice;
use netboot_image::store::StoreError;
use netboot_image::{Format, Mode, Store};

const MIB: u64 = 1 << 20;

fn qemu(prog: &str, args: &[&str]) -> String {
    netboot_testkit::need(prog);
    let o = netboot_testkit::run(Command::new(prog).args(args), Duration::from_secs(60));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{prog} {args:?}: {text}");
    text
}

fn check(p: &Path) {
    let out = qemu("qemu-img", &["check", "-f", "qcow2", p.to_str().unwrap()]);
    assert!(out.contains("No errors were found"), "{out}");
}

fn read(store: &Store, p: &Path, off: u64, len: usize) -> Vec<u8> {
    let d = store.open_disk(p, true).unwrap();
    let mut b = vec![0u8; len];
    d.read_at(&mut b, off).unwrap();
    b
}

fn write(store: &Store, p: &Path, off: u64, data: &[u8]) {
    let d = store.open_disk(p, false).unwrap();
    d.write_at(data, off).unwrap();
    d.flush().unwrap();
}

#[test]
fn golden_image_versions_and_two_pcs() {
    let tmp = tempfile::tempdir().unwrap();
    let golden = netboot_testkit::content(8 * MIB as usize, 1);
    let src = tmp.path().join("win.raw");
    std::fs::write(&src, &golden).unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let m = store.image_create("win", &src, None).unwrap();
    assert_eq!((m.current, m.versions[0].size), (1, 8 * MIB));
    assert!(matches!(
        store.image_create("win", &src, None),
        Err(StoreError::ImageExists(_))
    ));
    let v1 = store.version_path("win", 1).unwrap();
    let v1_sum = netboot_testkit::sha256(&std::fs::read(&v1).unwrap());

    // Two PCs on version 1: each sees only its own writes.
    store
        .client_add("pc1", "52:54:00:00:00:01", "win", Mode::Persistent, None)
        .unwrap();
    store
        .client_add("pc2", "52-54-00-00-00-02", "win", Mode::Volatile, None)
        .unwrap();
    assert!(matches!(
        store.client_add("pc3", "52:54:00:00:00:01", "win", Mode::Persistent, None),
        Err(StoreError::MacTaken { .. })
    ));
    let d1 = store.client_disk("pc1").unwrap();
    let d2 = store.client_disk("pc2").unwrap();
    write(&store, &d1, 0, &[1; 4096]);
    write(&store, &d2, 0, &[2; 4096]);
    assert_eq!(read(&store, &d1, 0, 4096), vec![1; 4096]);
    assert_eq!(read(&store, &d2, 0, 4096), vec![2; 4096]);
    assert_eq!(read(&store, &d1, 4096, 4096), golden[4096..8192]);
    check(&d1);
    let info = qemu("qemu-img", &["info", d1.to_str().unwrap()]);
    assert!(info.contains("backing file format: raw"), "{info}");
    // A persistent PC keeps its overlay; a volatile one gets a new one.
    assert_eq!(store.client_disk("pc1").unwrap(), d1);
    let d2b = store.client_disk("pc2").unwrap();
    assert_ne!(d2b, d2);
    assert!(!d2.exists());
    assert_eq!(read(&store, &d2b, 0, 4096), golden[..4096]);

    // An edit thrown away leaves nothing.
    let edit = store.image_edit("win").unwrap();
    write(&store, &edit, 0, &[0xdd; 512]);
    store.image_discard("win").unwrap();
    assert!(!edit.exists());
    assert_eq!(store.image_meta("win").unwrap().edit_base, None);
    assert!(matches!(
        store.image_discard("win"),
        Err(StoreError::NoEdit(_))
    ));
    // An update: edit, change, commit as version 2.
    let edit = store.image_edit("win").unwrap();
    assert_eq!(read(&store, &edit, 0, 512), golden[..512], "a new edit");
    assert_eq!(store.image_edit("win").unwrap(), edit, "the same edit");
    write(&store, &edit, MIB, &[0xee; 65536]);
    check(&edit);
    assert_eq!(store.image_commit("win").unwrap(), 2);
    assert!(matches!(
        store.image_commit("win"),
        Err(StoreError::NoEdit(_))
    ));
    let v2 = store.version_path("win", 2).unwrap();
    check(&v2);
    // pc1 (persistent) stays on version 1 and is behind; its data stays.
    let c = store.clients().unwrap();
    let pc1 = c.iter().find(|c| c.name == "pc1").unwrap();
    assert_eq!(
        (pc1.meta.version, pc1.current, pc1.behind),
        (Some(1), 2, true)
    );
    assert_eq!(read(&store, &d1, MIB, 4), golden[MIB as usize..][..4]);
    // Reset: pc1 sees the update, its own writes are gone.
    let d1b = store.client_reset("pc1").unwrap();
    assert_eq!(read(&store, &d1b, MIB, 65536), vec![0xee; 65536]);
    assert_eq!(read(&store, &d1b, 0, 4096), golden[..4096]);
    check(&d1b);
    // Rollback + reset brings the old data back.
    assert_eq!(store.image_rollback("win", None).unwrap(), 1);
    assert!(matches!(
        store.image_rollback("win", None),
        Err(StoreError::NoPrevious(_))
    ));
    let d1c = store.client_reset("pc1").unwrap();
    assert_eq!(read(&store, &d1c, MIB, 4), golden[MIB as usize..][..4]);
    // Version 2 is still needed by nobody but stays until gc; pc2's
    // overlay is over version 1.
    let info = store.image("win").unwrap();
    assert_eq!(info.users.get(&1).map(Vec::len), Some(2));
    assert_eq!(store.image_gc("win").unwrap(), vec![2]);
    assert!(!v2.exists());
    assert!(store.image_gc("win").unwrap().is_empty());
    assert_eq!(
        netboot_testkit::sha256(&std::fs::read(&v1).unwrap()),
        v1_sum,
        "version 1 never changes"
    );
}

#[test]
fn gc_keeps_what_clients_and_later_versions_need() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("base.raw");
    std::fs::write(&src, netboot_testkit::content(2 * MIB as usize, 2)).unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    store.image_create("lin", &src, Some(Format::Raw)).unwrap();
    for i in 0..3u8 {
        let e = store.image_edit("lin").unwrap();
        write(&store, &e, u64::from(i) * 65536, &[i + 10; 512]);
        store.image_commit("lin").unwrap();
    }
    // v4 current over v3 over v2 over v1; a client on v2.
    store
        .client_add("pc", "02:00:00:00:00:01", "lin", Mode::Persistent, None)
        .unwrap();
    store.image_rollback("lin", Some(2)).unwrap();
    let d = store.client_disk("pc").unwrap();
    store.image_rollback("lin", Some(4)).unwrap();
    assert!(store.image_gc("lin").unwrap().is_empty(), "all are needed");
    // Rolled back to 2, where the client is: 3 and 4 can go.
    store.image_rollback("lin", Some(2)).unwrap();
    assert_eq!(store.image_gc("lin").unwrap(), vec![3, 4]);
    // The client is on version 2: the first edit, not the second.
    assert!(read(&store, &d, 0, 512) == vec![10; 512]);
    assert!(read(&store, &d, 65536, 512) != vec![11; 512]);
    check(&d);
}

#[test]
fn export_flattens_a_version_as_qemu_sees_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("base.raw");
    std::fs::write(&src, netboot_testkit::content(4 * MIB as usize, 3)).unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    store.image_create("img", &src, None).unwrap();
    let e = store.image_edit("img").unwrap();
    write(&store, &e, 3 * MIB, &[0; 65536]);
    write(&store, &e, 100_000, &[9; 5000]);
    store.image_commit("img").unwrap();
    let v2 = store.version_path("img", 2).unwrap();
    for (fmt, name) in [(Format::Raw, "out.raw"), (Format::Qcow2, "out.qcow2")] {
        let out = tmp.path().join(name);
        store.image_export("img", None, &out, fmt).unwrap();
        let f = fmt.name();
        if fmt == Format::Qcow2 {
            check(&out);
            let info = qemu("qemu-img", &["info", out.to_str().unwrap()]);
            assert!(!info.contains("backing file"), "standalone: {info}");
        }
        let o = qemu(
            "qemu-img",
            &[
                "compare",
                "-f",
                "qcow2",
                "-F",
                f,
                v2.to_str().unwrap(),
                out.to_str().unwrap(),
            ],
        );
        assert!(o.contains("Images are identical"), "{o}");
    }
    // Version 1, too.
    let out = tmp.path().join("v1.raw");
    store
        .image_export("img", Some(1), &out, Format::Raw)
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
}

#[test]
fn names_macs_and_imports_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let src = tmp.path().join("a.raw");
    std::fs::write(&src, vec![0u8; MIB as usize]).unwrap();
    for bad in ["../x", ".hidden", "a/b", "", "x y"] {
        assert!(
            matches!(
                store.image_create(bad, &src, None),
                Err(StoreError::BadName { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        store.image_edit("none"),
        Err(StoreError::NoImage(_))
    ));
    store.image_create("a", &src, None).unwrap();
    assert!(matches!(
        store.client_add("pc", "zz:zz", "a", Mode::Volatile, None),
        Err(StoreError::BadMac(_))
    ));
    assert!(matches!(
        store.client_add("pc", "02:00:00:00:00:01", "b", Mode::Volatile, None),
        Err(StoreError::NoImage(_))
    ));
    // A qcow2 with a backing file is not imported.
    std::fs::write(tmp.path().join("g.raw"), vec![0u8; MIB as usize]).unwrap();
    let q = tmp.path().join("o.qcow2");
    qemu(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "g.raw",
            "-F",
            "raw",
            q.to_str().unwrap(),
        ],
    );
    assert!(matches!(
        store.image_create("o", &q, None),
        Err(StoreError::ImportHasBacking(_))
    ));
    assert!(!tmp.path().join("store/images/o/image.toml").exists());
}

/// A client's size limit holds on the disk the store opens for it.
#[test]
fn a_clients_overlay_has_its_size_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("base.raw");
    std::fs::write(&src, vec![0u8; 32 * MIB as usize]).unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    store.image_create("img", &src, None).unwrap();
    store
        .client_add(
            "pc",
            "02:00:00:00:00:07",
            "img",
            Mode::Persistent,
            Some(2 * MIB),
        )
        .unwrap();
    let d = store.open_client_disk("pc").unwrap();
    d.write_at(&vec![1u8; MIB as usize], 0).unwrap();
    let e = d
        .write_at(&vec![2u8; 4 * MIB as usize], 8 * MIB)
        .unwrap_err();
    assert!(matches!(e, netboot_blockdev::Error::NoSpace { .. }), "{e}");
    drop(d);
    check(&store.client_disk("pc").unwrap());
}

/// A pinned PC's new overlays are over its pin whatever is current; gc
/// keeps the pin; another image throws the overlay away; a pin the image
/// does not have is refused.
#[test]
fn a_pinned_pc_stays_on_its_version_and_updates_apply_at_its_next_overlay() {
    use netboot_image::store::ClientUpdate;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("base.raw");
    std::fs::write(&src, netboot_testkit::content(2 * MIB as usize, 4)).unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    store.image_create("lin", &src, Some(Format::Raw)).unwrap();
    store
        .image_create("other", &src, Some(Format::Raw))
        .unwrap();
    for i in 0..2u8 {
        let e = store.image_edit("lin").unwrap();
        write(&store, &e, 0, &[i + 20; 512]);
        store.image_commit("lin").unwrap();
    }
    store
        .client_add("pc", "02:00:00:00:00:02", "lin", Mode::Volatile, None)
        .unwrap();
    let pin = |p| ClientUpdate {
        pin: Some(p),
        ..ClientUpdate::default()
    };
    assert!(matches!(
        store.client_update("pc", &pin(Some(9))),
        Err(StoreError::NoVersion { version: 9, .. })
    ));
    let m = store.client_update("pc", &pin(Some(2))).unwrap();
    assert_eq!(m.pin, Some(2));
    // Nothing but the pin needs version 2 (no overlay yet, 1 current).
    store.image_rollback("lin", Some(1)).unwrap();
    assert_eq!(store.image_gc("lin").unwrap(), vec![3]);
    let d = store.client_disk("pc").unwrap();
    assert_eq!(read(&store, &d, 0, 512), vec![20; 512], "version 2");
    check(&d);
    let c = &store.clients().unwrap()[0];
    assert_eq!((c.meta.version, c.current, c.behind), (Some(2), 1, false));
    store
        .client_update(
            "pc",
            &ClientUpdate {
                mode: Some(Mode::Persistent),
                ..ClientUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(store.client_disk("pc").unwrap(), d, "persistent now: kept");
    // Unpinned: the persistent overlay stays on 2 (behind) until a reset.
    store.client_update("pc", &pin(None)).unwrap();
    assert!(store.clients().unwrap()[0].behind);
    let r = store.client_reset("pc").unwrap();
    assert_eq!(
        read(&store, &r, 0, 512),
        netboot_testkit::content(2 * MIB as usize, 4)[..512].to_vec(),
        "version 1"
    );
    assert_eq!(store.image_gc("lin").unwrap(), vec![2]);
    // Another image: the overlay goes now, the next disk is over it.
    store
        .client_update(
            "pc",
            &ClientUpdate {
                image: Some("other".into()),
                ..ClientUpdate::default()
            },
        )
        .unwrap();
    assert!(!r.exists(), "the old image's overlay is gone");
    let o = store.client_disk("pc").unwrap();
    assert_eq!(
        read(&store, &o, 0, 512),
        netboot_testkit::content(2 * MIB as usize, 4)[..512].to_vec()
    );
    assert_eq!(store.client_meta("pc").unwrap().image, "other");
}

/// One process claims the store; the others see who, until it lets go.
#[test]
fn the_store_is_claimed_by_one_process_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    // A second handle stands for a second process: flock locks belong to
    // the open file, not the process.
    let other = Store::open(tmp.path()).unwrap();
    assert_eq!(store.owner().unwrap(), None);
    let claim = store.claim("netbootd pid 1").unwrap().expect("free");
    assert!(other.claim("netbootctl").unwrap().is_none());
    assert_eq!(other.owner().unwrap().as_deref(), Some("netbootd pid 1"));
    drop(claim);
    assert_eq!(other.owner().unwrap(), None);
    let c2 = other.claim("netbootctl").unwrap().expect("free again");
    assert_eq!(store.owner().unwrap().as_deref(), Some("netbootctl"));
    drop(c2);
}
