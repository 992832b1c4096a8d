//! One small HTTP/1.1 client for every place coolify is a client of an HTTP
//! service it does not embed: the CLI's calls to the agent API (TLS, trusting
//! only the appliance CA), its health probes (TCP and the broker's Unix
//! socket), `coolify dispatch` (the broker's UDS lane), and the agent's
//! Corrosion store (plain TCP).
//!
//! Each request opens its own connection and is bounded, connect to last
//! byte, by the client's timeout: these are control calls, rare and small,
//! where a stuck peer must become an error, not a hang. The engine's hot
//! read path keeps its own pooled connections (`coold::podman::raw`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// Used when the caller sets no timeout of its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request got no answer. Each variant carries the peer's own words;
/// callers add which peer it was and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection (or its TLS handshake) could not be made.
    #[error("{0}")]
    Connect(String),
    /// Connected, but the exchange failed part-way.
    #[error("{0}")]
    Transport(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Why a CA file could not become a trust root.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{}: cannot read the CA: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{}: not a usable CA certificate: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{}: no certificate in file", path.display())]
    Empty { path: PathBuf },
}

/// Where the peer listens.
#[derive(Debug, Clone)]
pub enum Target {
    /// `HOST:PORT` (a name, an IPv4 address, or `[v6]`).
    Tcp(String),
    Unix(PathBuf),
}

/// An answer of any status: the caller decides what a status means.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text, lossily: for messages and probes.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone)]
struct Tls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

/// A client for one peer. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    target: Target,
    tls: Option<Tls>,
    host: String,
    timeout: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers may hold a bearer token: never printed.
        f.debug_struct("Client")
            .field("target", &self.target)
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// Plain HTTP over TCP to `addr` (`HOST:PORT`).
    pub fn tcp(addr: impl Into<String>) -> Client {
        let addr = addr.into();
        Client {
            host: addr.clone(),
            target: Target::Tcp(addr),
            tls: None,
            timeout: DEFAULT_TIMEOUT,
            headers: Vec::new(),
        }
    }

    /// Plain HTTP over a Unix socket; `Host` is `localhost`.
    pub fn unix(socket: impl Into<PathBuf>) -> Client {
        Client {
            target: Target::Unix(socket.into()),
            tls: None,
            host: "localhost".into(),
            timeout: DEFAULT_TIMEOUT,
            headers: Vec::new(),
        }
    }

    /// HTTPS over TCP to `addr`, trusting only the roots in `config`; the
    /// certificate must name `addr`'s host.
    pub fn https(
        addr: impl Into<String>,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<Client, InvalidAddress> {
        let addr = addr.into();
        let host = host_of(&addr).ok_or_else(|| InvalidAddress(addr.clone()))?;
        let server_name =
            ServerName::try_from(host.to_string()).map_err(|_| InvalidAddress(addr.clone()))?;
        let mut client = Client::tcp(addr);
        client.tls = Some(Tls {
            connector: TlsConnector::from(config),
            server_name,
        });
        Ok(client)
    }

    /// Bounds each request, connect to last byte.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// Sent with every request (e.g. `Authorization`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Client {
        self.headers.push((name, value));
        self
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.send(Method::GET, path, None).await
    }

    /// One request; a JSON `body`, when given, is sent as
    /// `application/json`. Any status is an answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        json_body: Option<Bytes>,
    ) -> Result<Response, ClientError> {
        tokio::time::timeout(self.timeout, self.exchange(method, path, json_body))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response, ClientError> {
        let connect = |e: std::io::Error| ClientError::Connect(e.to_string());
        match (&self.target, &self.tls) {
            (Target::Tcp(addr), None) => {
                let s = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(connect)?;
                self.over(s, method, path, body).await
            }
            (Target::Tcp(addr), Some(tls)) => {
                let s = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(connect)?;
                let s = tls
                    .connector
                    .connect(tls.server_name.clone(), s)
                    .await
                    .map_err(|e| ClientError::Connect(format!("TLS: {e}")))?;
                self.over(s, method, path, body).await
            }
            (Target::Unix(path_), _) => {
                let s = tokio::net::UnixStream::connect(path_)
                    .await
                    .map_err(connect)?;
                self.over(s, method, path, body).await
            }
        }
    }

    /// Opens a TLS connection (verified as every request is) and returns
    /// the DER of the certificate the server presented, without sending a
    /// request: what `coolify cp rotate --server-cert` waits for.
    pub async fn peer_certificate(&self) -> Result<Vec<u8>, ClientError> {
        let (Target::Tcp(addr), Some(tls)) = (&self.target, &self.tls) else {
            return Err(ClientError::Connect("not an HTTPS client".into()));
        };
        let handshake = async {
            let s = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| ClientError::Connect(e.to_string()))?;
            let s = tls
                .connector
                .connect(tls.server_name.clone(), s)
                .await
                .map_err(|e| ClientError::Connect(format!("TLS: {e}")))?;
            let (_, conn) = s.get_ref();
            conn.peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.to_vec())
                .ok_or_else(|| ClientError::Connect("TLS: no server certificate".into()))
        };
        tokio::time::timeout(self.timeout, handshake)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    async fn over(
        &self,
        stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response, ClientError> {
        let transport = |e: &dyn std::fmt::Display| ClientError::Transport(e.to_string());
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| transport(&e))?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.host);
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| transport(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| transport(&e))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| transport(&e))?.to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// An address that is not `HOST:PORT`.
#[derive(Debug, thiserror::Error)]
#[error("address {0:?} must be HOST:PORT, e.g. 100.64.0.5:8443")]
pub struct InvalidAddress(pub String);

fn host_of(addr: &str) -> Option<&str> {
    addr.rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
}

/// A TLS client configuration (ring, TLS 1.2 and 1.3) that trusts only the
/// certificates in the PEM file `ca`.
pub fn trusting_only(ca: &Path) -> Result<Arc<rustls::ClientConfig>, TrustError> {
    let read = |reason: String| TrustError::Read {
        path: ca.to_path_buf(),
        reason,
    };
    let invalid = |reason: String| TrustError::Invalid {
        path: ca.to_path_buf(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots.add(c).map_err(|e| invalid(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TrustError::Empty {
            path: ca.to_path_buf(),
        });
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_takes_names_v4_and_bracketed_v6() {
        assert_eq!(host_of("100.64.0.5:8443"), Some("100.64.0.5"));
        assert_eq!(host_of("agent.local:8443"), Some("agent.local"));
        assert_eq!(host_of("[::1]:8443"), Some("::1"));
        assert_eq!(host_of(":8443"), None);
        assert_eq!(host_of("no-port"), None);
    }

    #[test]
    fn debug_never_prints_headers() {
        let c = Client::tcp("127.0.0.1:1").with_header(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret-token"),
        );
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
