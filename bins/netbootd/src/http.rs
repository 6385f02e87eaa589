//! HTTP, with axum: the boot side on the LAN (`/boot.ipxe`, each PC's
//! `/boot/MAC.ipxe`, boot files under `/files/` with tower-http's
//! `ServeDir`: ranges, conditional requests, no path out of the directory)
//! and the JSON API under `/api/v1/` (on localhost by default; what
//! changes state needs the bearer token in the store).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tracing::{info, warn};

use crate::inventory::{Inventory, Refusal};

#[derive(Clone)]
struct Boot {
    inv: Arc<Inventory>,
    http_port: u16,
}

/// The boot side: iPXE's first script, then each PC's own; the files of
/// `files` under `/files/`.
pub fn boot_router(inv: Arc<Inventory>, http_port: u16, files: &std::path::Path) -> Router {
    Router::new()
        .route("/boot.ipxe", get(first_script))
        .route("/boot/{file}", get(pc_script))
        .nest_service(
            "/files",
            tower_http::services::ServeDir::new(files).append_index_html_on_directories(false),
        )
        .with_state(Boot { inv, http_port })
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
fn mac_of(ip: IpAddr) -> Option<String> {
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
    match tokio::task::spawn_blocking(move || inv.boot(&m)).await {
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
    token: Arc<str>,
}

/// The JSON API.
pub fn api_router(inv: Arc<Inventory>, token: String) -> Router {
    Router::new()
        .route("/api/v1/clients", get(clients))
        .route("/api/v1/images", get(images))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/clients/{name}/reset", post(reset))
        .route("/metrics", get(metrics))
        .with_state(Api {
            inv,
            token: token.into(),
        })
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

/// Whether the request carries the bearer token (compared in constant
/// time); a refusal is logged.
fn authorised(a: &Api, headers: &HeaderMap, peer: SocketAddr, what: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok = given.len() == a.token.len()
        && given
            .bytes()
            .zip(a.token.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0;
    if !ok {
        warn!(%peer, "{what}: missing or wrong API token");
    }
    ok
}

async fn reset(
    State(a): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if !authorised(&a, &headers, peer, "client reset") {
        return (StatusCode::UNAUTHORIZED, "bearer token required\n").into_response();
    }
    let inv = a.inv.clone();
    let n = name.clone();
    match tokio::task::spawn_blocking(move || inv.reset(&n)).await {
        Ok(Ok(())) => {
            info!(client = name, "reset through the API");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Err(e)) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}
