//! The tenant verbs: claim, release, status and manual sync.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::claim::ClaimView;
use super::dirs::{check_secret_name, MAX_SECRETS, MAX_SECRETS_BYTES};
pub use super::release::ReleaseView;
pub use super::state_sync::{MappingView, SyncView};
pub use super::status::PoolView;
use super::{PoolError, Pools};
use crate::podman::InvalidField;
use crate::workloads::check_name;

/// `POST /tenants/{tenant}/claim`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Workload id.
    pub workload: String,
    /// Files written into the container's secrets dir (name → content),
    /// mode 0400, mounted read-only. Values are never logged.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// `POST /tenants/{tenant}/release`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Needed only when the tenant holds claims on several workloads.
    #[serde(default)]
    pub workload: Option<String>,
}

/// Answer of `GET /tenants/{tenant}/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantStatus {
    pub tenant: String,
    pub claims: Vec<ClaimView>,
}

/// Checks the tenant from the path; the transport calls it before it
/// decodes the body, so a bad tenant is named first.
pub fn check_tenant(tenant: &str) -> Result<(), PoolError> {
    Ok(check_name("tenant", tenant)?)
}

pub async fn claim(
    pools: &Pools,
    tenant: &str,
    req: &ClaimRequest,
) -> Result<ClaimView, PoolError> {
    check_tenant(tenant)?;
    check_name("workload", &req.workload)?;
    if req.secrets.len() > MAX_SECRETS {
        return Err(InvalidField::new("secrets", format!("at most {MAX_SECRETS} secrets")).into());
    }
    let mut total = 0;
    for (name, value) in &req.secrets {
        check_secret_name(name).map_err(|m| InvalidField::new(format!("secrets.{name}"), m))?;
        total += value.len();
    }
    if total > MAX_SECRETS_BYTES {
        return Err(InvalidField::new(
            "secrets",
            format!("secrets total more than {MAX_SECRETS_BYTES} bytes"),
        )
        .into());
    }
    let stored = pools
        .deps()
        .workloads
        .get(&req.workload)
        .ok_or_else(|| PoolError::WorkloadNotFound(req.workload.clone()))?;
    pools.claim(&stored, tenant, &req.secrets).await
}

pub async fn release(
    pools: &Pools,
    tenant: &str,
    req: &ReleaseRequest,
) -> Result<ReleaseView, PoolError> {
    check_tenant(tenant)?;
    if let Some(w) = &req.workload {
        check_name("workload", w)?;
    }
    let workload = pools.workload_of(tenant, req.workload.as_deref())?;
    let stored = pools.deps().workloads.get(&workload);
    pools.release(stored.as_deref(), &workload, tenant).await
}

pub fn status(pools: &Pools, tenant: &str) -> Result<TenantStatus, PoolError> {
    check_tenant(tenant)?;
    let claims = pools.tenant_claims(tenant, |w| pools.deps().workloads.get(w));
    Ok(TenantStatus {
        tenant: tenant.to_string(),
        claims,
    })
}

/// `POST /tenants/{tenant}/sync`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Needed only when the tenant holds claims on several workloads.
    #[serde(default)]
    pub workload: Option<String>,
    /// `upload` (default: save the state now) or `download`.
    #[serde(default)]
    pub direction: Option<String>,
}

/// A manual sync of a claimed container's state (`policy.manual`).
pub async fn sync(pools: &Pools, tenant: &str, req: &SyncRequest) -> Result<SyncView, PoolError> {
    check_tenant(tenant)?;
    if let Some(w) = &req.workload {
        check_name("workload", w)?;
    }
    let download = match req.direction.as_deref() {
        None | Some("upload") => false,
        Some("download") => true,
        Some(other) => {
            return Err(InvalidField::new(
                "direction",
                format!("direction {other:?} must be upload or download"),
            )
            .into())
        }
    };
    let workload = pools.workload_of(tenant, req.workload.as_deref())?;
    let stored = pools
        .deps()
        .workloads
        .get(&workload)
        .ok_or_else(|| PoolError::WorkloadNotFound(workload.clone()))?;
    pools.sync_now(&stored, tenant, download).await
}
