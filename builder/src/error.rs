//! The one error type of a build: a closed code the agent's driver maps to a
//! status, the stage it happened in, and a message safe to show (scrubbed of
//! credentials before it is written anywhere). The codes, stages and the
//! error.json shape are the contract's (`coolify-build-contract`).

use coolify_build_contract::ErrorFile;
pub use coolify_build_contract::{ErrorCode, Stage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
            format!(
                "build cancelled by a signal during the {} stage",
                stage.name()
            ),
        )
    }

    /// error.json's shape (and the `err` of the last event).
    pub fn file(&self) -> ErrorFile {
        ErrorFile::new(self.code.as_str(), self.message.clone(), self.stage.name())
    }
}
