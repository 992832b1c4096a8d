//! The tenant verbs: claim, release, status and manual sync.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dirs::{check_secret_name, MAX_SECRETS, MAX_SECRETS_BYTES};
pub use super::service::{ClaimView, MappingView, PoolView, ReleaseView, SyncView};
use crate::api::AgentContext;
use crate::api::{decode, ApiError, Reply};
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

fn check_tenant(tenant: &str) -> Result<(), ApiError> {
    check_name("tenant", tenant).map_err(ApiError::from)
}

pub async fn claim(ctx: &AgentContext, tenant: &str, body: &[u8]) -> Result<Reply, ApiError> {
    check_tenant(tenant)?;
    let req: ClaimRequest = decode::json(body)?;
    check_name("workload", &req.workload)?;
    if req.secrets.len() > MAX_SECRETS {
        return Err(ApiError::bad_request(
            "secrets",
            format!("at most {MAX_SECRETS} secrets"),
        ));
    }
    let mut total = 0;
    for (name, value) in &req.secrets {
        check_secret_name(name).map_err(|m| ApiError::bad_request(format!("secrets.{name}"), m))?;
        total += value.len();
    }
    if total > MAX_SECRETS_BYTES {
        return Err(ApiError::bad_request(
            "secrets",
            format!("secrets total more than {MAX_SECRETS_BYTES} bytes"),
        ));
    }
    let stored = ctx
        .workloads
        .get(&req.workload)
        .ok_or_else(|| ApiError::NotFound(format!("workload {} not found", req.workload)))?;
    let view = ctx.pools.claim(ctx, &stored, tenant, &req.secrets).await?;
    Reply::ok(view)
}

pub async fn release(ctx: &AgentContext, tenant: &str, body: &[u8]) -> Result<Reply, ApiError> {
    check_tenant(tenant)?;
    let req: ReleaseRequest = decode::json(body)?;
    if let Some(w) = &req.workload {
        check_name("workload", w)?;
    }
    let workload = ctx.pools.workload_of(tenant, req.workload.as_deref())?;
    let stored = ctx.workloads.get(&workload);
    let view = ctx
        .pools
        .release(ctx, stored.as_deref(), &workload, tenant)
        .await?;
    Reply::ok(view)
}

pub fn status(ctx: &AgentContext, tenant: &str) -> Result<Reply, ApiError> {
    check_tenant(tenant)?;
    let claims = ctx.pools.tenant_claims(tenant, |w| ctx.workloads.get(w));
    Reply::ok(TenantStatus {
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
pub async fn sync(ctx: &AgentContext, tenant: &str, body: &[u8]) -> Result<Reply, ApiError> {
    check_tenant(tenant)?;
    let req: SyncRequest = decode::json(body)?;
    if let Some(w) = &req.workload {
        check_name("workload", w)?;
    }
    let download = match req.direction.as_deref() {
        None | Some("upload") => false,
        Some("download") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "direction",
                format!("direction {other:?} must be upload or download"),
            ))
        }
    };
    let workload = ctx.pools.workload_of(tenant, req.workload.as_deref())?;
    let stored = ctx
        .workloads
        .get(&workload)
        .ok_or_else(|| ApiError::NotFound(format!("workload {workload} not found")))?;
    Reply::ok(ctx.pools.sync_now(&stored, tenant, download).await?)
}
