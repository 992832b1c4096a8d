//! Start, stop, restart, delete and healthcheck runs of managed containers,
//! each through the engine that can run the container's runtime.

use bollard::query_parameters::{
    RemoveContainerOptions, RestartContainerOptions, StopContainerOptions,
};
use serde::Deserialize;

use super::types::{HealthcheckResult, StopRequest};
use super::{managed, ContainerError, Target};
use crate::podman::{raw, Engine, EngineError};
use crate::runtimes::Runtimes;

fn engine_err(id: &str) -> impl Fn(bollard::errors::Error) -> ContainerError + '_ {
    move |e| ContainerError::Engine(EngineError::classify(e, &format!("container {id}")))
}

pub async fn start(main: &Engine, runtimes: &Runtimes, id: &str) -> Result<(), ContainerError> {
    let Target { engine, .. } = managed(main, runtimes, id).await?;
    // Starting a running container is not an error (Podman answers 304).
    engine
        .docker
        .start_container(id, None)
        .await
        .map_err(engine_err(id))
}

pub async fn stop(
    main: &Engine,
    runtimes: &Runtimes,
    id: &str,
    req: &StopRequest,
) -> Result<(), ContainerError> {
    let Target { engine, .. } = managed(main, runtimes, id).await?;
    engine
        .docker
        .stop_container(
            id,
            Some(StopContainerOptions {
                t: engine_timeout(req),
                signal: None,
            }),
        )
        .await
        .map_err(engine_err(id))
}

pub async fn restart(
    main: &Engine,
    runtimes: &Runtimes,
    id: &str,
    req: &StopRequest,
) -> Result<(), ContainerError> {
    let Target { engine, .. } = managed(main, runtimes, id).await?;
    engine
        .docker
        .restart_container(
            id,
            Some(RestartContainerOptions {
                t: engine_timeout(req),
                signal: None,
            }),
        )
        .await
        .map_err(engine_err(id))
}

/// `DELETE /containers/{id}`: the transport merges `force` from the body
/// and `?force=true`.
pub async fn delete(
    main: &Engine,
    runtimes: &Runtimes,
    id: &str,
    force: bool,
) -> Result<(), ContainerError> {
    let Target { engine, .. } = managed(main, runtimes, id).await?;
    engine
        .docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force,
                v: false,
                link: false,
            }),
        )
        .await
        .map_err(engine_err(id))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct LibpodHealthResult {
    status: String,
    failing_streak: i64,
}

/// `POST /containers/{id}/healthcheck/run`: runs the container's check now
/// through libpod (the compat API has no such call); without systemd this
/// is how checks run at all (DESIGN.md decision 9).
pub async fn healthcheck(
    main: &Engine,
    runtimes: &Runtimes,
    id: &str,
) -> Result<HealthcheckResult, ContainerError> {
    let Target { engine, .. } = managed(main, runtimes, id).await?;
    let path = format!("{}/containers/{id}/healthcheck", raw::LIBPOD);
    let (status, body) = raw::request(&engine.socket, http::Method::GET, &path, None)
        .await
        .map_err(|e| EngineError::classify_raw(e, &format!("container {id}")))?;
    if status != 200 {
        let message = raw::error_message(&body);
        return Err(ContainerError::Engine(EngineError::from_status(
            status,
            message,
            &format!("container {id}"),
        )));
    }
    let r: LibpodHealthResult = serde_json::from_slice(&body).map_err(|e| {
        ContainerError::Engine(EngineError::Failed(format!("healthcheck answer: {e}")))
    })?;
    Ok(HealthcheckResult {
        status: r.status,
        failing_streak: r.failing_streak,
    })
}

/// The stop timeout as the engine takes it (seconds, an `i32`).
fn engine_timeout(req: &StopRequest) -> Option<i32> {
    req.timeout.map(|t| t.min(i32::MAX as u32) as i32)
}
