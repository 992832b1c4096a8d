//! Warm pools and tenant claims (seed 001, DESIGN.md decision 8): per
//! workload, `min_size` idle containers kept created, started and healthy;
//! a tenant's claim takes one (or creates one cold when none is idle, up to
//! `max_size`), fills its secrets, and release wipes the tenant's files
//! before it answers, then destroys the container and refills (or, with
//! `on_release: reuse`, restarts it clean and returns it idle).
//!
//! Layers: `pool` holds the pure bookkeeping (who is idle, claimed, being
//! made); `claims` the durable claims record; `dirs` the per-container
//! state and secrets dirs; `warm` makes and removes containers; `service`
//! runs claims, releases, recovery and the background refill; `verbs`
//! serves the API.
//!
//! Durable truth: the engine's containers (labelled
//! `coolify.pool.workload=<id>` and `coolify.pool.spec=<hash>`) plus the
//! claims record (see `claims` for why a file and not labels). On start,
//! `recover` rebuilds the pools from both.

mod claims;
mod dirs;
mod pool;
mod service;
pub mod verbs;
mod warm;

pub use claims::{ClaimRecord, ClaimsFile};
pub use dirs::ContainerDirs;
pub use service::{run, Pools, PoolsConfig};

use crate::api::ApiError;

/// Label naming the workload a pool container belongs to.
pub const POOL_WORKLOAD_LABEL: &str = "coolify.pool.workload";
/// Label with the short hash of the spec the container was made from.
pub const POOL_HASH_LABEL: &str = "coolify.pool.spec";
/// Label naming the agent (by its data) that owns a pool container.
pub const POOL_AGENT_LABEL: &str = "coolify.pool.agent";
/// Every pool container's name starts with this.
pub const NAME_PREFIX: &str = "coolify-pool-";
/// Health component name.
pub const COMPONENT: &str = "pools";

/// Why a pool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Api(ApiError),
    #[error("pool dirs: {0}")]
    Dirs(dirs::DirError),
    #[error("{0}")]
    Claims(#[from] claims::ClaimsError),
    #[error("pool container not ready: {0}")]
    NotReady(String),
    /// The state download of a claim failed; the claim was undone.
    #[error("state download failed, the claim was undone: {0}")]
    Download(crate::sync::SyncError),
    /// The state upload of a release failed; nothing was wiped.
    #[error("state upload failed; the state dir is kept and the tenant still holds the container, retry the release: {0}")]
    Upload(crate::sync::SyncError),
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> ApiError {
        match e {
            PoolError::Api(e) => e,
            PoolError::NotReady(m) => {
                ApiError::Unavailable(format!("pool container not ready: {m}"))
            }
            e @ (PoolError::Download(_) | PoolError::Upload(_)) => {
                ApiError::BadGateway(e.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}
