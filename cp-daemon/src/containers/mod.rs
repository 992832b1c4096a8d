//! Container verbs (seed 000 "Containers (filtered podman surface)"):
//! create (behind the deny filter and the runtime table), start, stop,
//! restart, delete, inspect, logs, exec and healthcheck runs.
//!
//! Verbs that change or read into a container act only on containers the
//! agent manages (`coolify.managed=true`): the appliance itself and anything
//! else on the host are out of reach. Inspect reads any container.

mod create;
pub mod deny;
mod exec;
mod lifecycle;
mod logs;
pub mod types;
mod view;

pub use create::{check_denied, create, create_with, validate};
pub use exec::{exec, ExecReply};
pub use lifecycle::{delete, healthcheck, restart, start, stop};
pub use logs::{logs, LogsQuery};
pub use view::inspect;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use crate::labels::MANAGED_LABEL;
use crate::podman::{Engine, EngineError, InvalidField};
use crate::runtimes::{RuntimeError, Runtimes};
use view::LibpodContainer;

/// NDJSON lines that arrive over time (logs with `follow`, streamed exec);
/// dropping it closes the engine request.
pub type LineStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Why a container verb failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// Malformed input: the caller must fix the field.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// Well-formed, but policy refuses the field (deny filter, a container
    /// the agent does not manage).
    #[error("{}", .0.message)]
    Denied(InvalidField),
    /// The runtime asked for is not allowed or not installed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{}", .0.caller_message())]
    Engine(#[from] EngineError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Defined in `crate::labels` with the agent's other labels; part of this
/// module's public face too.
pub use crate::labels::NAMESPACE_LABEL;

/// `[A-Za-z0-9][A-Za-z0-9_.-]*` of at most `max` bytes: the one grammar
/// of engine object names and ids the agent passes on.
pub(crate) fn is_plain_name(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && s.len() <= max
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Checks a container id or name from the path: the engine builds its own
/// URL from it, so only characters that cannot change that URL pass.
pub fn check_id(field: &str, id: &str) -> Result<(), InvalidField> {
    if is_plain_name(id, 255) {
        Ok(())
    } else {
        Err(InvalidField::new(
            field,
            format!("{field} must be a container id or name ([A-Za-z0-9][A-Za-z0-9_.-]*)"),
        ))
    }
}

/// A managed container and the engine that can operate it.
pub(crate) struct Target {
    pub view: LibpodContainer,
    pub engine: Engine,
}

/// Looks up a managed container: 404 when absent, 403 when not managed.
pub(crate) async fn managed(
    main: &Engine,
    runtimes: &Runtimes,
    id: &str,
) -> Result<Target, ContainerError> {
    check_id("id", id)?;
    let view = view::read(main, id).await?;
    if view.label(MANAGED_LABEL) != Some("true") {
        return Err(ContainerError::Denied(InvalidField::new(
            "id",
            format!("container {id} is not managed by coolify (no {MANAGED_LABEL}=true label)"),
        )));
    }
    let engine = runtimes.engine_for(main, &view.oci_runtime).await?;
    Ok(Target { view, engine })
}
