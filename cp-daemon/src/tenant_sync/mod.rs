//! Tenant state sync through rclone (seed 001's `sync:` section).
//!
//! One [`StateSync`] serves every workload and tenant; each call runs a
//! real `rclone` process per mapping (through the [`ToolRunner`], so inside
//! the appliance the host's rclone runs chrooted into the host root):
//!
//! - [`StateSync::download`]: sink → state dir, for mappings with direction
//!   `download` or `bidirectional` (on claim, or a manual sync).
//! - [`StateSync::upload`]: state dir → sink, for mappings with direction
//!   `upload` or `bidirectional` (on release, periodically, or manually).
//! - [`Periodic`]: uploads at `policy.periodic` while a tenant holds a
//!   claim, until stopped.
//!
//! `bidirectional` is not rclone bisync: while a container is claimed it is
//! the only writer, so state flows down once on claim and up afterwards.
//!
//! Semantics callers rely on:
//! - A failed download returns `Err` and leaves the state dir exactly as it
//!   was: every mapping lands in a staging dir first and moves in only when
//!   all of them arrived. The caller fails the claim (destroys the
//!   container or returns it to the pool).
//! - A tenant with nothing stored yet is not an error: its download
//!   reports [`Outcome::NothingStored`] and changes nothing.
//! - A failed upload returns `Err` naming the mapping and never touches the
//!   state dir. The caller must keep the state dir and call `upload` again
//!   (it is idempotent; [`SyncError::is_retryable`] tells a sink that is
//!   down from input to fix). State is never deleted before an upload of
//!   it has returned `Ok`.
//! - Credentials reach rclone only through its environment (the child's
//!   environment is cleared first), never its argv; rclone's stderr is
//!   scrubbed of them before it goes into an error.
//! - Every rclone run is killed after the configured timeout.
//!
//! Layout:
//! - [`spec`]: the serde types of `sync:` and, in [`validate`], the rules
//!   serde cannot express. Pure.
//! - [`tenant`]: tenant ids inside sink paths. Pure.
//! - [`rclone`]: the argv and environment of one rclone run. Pure.
//! - [`staging`]: where downloads land before they move into a state dir.
//! - [`runner`]: [`StateSync`], the edge that runs rclone.
//! - [`periodic`]: [`Periodic`], uploads at `policy.periodic` while claimed.
//! - [`env_file`]: credentials from `COOLD_SYNC_ENV_FILE`.
//!
//! [`ToolRunner`]: crate::hosttools::ToolRunner

pub mod env_file;
pub mod error;
pub mod periodic;
pub mod rclone;
pub mod runner;
pub mod spec;
pub mod staging;
pub mod tenant;
pub mod validate;

pub use error::SyncError;
pub use periodic::{Periodic, PeriodicStatus};
pub use runner::{EnvLookup, MappingReport, Outcome, Retry, StateSync, SyncReport, Transfer};

pub use spec::{
    Direction, LocalSink, Mapping, Mode, Period, S3Sink, Secret, Sink, SyncPolicy, SyncSpec,
};
pub use tenant::{check_tenant_id, substitute, BadTenantId, TENANT_PLACEHOLDER};
pub use validate::SpecError;

#[cfg(test)]
mod tests;
