//! CHAP with MD5 (RFC 1994 §4.1, RFC 7143 §12.1.3).
//!
//! The response is `MD5(identifier || secret || challenge)`. Challenges
//! come from the OS CSPRNG, responses are compared in constant time.

use md5::{Digest as _, Md5};
use rand::rngs::OsRng;
use rand::RngCore;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// CHAP_A value for MD5 (RFC 1994, IANA PPP authentication algorithms).
pub const CHAP_MD5: u8 = 5;

/// Length of the challenges this crate generates.
pub const CHALLENGE_LEN: usize = 16;

/// Longest challenge accepted from a peer (RFC 7143 §12.1.3: 1024 bytes).
pub const MAX_CHALLENGE_LEN: usize = 1024;

/// Length of an MD5 CHAP response.
pub const RESPONSE_LEN: usize = 16;

/// `MD5(id || secret || challenge)`.
pub fn chap_md5(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; RESPONSE_LEN] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// A fresh identifier and challenge from the OS CSPRNG.
pub fn new_challenge() -> (u8, [u8; CHALLENGE_LEN]) {
    let mut c = [0u8; CHALLENGE_LEN];
    OsRng.fill_bytes(&mut c);
    let mut id = [0u8; 1];
    OsRng.fill_bytes(&mut id);
    (id[0], c)
}

/// Whether `response` is the right answer to `challenge`, in constant
/// time.
pub fn verify(id: u8, secret: &[u8], challenge: &[u8], response: &[u8]) -> bool {
    let expected = chap_md5(id, secret, challenge);
    // ct_eq on slices of different lengths returns false.
    bool::from(expected.as_slice().ct_eq(response))
}

/// Digests of challenges in arrival order, and as a set.
type Seen = (VecDeque<[u8; 16]>, HashSet<[u8; 16]>);

/// Challenges recently issued or received, shared by the logins of a
/// target (RFC 7143 §12.1.3: a target must not accept a challenge it sent
/// or one it already saw). Bounded: the oldest entries are forgotten.
#[derive(Debug)]
pub struct ChallengeHistory {
    inner: Mutex<Seen>,
    capacity: usize,
}

impl Default for ChallengeHistory {
    fn default() -> Self {
        ChallengeHistory::new(4096)
    }
}

impl ChallengeHistory {
    /// A history remembering the last `capacity` challenges.
    pub fn new(capacity: usize) -> Self {
        ChallengeHistory {
            inner: Mutex::new((VecDeque::new(), HashSet::new())),
            capacity: capacity.max(1),
        }
    }

    /// Records `challenge`; returns `false` if it was already known.
    pub fn insert(&self, challenge: &[u8]) -> bool {
        // Challenges are up to 1024 bytes: keep a digest, not the bytes.
        let key: [u8; 16] = Md5::digest(challenge).into();
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            // A panic elsewhere while holding the lock leaves consistent
            // data (plain inserts), so keep going.
            Err(poisoned) => poisoned.into_inner(),
        };
        let (order, set) = &mut *guard;
        if !set.insert(key) {
            return false;
        }
        order.push_back(key);
        if order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        crate::text::decode_binary(&format!("0x{s}")).unwrap()
    }

    /// Vectors computed independently with Python:
    /// `hashlib.md5(bytes([id]) + secret + challenge).hexdigest()`.
    #[test]
    fn test_chap_md5_vectors() {
        let cases: [(u8, &[u8], &str, &str); 4] = [
            (
                0,
                b"secretsecret",
                "00112233445566778899aabbccddeeff",
                "1dd92ca6d20b0fbc6ce77266a18935b7",
            ),
            (
                1,
                b"secretsecret",
                "00112233445566778899aabbccddeeff",
                "3d3d7f13199a65926f355637d73daf5c",
            ),
            (
                255,
                b"0123456789abcdef",
                "ffffffffffffffffffffffffffffffff",
                "aeb329433ab05958a8d1689c39b49a51",
            ),
            (
                77,
                b"mutual-secret-42",
                "0102030405060708090a0b0c0d0e0f101112131415161718",
                "aec4bfe85f245edc8a964bcc4263da37",
            ),
        ];
        for (id, secret, challenge, want) in cases {
            let got = chap_md5(id, secret, &hex(challenge));
            assert_eq!(got.to_vec(), hex(want), "id {id}");
            assert!(verify(id, secret, &hex(challenge), &hex(want)));
            assert!(!verify(
                id.wrapping_add(1),
                secret,
                &hex(challenge),
                &hex(want)
            ));
        }
    }

    #[test]
    fn test_challenge_history() {
        let h = ChallengeHistory::new(2);
        assert!(h.insert(b"a"));
        assert!(!h.insert(b"a"));
        assert!(h.insert(b"b"));
        assert!(h.insert(b"c"));
        // "a" was forgotten.
        assert!(h.insert(b"a"));
    }

    #[test]
    fn test_challenges_differ() {
        let (_, a) = new_challenge();
        let (_, b) = new_challenge();
        assert_ne!(a, b);
        assert!(!verify(1, b"s", &a, &[0u8; 15]));
    }
}
