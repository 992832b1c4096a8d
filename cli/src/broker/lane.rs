//! The broker's UDS lane as the CLI uses it: one request per call over the
//! shared HTTP client, and the message that says what to check when the
//! socket does not answer.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use coolify_http_client::{Client, ClientError, Response};
use http::Method;

/// A safety net only: the broker answers every dispatch by its own timeout
/// (`BROKER_DISPATCH_TIMEOUT_SECS`, at most an hour).
const LANE_TIMEOUT: Duration = Duration::from_secs(3_660);

pub async fn post(socket: &Path, path: &str, body: Option<String>) -> Result<Response, String> {
    Client::unix(socket)
        .with_timeout(LANE_TIMEOUT)
        .send(Method::POST, path, body.map(Bytes::from))
        .await
        .map_err(|e| unreachable(socket, e))
}

pub async fn get(socket: &Path, path: &str) -> Result<Response, String> {
    Client::unix(socket)
        .with_timeout(LANE_TIMEOUT)
        .get(path)
        .await
        .map_err(|e| unreachable(socket, e))
}

fn unreachable(socket: &Path, e: ClientError) -> String {
    match e {
        ClientError::Connect(reason) => format!(
            "{}: {reason} (is coolify-broker running, and may this user open its socket?)",
            socket.display()
        ),
        other => format!("{}: {other}", socket.display()),
    }
}

/// The broker's own error text (`{"error": …}`), else the body as it came.
pub fn error_text(r: &Response) -> String {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| r.text())
}
