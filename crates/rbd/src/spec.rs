//! `rbd:POOL/IMAGE[@SNAP][:conf=PATH][:id=CLIENT]`, the form qemu uses for
//! an RBD disk, parsed without librbd.

use std::path::PathBuf;

use crate::Error;

/// An RBD disk named as qemu names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The pool.
    pub pool: String,
    /// The image.
    pub image: String,
    /// A snapshot (read-only), if named.
    pub snap: Option<String>,
    /// The `ceph.conf` (default: librados's search, `/etc/ceph/ceph.conf`).
    pub conf: Option<PathBuf>,
    /// The client id (default: `admin`).
    pub id: Option<String>,
}

/// Names of pools, images and snapshots: what RBD accepts and what is safe
/// to pass to C (no NUL, no `/` or `@` inside, no `:`).
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

impl Spec {
    /// Whether `s` names an RBD disk (starts with `rbd:`).
    pub fn is_rbd(s: &str) -> bool {
        s.starts_with("rbd:")
    }

    /// Parses `rbd:POOL/IMAGE[@SNAP][:conf=PATH][:id=CLIENT]`.
    pub fn parse(s: &str) -> Result<Spec, Error> {
        let bad = |why: &str| Error::Spec {
            spec: s.to_owned(),
            why: why.to_owned(),
        };
        let rest = s
            .strip_prefix("rbd:")
            .ok_or_else(|| bad("it must start with rbd:"))?;
        let mut parts = rest.split(':');
        let name = parts.next().unwrap_or_default();
        let (pool, image) = name
            .split_once('/')
            .ok_or_else(|| bad("expected rbd:POOL/IMAGE"))?;
        let (image, snap) = match image.split_once('@') {
            Some((i, s)) => (i, Some(s)),
            None => (image, None),
        };
        for (what, n) in [
            ("pool", Some(pool)),
            ("image", Some(image)),
            ("snapshot", snap),
        ] {
            if let Some(n) = n {
                if !name_ok(n) {
                    return Err(bad(&format!(
                        "{what} {n:?}: use letters, digits and ._-+ (at most 255)"
                    )));
                }
            }
        }
        let mut spec = Spec {
            pool: pool.to_owned(),
            image: image.to_owned(),
            snap: snap.map(str::to_owned),
            conf: None,
            id: None,
        };
        for opt in parts {
            match opt.split_once('=') {
                Some(("conf", p)) if !p.is_empty() && !p.contains('\0') => {
                    spec.conf = Some(PathBuf::from(p))
                }
                Some(("id", i)) if name_ok(i) => spec.id = Some(i.to_owned()),
                _ => {
                    return Err(bad(&format!(
                        "unknown option {opt:?} (conf=PATH, id=CLIENT)"
                    )))
                }
            }
        }
        Ok(spec)
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rbd:{}/{}", self.pool, self.image)?;
        if let Some(s) = &self.snap {
            write!(f, "@{s}")?;
        }
        if let Some(c) = &self.conf {
            write!(f, ":conf={}", c.display())?;
        }
        if let Some(i) = &self.id {
            write!(f, ":id={i}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemus_form_is_read_and_written_back() {
        let s = Spec::parse("rbd:rbd/pc042@v3:conf=/etc/ceph/x.conf:id=gw1").unwrap();
        assert_eq!(
            (s.pool.as_str(), s.image.as_str(), s.snap.as_deref()),
            ("rbd", "pc042", Some("v3"))
        );
        assert_eq!(
            s.conf.as_deref(),
            Some(std::path::Path::new("/etc/ceph/x.conf"))
        );
        assert_eq!(
            s.to_string(),
            "rbd:rbd/pc042@v3:conf=/etc/ceph/x.conf:id=gw1"
        );
        assert_eq!(Spec::parse("rbd:p/i").unwrap().snap, None);
        for bad in [
            "rbd:",
            "rbd:pool",
            "rbd:/image",
            "rbd:p/",
            "rbd:p/i@",
            "rbd:p/i:bogus=1",
            "rbd:p/i\0x",
            "rbd:p/a b",
            "file:p/i",
        ] {
            assert!(Spec::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Spec::is_rbd("rbd:p/i") && !Spec::is_rbd("/srv/rbd:x"));
    }
}
