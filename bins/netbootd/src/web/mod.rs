//! The administrator's page, on the API's listener (localhost by default):
//! `GET /` shows every PC (state, boot drawn as a timeline, overlay against
//! its limit, recent I/O, last seen; sortable and filtered by state and
//! image) and every image (versions, who runs them, maintenance), and
//! keeps itself up to date (`app.js` fetches `/ui/fragments` every 3 s and
//! says so when netbootd does not answer). Without JavaScript it reads the
//! same and its actions go through confirmation pages.
//!
//! The actions (reset a PC, start maintenance, commit, discard, roll back,
//! collect garbage) are calls of the same API `netbootctl` uses: a browser
//! logged in (see [`session`]) sends its session cookie and CSRF token
//! instead of the bearer token. A form post (no JavaScript) is answered
//! with a redirect back to the page and the API's message.
//!
//! Every page has a Content-Security-Policy that allows scripts and
//! styles from this server only (no inline code), and every value from a
//! PC, the store or the file is escaped by maud.

pub mod render;
pub mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tracing::warn;

use crate::inventory::Inventory;
use render::{ImageRow, PcRow, View};
use session::Keys;

/// The page's stylesheet.
const CSS: &str = include_str!("app.css");
/// The page's script.
const JS: &str = include_str!("app.js");

/// Content-Security-Policy of every page.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the page's handlers share.
#[derive(Clone, Debug)]
pub struct Web {
    /// The PCs.
    pub inv: Arc<Inventory>,
    /// Who may log in.
    pub keys: Arc<Keys>,
    /// The page can be read without logging in.
    pub public_view: bool,
    /// Session cookies are `Secure` (netbootd serves the page over TLS).
    pub secure_cookie: bool,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Who sent a request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Nobody we know.
    Anonymous,
    /// A logged-in browser: its session's nonce.
    Session(String),
    /// Someone with the API token.
    Token,
}

impl Web {
    /// Who sent a request with `headers` (the bearer token, or a valid
    /// session cookie).
    pub fn caller(&self, headers: &HeaderMap) -> Caller {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|b| self.keys.is_token(b)) {
            return Caller::Token;
        }
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| session::cookie(c, session::COOKIE))
            .and_then(|c| self.keys.session(c, now()))
            .map_or(Caller::Anonymous, |n| Caller::Session(n.to_owned()))
    }

    /// Whether a change may be made: the API token, or a session with its
    /// CSRF token (header `X-CSRF-Token`, or `csrf` of a form).
    pub fn may_change(&self, headers: &HeaderMap, form_csrf: Option<&str>) -> bool {
        match self.caller(headers) {
            Caller::Token => true,
            Caller::Session(nonce) => {
                let given = headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .or(form_csrf)
                    .unwrap_or("");
                self.keys.csrf_ok(&nonce, given)
            }
            Caller::Anonymous => false,
        }
    }
}

/// A request's caller and, for a form post, its fields: the last
/// extractor of the API's actions that a page's form may call.
#[derive(Debug)]
pub struct Ask {
    /// Where it came from.
    pub peer: SocketAddr,
    /// Its headers.
    pub headers: HeaderMap,
    /// The fields of a form post (`application/x-www-form-urlencoded`).
    pub form: Option<HashMap<String, String>>,
}

/// The largest form a page sends (a CSRF token, a password).
const MAX_FORM: usize = 4096;

impl<S: Send + Sync> FromRequest<S> for Ask {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        let headers = req.headers().clone();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let form = if is_form {
            let body = axum::body::to_bytes(req.into_body(), MAX_FORM)
                .await
                .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response())?;
            Some(
                serde_urlencoded::from_bytes(&body).map_err(|e| {
                    (StatusCode::BAD_REQUEST, format!("form: {e}\n")).into_response()
                })?,
            )
        } else {
            None
        };
        Ok(Ask {
            peer,
            headers,
            form,
        })
    }
}

impl Ask {
    /// The form's `csrf` field.
    pub fn csrf(&self) -> Option<&str> {
        self.form.as_ref()?.get("csrf").map(String::as_str)
    }
}

/// An answer to a form post of an action: back to the page, with the
/// message.
pub fn back(ok: bool, msg: &str) -> Response {
    let q = render::encode(&[(if ok { "done" } else { "error" }, msg)]);
    Redirect::to(&format!("/?{q}")).into_response()
}

fn with_csp(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html(status: StatusCode, m: maud::Markup) -> Response {
    with_csp((status, Html(m.into_string())).into_response())
}

/// The page's routes (merged into the API's router).
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ui/fragments", get(fragments))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/confirm", get(confirm))
        .route(
            "/ui/app.css",
            get(|| async { static_file(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/ui/app.js",
            get(|| async { static_file(JS, "text/javascript; charset=utf-8") }),
        )
        .with_state(web)
}

fn static_file(body: &'static str, kind: &'static str) -> Response {
    with_csp(([(header::CONTENT_TYPE, kind)], body).into_response())
}

/// What the page shows.
struct Data {
    /// Every PC.
    all: Vec<PcRow>,
    /// The PCs the view selects, in its order.
    shown: Vec<PcRow>,
    /// Every image.
    images: Vec<ImageRow>,
    /// The images' names.
    names: Vec<String>,
}

/// What the page shows for `view`. Blocking (the store).
fn data(inv: &Inventory, view: &View) -> Result<Data, String> {
    let all: Vec<PcRow> = inv
        .view()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|v| PcRow {
            history: inv.history(&v.name),
            view: v,
        })
        .collect();
    let shown = view.apply(all.clone());
    let images: Vec<ImageRow> = inv
        .store
        .images()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|info| ImageRow {
            maintenance: inv.maintenance_of(&info.name),
            info,
        })
        .collect();
    let names = images.iter().map(|i| i.info.name.clone()).collect();
    Ok(Data {
        all,
        shown,
        images,
        names,
    })
}

/// The session's CSRF token, or None (not logged in); whether the page
/// may be read at all.
fn reader(w: &Web, headers: &HeaderMap) -> (bool, Option<String>) {
    match w.caller(headers) {
        Caller::Session(n) => (true, Some(w.keys.csrf(&n))),
        Caller::Token => (true, None),
        Caller::Anonymous => (w.public_view, None),
    }
}

async fn page(State(w): State<Web>, headers: HeaderMap, Query(view): Query<View>) -> Response {
    let (may_read, csrf) = reader(&w, &headers);
    if !may_read {
        return Redirect::to("/ui/login").into_response();
    }
    let inv = w.inv.clone();
    let v = view.clone();
    match tokio::task::spawn_blocking(move || data(&inv, &v)).await {
        Ok(Ok(d)) => html(
            StatusCode::OK,
            render::page(
                &d.all,
                &d.shown,
                &d.images,
                &view,
                now(),
                csrf.as_deref(),
                &d.names,
            ),
        ),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// The parts the page's script swaps in: the summary, the PCs' table and
/// the images, as rendered HTML in JSON.
async fn fragments(State(w): State<Web>, headers: HeaderMap, Query(view): Query<View>) -> Response {
    let (may_read, csrf) = reader(&w, &headers);
    if !may_read {
        return (StatusCode::UNAUTHORIZED, "log in\n").into_response();
    }
    let inv = w.inv.clone();
    let v = view.clone();
    match tokio::task::spawn_blocking(move || data(&inv, &v)).await {
        Ok(Ok(d)) => {
            let can_act = csrf.is_some();
            let body = serde_json::json!({
                "summary": render::summary(&d.all),
                "pcs": render::string(render::pcs(&d.shown, &view, now(), can_act)),
                "images": render::string(render::images(&d.images, can_act)),
            });
            with_csp(axum::Json(body).into_response())
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn login_page() -> Response {
    html(StatusCode::OK, render::login(false))
}

async fn login(State(w): State<Web>, ask: Ask) -> Response {
    let given = ask
        .form
        .as_ref()
        .and_then(|f| f.get("password"))
        .map(String::as_str)
        .unwrap_or("");
    if !w.keys.may_log_in(given) {
        warn!(peer = %ask.peer, "page: wrong password or token");
        // A guesser waits.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        return html(StatusCode::UNAUTHORIZED, render::login(true));
    }
    let secure = w.secure_cookie
        || ask
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes() == b"https");
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        session::COOKIE,
        w.keys.new_session(now()),
        session::LIFETIME_SECS,
        if secure { "; Secure" } else { "" }
    );
    tracing::info!(peer = %ask.peer, "page: logged in");
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(w): State<Web>, ask: Ask) -> Response {
    if !w.may_change(&ask.headers, ask.csrf()) {
        return (StatusCode::FORBIDDEN, "no session, or no CSRF token\n").into_response();
    }
    let mut r = Redirect::to("/ui/login").into_response();
    let gone = format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        session::COOKIE
    );
    if let Ok(v) = HeaderValue::from_str(&gone) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `?what=reset|edit|commit|discard|rollback|gc&name=NAME`.
#[derive(Debug, serde::Deserialize)]
struct Confirm {
    what: String,
    name: String,
}

async fn confirm(State(w): State<Web>, headers: HeaderMap, Query(c): Query<Confirm>) -> Response {
    let Caller::Session(nonce) = w.caller(&headers) else {
        return Redirect::to("/ui/login").into_response();
    };
    let n = render::pct(&c.name);
    let (question, api) = match c.what.as_str() {
        "reset" => (
            format!("Give {} a fresh overlay? What it wrote is lost.", c.name),
            format!("/api/v1/clients/{n}/reset"),
        ),
        "edit" => (
            format!(
                "Open an edit of {}? Its maintenance PC boots it next.",
                c.name
            ),
            format!("/api/v1/images/{n}/edit"),
        ),
        "commit" => (
            format!(
                "Seal the edit of {} as its next version and make it current?",
                c.name
            ),
            format!("/api/v1/images/{n}/commit"),
        ),
        "discard" => (
            format!("Throw the edit of {} away?", c.name),
            format!("/api/v1/images/{n}/discard"),
        ),
        "rollback" => (
            format!(
                "Make the version before the current one of {} current again?",
                c.name
            ),
            format!("/api/v1/images/{n}/rollback"),
        ),
        "gc" => (
            format!("Remove the versions of {} that nothing needs?", c.name),
            format!("/api/v1/images/{n}/gc"),
        ),
        _ => return (StatusCode::BAD_REQUEST, "unknown action\n").into_response(),
    };
    html(
        StatusCode::OK,
        render::confirm(&question, &api, &w.keys.csrf(&nonce)),
    )
}
