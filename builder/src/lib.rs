//! `coolify-builder`: one build per process. Clone a repo at a ref, turn the
//! stack into a Containerfile and context, build it through Podman's build API
//! into local containers-storage, and record what happened in the work dir.
//!
//! The command line, the work-dir files and the exit codes are the contract
//! with the agent's build driver: `coolify-build-contract`'s crate doc states
//! it, and both sides use its names and types. docs/builds.md tells the rest.

mod await_go;
mod error;
mod git;
mod output;
mod pipeline;
mod podman;
mod run;
mod secrets;
mod spec;
mod stack;

pub use await_go::{wait_for_go, WaitError};
pub use error::{BuildError, ErrorCode, Stage};
pub use pipeline::BuilderConfig;
pub use run::run_build;
pub use spec::DEFAULT_STATIC_BASE_IMAGE;
