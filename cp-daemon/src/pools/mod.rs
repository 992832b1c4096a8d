//! Warm pools and tenant claims (seed 001, DESIGN.md decision 8): per
//! workload, `min_size` idle containers kept created, started and healthy;
//! a tenant's claim takes one (or creates one cold when none is idle, up to
//! `max_size`), fills its secrets, and release wipes the tenant's files
//! before it answers, then destroys the container and refills (or, with
//! `on_release: reuse`, restarts it clean and returns it idle).
//!
//! Layers: `pool` holds the pure bookkeeping (who is idle, claimed, being
//! made); `claims` the durable claims record; `dirs` the per-container
//! state and secrets dirs; `readiness` makes a container ready (create,
//! start, agent-run healthcheck) or removes it;
//! `agent_pools` holds the `Pools` handle, and one file per job runs on it:
//! `claim`, `release`, `state_sync` (tenant state in and out), `recovery`,
//! `refill` (the background task), `status` (views and metrics); `verbs`
//! serves the API.
//!
//! Durable truth: the engine's containers (labelled
//! `coolify.pool.workload=<id>` and `coolify.pool.spec=<hash>`) plus the
//! claims record (see `claims` for why a file and not labels). On start,
//! `recover` rebuilds the pools from both.

mod agent_pools;
mod claim;
mod claims;
mod dirs;
mod pool;
mod readiness;
mod recovery;
mod refill;
mod release;
mod state_sync;
mod status;
pub mod verbs;
pub mod workloads;

pub use agent_pools::{Pools, PoolsConfig};
pub use claims::{ClaimRecord, ClaimsFile};
pub use dirs::ContainerDirs;
pub use recovery::RecoveryReport;
pub use refill::run;

use std::sync::Arc;

use crate::containers::deny::DenyPolicy;
use crate::containers::ContainerError;
use crate::podman::{Engine, InvalidField};
use crate::runtimes::Runtimes;
use crate::workloads::{SpecError, WorkloadStore};

/// What the pools reach outside themselves: the engine and runtime table
/// (a pool container is made like any `POST /containers`, behind the same
/// deny policy) and the workload specs.
#[derive(Debug, Clone)]
pub struct PoolDeps {
    pub engine: Engine,
    pub runtimes: Arc<Runtimes>,
    pub deny: DenyPolicy,
    pub workloads: Arc<WorkloadStore>,
}

pub use crate::labels::{POOL_AGENT_LABEL, POOL_HASH_LABEL, POOL_WORKLOAD_LABEL};
/// Every pool container's name starts with this.
pub const NAME_PREFIX: &str = "coolify-pool-";
/// Health component name.
pub use coolify_api_types::health::POOLS as COMPONENT;

/// Why a pool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Making, starting or reading a pool container failed.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// A tenant, workload or secret name is malformed.
    #[error(transparent)]
    Name(#[from] SpecError),
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("workload {0} not found")]
    WorkloadNotFound(String),
    /// A workload with claimed containers cannot be deleted.
    #[error("workload {0} has claimed containers; release them first")]
    WorkloadClaimed(String),
    #[error("tenant {0} holds no claim")]
    NoClaim(String),
    #[error("tenant {tenant} holds no claim on {workload}")]
    NoClaimOn { tenant: String, workload: String },
    #[error("a claim or release of tenant {tenant} on {workload} is in progress; retry")]
    InProgress { tenant: String, workload: String },
    #[error("pool {workload} is at max_size {max} with no idle container; retry after a release")]
    Full { workload: String, max: u32 },
    #[error("workload {0} has no sync section")]
    NoSyncSection(String),
    #[error("manual sync is off for workload {0}")]
    ManualSyncOff(String),
    /// A manual sync failed.
    #[error("state sync failed: {0}")]
    SyncFailed(crate::tenant_sync::SyncError),
    #[error("pool dirs: {0}")]
    Dirs(dirs::DirError),
    #[error("{0}")]
    Claims(#[from] claims::ClaimsError),
    #[error("pool container not ready: {0}")]
    NotReady(String),
    /// The state download of a claim failed; the claim was undone.
    #[error("state download failed, the claim was undone: {0}")]
    Download(crate::tenant_sync::SyncError),
    /// The state upload of a release failed; nothing was wiped.
    #[error("state upload failed; the state dir is kept and the tenant still holds the container, retry the release: {0}")]
    Upload(crate::tenant_sync::SyncError),
}
