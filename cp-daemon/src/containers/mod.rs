//! Container verbs (seed 000 "Containers (filtered podman surface)"):
//! create (behind the deny filter and the runtime table), start, stop,
//! restart, delete, inspect, logs, exec and healthcheck runs.
//!
//! Verbs that change or read into a container act only on containers the
//! agent manages (`coolify.managed=true`): the appliance itself and anything
//! else on the host are out of reach. Inspect reads any container.

mod create;
mod exec;
mod lifecycle;
mod logs;
pub mod types;
mod view;

pub use create::{create, create_with, validate};
pub use exec::{exec, ExecReply};
pub use lifecycle::{delete, healthcheck, restart, start, stop};
pub use logs::logs;
pub use view::inspect;

use crate::api::AgentContext;
use crate::api::ApiError;
use crate::host::MANAGED_LABEL;
use crate::podman::Engine;
use view::LibpodContainer;

/// Label carrying the tenancy namespace of an object.
pub const NAMESPACE_LABEL: &str = "coolify.namespace";

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
pub fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if is_plain_name(id, 255) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
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
pub(crate) async fn managed(ctx: &AgentContext, id: &str) -> Result<Target, ApiError> {
    check_id("id", id)?;
    let view = view::read(&ctx.engine, id).await?;
    if view.label(MANAGED_LABEL) != Some("true") {
        return Err(ApiError::forbidden(
            "id",
            format!("container {id} is not managed by coolify (no {MANAGED_LABEL}=true label)"),
        ));
    }
    let engine = ctx
        .runtimes
        .engine_for(&ctx.engine, &view.oci_runtime)
        .await
        .map_err(crate::api::runtime_error)?;
    Ok(Target { view, engine })
}
