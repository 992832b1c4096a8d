//! The central app's lane: HTTP/1.1 over a Unix socket. Filesystem
//! permissions are the authentication (seed 000): the socket is 0600, or
//! 0660 owned by `BROKER_UNIX_SOCKET_GROUP`.
//!
//! The socket is bound under a temporary name, given its mode and group,
//! then renamed into place, so there is no moment where the final path
//! exists with looser permissions. A stale socket (nobody listening) is
//! replaced; a live one or a non-socket file at the path is an error.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::lane::{body_json, Broker, BuildDispatchRequest, DispatchRequest, LaneError};

/// Largest request body the lane accepts.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Default and ceiling of `timeout_ms` on result polls.
const DEFAULT_POLL_MS: u64 = 30_000;
const MAX_POLL_MS: u64 = 120_000;

#[derive(Debug, thiserror::Error)]
pub enum UdsError {
    #[error("BROKER_UNIX_SOCKET_PATH={path}: {reason}")]
    Socket { path: PathBuf, reason: String },
    #[error("BROKER_UNIX_SOCKET_GROUP={group}: {reason}")]
    Group { group: String, reason: String },
}

fn socket_err(path: &Path, reason: impl std::fmt::Display) -> UdsError {
    UdsError::Socket {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Resolves a group name or numeric gid.
fn resolve_group(group: &str) -> Result<nix::unistd::Gid, UdsError> {
    if let Ok(n) = group.parse::<u32>() {
        return Ok(nix::unistd::Gid::from_raw(n));
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid),
        Ok(None) => Err(UdsError::Group {
            group: group.into(),
            reason: "no such group".into(),
        }),
        Err(e) => Err(UdsError::Group {
            group: group.into(),
            reason: e.to_string(),
        }),
    }
}

/// Binds the lane's socket with its final mode and group.
pub fn bind(path: &Path, group: Option<&str>) -> Result<tokio::net::UnixListener, UdsError> {
    let gid = group.map(resolve_group).transpose()?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(socket_err(
                    path,
                    "another process is listening on it; stop it first",
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| socket_err(path, format!("remove stale socket: {e}")))?;
        }
        Ok(_) => {
            return Err(socket_err(
                path,
                "exists and is not a socket; refusing to replace it",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(socket_err(path, e)),
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| socket_err(path, "has no parent directory"))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| socket_err(path, format!("create {}: {e}", dir.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = std::os::unix::net::UnixListener::bind(&tmp).map_err(|e| socket_err(path, e))?;
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    let finish = || -> Result<(), UdsError> {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| socket_err(path, format!("chmod: {e}")))?;
        if let Some(gid) = gid {
            nix::unistd::chown(&tmp, None, Some(gid)).map_err(|e| UdsError::Group {
                group: group.unwrap_or_default().into(),
                reason: format!("chown {}: {e}", tmp.display()),
            })?;
        }
        std::fs::rename(&tmp, path).map_err(|e| socket_err(path, format!("rename: {e}")))
    };
    if let Err(e) = finish() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| socket_err(path, e))?;
    tokio::net::UnixListener::from_std(listener).map_err(|e| socket_err(path, e))
}

pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/coold/dispatch", post(dispatch))
        .route("/v1/build/dispatch", post(build_dispatch))
        .route("/v1/build/result/{id}", get(result))
        .route("/v1/build/{id}/cancel", post(cancel))
        .route("/v1/build/events/{id}", get(events))
        .route("/v1/hosts", get(hosts))
        .route("/v1/hosts/{host_id}/revoke", post(revoke))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(broker)
}

fn error(status: u16, message: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (
        status,
        Json(serde_json::json!({ "error": message, "source": "broker" })),
    )
        .into_response();
    r.headers_mut()
        .insert("x-coolify-source", HeaderValue::from_static("broker"));
    r
}

fn lane_error(e: LaneError) -> Response {
    error(e.status(), e.to_string())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, LaneError> {
    serde_json::from_slice(body).map_err(|e| LaneError::BadRequest(format!("body: {e}")))
}

async fn health(State(b): State<Arc<Broker>>) -> Response {
    Json(serde_json::json!({
        "status": "ok",
        "streams": b.streams.len(),
        "pending": b.pending.len(),
    }))
    .into_response()
}

/// Every connected host: id, capabilities, agent version, since when, last
/// frame, free build slots.
async fn hosts(State(b): State<Arc<Broker>>) -> Response {
    let hosts = b.streams.hosts();
    Json(serde_json::json!({ "count": hosts.len(), "hosts": hosts })).into_response()
}

/// Refuses the host's tokens from now on and closes its stream at once.
async fn revoke(State(b): State<Arc<Broker>>, UrlPath(host): UrlPath<String>) -> Response {
    match b.revoke(&host) {
        Ok(r) => Json(r).into_response(),
        Err(e) => lane_error(e),
    }
}

async fn metrics(State(b): State<Arc<Broker>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        b.render_metrics(),
    )
        .into_response()
}

async fn dispatch(State(b): State<Arc<Broker>>, body: Bytes) -> Response {
    let req: DispatchRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return lane_error(e),
    };
    match b.dispatch(req).await {
        Ok((id, outcome)) => {
            let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut resp = if status == StatusCode::NO_CONTENT {
                Response::new(Body::empty())
            } else {
                Response::new(Body::from(outcome.body))
            };
            *resp.status_mut() = status;
            let h = resp.headers_mut();
            if status != StatusCode::NO_CONTENT {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            if let Ok(v) = HeaderValue::from_str(&id) {
                h.insert("x-request-id", v);
            }
            h.insert(
                "x-coolify-source",
                HeaderValue::from_static(if outcome.by_broker { "broker" } else { "agent" }),
            );
            resp
        }
        Err(e) => lane_error(e),
    }
}

async fn build_dispatch(State(b): State<Arc<Broker>>, body: Bytes) -> Response {
    let req: BuildDispatchRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return lane_error(e),
    };
    match b.dispatch_build(req) {
        Ok((id, host)) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "request_id": id, "host_id": host })),
        )
            .into_response(),
        Err(e) => lane_error(e),
    }
}

#[derive(Debug, Deserialize)]
struct PollQuery {
    timeout_ms: Option<u64>,
}

async fn result(
    State(b): State<Arc<Broker>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<PollQuery>,
) -> Response {
    let ms = q.timeout_ms.unwrap_or(DEFAULT_POLL_MS).min(MAX_POLL_MS);
    match b.result(&id, Duration::from_millis(ms)).await {
        Ok(Some(o)) => Json(serde_json::json!({
            "request_id": id,
            "state": "landed",
            "status": o.status,
            "body": body_json(&o.body),
            "error": o.error,
            "source": if o.by_broker { "broker" } else { "agent" },
        }))
        .into_response(),
        Ok(None) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "request_id": id, "state": "waiting" })),
        )
            .into_response(),
        Err(e) => lane_error(e),
    }
}

async fn cancel(State(b): State<Arc<Broker>>, UrlPath(id): UrlPath<String>) -> Response {
    match b.cancel(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => lane_error(e),
    }
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    from: usize,
}

/// Longest a follow stays open: past it the caller reconnects with
/// `from=<lines seen>`.
const MAX_FOLLOW: Duration = Duration::from_secs(3600);
/// How often a follow looks whether the result landed.
const FOLLOW_TICK: Duration = Duration::from_millis(500);

fn ndjson(lines: &[Bytes]) -> Bytes {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// `GET /v1/build/events/:id`: the build's events so far as NDJSON; with
/// `follow=true` the stream stays open until the result lands.
async fn events(
    State(b): State<Arc<Broker>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<EventsQuery>,
) -> Response {
    let (first, landed, _) = match b.events(&id, q.from) {
        Ok(v) => v,
        Err(e) => return lane_error(e),
    };
    let truncated = first.truncated;
    let body = if !q.follow || landed {
        Body::from(ndjson(&first.lines))
    } else {
        let start = q.from + first.lines.len();
        let opening = ndjson(&first.lines);
        let deadline = tokio::time::Instant::now() + MAX_FOLLOW;
        let stream =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(opening) })
                .chain(futures_util::stream::unfold(
                    Some((b, id, start)),
                    move |state| async move {
                        let (b, id, mut at) = state?;
                        loop {
                            let (slice, landed, grew) = b.events(&id, at).ok()?;
                            if !slice.lines.is_empty() {
                                at += slice.lines.len();
                                return Some((Ok(ndjson(&slice.lines)), Some((b, id, at))));
                            }
                            if landed || tokio::time::Instant::now() >= deadline {
                                return None;
                            }
                            match grew {
                                Some(n) => {
                                    let _ = tokio::time::timeout(FOLLOW_TICK, n.notified()).await;
                                }
                                None => tokio::time::sleep(FOLLOW_TICK).await,
                            }
                        }
                    },
                ));
        Body::from_stream(stream)
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if truncated {
        h.insert(
            "x-coolify-events-truncated",
            HeaderValue::from_static("true"),
        );
    }
    resp
}
