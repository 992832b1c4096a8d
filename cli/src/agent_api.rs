//! The agent REST API as the CLI calls it: HTTPS trusting only
//! `<config-dir>/ca.crt` (the CA `cp up` made), with the bearer token from
//! `<config-dir>/agent/api-token`, and the agent's `{error, field}` as a typed
//! error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config_layout::ConfigLayout;
use bytes::Bytes;
use coolify_http_client::{trusting_only, Client, ClientError as HttpError, TrustError};
use http::HeaderValue;

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
    client: Client,
}

impl ApiClient {
    /// Reads the CA certificate and the API token from `config_dir`
    /// ([`ConfigLayout`]).
    pub fn new(config_dir: &Path, addr: &str) -> Result<ApiClient, ClientError> {
        let file_err = |path: &Path, reason: String| ClientError::File {
            path: path.to_path_buf(),
            reason,
        };
        let layout = ConfigLayout::new(config_dir);
        let ca = layout.ca_cert();
        let token_path = layout.api_token();
        let tls = trusting_only(&ca).map_err(|e| match e {
            TrustError::Read { reason, .. } => file_err(
                &ca,
                format!("cannot read the CA ({reason}); run `coolify cp up` or pass --config-dir"),
            ),
            TrustError::Invalid { reason, .. } => {
                file_err(&ca, format!("not a usable CA certificate: {reason}"))
            }
            TrustError::Empty { .. } => file_err(&ca, "no certificate in file".into()),
        })?;
        let token = std::fs::read_to_string(&token_path)
            .map_err(|e| file_err(&token_path, format!("cannot read the API token: {e}")))?
            .trim()
            .to_string();
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            file_err(
                &token_path,
                "the API token is not a valid header value".into(),
            )
        })?;
        let client = Client::https(addr, tls)
            .map_err(|_| ClientError::Address(addr.to_string()))?
            .with_timeout(TIMEOUT)
            .with_header(http::header::AUTHORIZATION, bearer);
        Ok(ApiClient {
            addr: addr.to_string(),
            client,
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
        let r = self
            .client
            .send(method, path, body.map(Bytes::from))
            .await
            .map_err(|e| match e {
                HttpError::Connect(reason) => ClientError::Connect {
                    addr: self.addr.clone(),
                    reason,
                },
                other => ClientError::Transport {
                    addr: self.addr.clone(),
                    reason: other.to_string(),
                },
            })?;
        if !r.is_success() {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            return Err(ClientError::Api {
                status: r.status,
                message: v["error"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| r.text()),
                field: v["field"].as_str().map(str::to_string),
            });
        }
        Ok((r.status, r.body))
    }
}
