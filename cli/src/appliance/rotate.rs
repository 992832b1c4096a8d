//! `cp rotate`: new API token and/or server certificate for the running
//! appliance, put in place atomically (cli/src/pki), then confirmed from
//! the outside: the agent answers the new token and refuses the old one,
//! and a TLS handshake presents the new certificate. The agent reloads the
//! files itself (coold's api/reload.rs): its container is not replaced and
//! requests in flight finish.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use coolify_http_client::{trusting_only, Client};
use http::HeaderValue;
use serde::Serialize;

use super::{container, labels, ApplianceError};
use crate::config_layout::ConfigLayout;
use crate::engine::Engine;
use crate::output::Reporter;
use crate::pki::{self, IssuedCert, PkiError, ServerIdentity};

/// How often the agent is asked whether it took the new material.
const POLL: Duration = Duration::from_millis(100);

/// One authenticated request that needs nothing but the API itself.
const PROBE_PATH: &str = "/api/v1/openapi.json";

/// What to rotate and how long to wait for the agent to take it.
#[derive(Debug, Clone)]
pub struct RotateRequest {
    pub name: String,
    pub config_dir: std::path::PathBuf,
    pub api_token: bool,
    pub server_cert: bool,
    pub timeout: Duration,
}

/// The result of `cp rotate`, printed by `--output json`.
#[derive(Debug, Serialize)]
pub struct RotateReport {
    pub container: String,
    pub container_id: String,
    pub api: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token: Option<TokenRotated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<CertRotated>,
}

#[derive(Debug, Serialize)]
pub struct TokenRotated {
    pub file: String,
    /// From the file's replacement until the agent answered the new token
    /// and refused the old one.
    pub accepted_after_ms: u128,
}

#[derive(Debug, Serialize)]
pub struct CertRotated {
    pub file: String,
    #[serde(flatten)]
    pub cert: IssuedCert,
    /// From the files' replacement until a handshake presented it.
    pub served_after_ms: u128,
}

pub async fn rotate(
    r: &RotateRequest,
    engine_spec: &str,
    out: &Reporter,
) -> Result<RotateReport, ApplianceError> {
    if !r.api_token && !r.server_cert {
        return Err(ApplianceError::Usage(
            "say what to rotate: --api-token, --server-cert, or both".into(),
        ));
    }
    let (container_id, api) = running_agent(&r.name, engine_spec).await?;
    let layout = ConfigLayout::new(&r.config_dir);
    let tls = trusting_only(&layout.ca_cert()).map_err(|e| PkiError::Io {
        path: layout.ca_cert(),
        reason: format!("{e}; run `coolify cp up` or pass --config-dir"),
    })?;
    let client = |token: &str| -> Result<Client, ApplianceError> {
        let bearer = HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
            PkiError::Invalid {
                path: layout.api_token(),
                reason: "the API token is not a valid header value".into(),
            }
        })?;
        Ok(Client::https(&api, tls.clone())
            .map_err(|e| ApplianceError::Usage(format!("label {}: {e}", labels::API_ADDR)))?
            .with_timeout(Duration::from_secs(5))
            .with_header(http::header::AUTHORIZATION, bearer))
    };

    let server_certificate = if r.server_cert {
        let step = out.step("server certificate");
        let id = identity(&api)?;
        let issued = pki::issue_server(&r.config_dir, &id).inspect_err(|_| step.fail())?;
        let written = Instant::now();
        wait_until(r, &api, "present the new certificate", || {
            presents(client(""), &issued.sha256)
        })
        .await
        .inspect_err(|_| step.fail())?;
        let served_after_ms = written.elapsed().as_millis();
        step.done(&format!(
            "sha256 {} valid until {}, served after {served_after_ms} ms",
            issued.sha256, issued.not_after
        ));
        Some(CertRotated {
            file: layout.server_cert().display().to_string(),
            cert: issued,
            served_after_ms,
        })
    } else {
        None
    };

    let api_token = if r.api_token {
        let step = out.step("API token");
        let old = read_token(&layout.api_token()).inspect_err(|_| step.fail())?;
        let new = pki::rotate_token(&r.config_dir).inspect_err(|_| step.fail())?;
        let written = Instant::now();
        let (with_old, with_new) = (client(&old)?, client(&new)?);
        wait_until(
            r,
            &api,
            "take the new token and refuse the old one",
            || async {
                let new = with_new.get(PROBE_PATH).await.map_err(|e| e.to_string())?;
                let old = with_old.get(PROBE_PATH).await.map_err(|e| e.to_string())?;
                match (new.status, old.status) {
                    (401, _) => Err("the new token is still refused".to_string()),
                    (_, 401) => Ok(()),
                    (_, s) => Err(format!("the old token still gets {s}")),
                }
            },
        )
        .await
        .inspect_err(|_| step.fail())?;
        let accepted_after_ms = written.elapsed().as_millis();
        step.done(&format!(
            "replaced; the old one is refused (after {accepted_after_ms} ms)"
        ));
        Some(TokenRotated {
            file: layout.api_token().display().to_string(),
            accepted_after_ms,
        })
    } else {
        None
    };

    Ok(RotateReport {
        container: r.name.clone(),
        container_id,
        api,
        api_token,
        server_certificate,
    })
}

/// Whether a handshake with `client`'s server presents the certificate
/// whose DER hashes to `sha256`.
async fn presents(client: Result<Client, ApplianceError>, sha256_hex: &str) -> Result<(), String> {
    let der = client
        .map_err(|e| e.to_string())?
        .peer_certificate()
        .await
        .map_err(|e| e.to_string())?;
    match sha256(&der) {
        served if served == sha256_hex => Ok(()),
        served => Err(format!("still presents {served}")),
    }
}

/// Waits until the agent `name` at `api` presents the server certificate
/// `sha256_hex` (a `cp up` that renewed it while the container kept
/// running); returns how long that took.
pub async fn await_served_cert(
    name: &str,
    config_dir: &Path,
    api: &str,
    sha256_hex: &str,
    timeout: Duration,
) -> Result<u128, ApplianceError> {
    let ca = ConfigLayout::new(config_dir).ca_cert();
    let tls = trusting_only(&ca).map_err(|e| PkiError::Io {
        path: ca.clone(),
        reason: e.to_string(),
    })?;
    let r = RotateRequest {
        name: name.to_string(),
        config_dir: config_dir.to_path_buf(),
        api_token: false,
        server_cert: true,
        timeout,
    };
    let started = Instant::now();
    wait_until(&r, api, "present the renewed certificate", || {
        let client = Client::https(api, tls.clone())
            .map(|c| c.with_timeout(Duration::from_secs(5)))
            .map_err(|e| ApplianceError::Usage(e.to_string()));
        presents(client, sha256_hex)
    })
    .await?;
    Ok(started.elapsed().as_millis())
}

/// The running appliance's id and the API address it advertises.
async fn running_agent(name: &str, engine_spec: &str) -> Result<(String, String), ApplianceError> {
    let engine = Engine::connect(engine_spec).await?;
    let not_running = |state: &str| ApplianceError::NotRunning {
        name: name.to_string(),
        state: state.to_string(),
    };
    let c = container::inspect(&engine, name)
        .await?
        .ok_or_else(|| not_running("absent"))?;
    if !c.state.running {
        return Err(not_running(&c.state.status));
    }
    let api = c.label(labels::API_ADDR).ok_or_else(|| {
        ApplianceError::Usage(format!(
            "{name} has no {} label (made by an older coolify?); run `coolify cp up` first",
            labels::API_ADDR
        ))
    })?;
    Ok((c.id.clone(), api.to_string()))
}

/// The names `cp up` puts in the certificate: the mgmt IP the appliance
/// was started with (its API address) and this host's name.
fn identity(api: &str) -> Result<ServerIdentity, ApplianceError> {
    let ip: IpAddr = api
        .rsplit_once(':')
        .and_then(|(h, _)| h.trim_matches(['[', ']']).parse().ok())
        .ok_or_else(|| {
            ApplianceError::Usage(format!(
                "label {} is {api:?}, not IP:PORT; run `coolify cp up` first",
                labels::API_ADDR
            ))
        })?;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(ServerIdentity::for_host(ip, &hostname))
}

fn read_token(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|e| PkiError::Io {
            path: path.to_path_buf(),
            reason: format!("cannot read the API token ({e}); run `coolify cp up` first"),
        })
}

fn sha256(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(der))
}

/// Polls `check` until it passes or the request's timeout ends; the error
/// carries the last reason it did not pass.
async fn wait_until<F, Fut>(
    r: &RotateRequest,
    api: &str,
    what: &'static str,
    check: F,
) -> Result<(), ApplianceError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + r.timeout;
    loop {
        let last = match check().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(ApplianceError::RotationNotSeen {
                name: r.name.clone(),
                api: api.to_string(),
                what,
                timeout: r.timeout,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
