//! What can go wrong in a sync, typed so that callers can tell a bad
//! tenant id or a missing credential (fix the input) from a failed
//! transfer (retry later).

use std::path::PathBuf;
use std::time::Duration;

use super::tenant::BadTenantId;

/// A failed download or upload. Every transfer error names the mapping.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The tenant id cannot be part of a sink path.
    #[error(transparent)]
    Tenant(#[from] BadTenantId),
    /// The spec does not pass `SyncSpec::validate`.
    #[error("invalid sync spec: {0}")]
    Spec(#[from] super::validate::SpecError),
    /// A `*_env` credential names a variable the agent does not have.
    #[error("{key} names environment variable {var}, which is not set in the agent's environment: set it (e.g. in the appliance's env) or give {key} another name")]
    MissingCredential { key: &'static str, var: String },
    /// The state dir to upload from does not exist.
    #[error("state dir {} does not exist: nothing to upload", .0.display())]
    NoStateDir(PathBuf),
    /// rclone could not be started.
    #[error("sync mapping {mapping:?} ({direction}): cannot run rclone {}: {source} (set COOLD_RCLONE_BIN or install rclone on the host)", .program.display())]
    Spawn {
        mapping: String,
        direction: &'static str,
        program: PathBuf,
        source: std::io::Error,
    },
    /// rclone ran and failed; `stderr` is its last output, secrets removed.
    #[error("sync mapping {mapping:?} ({direction}): rclone exited with {status}: {stderr}")]
    Rclone {
        mapping: String,
        direction: &'static str,
        status: String,
        stderr: String,
    },
    /// rclone ran past the sync timeout and was killed.
    #[error("sync mapping {mapping:?} ({direction}): rclone ran longer than {} and was killed (COOLD_SYNC_TIMEOUT)", humantime::format_duration(*.timeout))]
    Timeout {
        mapping: String,
        direction: &'static str,
        timeout: Duration,
    },
    /// Staging a download or moving it into the state dir failed.
    #[error("sync mapping {mapping:?} (download): {action} {}: {source}", .path.display())]
    Local {
        mapping: String,
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SyncError {
    /// Whether the same call may succeed later unchanged (a sink that is
    /// down, a timeout), as opposed to input that must be fixed first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SyncError::Rclone { .. } | SyncError::Timeout { .. } | SyncError::Local { .. }
        )
    }

    /// The mapping a transfer error is about, if any.
    pub fn mapping(&self) -> Option<&str> {
        match self {
            SyncError::Spawn { mapping, .. }
            | SyncError::Rclone { mapping, .. }
            | SyncError::Timeout { mapping, .. }
            | SyncError::Local { mapping, .. } => Some(mapping),
            _ => None,
        }
    }
}
