//! Tenant state sync through rclone (seed 001's `sync:` section).
//!
//! - [`spec`]: the serde types of `sync:` and, in [`validate`], the rules
//!   serde cannot express. Pure.
//! - [`tenant`]: tenant ids inside sink paths. Pure.

pub mod spec;
pub mod tenant;
pub mod validate;

pub use spec::{
    Direction, LocalSink, Mapping, Mode, Period, S3Sink, Secret, Sink, SyncPolicy, SyncSpec,
};
pub use tenant::{check_tenant_id, substitute, BadTenantId, TENANT_PLACEHOLDER};
pub use validate::SpecError;

#[cfg(test)]
mod tests;
