//! The one error type of a build: a closed code the agent's driver maps to a
//! status, the stage it happened in, and a message safe to show (scrubbed of
//! credentials before it is written anywhere).

use serde::Serialize;

/// Closed set of error codes; the driver maps them to statuses
/// (bad_spec 400, git 422, build_failed 422, cancelled 409, io 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadSpec,
    Git,
    BuildFailed,
    Cancelled,
    Io,
}

impl ErrorCode {
    /// Process exit code: 1 build error, 2 I/O, 130 cancelled by SIGTERM.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::BadSpec | ErrorCode::Git | ErrorCode::BuildFailed => 1,
            ErrorCode::Io => 2,
            ErrorCode::Cancelled => 130,
        }
    }
}

/// Pipeline stages, in order. Spec and path validation count as `detect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Git,
    Detect,
    Build,
    Store,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    pub code: ErrorCode,
    pub message: String,
    pub stage: Stage,
}

impl BuildError {
    pub fn new(code: ErrorCode, stage: Stage, message: impl Into<String>) -> Self {
        BuildError {
            code,
            message: message.into(),
            stage,
        }
    }

    pub fn bad_spec(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadSpec, Stage::Detect, message)
    }

    pub fn git(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Git, Stage::Git, message)
    }

    pub fn io(stage: Stage, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Io, stage, message)
    }

    pub fn cancelled(stage: Stage) -> Self {
        Self::new(
            ErrorCode::Cancelled,
            stage,
            "build cancelled by SIGTERM; the Podman build request was aborted",
        )
    }
}
