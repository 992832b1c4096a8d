//! The service-endpoint verbs: register a managed container under a
//! service id, remove it, list a service's endpoints across hosts.

use serde::Deserialize;

use super::endpoint::{Change, Endpoint, Observed};
use super::{DiscoveryHandle, StoreError};
use crate::config::Namespace;
use crate::labels::{MANAGED_LABEL, NAMESPACE_LABEL};
use crate::podman::{raw, Engine, EngineError, InvalidField};

/// Why a service verb failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The container named is not on this host.
    #[error("{0}")]
    NoContainer(String),
    /// The container exists but cannot be registered (not managed).
    #[error("{}", .0.message)]
    Unmanaged(InvalidField),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// `POST /services/register` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Service id: 1-63 of `[a-z0-9._-]`, starting with a letter or digit.
    pub service_id: String,
    /// Container id or name on this host; it must be managed by coolify.
    pub container_id: String,
    /// Ports the service listens on in the container.
    #[serde(default)]
    pub ports: Vec<u16>,
}

fn bad(field: &str, message: String) -> InvalidField {
    InvalidField::new(field, message)
}

pub fn validate_service_id(id: &str) -> Result<(), InvalidField> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "service_id",
            format!(
                "service_id {id:?} must be 1-63 of [a-z0-9._-], starting with a letter or digit"
            ),
        ))
    }
}

/// A container id or name, checked like every container verb checks one.
pub fn validate_container_id(id: &str) -> Result<(), InvalidField> {
    crate::containers::check_id("container_id", id)
}

/// `POST /services/register`: the registered row, read back.
pub async fn register(
    engine: &Engine,
    discovery: &DiscoveryHandle,
    namespaces: &[Namespace],
    req: &RegisterRequest,
) -> Result<Endpoint, DiscoveryError> {
    validate_service_id(&req.service_id)?;
    validate_container_id(&req.container_id)?;
    if req.ports.contains(&0) {
        return Err(bad("ports", "ports must be 1-65535".into()).into());
    }
    let c = raw::inspect_container(&engine.socket, &req.container_id)
        .await
        .map_err(EngineError::Raw)?
        .ok_or_else(|| {
            DiscoveryError::NoContainer(format!(
                "container_id: no container {:?} on this host",
                req.container_id
            ))
        })?;
    if c.label(MANAGED_LABEL) != Some("true") {
        return Err(DiscoveryError::Unmanaged(InvalidField::new(
            "container_id",
            format!(
                "container {:?} is not managed by coolify (label {MANAGED_LABEL}=true); the sync would drop its row",
                req.container_id
            ),
        )));
    }
    let namespace = c.label(NAMESPACE_LABEL).unwrap_or("default").to_string();
    let ip = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .and_then(|nets| {
            let ns_net = namespaces
                .iter()
                .find(|n| n.name == namespace)
                .map(|n| n.network.as_str());
            ns_net
                .and_then(|n| nets.get(n))
                .or_else(|| nets.values().find(|n| !n.ip_address.is_empty()))
                .map(|n| n.ip_address.clone())
        })
        .unwrap_or_default();
    let observed = Observed {
        container_id: c.id.clone(),
        container_name: c.name.trim_start_matches('/').to_string(),
        namespace,
        container_ip: ip,
        state: c.state.status.clone(),
        health: c
            .state
            .health
            .as_ref()
            .map(|h| h.status.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into()),
    };
    let d = discovery;
    d.store
        .apply(
            &d.host,
            &[Change::Register {
                observed,
                service_id: req.service_id.clone(),
                ports: req.ports.clone(),
            }],
        )
        .await?;
    d.wrote();
    let row = d
        .store
        .service_rows(&req.service_id)
        .await?
        .into_iter()
        .find(|r| r.container_id == c.id)
        .ok_or_else(|| DiscoveryError::Internal("registered row not found on read-back".into()))?;
    Ok(row)
}

pub async fn endpoints(
    discovery: &DiscoveryHandle,
    service_id: &str,
) -> Result<Vec<Endpoint>, DiscoveryError> {
    validate_service_id(service_id)?;
    let rows = discovery.store.service_rows(service_id).await?;
    Ok(rows)
}

/// 204 also when absent: a reconciling caller may repeat it.
pub async fn deregister(
    engine: &Engine,
    discovery: &DiscoveryHandle,
    service_id: &str,
    container_id: &str,
) -> Result<(), DiscoveryError> {
    validate_service_id(service_id)?;
    validate_container_id(container_id)?;
    let d = discovery;
    // The caller may name the container by name or short id; the row holds
    // the full id.
    let full_id = match raw::inspect_container(&engine.socket, container_id).await {
        Ok(Some(c)) => c.id,
        _ => container_id.to_string(),
    };
    d.store.deregister(&d.host, service_id, &full_id).await?;
    d.wrote();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_are_strict() {
        for ok in ["web", "api-v2", "a.b_c", "9lives"] {
            assert!(validate_service_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Web",
            "-web",
            "web/../x",
            "we b",
            "web;drop",
            &"a".repeat(64),
        ] {
            assert!(validate_service_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn container_ids_are_ids_or_names() {
        assert!(validate_container_id("3f2a9c").is_ok());
        assert!(validate_container_id("web-1.blue").is_ok());
        for bad in ["", "../etc", "a/b", "a b", ".hidden"] {
            assert!(validate_container_id(bad).is_err(), "{bad}");
        }
    }
}
