//! Lenient reads of the engine API over its unix socket.
//!
//! bollard's models reject state names Podman emits beyond Docker's set
//! (measured: `"Status":"stopped"` while a restart policy cycles a
//! container), which turns a plain inspect into a JSON error. The reads the
//! agent and CLI branch on go through these small views instead: unknown
//! values stay strings, absent fields take defaults.
//!
//! Its own crate because both sides read the engine this way: `coold`
//! (as `coold::podman::raw`) and the `coolify` CLI, which must not link the
//! whole agent for it. GETs reuse keep-alive connections pooled per thread,
//! registered for reads only (`read_only_socket`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::read_only_socket::ReadOnlySocket;

mod read_only_socket;

/// Docker-compatible API version the compat endpoints are asked for.
pub const API_VERSION: &str = "v1.41";

/// Prefix of the Docker-compatible API.
pub const COMPAT: &str = "/v1.41";

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("engine socket {path}: {reason}")]
    Connect { path: String, reason: String },
    #[error("engine API {path}: {reason}")]
    Http { path: String, reason: String },
    #[error("engine API {path} answered {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("engine API {path}: unexpected JSON: {reason}")]
    Json { path: String, reason: String },
}

/// Prefix of libpod's own API, for what the compat API cannot say (the OCI
/// runtime of a container, healthcheck runs, networks without DNS).
pub const LIBPOD: &str = "/v4.0.0/libpod";

/// One request to the engine socket: `full_path` carries its own version
/// prefix (`/v1.41/...` or [`LIBPOD`]). Answers `(status, body)`.
pub async fn request(
    socket: &Path,
    method: http::Method,
    full_path: &str,
    body: Option<Vec<u8>>,
) -> Result<(u16, bytes::Bytes), RawError> {
    request_with(socket, method, full_path, "application/json", body).await
}

/// `POST {full}` with a body of `content_type` (an image import's tar);
/// returns status and body.
pub async fn post(
    socket: &Path,
    full: &str,
    content_type: &str,
    body: bytes::Bytes,
) -> Result<(u16, bytes::Bytes), RawError> {
    request_with(
        socket,
        http::Method::POST,
        full,
        content_type,
        Some(body.to_vec()),
    )
    .await
}

async fn request_with(
    socket: &Path,
    method: http::Method,
    full_path: &str,
    content_type: &str,
    body: Option<Vec<u8>>,
) -> Result<(u16, bytes::Bytes), RawError> {
    // Reads reuse idle keep-alive connections: a connect and handshake per
    // read would cost more than the read (docs/verbs.md, "Measured
    // performance"). A reused one may have been closed by the engine
    // meanwhile: a GET is safe to retry once on a fresh connection. Writes
    // always take a fresh connection.
    let reusable = method == http::Method::GET;
    let request = Request {
        method: &method,
        full_path,
        content_type,
        body: &body,
    };
    if reusable {
        if let Some(conn) = idle_conn(socket) {
            if let Ok((answer, conn)) = send_inline(conn, &request).await {
                park(socket, conn);
                return Ok(answer);
            }
        }
        let conn = handshake(socket, full_path).await?;
        let (answer, conn) = send_inline(conn, &request).await?;
        park(socket, conn);
        return Ok(answer);
    }
    let sender = connect(socket, full_path).await?;
    send(sender, &request).await
}

/// What [`send`] and [`send_inline`] put on the wire.
struct Request<'a> {
    method: &'a http::Method,
    full_path: &'a str,
    content_type: &'a str,
    body: &'a Option<Vec<u8>>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>;
type Connection =
    hyper::client::conn::http1::Connection<TokioIo<ReadOnlySocket>, Full<bytes::Bytes>>;

/// A keep-alive engine connection whose I/O is driven by the task that
/// uses it, not by a task of its own: a read then costs no hand-off
/// between tasks, so on the multi-threaded runtime it wakes no other
/// worker (docs/verbs.md counts times scheduled per request).
/// Nothing polls it while parked, so a close by the engine is only seen on
/// the next use, which the GET retry covers.
struct Conn {
    sender: Sender,
    io: Connection,
}

/// Most idle connections kept per engine socket and thread.
const MAX_IDLE: usize = 8;

thread_local! {
    /// Idle connections per engine socket, kept per thread: a connection's
    /// I/O is registered with the runtime that opened it, and the REST
    /// API's runtime (a thread of its own, `api/serve_thread.rs`) must not
    /// take one the agent runtime opened, or each answer on it would be
    /// noticed by the other runtime's driver and handed across threads.
    /// The agent runtime's two workers each keep their own idle set; both
    /// sets belong to the same runtime, so either is correct to use.
    static IDLE: RefCell<HashMap<std::path::PathBuf, Vec<Conn>>> = RefCell::default();
}

fn idle_conn(socket: &Path) -> Option<Conn> {
    IDLE.with(|idle| idle.borrow_mut().get_mut(socket).and_then(Vec::pop))
}

fn park(socket: &Path, conn: Option<Conn>) {
    let Some(conn) = conn.filter(|c| !c.sender.is_closed()) else {
        return;
    };
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let parked = idle.entry(socket.to_path_buf()).or_default();
        if parked.len() < MAX_IDLE {
            parked.push(conn);
        }
    });
}

async fn dial(socket: &Path) -> Result<tokio::net::UnixStream, RawError> {
    tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| connect_error(socket, e))
}

fn connect_error(socket: &Path, e: std::io::Error) -> RawError {
    RawError::Connect {
        path: socket.display().to_string(),
        reason: e.to_string(),
    }
}

async fn handshake_on<S>(
    stream: S,
    full_path: &str,
) -> Result<
    (
        Sender,
        hyper::client::conn::http1::Connection<TokioIo<S>, Full<bytes::Bytes>>,
    ),
    RawError,
>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http_error(full_path, e))
}

/// A fresh connection for [`send_inline`] and the idle pool.
async fn handshake(socket: &Path, full_path: &str) -> Result<Conn, RawError> {
    let stream = ReadOnlySocket::new(dial(socket).await?).map_err(|e| connect_error(socket, e))?;
    let (sender, io) = handshake_on(stream, full_path).await?;
    Ok(Conn { sender, io })
}

/// A fresh connection whose I/O runs on a task of its own (writes and
/// streams, whose bodies outlive the call).
async fn connect(socket: &Path, full_path: &str) -> Result<Sender, RawError> {
    let (sender, conn) = handshake_on(dial(socket).await?, full_path).await?;
    tokio::spawn(conn);
    Ok(sender)
}

fn build(request: &Request<'_>) -> Result<http::Request<Full<bytes::Bytes>>, RawError> {
    let mut builder = http::Request::builder()
        .method(request.method.clone())
        .uri(request.full_path)
        .header(http::header::HOST, "engine");
    if request.body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, request.content_type);
    }
    builder
        .body(Full::new(bytes::Bytes::from(
            request.body.clone().unwrap_or_default(),
        )))
        .map_err(|e| http_error(request.full_path, e))
}

fn http_error(full_path: &str, e: impl std::fmt::Display) -> RawError {
    RawError::Http {
        path: full_path.to_string(),
        reason: e.to_string(),
    }
}

/// Sends `request` and reads the whole answer.
async fn exchange(
    sender: &mut Sender,
    request: &Request<'_>,
) -> Result<(u16, bytes::Bytes), RawError> {
    let resp = sender
        .send_request(build(request)?)
        .await
        .map_err(|e| http_error(request.full_path, e))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| http_error(request.full_path, e))?
        .to_bytes();
    Ok((status, body))
}

async fn send(mut sender: Sender, request: &Request<'_>) -> Result<(u16, bytes::Bytes), RawError> {
    exchange(&mut sender, request).await
}

/// Sends `request` on `conn`, polling the connection's I/O in this task
/// until the whole answer is read; hands the connection back when it can
/// be reused.
async fn send_inline(
    mut conn: Conn,
    request: &Request<'_>,
) -> Result<((u16, bytes::Bytes), Option<Conn>), RawError> {
    use futures_util::future::{poll_immediate, select, Either};
    let ended = {
        let work = std::pin::pin!(exchange(&mut conn.sender, request));
        match select(work, &mut conn.io).await {
            Either::Left((answer, _)) => Err(answer?),
            // The connection ended first (the engine closed it): the
            // request fails with hyper's reason, or stands if the whole
            // answer was read before the close.
            Either::Right((_, work)) => Ok(work.await?),
        }
    };
    match ended {
        Ok(answer) => Ok((answer, None)),
        Err(answer) => {
            // One more turn of the connection settles it into keep-alive
            // (ready for the next request) or lets it report its end.
            let reusable = poll_immediate(&mut conn.io).await.is_none();
            Ok((answer, reusable.then_some(conn)))
        }
    }
}

/// Sends a `GET` on a fresh connection and returns the response with its
/// body unread, for streams such as `/events`.
pub async fn open_get(
    socket: &Path,
    full: &str,
) -> Result<http::Response<hyper::body::Incoming>, RawError> {
    let mut sender = connect(socket, full).await?;
    let req = http::Request::get(full)
        .header(http::header::HOST, "engine")
        .body(Full::new(bytes::Bytes::new()))
        .map_err(|e| RawError::Http {
            path: full.to_string(),
            reason: e.to_string(),
        })?;
    sender.send_request(req).await.map_err(|e| RawError::Http {
        path: full.to_string(),
        reason: e.to_string(),
    })
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for
/// query values and path segments.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A request that must succeed (2xx): the body, or [`RawError::Status`]
/// with the engine's message.
pub async fn call(
    socket: &Path,
    method: http::Method,
    full_path: &str,
    body: Option<Vec<u8>>,
) -> Result<bytes::Bytes, RawError> {
    let (status, bytes) = request(socket, method, full_path, body).await?;
    if (200..300).contains(&status) {
        Ok(bytes)
    } else {
        Err(RawError::Status {
            path: full_path.to_string(),
            status,
            message: error_message(&bytes),
        })
    }
}

/// The engine's error text from an error body (`{"message": …}`), or the
/// body itself.
pub fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

/// The full path of a Docker-compatible endpoint.
pub fn compat_path(path: &str) -> String {
    format!("{COMPAT}{path}")
}

/// `GET {path}` below the compat version prefix; 404 is `Ok(None)`.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    socket: &Path,
    path: &str,
) -> Result<Option<T>, RawError> {
    get_json_at(socket, &compat_path(path)).await
}

/// `GET {full_path}` (with its own prefix); 404 is `Ok(None)`.
pub async fn get_json_at<T: serde::de::DeserializeOwned>(
    socket: &Path,
    full: &str,
) -> Result<Option<T>, RawError> {
    let (status, body) = request(socket, http::Method::GET, full, None).await?;
    match status {
        200 => serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| RawError::Json {
                path: full.to_string(),
                reason: e.to_string(),
            }),
        404 => Ok(None),
        _ => Err(RawError::Status {
            path: full.to_string(),
            status,
            message: error_message(&body),
        }),
    }
}

/// The parts of a container inspect that callers branch on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerView {
    pub id: String,
    pub name: String,
    pub restart_count: i64,
    pub state: StateView,
    pub config: ConfigView,
    pub network_settings: Option<NetworkSettingsView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StateView {
    /// `running`, `exited`, `stopped`, `created`, … as the engine says it.
    pub status: String,
    pub running: bool,
    pub exit_code: i64,
    /// The container's first process as the host's pid namespace numbers
    /// it; 0 when it is not running.
    pub pid: i64,
    pub error: String,
    pub started_at: String,
    pub health: Option<HealthView>,
}

/// `State.Health`: `healthy`, `unhealthy`, `starting`, or empty.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthView {
    pub status: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigView {
    pub image: String,
    pub labels: Option<HashMap<String, String>>,
    pub healthcheck: Option<HealthcheckView>,
}

/// `Config.Healthcheck`; durations in nanoseconds, 0 = engine default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckView {
    pub test: Option<Vec<String>>,
    pub interval: i64,
    pub timeout: i64,
    pub retries: i64,
    pub start_period: i64,
}

/// `NetworkSettings.Networks[name]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkView {
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettingsView {
    pub networks: Option<HashMap<String, NetworkView>>,
    /// The network namespace's path (`/run/netns/…`); empty if none.
    pub sandbox_key: String,
}

impl ContainerView {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.config.labels.as_ref()?.get(key).map(String::as_str)
    }

    /// Exited for good or on its way out (Podman's `stopped` included).
    pub fn has_exited(&self) -> bool {
        !self.state.running && matches!(self.state.status.as_str(), "exited" | "dead" | "stopped")
    }
}

/// One row of the container list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummaryView {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    pub state: String,
    pub status: String,
    pub created: i64,
    pub labels: Option<HashMap<String, String>>,
    pub network_settings: Option<NetworkSettingsView>,
}

/// Inspects a container by id or name; `None` when absent.
pub async fn inspect_container(
    socket: &Path,
    name: &str,
) -> Result<Option<ContainerView>, RawError> {
    get_json(
        socket,
        &format!("/containers/{}/json", percent_encode(name)),
    )
    .await
}

/// Lists every container, running or not.
pub async fn list_containers(socket: &Path) -> Result<Vec<ContainerSummaryView>, RawError> {
    Ok(get_json(socket, "/containers/json?all=true")
        .await?
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_only_states_parse() {
        let v: ContainerView = serde_json::from_str(
            r#"{"Id":"abc","Name":"cp","RestartCount":3,"State":{"Status":"stopped","Running":false,"ExitCode":1},"Config":{"Image":"x","Labels":{"a":"b"}}}"#,
        )
        .unwrap();
        assert!(v.has_exited());
        assert_eq!(v.restart_count, 3);
        assert_eq!(v.label("a"), Some("b"));
    }

    #[test]
    fn names_cannot_escape_the_path() {
        assert_eq!(
            percent_encode("../../images/json"),
            "%2E%2E%2F%2E%2E%2Fimages%2Fjson"
        );
        assert_eq!(percent_encode("coolify-cp"), "coolify-cp");
    }
}

/// The keep-alive pool against a small HTTP/1.1 server on a unix socket
/// that counts connections and can close each one after its first answer.
#[cfg(test)]
mod pool_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Serves `{"n":<connection number>}` to every request; with
    /// `close_after_one` each connection is closed after its first answer,
    /// without saying so (as an engine restarting would).
    async fn serve(dir: &Path, close_after_one: bool) -> (std::path::PathBuf, Arc<AtomicUsize>) {
        let path = dir.join("engine.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut have = Vec::new();
                    loop {
                        let Ok(got) = s.read(&mut buf).await else {
                            return;
                        };
                        if got == 0 {
                            return;
                        }
                        have.extend_from_slice(&buf[..got]);
                        while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                            have.drain(..end + 4);
                            let body = format!("{{\"n\":{n}}}");
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if s.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                            if close_after_one {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (path, accepted)
    }

    #[tokio::test]
    async fn reads_reuse_one_keep_alive_connection() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, accepted) = serve(dir.path(), false).await;
        for _ in 0..5 {
            let (status, body) = request(&sock, http::Method::GET, "/x", None).await.unwrap();
            assert_eq!((status, &body[..]), (200, &b"{\"n\":1}"[..]));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_read_on_a_connection_the_engine_closed_is_retried_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, accepted) = serve(dir.path(), true).await;
        for i in 1..=3 {
            let (status, body) = request(&sock, http::Method::GET, "/x", None).await.unwrap();
            assert_eq!(status, 200);
            assert_eq!(body, format!("{{\"n\":{i}}}").as_bytes());
        }
        // Each read found the parked connection closed (or saw it close)
        // and answered from a fresh one.
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }
}
