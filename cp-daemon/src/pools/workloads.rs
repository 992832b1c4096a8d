//! The workload verbs: add or replace a spec (YAML or JSON body), list,
//! read and delete them. They live with the pools because a workload is
//! shown with its pool and cannot be deleted while tenants hold its
//! containers; the specs themselves (`workloads/`) know nothing of pools.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::status::PoolView;
use super::{PoolError, Pools};
use crate::podman::InvalidField;
use crate::workloads::{check_name, SpecError, StoreError, StoredSpec, WorkloadSpec};

/// Why a workload verb failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error(transparent)]
    Name(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pool(#[from] PoolError),
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

fn view(pools: &Pools, stored: &Arc<StoredSpec>) -> WorkloadView {
    let pool = pools
        .pool_views(std::slice::from_ref(stored))
        .pop()
        .expect("one view per spec");
    WorkloadView {
        spec: stored.spec.clone(),
        hash: stored.hash.clone(),
        pool,
    }
}

fn check_id(id: &str) -> Result<(), WorkloadError> {
    Ok(check_name("id", id)?)
}

/// `POST /workloads`: the stored spec's view, and whether it replaced one
/// (200) or is new (201).
pub fn put(pools: &Pools, body: &[u8]) -> Result<(WorkloadView, bool), WorkloadError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| InvalidField::new("body", "the spec must be UTF-8 YAML or JSON"))?;
    let (stored, replaced) = pools.deps().workloads.put(text)?;
    pools.wake();
    Ok((view(pools, &stored), replaced))
}

pub fn list(pools: &Pools) -> WorkloadList {
    let workloads = pools
        .deps()
        .workloads
        .all()
        .iter()
        .map(|s| view(pools, s))
        .collect();
    WorkloadList { workloads }
}

pub fn get(pools: &Pools, id: &str) -> Result<WorkloadView, WorkloadError> {
    check_id(id)?;
    let stored = pools
        .deps()
        .workloads
        .get(id)
        .ok_or_else(|| PoolError::WorkloadNotFound(id.to_string()))?;
    Ok(view(pools, &stored))
}

/// `DELETE /workloads/{id}`: refused while tenants hold its containers;
/// its idle containers are retired by the refill.
pub fn delete(pools: &Pools, id: &str) -> Result<(), WorkloadError> {
    check_id(id)?;
    if pools.has_claims(id) {
        return Err(PoolError::WorkloadClaimed(id.to_string()).into());
    }
    pools.deps().workloads.delete(id)?;
    pools.wake();
    Ok(())
}
