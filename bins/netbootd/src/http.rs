//! HTTP, with axum: the boot side on the LAN (`/boot.ipxe`, each PC's
//! `/boot/MAC.ipxe`, boot files under `/files/` with tower-http's
//! `ServeDir`: ranges, conditional requests, no path out of the directory)
//! and the JSON API under `/api/v1/` (on localhost by default; what
//! changes state needs the bearer token in the store).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tracing::{info, warn};

use netboot_image::Mode;
use serde::Deserialize;

use crate::inventory::{ActionError, Inventory, Refusal};

#[derive(Clone)]
struct Boot {
    inv: Arc<Inventory>,
    http_port: u16,
}

/// The boot side: iPXE's first script, then each PC's own; the files of
/// `files` under `/files/`, iPXE's (the TFTP root `ipxe`) under `/ipxe/`
/// (UEFI HTTP boot loads `ipxe.efi` there).
pub fn boot_router(
    inv: Arc<Inventory>,
    http_port: u16,
    files: &std::path::Path,
    ipxe: &std::path::Path,
) -> Router {
    Router::new()
        .route("/boot.ipxe", get(first_script))
        .route("/boot/{file}", get(pc_script))
        .nest_service(
            "/files",
            tower_http::services::ServeDir::new(files).append_index_html_on_directories(false),
        )
        .nest_service(
            "/ipxe",
            tower_http::services::ServeDir::new(ipxe).append_index_html_on_directories(false),
        )
        .layer(axum::middleware::from_fn_with_state(inv.clone(), count))
        .with_state(Boot { inv, http_port })
}

/// Counts every answer of the boot side in the metrics, by route and
/// status, with its Content-Length.
async fn count(
    State(inv): State<Arc<Inventory>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let route = if path == "/boot.ipxe" || path.starts_with("/boot/") {
        "script"
    } else if path.starts_with("/files/") {
        "files"
    } else if path.starts_with("/ipxe/") {
        "ipxe"
    } else {
        "other"
    };
    let resp = next.run(req).await;
    let bytes = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    inv.metrics.http(route, resp.status().as_u16(), bytes);
    resp
}

fn ipxe(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The script pxed hands to iPXE: it fetches the PC's own by MAC.
async fn first_script(State(b): State<Boot>) -> Response {
    ipxe(format!(
        "#!ipxe\nchain http://{}:{}/boot/${{mac:hexhyp}}.ipxe\n",
        b.inv.addr, b.http_port
    ))
}

/// The MAC the kernel's neighbour table has for `ip` (on our LAN, the
/// sender of the request).
pub(crate) fn mac_of(ip: IpAddr) -> Option<String> {
    let IpAddr::V4(ip) = ip else { return None };
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 4 && f[0] == ip.to_string() && f[3] != "00:00:00:00:00:00")
            .then(|| f[3].to_ascii_lowercase())
    })
}

async fn pc_script(
    State(b): State<Boot>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(file): Path<String>,
) -> Response {
    let Some(mac) = file
        .strip_suffix(".ipxe")
        .and_then(|m| netboot_image::store::parse_mac(m).ok())
    else {
        return (StatusCode::NOT_FOUND, "not a PC's script\n").into_response();
    };
    // A PC's script holds its secret: only the PC itself gets it.
    match mac_of(peer.ip()) {
        Some(m) if m == mac => {}
        other => {
            warn!(%peer, asked = mac, peer_mac = ?other, "refused a PC's script to another machine");
            b.inv.metrics.refuse("not_yours");
            return (StatusCode::FORBIDDEN, "this script is not yours\n").into_response();
        }
    }
    let inv = b.inv.clone();
    let m = mac.clone();
    let from = peer.ip();
    match tokio::task::spawn_blocking(move || inv.boot(&m, Some(from))).await {
        Ok(Ok(script)) => {
            info!(%peer, mac, "script sent");
            ipxe(script)
        }
        Ok(Err(Refusal::Unknown(_))) => {
            warn!(%peer, mac, "unknown PC refused (enrol = false)");
            b.inv.metrics.refuse("unknown");
            (StatusCode::NOT_FOUND, "unknown PC\n").into_response()
        }
        Ok(Err(e @ Refusal::Full(_))) => {
            warn!(%peer, mac, "{e}");
            b.inv.metrics.refuse("full");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
        Ok(Err(e)) => {
            warn!(%peer, mac, "cannot boot: {e}");
            b.inv.metrics.refuse("error");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

#[derive(Clone)]
struct Api {
    inv: Arc<Inventory>,
    /// Who may change things (the token, or a page's session).
    web: crate::web::Web,
}

/// The JSON API, and the administrator's page beside it.
pub fn api_router(web: crate::web::Web) -> Router {
    let inv = web.inv.clone();
    Router::new()
        .route("/api/v1/clients", get(clients))
        .route("/api/v1/images", get(images))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/clients", post(client_add))
        .route("/api/v1/clients/{name}/reset", post(reset))
        .route("/api/v1/images", post(image_create))
        .route("/api/v1/images/{name}/edit", post(image_edit))
        .route("/api/v1/images/{name}/commit", post(image_commit))
        .route("/api/v1/images/{name}/discard", post(image_discard))
        .route("/api/v1/images/{name}/rollback", post(image_rollback))
        .route("/api/v1/images/{name}/gc", post(image_gc))
        .route("/metrics", get(metrics))
        .with_state(Api {
            inv,
            web: web.clone(),
        })
        .merge(crate::web::router(web))
}

async fn clients(State(a): State<Api>) -> Response {
    let inv = a.inv.clone();
    match tokio::task::spawn_blocking(move || inv.view()).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn metrics(State(a): State<Api>) -> Response {
    let inv = a.inv.clone();
    match tokio::task::spawn_blocking(move || inv.view().map(|v| inv.metrics.encode(&v))).await {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn sessions(State(a): State<Api>) -> Response {
    Json(a.inv.sessions()).into_response()
}

async fn images(State(a): State<Api>) -> Response {
    let inv = a.inv.clone();
    match tokio::task::spawn_blocking(move || inv.store.images()).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Whether the request may change things: the bearer token, or a page's
/// session with its CSRF token (`form_csrf`: a form's field); a refusal is
/// logged.
fn authorised(
    a: &Api,
    headers: &HeaderMap,
    form_csrf: Option<&str>,
    peer: SocketAddr,
    what: &str,
) -> bool {
    let ok = a.web.may_change(headers, form_csrf);
    if !ok {
        warn!(%peer, "{what}: missing or wrong API token (or session and CSRF token)");
    }
    ok
}

/// The HTTP status of an action's refusal.
fn status_of(e: &ActionError) -> StatusCode {
    use netboot_image::StoreError as S;
    match e {
        ActionError::Busy(_) => StatusCode::CONFLICT,
        ActionError::Store(s) => match s {
            S::BadName { .. } | S::BadMac(_) | S::ImportHasBacking(_) => StatusCode::BAD_REQUEST,
            S::NoImage(_) | S::NoClient(_) => StatusCode::NOT_FOUND,
            S::ImageExists(_)
            | S::ClientExists(_)
            | S::MacTaken { .. }
            | S::NoEdit(_)
            | S::NoPrevious(_)
            | S::NoVersion { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": msg.to_string() })),
    )
        .into_response()
}

/// Runs the action `what` (`f`, blocking: store and disk I/O) if the
/// request carries the token; its answer as JSON, a refusal as
/// `{"error": ...}` with its status. Both are logged.
async fn action<T: serde::Serialize + Send + 'static>(
    a: Api,
    ask: Ask,
    what: String,
    f: impl FnOnce(&Inventory) -> Result<T, ActionError> + Send + 'static,
) -> Response {
    let peer = ask.peer;
    // A page's form (no JavaScript) is sent back to the page with the
    // message; everyone else gets JSON.
    let form = ask.form.is_some();
    if !authorised(&a, &ask.headers, ask.csrf(), peer, &what) {
        return if form {
            (
                StatusCode::FORBIDDEN,
                "log in again: no session or no CSRF token\n",
            )
                .into_response()
        } else {
            error(StatusCode::UNAUTHORIZED, "bearer token required")
        };
    }
    let inv = a.inv.clone();
    match tokio::task::spawn_blocking(move || f(&inv)).await {
        Ok(Ok(v)) => {
            info!(%peer, "{what}: done through the API");
            if form {
                crate::web::back(true, &format!("{what}: done"))
            } else {
                Json(v).into_response()
            }
        }
        Ok(Err(e)) => {
            warn!(%peer, "{what}: refused: {e}");
            if form {
                crate::web::back(false, &format!("{what}: {e}"))
            } else {
                error(status_of(&e), e)
            }
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

use crate::web::Ask;

/// What the JSON-body actions get (they are not the page's forms).
type Ctx = (State<Api>, ConnectInfo<SocketAddr>, HeaderMap);

/// An [`Ask`] of a request whose body was JSON (read by `Json`).
fn json_ask(peer: SocketAddr, headers: HeaderMap) -> Ask {
    Ask {
        peer,
        headers,
        form: None,
    }
}

async fn reset(State(a): State<Api>, Path(name): Path<String>, ask: Ask) -> Response {
    let what = format!("client {name} reset");
    action(a, ask, what, move |inv| {
        let path = inv.reset(&name)?;
        Ok(serde_json::json!({ "client": name, "path": path }))
    })
    .await
}

/// `POST /api/v1/clients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
    mac: String,
    image: String,
    #[serde(default)]
    mode: Mode,
    overlay_max: Option<u64>,
}

async fn client_add((State(a), ConnectInfo(peer), h): Ctx, Json(c): Json<NewClient>) -> Response {
    let what = format!("client {} add", c.name);
    action(a, json_ask(peer, h), what, move |inv| {
        inv.client_add(&c.name, &c.mac, &c.image, c.mode, c.overlay_max)
    })
    .await
}

/// `POST /api/v1/images`: a file on the server imported as version 1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewImage {
    name: String,
    from: std::path::PathBuf,
    format: Option<String>,
}

async fn image_create((State(a), ConnectInfo(peer), h): Ctx, Json(i): Json<NewImage>) -> Response {
    let format = match i.format.as_deref().map(str::parse).transpose() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let what = format!("image {} create", i.name);
    action(a, json_ask(peer, h), what, move |inv| {
        inv.image_create(&i.name, &i.from, format)
    })
    .await
}

async fn image_edit(State(a): State<Api>, Path(name): Path<String>, ask: Ask) -> Response {
    let what = format!("image {name} edit");
    action(a, ask, what, move |inv| {
        let path = inv.image_edit(&name)?;
        Ok(serde_json::json!({ "image": name, "path": path }))
    })
    .await
}

async fn image_commit(State(a): State<Api>, Path(name): Path<String>, ask: Ask) -> Response {
    let what = format!("image {name} commit");
    action(a, ask, what, move |inv| {
        let n = inv.image_commit(&name)?;
        Ok(serde_json::json!({ "image": name, "current": n }))
    })
    .await
}

async fn image_discard(State(a): State<Api>, Path(name): Path<String>, ask: Ask) -> Response {
    let what = format!("image {name} discard");
    action(a, ask, what, move |inv| {
        inv.image_discard(&name)?;
        Ok(serde_json::json!({ "image": name }))
    })
    .await
}

/// `?to=N` of a rollback.
#[derive(Debug, Deserialize)]
struct RollbackTo {
    to: Option<u32>,
}

async fn image_rollback(
    State(a): State<Api>,
    Path(name): Path<String>,
    Query(q): Query<RollbackTo>,
    ask: Ask,
) -> Response {
    let what = format!("image {name} rollback");
    action(a, ask, what, move |inv| {
        let n = inv.image_rollback(&name, q.to)?;
        Ok(serde_json::json!({ "image": name, "current": n }))
    })
    .await
}

async fn image_gc(State(a): State<Api>, Path(name): Path<String>, ask: Ask) -> Response {
    let what = format!("image {name} gc");
    action(a, ask, what, move |inv| {
        let gone = inv.image_gc(&name)?;
        Ok(serde_json::json!({ "image": name, "removed": gone }))
    })
    .await
}
