//! The broker wiring of `cp up --with-broker`: its keys and this host's
//! token before anything starts, its container from the appliance image
//! (the agent is then linked to it over loopback), and after the agent's
//! health gate, the agent's stream to it.

use serde::Serialize;

use super::container::ContainerAction;
use super::embedded::Bundle;
use super::{local_broker, stream, up, ApplianceError, CpSettings, LocalBroker};
use crate::broker::single_host::{self, SingleHostFiles, TokenAction};
use crate::broker::HostLink;
use crate::engine::Engine;
use crate::output::Reporter;

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
    /// Broker certificates this run renewed, e.g. `…/broker.crt (10 days left)`.
    pub renewed: Vec<String>,
    pub health: serde_json::Value,
}

/// What the keys step hands to the container step.
pub struct BrokerKeys {
    broker: LocalBroker,
    files: SingleHostFiles,
    created: Vec<String>,
    renewed: Vec<String>,
    token: TokenAction,
}

/// The broker's keys and this host's token, created when missing.
pub fn keys(s: &CpSettings, b: &LocalBroker, out: &Reporter) -> Result<BrokerKeys, ApplianceError> {
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
    let (files, created, renewed, token) =
        single_host::ensure(&s.config_dir, &b.host_id, &caps, names)
            .map_err(ApplianceError::Usage)
            .inspect_err(|_| step.fail())?;
    step.done(&format!(
        "host {}: token {}{}{}",
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
        },
        if renewed.is_empty() {
            String::new()
        } else {
            format!("; renewed {}", renewed.join(", "))
        }
    ));
    Ok(BrokerKeys {
        broker: b.clone(),
        files,
        created,
        renewed,
        token,
    })
}

/// Starts (or keeps) the broker container and waits for its UDS health;
/// returns what `up` reports and the link the agent dials.
pub async fn container(
    engine: &Engine,
    k: BrokerKeys,
    s: &CpSettings,
    image_ref: &str,
    bundle: &Bundle,
    out: &Reporter,
) -> Result<(BrokerUp, HostLink), ApplianceError> {
    let BrokerKeys {
        broker: b,
        files,
        created,
        renewed,
        token,
    } = k;
    let step = out.step(&format!("broker container {}", b.name));
    let (id, action, health) =
        local_broker::ensure(engine, &b, &files, image_ref, bundle, s.drain, s.timeout)
            .await
            .inspect_err(|_| step.fail())?;
    step.done(&format!(
        "{}; UDS {} answers",
        up::describe_action(&action),
        b.socket.display()
    ));
    let link = HostLink {
        url: format!("grpcs://{}/v1/agent", b.dial_addr()),
        token_file: files.token_file.clone(),
        ca: files.ca.clone(),
        token_sha256: Some(files.token_sha256.clone()),
    };
    let report = BrokerUp {
        container: b.name.clone(),
        container_id: id,
        container_action: action,
        socket: b.socket.display().to_string(),
        host_id: b.host_id.clone(),
        token,
        created,
        renewed,
        health,
    };
    Ok((report, link))
}

/// Waits until the agent's stream to the broker is connected; returns the
/// agent's `/healthz` that shows it.
pub async fn agent_stream(
    b: &BrokerUp,
    s: &CpSettings,
    out: &Reporter,
) -> Result<serde_json::Value, ApplianceError> {
    let step = out.step(&format!("agent stream to {}", b.container));
    let health = stream::wait_stream(&b.container, s.health_port, s.timeout)
        .await
        .inspect_err(|_| step.fail())?;
    step.done("connected");
    Ok(health)
}
