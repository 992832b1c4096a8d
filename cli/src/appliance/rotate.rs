//! `cp rotate`: new API token and/or server certificate for the running
//! appliance, put in place atomically (cli/src/pki), then confirmed from
//! the outside: the agent answers the new token and refuses the old one,
//! and a TLS handshake presents the new certificate. The agent reloads the
//! files itself (coold's api/reload.rs): its container is not replaced and
//! requests in flight finish.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::served::ServedBy;
use super::{container, labels, ApplianceError};
use crate::config_layout::ConfigLayout;
use crate::engine::Engine;
use crate::output::Reporter;
use crate::pki::{self, IssuedCert, PkiError, ServerIdentity};

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
    let served = ServedBy::new(&r.name, &api, &layout.ca_cert(), r.timeout)?;

    let server_certificate = if r.server_cert {
        let step = out.step("server certificate");
        let id = identity(&api).inspect_err(|_| step.fail())?;
        let issued = pki::issue_server(&r.config_dir, &id).inspect_err(|_| step.fail())?;
        let served_after_ms = served
            .until_certificate(&issued.sha256)
            .await
            .inspect_err(|_| step.fail())?;
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
        let file = layout.api_token();
        let old = read_token(&file).inspect_err(|_| step.fail())?;
        let new = pki::rotate_token(&r.config_dir).inspect_err(|_| step.fail())?;
        let accepted_after_ms = served
            .until_token(&old, &new, &file)
            .await
            .inspect_err(|_| step.fail())?;
        step.done(&format!(
            "replaced; the old one is refused (after {accepted_after_ms} ms)"
        ));
        Some(TokenRotated {
            file: file.display().to_string(),
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
