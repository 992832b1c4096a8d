//! `cp down`: stop the agent, then the `--with-broker` container, then the
//! runtime services; with `--purge`, remove the appliance images. PKI,
//! broker keys and data are kept.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::{container, image, local_broker, runtimes, ApplianceError};
use crate::engine::Engine;
use crate::output::Reporter;

/// The result of `cp down`.
#[derive(Debug, Serialize)]
pub struct DownReport {
    pub container: String,
    pub was_present: bool,
    /// The `--with-broker` container (`--broker-name`).
    pub broker: String,
    pub broker_was_present: bool,
    pub stopped_runtime_services: Vec<String>,
    pub removed_images: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
pub async fn down(
    name: &str,
    broker_name: &str,
    image_repo: &str,
    drain: Duration,
    purge: bool,
    run_dir: &Path,
    engine_spec: &str,
    out: &Reporter,
) -> Result<DownReport, ApplianceError> {
    let engine = Engine::connect(engine_spec).await?;
    let found = container::inspect(&engine, name).await?;
    let was_present = found.is_some();
    if let Some(c) = found {
        let step = out.step(&format!(
            "stopping {name} (drain up to {}s)",
            drain.as_secs()
        ));
        container::stop_and_remove(&engine, &c.id, drain)
            .await
            .inspect_err(|_| step.fail())?;
        step.done("removed; PKI and data kept");
    } else {
        out.note(&format!("{name} is not present; nothing to stop"));
    }
    // After the agent: it would only log reconnect attempts meanwhile.
    let step = out.step(&format!("stopping {broker_name} if present"));
    let broker_was_present = local_broker::down(&engine, broker_name, drain)
        .await
        .inspect_err(|_| step.fail())?;
    step.done(if broker_was_present {
        "removed; broker keys kept"
    } else {
        "not present"
    });
    let stopped_runtime_services = runtimes::stop_all(run_dir);
    if !stopped_runtime_services.is_empty() {
        out.note(&format!(
            "stopped runtime services: {}",
            stopped_runtime_services.join(", ")
        ));
    }
    let mut removed_images = Vec::new();
    if purge {
        let step = out.step("removing appliance images");
        removed_images = image::remove_all(
            &engine,
            &format!("{image_repo}:{}", env!("CARGO_PKG_VERSION")),
        )
        .await
        .inspect_err(|_| step.fail())?;
        step.done(&format!("{} removed", removed_images.len()));
    }
    Ok(DownReport {
        container: name.to_string(),
        was_present,
        broker: broker_name.to_string(),
        broker_was_present,
        stopped_runtime_services,
        removed_images,
    })
}
