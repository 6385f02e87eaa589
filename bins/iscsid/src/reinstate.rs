//! Session reinstatement (RFC 7143 §6.3.5): a leading login whose
//! initiator name, ISID and target are those of a session the target still
//! has open replaces that session. The initiator knows its old session is
//! gone (its connection broke, or the machine rebooted) before the target
//! does; it logs in again with the same ISID, as open-iscsi does when it
//! recovers a session at error recovery level 0.
//!
//! The old session is closed first: told to go (as an eviction is), it
//! lets its running commands finish (a write it acknowledged, or is about
//! to, reaches the disk), and only then does the new session start its
//! full feature phase, so no old write lands after a new one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::admission::Slot;

/// A session's identity for reinstatement: initiator name and target name
/// (both compared case-insensitively, as iSCSI names are), and the ISID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    initiator: String,
    isid: [u8; 6],
    target: String,
}

impl SessionKey {
    /// The key of a session of `initiator` with `isid` to `target`.
    pub fn new(initiator: &str, isid: [u8; 6], target: &str) -> SessionKey {
        SessionKey {
            initiator: initiator.to_ascii_lowercase(),
            isid,
            target: target.to_ascii_lowercase(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    id: u64,
    peer: SocketAddr,
    slot: Arc<Slot>,
    /// Closed when that session's [`Registration`] is dropped.
    ended: watch::Receiver<()>,
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    open: HashMap<SessionKey, Entry>,
}

/// The open sessions by [`SessionKey`].
#[derive(Debug, Default)]
pub struct Sessions {
    table: Mutex<Table>,
}

/// A session's place in [`Sessions`], held until it has ended (its
/// commands done): dropping it tells a reinstating login to go on.
#[derive(Debug)]
pub struct Registration {
    sessions: Arc<Sessions>,
    key: SessionKey,
    id: u64,
    _ended: watch::Sender<()>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut t = self.sessions.lock();
        if t.open.get(&self.key).is_some_and(|e| e.id == self.id) {
            t.open.remove(&self.key);
        }
    }
}

/// What [`Sessions::register`] did.
#[derive(Debug)]
pub enum Reinstated {
    /// No session of the key was open.
    New,
    /// The session from this peer was closed, and had ended.
    Replaced(SocketAddr),
    /// The session from this peer was told to close, but its commands
    /// were still running after the grace time.
    StillRunning(SocketAddr),
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the session of `key` on `slot` from `peer`. A session of
    /// the same key still open is evicted, and waited for (its running
    /// commands finish) for at most `grace`.
    pub async fn register(
        self: &Arc<Self>,
        key: SessionKey,
        slot: Arc<Slot>,
        peer: SocketAddr,
        grace: Duration,
    ) -> (Registration, Reinstated) {
        let (tx, rx) = watch::channel(());
        let (id, old) = {
            let mut t = self.lock();
            t.next += 1;
            let id = t.next;
            let old = t.open.insert(
                key.clone(),
                Entry {
                    id,
                    peer,
                    slot,
                    ended: rx,
                },
            );
            (id, old)
        };
        let reg = Registration {
            sessions: self.clone(),
            key,
            id,
            _ended: tx,
        };
        let Some(mut old) = old else {
            return (reg, Reinstated::New);
        };
        old.slot.replace();
        // The sender goes with the old session's registration.
        let ended =
            tokio::time::timeout(grace, async { while old.ended.changed().await.is_ok() {} }).await;
        let how = match ended {
            Ok(()) => Reinstated::Replaced(old.peer),
            Err(_) => Reinstated::StillRunning(old.peer),
        };
        (reg, how)
    }

    /// Open sessions.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{Admission, Limits};

    fn slot(adm: &Arc<Admission>, last: u8) -> (crate::admission::Ticket, Arc<Slot>) {
        let (t, _) = adm
            .connect(
                std::net::IpAddr::from([10, 0, 0, last]),
                std::time::Instant::now(),
            )
            .unwrap();
        let s = t.slot().clone();
        (t, s)
    }

    /// The second login of a key evicts the first session and waits for
    /// it to end; other keys are left alone; an ended session leaves its
    /// key free.
    #[tokio::test]
    async fn a_login_with_the_same_isid_replaces_the_open_session() {
        let adm = Admission::new(Limits {
            max_sessions: 8,
            max_pending: 8,
            max_per_address: 8,
        });
        let sessions = Arc::new(Sessions::default());
        let key = SessionKey::new("iqn.x:pc1.initiator", [0x40, 0, 0, 0, 0, 1], "IQN.X:PC1");
        let other = SessionKey::new("iqn.x:pc1.initiator", [0x40, 0, 0, 0, 0, 2], "iqn.x:pc1");
        let peer = |p| SocketAddr::from(([10, 0, 0, 1], p));
        let grace = Duration::from_secs(5);
        let (_t1, s1) = slot(&adm, 1);
        let (r1, how) = sessions
            .register(key.clone(), s1.clone(), peer(1), grace)
            .await;
        assert!(matches!(how, Reinstated::New));
        let (_t2, s2) = slot(&adm, 2);
        let (_r2, how) = sessions.register(other, s2.clone(), peer(2), grace).await;
        assert!(matches!(how, Reinstated::New));
        // The old session ends (its commands done) when told to go.
        let old = tokio::spawn(async move {
            s1.evicted().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(r1);
        });
        let (_t3, s3) = slot(&adm, 3);
        let key_upper = SessionKey::new("IQN.X:PC1.INITIATOR", [0x40, 0, 0, 0, 0, 1], "iqn.x:pc1");
        let (r3, how) = sessions.register(key_upper, s3, peer(3), grace).await;
        assert!(
            matches!(how, Reinstated::Replaced(p) if p == peer(1)),
            "{how:?}"
        );
        old.await.unwrap();
        assert_eq!(sessions.len(), 2, "the old one's end left the new one");
        drop(r3);
        assert_eq!(sessions.len(), 1);
        // One that does not end in time: the new one goes on all the same.
        let (_t4, s4) = slot(&adm, 4);
        let (_r4, _) = sessions.register(key.clone(), s4, peer(4), grace).await;
        let (_t5, s5) = slot(&adm, 5);
        let (_r5, how) = sessions
            .register(key, s5, peer(5), Duration::from_millis(50))
            .await;
        assert!(
            matches!(how, Reinstated::StillRunning(p) if p == peer(4)),
            "{how:?}"
        );
    }
}
