//! The page's HTML, server-rendered with maud (every value escaped unless
//! it is markup made here): the PCs' table with each boot drawn as a
//! timeline, the overlay against its limit and the recent I/O as small SVG
//! pictures; the images with their versions; the confirmation pages of
//! the actions; the login page. No inline script or style (the page's
//! Content-Security-Policy forbids them): `app.js` and `app.css` only.

use maud::{html, Markup, DOCTYPE};

use crate::inventory::{PcPhase, PcView};
use netboot_image::store::ImageInfo;

/// One sample of a PC's I/O counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Unix seconds.
    pub at: u64,
    /// Bytes read so far.
    pub read: u64,
    /// Bytes written so far.
    pub written: u64,
}

/// A PC's row.
#[derive(Debug, Clone)]
pub struct PcRow {
    /// What the API shows.
    pub view: PcView,
    /// Its I/O counters over the last minutes, oldest first.
    pub history: Vec<Sample>,
}

/// An image's part of the page.
#[derive(Debug, Clone)]
pub struct ImageRow {
    /// What the store says.
    pub info: ImageInfo,
    /// Its maintenance PC, and whether that PC runs the edit now.
    pub maintenance: Option<(String, bool)>,
}

/// Which PCs are shown, in which order (the query string of `/`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct View {
    /// `running`, `booting`, `off`, `unknown`; empty: all.
    #[serde(default)]
    pub state: String,
    /// An image's name; empty: all.
    #[serde(default)]
    pub image: String,
    /// `name`, `mac`, `ip`, `image`, `state`, `seen`, `overlay`.
    #[serde(default)]
    pub sort: String,
    /// `desc` for descending.
    #[serde(default)]
    pub dir: String,
    /// A message of a finished action.
    #[serde(default)]
    pub done: String,
    /// An action's refusal, as the API said it.
    #[serde(default)]
    pub error: String,
}

impl View {
    /// The query string of this view with `sort`/`dir` replaced.
    fn with_sort(&self, sort: &str) -> String {
        // No sort given is by name.
        let current = if self.sort.is_empty() {
            "name"
        } else {
            &self.sort
        };
        let dir = if current == sort && self.dir != "desc" {
            "desc"
        } else {
            "asc"
        };
        let mut q = vec![("sort", sort), ("dir", dir)];
        if !self.state.is_empty() {
            q.push(("state", &self.state));
        }
        if !self.image.is_empty() {
            q.push(("image", &self.image));
        }
        format!("?{}", encode(&q))
    }

    /// Filters and sorts `rows`.
    pub fn apply(&self, mut rows: Vec<PcRow>) -> Vec<PcRow> {
        rows.retain(|r| {
            (self.state.is_empty() || phase_name(r.view.state) == self.state)
                && (self.image.is_empty() || r.view.image == self.image)
        });
        let key = |r: &PcRow| -> (String, u64) {
            let v = &r.view;
            match self.sort.as_str() {
                "mac" => (v.mac.clone(), 0),
                "ip" => (v.ip.clone().unwrap_or_default(), 0),
                "image" => (format!("{}@{:010}", v.image, v.version.unwrap_or(0)), 0),
                "state" => (phase_name(v.state).into(), 0),
                "seen" => (String::new(), v.last_seen.unwrap_or(0)),
                "overlay" => (String::new(), v.overlay_bytes),
                _ => (v.name.clone(), 0),
            }
        };
        rows.sort_by(|a, b| {
            key(a)
                .cmp(&key(b))
                .then_with(|| a.view.name.cmp(&b.view.name))
        });
        if self.dir == "desc" {
            rows.reverse();
        }
        rows
    }
}

/// `k=v&...`, each part percent-encoded.
pub fn encode(q: &[(&str, &str)]) -> String {
    q.iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encoding of everything but unreserved characters.
pub fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn phase_name(p: PcPhase) -> &'static str {
    match p {
        PcPhase::Unknown => "unknown",
        PcPhase::Booting => "booting",
        PcPhase::Running => "running",
        PcPhase::Off => "off",
    }
}

/// 1.2 GiB.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// 2026-12-08 09:41 UTC. (The civil date of a day count, Howard
/// Hinnant's algorithm: a dozen lines instead of a date crate for one
/// format.)
pub fn date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// "12 s ago", "3 min ago", "2 h ago", "4 d ago".
pub fn ago(now: u64, t: u64) -> String {
    let d = now.saturating_sub(t);
    match d {
        0..=119 => format!("{d} s ago"),
        120..=7199 => format!("{} min ago", d / 60),
        7200..=172_799 => format!("{} h ago", d / 3600),
        _ => format!("{} d ago", d / 86400),
    }
}

/// The boot of `v` drawn: DHCP to script, script to iPXE's login, that to
/// the OS's login, each segment as long as it took.
fn timeline(v: &PcView) -> Markup {
    let s = &v.stages;
    let start = s.dhcp.or(s.script);
    let marks = [
        ("DHCP → script", start, s.script, "seg-ipxe"),
        ("script → SAN login", s.script, s.san_login, "seg-san"),
        ("SAN login → OS login", s.san_login, s.os_login, "seg-os"),
    ];
    let segs: Vec<(&str, u64, &str)> = marks
        .iter()
        .filter_map(|(what, a, b, class)| match (a, b) {
            (Some(a), Some(b)) if b >= a => Some((*what, b - a, *class)),
            _ => None,
        })
        .collect();
    let total: u64 = segs.iter().map(|s| s.1).sum();
    if start.is_none() {
        return html! { span.muted { "no boot seen" } };
    }
    const W: u64 = 160;
    // Each segment's place: as long as it took, at least 2 pixels.
    let mut x = 0u64;
    let placed: Vec<(&str, u64, &str, u64, u64)> = segs
        .iter()
        .map(|&(what, secs, class)| {
            let w = (secs * W).checked_div(total).unwrap_or(W / 3).max(2);
            let at = x;
            x += w;
            (what, secs, class, at, w)
        })
        .collect();
    let words: Vec<String> = segs
        .iter()
        .map(|(what, secs, _)| format!("{what} {secs} s"))
        .collect();
    html! {
        svg.timeline width=(W) height="12" viewBox=(format!("0 0 {W} 12")) role="img" {
            title { (words.join(", ")) }
            rect.track x="0" y="2" width=(W) height="8" {}
            @for (what, secs, class, at, w) in &placed {
                rect class=(class) x=(at) y="2" width=(w) height="8" { title { (what) " " (secs) " s" } }
            }
        }
        span.small { (segs.iter().map(|s| format!("{} s", s.1)).collect::<Vec<_>>().join(" · ")) }
    }
}

/// The overlay's bytes against its limit: a bar, amber from 80 %, red
/// when full.
fn overlay(v: &PcView) -> Markup {
    let Some(max) = v.overlay_max.filter(|m| *m > 0) else {
        return html! { (human(v.overlay_bytes)) };
    };
    let pct = (v.overlay_bytes.saturating_mul(100) / max).min(100);
    let class = match pct {
        0..=79 => "ok",
        80..=99 => "warn",
        _ => "full",
    };
    html! {
        svg.bar width="100" height="10" viewBox="0 0 100 10" role="img" {
            title { (pct) " % of its limit" }
            rect.track x="0" y="0" width="100" height="10" {}
            rect class=(class) x="0" y="0" width=(pct) height="10" {}
        }
        " "
        span.small data-overlay-class=(class) { (human(v.overlay_bytes)) " / " (human(max)) }
    }
}

/// The read and write rates of the last minutes, as two lines.
fn sparkline(h: &[Sample]) -> Markup {
    if h.len() < 2 {
        return html! { span.muted { "–" } };
    }
    let rates: Vec<(f64, f64)> = h
        .windows(2)
        .map(|w| {
            let dt = w[1].at.saturating_sub(w[0].at).max(1) as f64;
            (
                w[1].read.saturating_sub(w[0].read) as f64 / dt,
                w[1].written.saturating_sub(w[0].written) as f64 / dt,
            )
        })
        .collect();
    let top = rates.iter().map(|(r, w)| r.max(*w)).fold(1.0f64, f64::max);
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let step = W / (rates.len().max(2) - 1) as f64;
    let line = |f: &dyn Fn(&(f64, f64)) -> f64| {
        rates
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "{:.1},{:.1}",
                    i as f64 * step,
                    H - 1.0 - f(r) / top * (H - 2.0)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (lr, lw) = rates.last().copied().unwrap_or_default();
    html! {
        svg.spark width="120" height="24" viewBox="0 0 120 24" role="img" {
            title { "read " (human(lr as u64)) "/s, written " (human(lw as u64)) "/s" }
            polyline.read points=(line(&|r| r.0)) {}
            polyline.write points=(line(&|r| r.1)) {}
        }
    }
}

/// An action: a link to its confirmation page, which JavaScript turns into
/// a `confirm()` and a POST to the API.
fn action(
    label: &str,
    what: &str,
    name: &str,
    extra: &[(&str, &str)],
    api: &str,
    ask: &str,
) -> Markup {
    let mut q = vec![("what", what), ("name", name)];
    q.extend_from_slice(extra);
    html! {
        a.action href=(format!("/ui/confirm?{}", encode(&q))) data-post=(api) data-confirm=(ask) data-done=(format!("{label}: done")) { (label) }
    }
}

/// The PCs' table.
pub fn pcs(rows: &[PcRow], view: &View, now: u64, can_act: bool) -> Markup {
    let head = |key: &str, label: &str| {
        let arrow = if view.sort == key || (key == "name" && view.sort.is_empty()) {
            if view.dir == "desc" {
                " ▾"
            } else {
                " ▴"
            }
        } else {
            ""
        };
        html! { th { a href=(view.with_sort(key)) { (label) (arrow) } } }
    };
    html! {
        table.pcs {
            thead { tr {
                (head("name", "PC")) (head("mac", "MAC")) (head("ip", "IP"))
                (head("image", "Image")) th { "Mode" } (head("state", "State"))
                th { "Boot" } (head("overlay", "Overlay")) th { "I/O" } (head("seen", "Last seen"))
                @if can_act { th { "" } }
            } }
            tbody {
                @if rows.is_empty() {
                    tr { td colspan="11" .muted { "No PC matches." } }
                }
                @for r in rows {
                    @let v = &r.view;
                    tr data-pc=(v.name) {
                        td {
                            strong { (v.name) }
                            @if let Some(h) = &v.dhcp_hostname { br; span.small.muted { "DHCP: " (h) } }
                        }
                        td.mono { (v.mac) }
                        td.mono { (v.ip.as_deref().unwrap_or("–")) }
                        td {
                            (v.image) "@" (v.version.map(|n| n.to_string()).unwrap_or_else(|| "–".into()))
                            @if v.behind { " " span.badge.behind title=(format!("version {} is current", v.current)) { "behind" } }
                            @if let Some(p) = v.pin { " " span.badge title="pinned" { "pin " (p) } }
                        }
                        td { (v.mode) " · " (v.protocol) }
                        td { span class=(format!("badge state-{}", phase_name(v.state))) { (phase_name(v.state)) } }
                        td.timeline-cell { (timeline(v)) }
                        td { (overlay(v)) }
                        td { (sparkline(&r.history)) }
                        td { (v.last_seen.map(|t| ago(now, t)).unwrap_or_else(|| "never".into())) }
                        @if can_act {
                            td { (action("Reset", "reset", &v.name, &[], &format!("/api/v1/clients/{}/reset", pct(&v.name)),
                                &format!("Give {} a fresh overlay? What it wrote is lost.", v.name))) }
                        }
                    }
                }
            }
        }
    }
}

/// The images with their versions and maintenance.
pub fn images(rows: &[ImageRow], can_act: bool) -> Markup {
    html! {
        @for r in rows {
            @let i = &r.info;
            @let m = &i.meta;
            section.image data-image=(i.name) {
                h3 { (i.name) " " span.small.muted { "version " (m.current) " is current" } }
                p {
                    @match (m.edit_base, &r.maintenance) {
                        (Some(base), Some((pc, true))) => { span.badge.warn { "maintenance" } " the edit over version " (base) " runs on " strong { (pc) } }
                        (Some(base), Some((pc, false))) => { span.badge.warn { "maintenance" } " the edit over version " (base) " is open; its PC " (pc) " is off" }
                        (Some(base), None) => { span.badge.warn { "maintenance" } " the edit over version " (base) " is open (no maintenance PC in the file)" }
                        (None, _) => { span.muted { "no edit open" } }
                    }
                }
                div.scroll { table.versions {
                    thead { tr { th { "Version" } th { "Made" } th { "On disk" } th { "PCs" } th { "" } } }
                    tbody {
                        @for ver in m.versions.iter().rev() {
                            @let users = i.users.get(&ver.number).map_or(0, Vec::len);
                            tr data-version=(ver.number) {
                                td { (ver.number) @if let Some(b) = ver.base { span.small.muted { " over " (b) } } }
                                td { (date(ver.created)) }
                                td { (human(i.bytes.get(&ver.number).copied().unwrap_or(0))) }
                                td { (users) }
                                td { @if ver.number == m.current { span.badge.current { "current" } } }
                            }
                        }
                    }
                } }
                @if can_act {
                    @let n = pct(&i.name);
                    p.actions {
                        @if m.edit_base.is_none() {
                            (action("Start maintenance", "edit", &i.name, &[], &format!("/api/v1/images/{n}/edit"),
                                &format!("Open an edit of {} over version {}? Its maintenance PC boots it next.", i.name, m.current)))
                        } @else {
                            (action("Commit", "commit", &i.name, &[], &format!("/api/v1/images/{n}/commit"),
                                &format!("Seal the edit of {} as its next version and make it current?", i.name)))
                            " "
                            (action("Discard", "discard", &i.name, &[], &format!("/api/v1/images/{n}/discard"),
                                &format!("Throw the edit of {} away?", i.name)))
                        }
                        @if m.versions.iter().any(|v| v.number < m.current) {
                            " "
                            (action("Roll back", "rollback", &i.name, &[], &format!("/api/v1/images/{n}/rollback"),
                                &format!("Make the version before {} of {} current again?", m.current, i.name)))
                        }
                        " "
                        (action("Collect garbage", "gc", &i.name, &[], &format!("/api/v1/images/{n}/gc"),
                            &format!("Remove the versions of {} that nothing needs?", i.name)))
                    }
                }
            }
        }
    }
}

/// "3 PCs: 1 running, 1 booting, 1 off".
pub fn summary(rows: &[PcRow]) -> String {
    let n = |p| rows.iter().filter(|r| r.view.state == p).count();
    format!(
        "{} PCs: {} running, {} booting, {} off",
        rows.len(),
        n(PcPhase::Running),
        n(PcPhase::Booting),
        n(PcPhase::Off) + n(PcPhase::Unknown)
    )
}

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) }
        link rel="stylesheet" href="/ui/app.css";
        script src="/ui/app.js" defer {}
    }
}

/// The whole page.
#[allow(clippy::too_many_arguments)]
pub fn page(
    all: &[PcRow],
    shown: &[PcRow],
    images_rows: &[ImageRow],
    view: &View,
    now: u64,
    csrf: Option<&str>,
    image_names: &[String],
) -> Markup {
    let can_act = csrf.is_some();
    html! {
        html lang="en" {
            head { (head("netboot")) }
            body data-csrf=[csrf] {
                header {
                    h1 { "netboot" }
                    span #summary { (summary(all)) }
                    span #live.small.muted {}
                    @if let Some(c) = csrf {
                        form.logout method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(c);
                            button { "Log out" }
                        }
                    } @else {
                        a.login href="/ui/login" { "Log in to act" }
                    }
                }
                div #msg role="status" {
                    @if !view.error.is_empty() { p.msg.error { (view.error) } }
                    @if !view.done.is_empty() { p.msg.ok { (view.done) } }
                }
                main {
                    section {
                        h2 { "PCs" }
                        form.filters method="get" action="/" {
                            label { "State " select name="state" {
                                @for s in ["", "running", "booting", "off", "unknown"] {
                                    option value=(s) selected[view.state == s] { (if s.is_empty() { "all" } else { s }) }
                                }
                            } }
                            " "
                            label { "Image " select name="image" {
                                option value="" selected[view.image.is_empty()] { "all" }
                                @for i in image_names { option value=(i) selected[&view.image == i] { (i) } }
                            } }
                            input type="hidden" name="sort" value=(view.sort);
                            input type="hidden" name="dir" value=(view.dir);
                            " "
                            button { "Show" }
                        }
                        div #pcs.scroll { (pcs(shown, view, now, can_act)) }
                    }
                    section {
                        h2 { "Images" }
                        div #images { (images(images_rows, can_act)) }
                    }
                }
            }
        }
    }
}

/// The login page (with a refusal if there was one).
pub fn login(refused: bool) -> Markup {
    html! {
        html lang="en" {
            head { (head("netboot: log in")) }
            body.login {
                main {
                    h1 { "netboot" }
                    @if refused { p.msg.error role="alert" { "Wrong password or token." } }
                    form method="post" action="/ui/login" {
                        label { "Password or API token" br; input type="password" name="password" autocomplete="current-password" autofocus; }
                        " "
                        button { "Log in" }
                    }
                    p.small.muted { "The API token is in the store, STORE/netbootd/api-token; a password can be set in netboot.toml ([api] password)." }
                }
            }
        }
    }
}

/// The confirmation page of an action (for browsers without JavaScript):
/// a form that POSTs to the API.
pub fn confirm(question: &str, api: &str, csrf: &str) -> Markup {
    html! {
        html lang="en" {
            head { (head("netboot: confirm")) }
            body {
                main {
                    h1 { "netboot" }
                    p { (question) }
                    form method="post" action=(api) {
                        input type="hidden" name="csrf" value=(csrf);
                        button.danger { "Yes" }
                        " "
                        a href="/" { "No, back" }
                    }
                }
            }
        }
    }
}

/// Markup as a string (the fragments of the live update).
pub fn string(m: Markup) -> String {
    m.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pc(name: &str) -> PcView {
        use crate::inventory::{PcIo, Stages};
        PcView {
            name: name.into(),
            state: PcPhase::Running,
            mac: "52:54:00:00:00:01".into(),
            image: "golden".into(),
            version: Some(1),
            mode: netboot_image::Mode::Volatile,
            protocol: crate::config::Protocol::Iscsi,
            pin: None,
            current: 1,
            behind: false,
            target: "t".into(),
            sessions: 1,
            overlay_bytes: 900,
            stages: Stages {
                dhcp: Some(100),
                script: Some(110),
                san_login: Some(111),
                os_login: Some(130),
                last_io: Some(140),
                offline: None,
            },
            io: PcIo::default(),
            ip: Some("10.0.0.5".into()),
            dhcp_hostname: Some("<script>alert(1)</script>".into()),
            overlay_max: Some(1000),
            last_seen: Some(140),
        }
    }

    /// What a PC or its DHCP request named is text; the drawings are there.
    #[test]
    fn a_pcs_row_escapes_and_draws() {
        let rows = vec![PcRow {
            view: pc("pc1"),
            history: vec![
                Sample {
                    at: 100,
                    read: 0,
                    written: 0,
                },
                Sample {
                    at: 110,
                    read: 10_240,
                    written: 0,
                },
                Sample {
                    at: 120,
                    read: 10_240,
                    written: 5_120,
                },
            ],
        }];
        let html = pcs(&rows, &View::default(), 150, true).into_string();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<polyline class=\"read\""), "{html}");
        // 900 of 1000 bytes: amber.
        assert!(html.contains("data-overlay-class=\"warn\""), "{html}");
        // DHCP 10 s, SAN login 1 s, OS 19 s.
        assert!(html.contains("10 s · 1 s · 19 s"), "{html}");
        assert!(html.contains("10 s ago"), "{html}");
    }

    #[test]
    fn the_view_filters_and_sorts() {
        let mut rows: Vec<PcRow> = ["b", "a", "c"]
            .into_iter()
            .map(|n| PcRow {
                view: pc(n),
                history: Vec::new(),
            })
            .collect();
        rows[2].view.state = PcPhase::Off;
        rows[1].view.image = "other".into();
        let names = |v: &View| -> Vec<String> {
            v.apply(rows.clone())
                .into_iter()
                .map(|r| r.view.name)
                .collect()
        };
        assert_eq!(names(&View::default()), ["a", "b", "c"]);
        let desc = View {
            dir: "desc".into(),
            ..View::default()
        };
        assert_eq!(names(&desc), ["c", "b", "a"]);
        let running = View {
            state: "running".into(),
            ..View::default()
        };
        assert_eq!(names(&running), ["a", "b"]);
        let golden = View {
            image: "golden".into(),
            ..View::default()
        };
        assert_eq!(names(&golden), ["b", "c"]);
        assert_eq!(View::default().with_sort("name"), "?sort=name&dir=desc");
        assert_eq!(View::default().with_sort("ip"), "?sort=ip&dir=asc");
    }

    #[test]
    fn dates_and_sizes() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(1_796_692_293), "2026-12-08 01:11 UTC");
        assert_eq!(date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(pct("a b/<c>"), "a%20b%2F%3Cc%3E");
    }
}
