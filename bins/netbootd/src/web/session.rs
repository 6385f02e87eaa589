//! Who may use the page and the API: the API token (`Authorization:
//! Bearer`), or a browser's session after it logged in with the token or
//! the configured password.
//!
//! A session is a cookie the server can check without keeping anything:
//! `EXPIRY.NONCE.MAC`, where MAC is an HMAC-SHA256 of expiry and nonce
//! under a key derived from the API token (kept in the store). So
//! sessions survive a restart of netbootd (the page goes on working), and
//! a new API token ends them all. The cookie is `HttpOnly` (no script
//! reads it) and `SameSite=Strict` (no other site's page sends it); every
//! change also needs the session's CSRF token (an HMAC of its nonce), in
//! an `X-CSRF-Token` header or a `csrf` form field.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "netboot_session";

/// How long a login lasts.
pub const LIFETIME_SECS: u64 = 12 * 3600;

/// The keys of sessions, from the API token.
#[derive(Clone)]
pub struct Keys {
    token: String,
    key: [u8; 32],
    /// The configured password, if any.
    password: Option<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

impl Keys {
    /// The keys of the API token `token` and the configured `password`.
    pub fn new(token: &str, password: Option<String>) -> Keys {
        let mut h = Sha256::new();
        h.update(b"netboot web session key\0");
        h.update(token.as_bytes());
        Keys {
            token: token.to_owned(),
            key: h.finalize().into(),
            password,
        }
    }

    fn mac(&self, what: &str) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        m.update(what.as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    /// Whether `given` is the API token (compared in constant time).
    pub fn is_token(&self, given: &str) -> bool {
        eq(given.as_bytes(), self.token.as_bytes())
    }

    /// Whether `given` opens a session: the API token or the password.
    pub fn may_log_in(&self, given: &str) -> bool {
        self.is_token(given)
            || self
                .password
                .as_deref()
                .is_some_and(|p| !p.is_empty() && eq(given.as_bytes(), p.as_bytes()))
    }

    /// A new session's cookie value, valid until `now` + [`LIFETIME_SECS`].
    pub fn new_session(&self, now: u64) -> String {
        let nonce = crate::inventory::random_hex(16);
        let exp = now + LIFETIME_SECS;
        let mac = hex(&self.mac(&format!("session|{exp}|{nonce}")));
        format!("{exp}.{nonce}.{mac}")
    }

    /// The nonce of the session `cookie` if it is ours and not expired at
    /// `now`.
    pub fn session<'c>(&self, cookie: &'c str, now: u64) -> Option<&'c str> {
        let mut parts = cookie.splitn(3, '.');
        let (exp, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let exp_n: u64 = exp.parse().ok()?;
        if exp_n <= now || nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let want = hex(&self.mac(&format!("session|{exp}|{nonce}")));
        eq(mac.as_bytes(), want.as_bytes()).then_some(nonce)
    }

    /// The CSRF token of the session with `nonce`.
    pub fn csrf(&self, nonce: &str) -> String {
        hex(&self.mac(&format!("csrf|{nonce}")))
    }

    /// Whether `given` is the CSRF token of the session with `nonce`.
    pub fn csrf_ok(&self, nonce: &str, given: &str) -> bool {
        eq(given.as_bytes(), self.csrf(nonce).as_bytes())
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_checked_and_expire() {
        let k = Keys::new("tok", Some("pw".into()));
        assert!(k.may_log_in("tok") && k.may_log_in("pw"));
        assert!(!k.may_log_in("nope") && !k.may_log_in(""));
        assert!(!Keys::new("tok", Some(String::new())).may_log_in(""));
        let c = k.new_session(1000);
        let nonce = k.session(&c, 1001).expect("valid");
        assert!(k.session(&c, 1000 + LIFETIME_SECS).is_none(), "expired");
        // Another token's keys, or a changed expiry: refused.
        assert!(Keys::new("other", None).session(&c, 1001).is_none());
        let (_, rest) = c.split_once('.').unwrap();
        assert!(k.session(&format!("99999999.{rest}"), 1001).is_none());
        assert!(k.session("garbage", 1001).is_none());
        let t = k.csrf(nonce);
        assert!(k.csrf_ok(nonce, &t) && !k.csrf_ok(nonce, "x"));
        assert_eq!(cookie("a=1; netboot_session=abc; b=2", COOKIE), Some("abc"));
        assert_eq!(cookie("a=1", COOKIE), None);
    }
}
