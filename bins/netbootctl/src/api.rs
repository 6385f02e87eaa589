//! netbootd's JSON API, for the commands that need the running server
//! (`status`, `sessions`) and for every change of the store while it
//! serves it (netbootd then does the change: it closes or opens the disks
//! it affects; changing the store under it would leave it serving old
//! ones).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the API gave no answer.
pub enum ApiError {
    /// Nothing listens there, or there is no token in the store.
    Down(String),
    /// It answered with an error.
    Refused(String),
}

impl ApiError {
    pub fn into_message(self, base: &str) -> String {
        match self {
            ApiError::Down(e) => format!(
                "netbootd's API at {base} does not answer ({e}): is netbootd running? (--api URL)"
            ),
            ApiError::Refused(e) => format!("netbootd's API at {base}: {e}"),
        }
    }
}

fn answer(r: Result<ureq::Response, ureq::Error>) -> Result<String, ApiError> {
    match r {
        Ok(resp) => resp
            .into_string()
            .map_err(|e| ApiError::Refused(format!("cannot read the answer: {e}"))),
        Err(ureq::Error::Status(code, resp)) => {
            let body = resp.into_string().unwrap_or_default();
            // netbootd says why as {"error": "..."}.
            let why = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| body.trim().to_owned());
            Err(ApiError::Refused(format!("{code}: {why}")))
        }
        // Only a refused connection means nobody listens: after a time-out
        // the request may have been done.
        Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::ConnectionFailed => {
            Err(ApiError::Down(t.to_string()))
        }
        Err(ureq::Error::Transport(t)) => Err(ApiError::Refused(t.to_string())),
    }
}

/// `GET base + path` as JSON.
pub fn get(base: &str, path: &str) -> Result<Value, ApiError> {
    let body = answer(ureq::get(&format!("{base}{path}")).timeout(TIMEOUT).call())?;
    serde_json::from_str(&body).map_err(|e| ApiError::Refused(format!("not JSON: {e}")))
}

/// `POST base + path` (with `body` as JSON) with the store's API token;
/// the answer as JSON.
pub fn post(base: &str, path: &str, store: &Path, body: Option<Value>) -> Result<Value, ApiError> {
    let file = store.join("netbootd").join("api-token");
    let token = std::fs::read_to_string(&file).map_err(|e| match e.kind() {
        // netbootd makes it at its first start on this store.
        std::io::ErrorKind::NotFound => {
            ApiError::Down(format!("no API token in {}", file.display()))
        }
        _ => ApiError::Refused(format!("the token {}: {e}", file.display())),
    })?;
    let req = ureq::post(&format!("{base}{path}"))
        // An import copies a whole disk.
        .timeout(Duration::from_secs(3600))
        .set("Authorization", &format!("Bearer {}", token.trim()));
    let text = answer(match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    })?;
    serde_json::from_str(&text).map_err(|e| ApiError::Refused(format!("not JSON: {e}")))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// "12 s ago", "3 min ago", "2 h ago", "4 d ago".
fn ago(t: u64) -> String {
    let d = now().saturating_sub(t);
    match d {
        0..=119 => format!("{d} s ago"),
        120..=7199 => format!("{} min ago", d / 60),
        7200..=172_799 => format!("{} h ago", d / 3600),
        _ => format!("{} d ago", d / 86400),
    }
}

/// The stages in boot order, with the words `status` shows.
const STAGES: [(&str, &str); 6] = [
    ("dhcp", "DHCP"),
    ("script", "script"),
    ("san_login", "iPXE login"),
    ("os_login", "OS login"),
    ("last_io", "I/O"),
    ("offline", "offline"),
];

/// The latest stage of a PC and when (`-` for a PC not seen yet).
fn stage(pc: &Value) -> String {
    STAGES
        .iter()
        .filter_map(|(k, word)| pc["stages"][k].as_u64().map(|t| (t, *word)))
        // The later event wins; at the same second, the later stage.
        .max_by_key(|&(t, _)| t)
        .map_or_else(|| "-".into(), |(t, w)| format!("{w}, {}", ago(t)))
}

/// One row of cells per element of the JSON array `v`.
fn rows(v: &Value, row: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    v.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(row)
        .collect()
}

/// The table of `GET /api/v1/clients`.
pub fn status_table(pcs: &Value) -> String {
    let rows = rows(pcs, |p| {
        let s = |k: &str| p[k].as_str().unwrap_or("-").to_owned();
        let n = |v: &Value| crate::human(v.as_u64().unwrap_or(0));
        vec![
            s("name"),
            s("mac"),
            match p["version"].as_u64() {
                Some(v) => format!("{}@{v}", s("image")),
                None => s("image"),
            },
            s("mode"),
            s("state"),
            p["sessions"].as_u64().unwrap_or(0).to_string(),
            stage(p),
            n(&p["io"]["read_bytes"]),
            n(&p["io"]["written_bytes"]),
            n(&p["overlay_bytes"]),
        ]
    });
    crate::table(
        &[
            "PC", "MAC", "IMAGE", "MODE", "STATE", "SESSIONS", "STAGE", "READ", "WRITTEN",
            "OVERLAY",
        ],
        &rows,
    )
}

/// The table of `GET /api/v1/sessions`.
pub fn sessions_table(sessions: &Value) -> String {
    let rows = rows(sessions, |s| {
        let f = |k: &str| s[k].as_str().unwrap_or("-").to_owned();
        vec![
            f("pc"),
            f("peer"),
            f("initiator"),
            f("target"),
            s["since"].as_u64().map_or_else(|| "-".into(), ago),
        ]
    });
    crate::table(&["PC", "PEER", "INITIATOR", "TARGET", "SINCE"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_stage_is_shown() {
        let t = now();
        let pc = serde_json::json!({
            "stages": {"dhcp": t - 300, "script": t - 290, "san_login": t - 289,
                       "os_login": null, "last_io": t - 5, "offline": null}
        });
        assert_eq!(stage(&pc), "I/O, 5 s ago");
        assert_eq!(stage(&serde_json::json!({"stages": {}})), "-");
        assert_eq!(ago(t - 7200), "2 h ago");
    }
}
