//! A small HTTPS client for the agent REST API: hyper over tokio-rustls
//! (ring), trusting only `<config-dir>/ca.crt` (the CA `cp up` made) and
//! sending the bearer token from `<config-dir>/api-token`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

/// How long one request may take, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("API address {0:?} must be HOST:PORT, e.g. 100.64.0.5:8443")]
    Address(String),
    #[error(
        "cannot reach the agent API at {addr}: {reason} (is the appliance up? `coolify cp status`)"
    )]
    Connect { addr: String, reason: String },
    #[error("talking to the agent API at {addr}: {reason}")]
    Transport { addr: String, reason: String },
    #[error("agent answered {status}: {message}{}", field.as_ref().map(|f| format!(" (field: {f})")).unwrap_or_default())]
    Api {
        status: u16,
        message: String,
        field: Option<String>,
    },
}

/// A configured client for one agent.
pub struct ApiClient {
    addr: String,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    token: String,
}

impl ApiClient {
    /// Reads `ca.crt` and `api-token` from `config_dir`.
    pub fn new(config_dir: &Path, addr: &str) -> Result<ApiClient, ClientError> {
        let file_err = |path: &Path, reason: String| ClientError::File {
            path: path.to_path_buf(),
            reason,
        };
        let ca = config_dir.join("ca.crt");
        let token_path = config_dir.join("api-token");
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca)
            .map_err(|e| {
                file_err(
                    &ca,
                    format!("cannot read the CA ({e}); run `coolify cp up` or pass --config-dir"),
                )
            })?
            .collect::<Result<_, _>>()
            .map_err(|e| file_err(&ca, e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in certs {
            roots
                .add(c)
                .map_err(|e| file_err(&ca, format!("not a usable CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(file_err(&ca, "no certificate in file".into()));
        }
        let token = std::fs::read_to_string(&token_path)
            .map_err(|e| file_err(&token_path, format!("cannot read the API token: {e}")))?
            .trim()
            .to_string();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| file_err(&ca, e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let host = addr
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ClientError::Address(addr.to_string()))?;
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| ClientError::Address(addr.to_string()))?;
        Ok(ApiClient {
            addr: addr.to_string(),
            server_name,
            tls: TlsConnector::from(Arc::new(config)),
            token,
        })
    }

    /// One request; a non-2xx answer becomes [`ClientError::Api`] with the
    /// agent's `{error, field}`. Returns the status and the body.
    pub async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), ClientError> {
        tokio::time::timeout(TIMEOUT, self.send_inner(method, path, body))
            .await
            .map_err(|_| ClientError::Transport {
                addr: self.addr.clone(),
                reason: format!("no answer within {TIMEOUT:?}"),
            })?
    }

    async fn send_inner(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), ClientError> {
        let connect = |reason: String| ClientError::Connect {
            addr: self.addr.clone(),
            reason,
        };
        let transport = |reason: String| ClientError::Transport {
            addr: self.addr.clone(),
            reason,
        };
        let tcp = tokio::net::TcpStream::connect(&self.addr)
            .await
            .map_err(|e| connect(e.to_string()))?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| connect(format!("TLS: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| transport(e.to_string()))?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.addr)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            );
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| transport(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        if !(200..300).contains(&status) {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            return Err(ClientError::Api {
                status,
                message: v["error"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
                field: v["field"].as_str().map(str::to_string),
            });
        }
        Ok((status, bytes))
    }
}
