//! `coolify cp up|down|status`: the appliance lifecycle on this host.
//!
//! `up` is idempotent and safe to run twice at once (a file lock): PKI →
//! image → container → health gate, each step reusing what is already right.
//! With `--with-broker` the broker's keys and this host's token, then the
//! broker container and its UDS health come before the agent, and the
//! agent's stream to it is awaited after.

mod container;
mod embedded;
mod health_gate;
mod image;
mod labels;
mod local_broker;
mod lock;
mod probe;
mod runtimes;
mod settings;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use container::ContainerAction;
pub use image::ImageAction;
pub use settings::{default_mgmt_ip, CpSettings, LocalBroker};

use crate::broker::single_host::{self, TokenAction};
use crate::broker::HostLink;
use crate::engine::{Engine, EngineError};
use crate::output::Reporter;
use crate::pki::{self, PkiError, PkiOutcome, ServerIdentity};

/// Everything that can stop an appliance command, each carrying what the
/// operator needs to act.
#[derive(Debug, thiserror::Error)]
pub enum ApplianceError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(
        "this coolify binary carries no {0} (built without it); build it with scripts/build-static"
    )]
    NotEmbedded(&'static str),
    #[error("{0}")]
    Usage(String),
    #[error("building the appliance image failed: {0}")]
    Build(String),
    #[error("container name {name:?} is taken: {reason}")]
    NameConflict { name: String, reason: String },
    #[error("{name} exited while starting ({}){}; it was stopped to end the restart loop\n--- last log lines ---\n{logs}",
        match exit_code { Some(c) => format!("exit code {c}"), None => format!("restarted {restarts} time(s)") },
        error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    ContainerExited {
        name: String,
        exit_code: Option<i64>,
        restarts: i64,
        error: Option<String>,
        logs: String,
    },
    #[error("{name} disappeared while starting (removed by another process?)")]
    ContainerVanished { name: String },
    #[error("{url} was not healthy within {}: last status {}, last body {last_body:?}{}\n--- last log lines ---\n{logs}",
        humantime::format_duration(*timeout),
        last_status.map(|s| s.to_string()).unwrap_or_else(|| "none".into()),
        last_error.as_ref().map(|e| format!(", last error: {e}")).unwrap_or_default())]
    HealthTimeout {
        url: String,
        timeout: Duration,
        last_status: Option<u16>,
        last_body: String,
        last_error: Option<String>,
        logs: String,
    },
    #[error("the agent's stream to {broker} did not connect within {}: {detail} (check `podman logs {broker}` and the agent's /healthz)",
        humantime::format_duration(*timeout))]
    StreamNotConnected {
        broker: String,
        timeout: Duration,
        detail: String,
    },
    #[error("{0}\n(the broker's variables come from cp up's flags: --broker-grpc-bind → BROKER_GRPC_BIND, --broker-socket → BROKER_UNIX_SOCKET_PATH, --broker-socket-group → BROKER_UNIX_SOCKET_GROUP)")]
    BrokerFailed(Box<ApplianceError>),
    #[error("lock {path}: {reason}")]
    Lock { path: String, reason: String },
    #[error("engine API: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error(transparent)]
    Namespaces(#[from] crate::namespaces::ProvisionError),
    #[error(transparent)]
    RawApi(#[from] coold::podman::raw::RawError),
}

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
    pub runtime_services: Vec<runtimes::RuntimeService>,
    pub health: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerUp>,
    pub duration_ms: u128,
}

/// The broker part of `cp up --with-broker`.
#[derive(Debug, Serialize)]
pub struct BrokerUp {
    pub container: String,
    pub container_id: String,
    pub container_action: ContainerAction,
    pub socket: String,
    pub host_id: String,
    pub token: TokenAction,
    /// Broker key and certificate files this run created.
    pub created: Vec<String>,
    pub health: serde_json::Value,
}

/// How often `up` looks at the agent's broker component.
const STREAM_POLL: Duration = Duration::from_millis(200);

pub async fn up(
    s: &CpSettings,
    engine_spec: &str,
    out: &Reporter,
) -> Result<UpReport, ApplianceError> {
    let started = Instant::now();
    let bundle = embedded::bundle();
    let needed: &[&str] = if s.with_broker.is_some() {
        &[embedded::COOLD, embedded::BROKER]
    } else {
        &[embedded::COOLD]
    };
    if let Some(missing) = bundle.missing(needed) {
        return Err(ApplianceError::NotEmbedded(missing));
    }
    let mut s = s.clone();

    let step = out.step("connecting to the engine");
    let engine = Engine::connect(engine_spec)
        .await
        .inspect_err(|_| step.fail())?;
    step.done(&engine.socket.display().to_string());

    let _lock = lock::acquire(&s.run_dir, &s.name, out).await?;

    let step = out.step("PKI");
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
    step.done(&describe_pki(&pki));

    let local = match s.with_broker.clone() {
        Some(b) => {
            let step = out.step("broker keys and host token");
            let caps: Vec<String> = s
                .builder
                .then(|| "builder".to_string())
                .into_iter()
                .collect();
            let dial = b.dial_addr().ip();
            let names = if dial.is_loopback() {
                vec![]
            } else {
                vec![dial.to_string()]
            };
            let (files, created, token) =
                single_host::ensure(&s.config_dir, &b.host_id, &caps, names)
                    .map_err(ApplianceError::Usage)
                    .inspect_err(|_| step.fail())?;
            step.done(&format!(
                "host {}: token {}{}",
                b.host_id,
                match &token {
                    TokenAction::Minted => "minted".to_string(),
                    TokenAction::Kept => "kept".into(),
                    TokenAction::Renewed { reason } => format!("renewed ({reason})"),
                },
                if created.is_empty() {
                    String::new()
                } else {
                    format!("; created {}", created.join(", "))
                }
            ));
            Some((b, files, created, token))
        }
        None => None,
    };

    let wanted: Vec<String> = s
        .runtime_services
        .iter()
        .filter(|r| !r.trim().is_empty())
        .cloned()
        .collect();
    let mut runtime_services = Vec::new();
    if !wanted.is_empty() {
        let step = out.step(&format!("runtime services ({})", wanted.join(", ")));
        runtime_services = runtimes::ensure(&s.run_dir, &wanted);
        let summary: Vec<String> = runtime_services
            .iter()
            .map(|r| format!("{} {}", r.runtime, r.state))
            .collect();
        step.done(&summary.join("; "));
    }

    let image_ref = s.image();
    let step = out.step(&format!("image {image_ref}"));
    let (image_id, image_action) = image::ensure(&engine, &image_ref, &bundle)
        .await
        .inspect_err(|_| step.fail())?;
    step.done(match image_action {
        ImageAction::Reused => "reused",
        ImageAction::Built => "built",
        ImageAction::Rebuilt => "rebuilt (binaries changed)",
    });

    let mut broker = None;
    if let Some((b, files, created, token)) = local {
        let step = out.step(&format!("broker container {}", b.name));
        let (id, action, health) =
            local_broker::ensure(&engine, &b, &files, &image_ref, &bundle, s.drain, s.timeout)
                .await
                .inspect_err(|_| step.fail())?;
        step.done(&format!(
            "{}; UDS {} answers",
            describe_action(&action),
            b.socket.display()
        ));
        s.broker = Some(HostLink {
            url: format!("grpcs://{}/v1/agent", b.dial_addr()),
            token_file: files.token_file.clone(),
            ca: files.ca.clone(),
            token_sha256: Some(files.token_sha256.clone()),
        });
        broker = Some(BrokerUp {
            container: b.name.clone(),
            container_id: id,
            container_action: action,
            socket: b.socket.display().to_string(),
            host_id: b.host_id.clone(),
            token,
            created,
            health,
        });
    }

    let step = out.step(&format!("container {}", s.name));
    let (container_id, container_action) = container::ensure(
        &engine,
        &s.name,
        container::coold_body(&s, &image_ref, &bundle),
        s.drain,
    )
    .await
    .inspect_err(|_| step.fail())?;
    step.done(&describe_action(&container_action));

    let step = out.step(&format!(
        "health gate http://127.0.0.1:{}/healthz",
        s.health_port
    ));
    let mut health = health_gate::wait_healthy(&engine, &s.name, s.health_port, s.timeout)
        .await
        .inspect_err(|_| step.fail())?;
    step.done("healthy");

    if let Some(b) = &broker {
        let step = out.step(&format!("agent stream to {}", b.container));
        health = wait_stream(&b.container, s.health_port, s.timeout)
            .await
            .inspect_err(|_| step.fail())?;
        step.done("connected");
    }

    let mut pruned_images = Vec::new();
    if image_action != ImageAction::Reused
        || matches!(container_action, ContainerAction::Replaced { .. })
    {
        let step = out.step("pruning images of older versions");
        pruned_images = image::prune_stale(&engine, &image_ref, bundle.sha256)
            .await
            .inspect_err(|_| step.fail())?;
        step.done(&format!("{} removed", pruned_images.len()));
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

fn describe_action(a: &ContainerAction) -> String {
    match a {
        ContainerAction::Created => "created and started".to_string(),
        ContainerAction::Started => "started".into(),
        ContainerAction::Running => "already running".into(),
        ContainerAction::Adopted => "adopted (created by a concurrent cp up)".into(),
        ContainerAction::Replaced { reason } => format!("replaced: {reason}"),
    }
}

/// The agent's broker component as `/healthz` shows it: `(status, detail)`.
fn broker_component(health: &serde_json::Value) -> Option<(String, String)> {
    let c = health
        .get("components")?
        .get(coold::broker_client::COMPONENT)?;
    Some((
        c.get("status")?.as_str()?.to_string(),
        c.get("detail")
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .to_string(),
    ))
}

/// Waits until the agent's `/healthz` shows its broker stream connected
/// (the component is not required, so the health gate passes without it).
async fn wait_stream(
    broker: &str,
    health_port: u16,
    timeout: Duration,
) -> Result<serde_json::Value, ApplianceError> {
    let started = Instant::now();
    loop {
        let answer = probe::get(
            health_gate::healthz_addr(health_port),
            "/healthz",
            Duration::from_secs(1),
        )
        .await;
        let detail = match answer {
            Ok((_, body)) => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                match broker_component(&v) {
                    Some((status, _)) if status == "healthy" => return Ok(v),
                    Some((status, d)) => format!("{status}: {d}"),
                    None => "the agent shows no broker component".into(),
                }
            }
            Err(e) => e,
        };
        if started.elapsed() >= timeout {
            return Err(ApplianceError::StreamNotConnected {
                broker: broker.to_string(),
                timeout,
                detail,
            });
        }
        tokio::time::sleep(STREAM_POLL).await;
    }
}

fn describe_pki(p: &PkiOutcome) -> String {
    match (p.created.is_empty(), p.reused.is_empty()) {
        (false, true) => format!("created {}", p.created.join(", ")),
        (true, _) => "reused".into(),
        (false, false) => format!(
            "created {}; reused {}",
            p.created.join(", "),
            p.reused.join(", ")
        ),
    }
}

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
    run_dir: &std::path::Path,
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

/// The result of `cp status`.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub container: String,
    pub present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coold_sha256: Option<String>,
    pub healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_error: Option<String>,
    /// The agent's broker stream as its `/healthz` shows it
    /// (`healthy` = connected), when it dials one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_stream: Option<String>,
    /// The `--with-broker` container, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<local_broker::BrokerStatus>,
}

/// The agent REST address the running appliance advertises (its
/// `coolify.cp.api` label); `None` when there is no engine, no appliance,
/// or it is not running. Observes only.
pub async fn api_addr(name: &str, engine_spec: &str) -> Option<String> {
    let engine = Engine::connect(engine_spec).await.ok()?;
    let c = container::inspect(&engine, name).await.ok()??;
    if !c.state.running {
        return None;
    }
    c.label(labels::API_ADDR).map(str::to_string)
}

/// Observes only: never creates or starts anything.
pub async fn status(
    name: &str,
    broker_name: &str,
    engine_spec: &str,
) -> Result<StatusReport, ApplianceError> {
    let engine = Engine::connect(engine_spec).await?;
    let broker = local_broker::status(&engine, broker_name).await?;
    let Some(c) = container::inspect(&engine, name).await? else {
        return Ok(StatusReport {
            container: name.to_string(),
            present: false,
            id: None,
            state: None,
            image: None,
            started_at: None,
            uptime_secs: None,
            coold_sha256: None,
            healthy: false,
            health: None,
            health_error: None,
            broker_stream: None,
            broker,
        });
    };
    let running = c.state.running;
    let state = Some(c.state.status.clone());
    let started_at = Some(c.state.started_at.clone()).filter(|s| !s.is_empty());
    let uptime_secs = if running {
        started_at
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t.split('.').next().unwrap_or(t)).ok())
            .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
            .map(|d| d.as_secs())
    } else {
        None
    };
    let health_port = c
        .label(labels::HEALTH_PORT)
        .and_then(|p| p.parse::<u16>().ok());
    let (health, health_error) = match (running, health_port) {
        (false, _) => (None, Some("container is not running".to_string())),
        (true, None) => (
            None,
            Some(format!("container has no {} label", labels::HEALTH_PORT)),
        ),
        (true, Some(port)) => {
            match probe::get(
                health_gate::healthz_addr(port),
                "/healthz",
                Duration::from_secs(2),
            )
            .await
            {
                Ok((code, body)) => {
                    let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
                    (
                        Some(v),
                        (code != 200).then(|| format!("/healthz answered {code}")),
                    )
                }
                Err(e) => (None, Some(format!("/healthz on 127.0.0.1:{port}: {e}"))),
            }
        }
    };
    Ok(StatusReport {
        container: name.to_string(),
        present: true,
        id: Some(c.id.clone()),
        state,
        image: Some(c.config.image.clone()),
        started_at,
        uptime_secs,
        coold_sha256: c.label(labels::COOLD_SHA256).map(str::to_string),
        healthy: running && health_error.is_none() && broker.as_ref().is_none_or(|b| b.healthy),
        broker_stream: health
            .as_ref()
            .and_then(broker_component)
            .map(|(status, detail)| format!("{status}: {detail}")),
        health,
        health_error,
        broker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_timeout_names_url_last_answer_and_logs() {
        let e = ApplianceError::HealthTimeout {
            url: "http://127.0.0.1:8442/healthz".into(),
            timeout: Duration::from_secs(30),
            last_status: Some(503),
            last_body: r#"{"status":"unhealthy"}"#.into(),
            last_error: None,
            logs: "coold starting\nping failed".into(),
        };
        let text = e.to_string();
        for part in [
            "http://127.0.0.1:8442/healthz",
            "30s",
            "503",
            "unhealthy",
            "ping failed",
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
    }

    #[test]
    fn exit_while_starting_names_code_or_restarts() {
        let exited = ApplianceError::ContainerExited {
            name: "coolify-cp".into(),
            exit_code: Some(2),
            restarts: 0,
            error: None,
            logs: "configuration error: COOLD_X".into(),
        };
        assert!(exited.to_string().contains("exit code 2"));
        let looped = ApplianceError::ContainerExited {
            name: "coolify-cp".into(),
            exit_code: None,
            restarts: 3,
            error: None,
            logs: String::new(),
        };
        assert!(looped.to_string().contains("restarted 3 time(s)"));
    }
}
