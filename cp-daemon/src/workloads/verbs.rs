//! The workload verbs: add or replace a spec (YAML or JSON body), list,
//! read and delete them.

use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::parse::SpecError;
use super::spec::WorkloadSpec;
use super::store::{StoreError, StoredSpec};
use crate::api::AgentContext;
use crate::api::{ApiError, Reply};
use crate::pools::verbs::PoolView;

impl From<SpecError> for ApiError {
    fn from(e: SpecError) -> ApiError {
        let message = e.to_string();
        if e.denied {
            ApiError::Forbidden {
                field: e.field,
                message,
            }
        } else {
            ApiError::BadRequest {
                field: e.field,
                message,
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Spec(e) => e.into(),
            StoreError::NotFound(id) => ApiError::NotFound(format!("workload {id} not found")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A workload as the API shows it: the spec, its hash and its pool.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkloadView {
    pub spec: WorkloadSpec,
    /// Short hash of the spec, also the `coolify.pool.spec` label of the
    /// containers made from it.
    pub hash: String,
    pub pool: PoolView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkloadList {
    pub workloads: Vec<WorkloadView>,
}

fn view(ctx: &AgentContext, stored: &std::sync::Arc<StoredSpec>) -> WorkloadView {
    let pool = ctx
        .pools
        .pool_views(std::slice::from_ref(stored))
        .pop()
        .expect("one view per spec");
    WorkloadView {
        spec: stored.spec.clone(),
        hash: stored.hash.clone(),
        pool,
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    super::check_name("id", id).map_err(ApiError::from)
}

/// `POST /workloads`: 201 when new, 200 when it replaced one.
pub fn put(ctx: &AgentContext, body: &[u8]) -> Result<Reply, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("body", "the spec must be UTF-8 YAML or JSON"))?;
    let (stored, replaced) = ctx.workloads.put(text)?;
    ctx.pools.wake();
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Reply::with_status(status, view(ctx, &stored))
}

pub fn list(ctx: &AgentContext) -> Result<Reply, ApiError> {
    let workloads = ctx.workloads.all().iter().map(|s| view(ctx, s)).collect();
    Reply::ok(WorkloadList { workloads })
}

pub fn get(ctx: &AgentContext, id: &str) -> Result<Reply, ApiError> {
    check_id(id)?;
    let stored = ctx
        .workloads
        .get(id)
        .ok_or_else(|| ApiError::NotFound(format!("workload {id} not found")))?;
    Reply::ok(view(ctx, &stored))
}

/// `DELETE /workloads/{id}`: refused while tenants hold its containers;
/// its idle containers are retired by the refill.
pub fn delete(ctx: &AgentContext, id: &str) -> Result<Reply, ApiError> {
    check_id(id)?;
    if ctx.pools.has_claims(id) {
        return Err(ApiError::Conflict(format!(
            "workload {id} has claimed containers; release them first"
        )));
    }
    ctx.workloads.delete(id)?;
    ctx.pools.wake();
    Reply::no_content()
}
