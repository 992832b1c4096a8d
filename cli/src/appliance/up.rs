//! `cp up`: the sequence of its steps, each reusing what is already right.
//! Each step is one progress line; it fails its line before it returns an
//! error.

use std::time::Instant;

use serde::Serialize;

use super::container::{self, ContainerAction};
use super::embedded::{self, Bundle};
use super::image::{self, ImageAction};
use super::runtimes::{self, RuntimeService};
use super::up_broker::{self, BrokerUp};
use super::{health_gate, lock, ApplianceError, CpSettings};
use crate::config_layout::ConfigLayout;
use crate::engine::Engine;
use crate::output::Reporter;
use crate::pki::{self, PkiError, PkiOutcome, ServerIdentity};

/// The result of `cp up`, printed by `--output json`.
#[derive(Debug, Serialize)]
pub struct UpReport {
    pub container: String,
    pub container_id: String,
    pub container_action: ContainerAction,
    pub image: String,
    pub image_id: String,
    pub image_action: ImageAction,
    pub pruned_images: Vec<String>,
    pub pki: PkiOutcome,
    pub runtime_services: Vec<RuntimeService>,
    pub health: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerUp>,
    pub duration_ms: u128,
}

pub async fn up(
    s: &CpSettings,
    engine_spec: &str,
    out: &Reporter,
) -> Result<UpReport, ApplianceError> {
    let started = Instant::now();
    let bundle = embedded_bundle(s)?;
    let mut s = s.clone();
    let engine = connect(engine_spec, out).await?;
    let _lock = lock::acquire(&s.run_dir, &s.name, out).await?;
    let pki = ensure_pki(&s, out)?;
    let broker_keys = match &s.with_broker {
        Some(b) => Some(up_broker::keys(&s, b, out)?),
        None => None,
    };
    let runtime_services = ensure_runtime_services(&s, out);
    let image_ref = s.image();
    let (image_id, image_action) = ensure_image(&engine, &image_ref, &bundle, out).await?;
    let mut broker = None;
    if let Some(keys) = broker_keys {
        let (report, link) =
            up_broker::container(&engine, keys, &s, &image_ref, &bundle, out).await?;
        s.broker = Some(link);
        broker = Some(report);
    }
    let (container_id, container_action) =
        ensure_agent(&engine, &s, &image_ref, &bundle, out).await?;
    let mut health = pass_health_gate(&engine, &s, out).await?;
    await_renewed_cert(&s, &pki, out).await?;
    if let Some(b) = &broker {
        health = up_broker::agent_stream(b, &s, out).await?;
    }
    let mut pruned_images = Vec::new();
    if image_action != ImageAction::Reused
        || matches!(container_action, ContainerAction::Replaced { .. })
    {
        pruned_images = prune_images(&engine, &image_ref, &bundle, out).await?;
    }
    Ok(UpReport {
        container: s.name.clone(),
        container_id,
        container_action,
        image: image_ref,
        image_id,
        image_action,
        pruned_images,
        pki,
        runtime_services,
        health,
        broker,
        duration_ms: started.elapsed().as_millis(),
    })
}

/// The embedded binaries, when this CLI carries all that `up` needs.
fn embedded_bundle(s: &CpSettings) -> Result<Bundle, ApplianceError> {
    let bundle = embedded::bundle();
    let needed: &[&str] = if s.with_broker.is_some() {
        &[embedded::COOLD, embedded::BROKER]
    } else {
        &[embedded::COOLD]
    };
    if let Some(missing) = bundle.missing(needed) {
        return Err(ApplianceError::NotEmbedded(missing));
    }
    Ok(bundle)
}

async fn connect(engine_spec: &str, out: &Reporter) -> Result<Engine, ApplianceError> {
    let step = out.step("connecting to the engine");
    let engine = Engine::connect(engine_spec)
        .await
        .inspect_err(|_| step.fail())?;
    step.done(&engine.socket.display().to_string());
    Ok(engine)
}

/// The PKI under the config dir (an older install's agent files moved
/// into `agent/` first), and the data and run dirs.
fn ensure_pki(s: &CpSettings, out: &Reporter) -> Result<PkiOutcome, ApplianceError> {
    let step = out.step("PKI");
    let moved = ConfigLayout::new(&s.config_dir)
        .migrate()
        .map_err(|e| PkiError::Io {
            path: s.config_dir.clone(),
            reason: format!("cannot move the agent's files into agent/: {e}"),
        })
        .inspect_err(|_| step.fail())?;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pki = pki::ensure(
        &s.config_dir,
        &ServerIdentity::for_host(s.mgmt_ip.into(), &hostname),
    )
    .inspect_err(|_| step.fail())?;
    for dir in [&s.data_dir, &s.run_dir] {
        std::fs::create_dir_all(dir).map_err(|e| PkiError::Io {
            path: dir.clone(),
            reason: format!("cannot create directory: {e}"),
        })?;
    }
    let mut summary = describe_pki(&pki);
    if !moved.is_empty() {
        summary.push_str(&format!("; moved into agent/: {}", moved.join(", ")));
    }
    step.done(&summary);
    Ok(pki)
}

fn ensure_runtime_services(s: &CpSettings, out: &Reporter) -> Vec<RuntimeService> {
    let wanted: Vec<String> = s
        .runtime_services
        .iter()
        .filter(|r| !r.trim().is_empty())
        .cloned()
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let step = out.step(&format!("runtime services ({})", wanted.join(", ")));
    let services = runtimes::ensure(&s.run_dir, &wanted);
    let summary: Vec<String> = services
        .iter()
        .map(|r| format!("{} {}", r.runtime, r.state))
        .collect();
    step.done(&summary.join("; "));
    services
}

async fn ensure_image(
    engine: &Engine,
    image_ref: &str,
    bundle: &Bundle,
    out: &Reporter,
) -> Result<(String, ImageAction), ApplianceError> {
    let step = out.step(&format!("image {image_ref}"));
    let (image_id, image_action) = image::ensure(engine, image_ref, bundle)
        .await
        .inspect_err(|_| step.fail())?;
    step.done(match image_action {
        ImageAction::Reused => "reused",
        ImageAction::Built => "built",
        ImageAction::Rebuilt => "rebuilt (binaries changed)",
    });
    Ok((image_id, image_action))
}

/// The agent's container: started, kept, or drained and replaced.
async fn ensure_agent(
    engine: &Engine,
    s: &CpSettings,
    image_ref: &str,
    bundle: &Bundle,
    out: &Reporter,
) -> Result<(String, ContainerAction), ApplianceError> {
    let step = out.step(&format!("container {}", s.name));
    let (id, action) = container::ensure(
        engine,
        &s.name,
        container::coold_body(s, image_ref, bundle),
        s.drain,
    )
    .await
    .inspect_err(|_| step.fail())?;
    step.done(&describe_action(&action));
    Ok((id, action))
}

async fn pass_health_gate(
    engine: &Engine,
    s: &CpSettings,
    out: &Reporter,
) -> Result<serde_json::Value, ApplianceError> {
    let step = out.step(&format!(
        "health gate http://127.0.0.1:{}/healthz",
        s.health_port
    ));
    let health = health_gate::wait_healthy(engine, &s.name, s.health_port, s.timeout)
        .await
        .inspect_err(|_| step.fail())?;
    step.done("healthy");
    Ok(health)
}

/// A renewed server certificate is confirmed served before `up` reports:
/// a kept container reloads it from `agent/` (coold's api/reload.rs), a
/// new one starts with it.
async fn await_renewed_cert(
    s: &CpSettings,
    pki: &PkiOutcome,
    out: &Reporter,
) -> Result<(), ApplianceError> {
    let (false, Some(cert)) = (pki.renewed.is_empty(), &pki.server_certificate) else {
        return Ok(());
    };
    let api = format!("{}:{}", s.mgmt_ip, s.api_port);
    let step = out.step(&format!("renewed certificate served on {api}"));
    let ca = ConfigLayout::new(&s.config_dir).ca_cert();
    let ms = super::served::ServedBy::new(&s.name, &api, &ca, s.timeout)
        .inspect_err(|_| step.fail())?
        .until_certificate(&cert.sha256)
        .await
        .inspect_err(|_| step.fail())?;
    step.done(&format!("after {ms} ms"));
    Ok(())
}

/// Images of older versions, once a new image or container took over.
async fn prune_images(
    engine: &Engine,
    image_ref: &str,
    bundle: &Bundle,
    out: &Reporter,
) -> Result<Vec<String>, ApplianceError> {
    let step = out.step("pruning images of older versions");
    let pruned = image::prune_stale(engine, image_ref, bundle.sha256)
        .await
        .inspect_err(|_| step.fail())?;
    step.done(&format!("{} removed", pruned.len()));
    Ok(pruned)
}

pub fn describe_action(a: &ContainerAction) -> String {
    match a {
        ContainerAction::Created => "created and started".to_string(),
        ContainerAction::Started => "started".into(),
        ContainerAction::Running => "already running".into(),
        ContainerAction::Adopted => "adopted (created by a concurrent cp up)".into(),
        ContainerAction::Replaced { reason } => format!("replaced: {reason}"),
    }
}

fn describe_pki(p: &PkiOutcome) -> String {
    let mut parts = Vec::new();
    if !p.created.is_empty() {
        parts.push(format!("created {}", p.created.join(", ")));
    }
    if !p.renewed.is_empty() {
        parts.push(format!("renewed {}", p.renewed.join(", ")));
    }
    if !p.reused.is_empty() {
        parts.push(if parts.is_empty() {
            "reused".to_string()
        } else {
            format!("reused {}", p.reused.join(", "))
        });
    }
    if let Some(c) = &p.server_certificate {
        parts.push(format!("server certificate valid until {}", c.not_after));
    }
    parts.join("; ")
}
