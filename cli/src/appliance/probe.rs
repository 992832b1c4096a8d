//! One bounded HTTP/1.1 GET over TCP or a Unix socket, for the health
//! gates and `cp status`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use coolify_http_client::{Client, ClientError};

/// `(status, body)` or a transport error text.
pub async fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let r = Client::tcp(addr.to_string())
        .with_timeout(timeout)
        .get(path)
        .await
        .map_err(|e| e.to_string())?;
    Ok((r.status, r.text()))
}

/// The same over a Unix socket (the broker's UDS lane).
pub async fn get_unix(
    socket: &Path,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let r = Client::unix(socket)
        .with_timeout(timeout)
        .get(path)
        .await
        .map_err(|e| match e {
            ClientError::Connect(reason) => format!("{}: {reason}", socket.display()),
            other => other.to_string(),
        })?;
    Ok((r.status, r.text()))
}
