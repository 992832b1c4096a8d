//! What the running agent serves, seen from outside: which certificate a
//! fresh TLS handshake presents and which bearer token it accepts. `cp
//! rotate` and a renewing `cp up` wait on these until the agent has
//! reloaded its files.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use coolify_http_client::{trusting_only, Client};
use http::HeaderValue;

use super::{labels, ApplianceError};
use crate::pki::PkiError;

/// How often the agent is asked whether it took the new material.
const POLL: Duration = Duration::from_millis(100);

/// Bound of one probe, connect to last byte.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One authenticated request that needs nothing but the API itself.
const PROBE_PATH: &str = "/api/v1/openapi.json";

/// The agent API of the appliance `name` at `api`, trusting only `ca`.
pub struct ServedBy {
    name: String,
    api: String,
    /// HTTPS to `api`, without a token.
    client: Client,
    timeout: Duration,
}

impl ServedBy {
    pub fn new(
        name: &str,
        api: &str,
        ca: &Path,
        timeout: Duration,
    ) -> Result<Self, ApplianceError> {
        let tls = trusting_only(ca).map_err(|e| PkiError::Io {
            path: ca.to_path_buf(),
            reason: format!("{e}; run `coolify cp up` or pass --config-dir"),
        })?;
        let client = Client::https(api, tls)
            .map_err(|e| ApplianceError::Usage(format!("label {}: {e}", labels::API_ADDR)))?
            .with_timeout(PROBE_TIMEOUT);
        Ok(ServedBy {
            name: name.to_string(),
            api: api.to_string(),
            client,
            timeout,
        })
    }

    fn with_token(&self, token: &str, file: &Path) -> Result<Client, ApplianceError> {
        let bearer = HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
            PkiError::Invalid {
                path: file.to_path_buf(),
                reason: "the API token is not a valid header value".into(),
            }
        })?;
        Ok(self
            .client
            .clone()
            .with_header(http::header::AUTHORIZATION, bearer))
    }

    /// Waits until a fresh handshake presents the certificate whose DER
    /// hashes to `sha256_hex`; returns how long that took.
    pub async fn until_certificate(&self, sha256_hex: &str) -> Result<u128, ApplianceError> {
        self.until("present the new certificate", || async {
            let der = self
                .client
                .peer_certificate()
                .await
                .map_err(|e| e.to_string())?;
            match sha256(&der) {
                served if served == sha256_hex => Ok(()),
                served => Err(format!("still presents {served}")),
            }
        })
        .await
    }

    /// Waits until the agent answers `new` and refuses `old` with 401 (both
    /// read from `file`); returns how long that took.
    pub async fn until_token(
        &self,
        old: &str,
        new: &str,
        file: &Path,
    ) -> Result<u128, ApplianceError> {
        let (with_old, with_new) = (self.with_token(old, file)?, self.with_token(new, file)?);
        self.until("take the new token and refuse the old one", || async {
            let new = with_new.get(PROBE_PATH).await.map_err(|e| e.to_string())?;
            let old = with_old.get(PROBE_PATH).await.map_err(|e| e.to_string())?;
            match (new.status, old.status) {
                (401, _) => Err("the new token is still refused".to_string()),
                (_, 401) => Ok(()),
                (_, s) => Err(format!("the old token still gets {s}")),
            }
        })
        .await
    }

    /// Polls `check` until it passes or the timeout ends; the error carries
    /// the last reason it did not pass.
    async fn until<F, Fut>(&self, what: &'static str, check: F) -> Result<u128, ApplianceError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let started = Instant::now();
        loop {
            let last = match check().await {
                Ok(()) => return Ok(started.elapsed().as_millis()),
                Err(e) => e,
            };
            if started.elapsed() >= self.timeout {
                return Err(ApplianceError::RotationNotSeen {
                    name: self.name.clone(),
                    api: self.api.clone(),
                    what,
                    timeout: self.timeout,
                    last,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn sha256(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(der))
}
