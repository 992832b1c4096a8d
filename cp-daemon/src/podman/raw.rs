//! Lenient reads of the engine API over its unix socket.
//!
//! bollard's models reject state names Podman emits beyond Docker's set
//! (measured: `"Status":"stopped"` while a restart policy cycles a
//! container), which turns a plain inspect into a JSON error. The reads the
//! agent and CLI branch on go through these small views instead: unknown
//! values stay strings, absent fields take defaults.

use std::collections::HashMap;
use std::path::Path;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

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
    // Reads reuse idle keep-alive connections (a fresh connection per read
    // was most of the agent's added latency on inspect). A reused one may
    // have been closed by the engine meanwhile: a GET is safe to retry once
    // on a fresh connection. Writes always take a fresh connection.
    let reusable = method == http::Method::GET;
    if reusable {
        if let Some(sender) = idle_sender(socket).await {
            if let Ok(answer) = send(
                socket,
                sender,
                &method,
                full_path,
                content_type,
                &body,
                true,
            )
            .await
            {
                return Ok(answer);
            }
        }
    }
    let sender = connect(socket, full_path).await?;
    send(
        socket,
        sender,
        &method,
        full_path,
        content_type,
        &body,
        reusable,
    )
    .await
}

type Sender = hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>;

/// Most idle connections kept per engine socket.
const MAX_IDLE: usize = 8;

fn idle_pool() -> &'static std::sync::Mutex<HashMap<std::path::PathBuf, Vec<Sender>>> {
    static IDLE: std::sync::OnceLock<std::sync::Mutex<HashMap<std::path::PathBuf, Vec<Sender>>>> =
        std::sync::OnceLock::new();
    IDLE.get_or_init(Default::default)
}

async fn idle_sender(socket: &Path) -> Option<Sender> {
    loop {
        let candidate = idle_pool()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(socket)
            .and_then(Vec::pop)?;
        if !candidate.is_closed() && candidate.is_ready() {
            return Some(candidate);
        }
    }
}

fn park(socket: &Path, sender: Sender) {
    if sender.is_closed() {
        return;
    }
    let mut pool = idle_pool().lock().unwrap_or_else(|p| p.into_inner());
    let idle = pool.entry(socket.to_path_buf()).or_default();
    if idle.len() < MAX_IDLE {
        idle.push(sender);
    }
}

async fn connect(socket: &Path, full_path: &str) -> Result<Sender, RawError> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| RawError::Connect {
            path: socket.display().to_string(),
            reason: e.to_string(),
        })?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| RawError::Http {
            path: full_path.to_string(),
            reason: e.to_string(),
        })?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(
    socket: &Path,
    mut sender: Sender,
    method: &http::Method,
    full_path: &str,
    content_type: &str,
    body: &Option<Vec<u8>>,
    keep: bool,
) -> Result<(u16, bytes::Bytes), RawError> {
    let http = |reason: String| RawError::Http {
        path: full_path.to_string(),
        reason,
    };
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(full_path)
        .header(http::header::HOST, "engine");
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    let req = builder
        .body(Full::new(bytes::Bytes::from(
            body.clone().unwrap_or_default(),
        )))
        .map_err(|e| http(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| http(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| http(e.to_string()))?
        .to_bytes();
    if keep {
        park(socket, sender);
    }
    Ok((status, body))
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
