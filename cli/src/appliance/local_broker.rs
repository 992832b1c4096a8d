//! The broker container of `cp up --with-broker`: `/coolify-broker` from the
//! appliance image, host network (the agent dials it on loopback), its UDS
//! lane in a host directory, its TLS identity and the token public key
//! mounted read-only, its state (the revocation record and the build
//! journal) in a host directory so that it outlives the container. Not
//! privileged: it needs no engine socket and no host tables.

use std::path::Path;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, RestartPolicy, RestartPolicyNameEnum,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::container::{self, base_labels, bind, ContainerAction};
use super::embedded::{Bundle, BROKER};
use super::labels;
use super::probe;
use super::settings::LocalBroker;
use super::ApplianceError;
use crate::broker::single_host::SingleHostFiles;
use crate::engine::Engine;

/// Where the broker's files appear inside its container.
const TLS_CERT_IN: &str = "/broker/broker.crt";
const TLS_KEY_IN: &str = "/broker/broker.key";
const JWT_PUB_IN: &str = "/broker/jwt.pub";

/// The broker's environment (seed 000's broker variables).
fn env(b: &LocalBroker) -> Vec<String> {
    let mut env = vec![
        format!("BROKER_GRPC_BIND={}", b.grpc_bind),
        format!("BROKER_UNIX_SOCKET_PATH={}", b.socket.display()),
        format!("BROKER_TLS_CERT={TLS_CERT_IN}"),
        format!("BROKER_TLS_KEY={TLS_KEY_IN}"),
        format!("BROKER_JWT_PUBLIC_KEY_PATH={JWT_PUB_IN}"),
    ];
    if let Some(gid) = b.socket_gid {
        env.push(format!("BROKER_UNIX_SOCKET_GROUP={gid}"));
    }
    env.push(format!(
        "BROKER_REVOCATIONS_PATH={}",
        b.state_dir.join("revocations.json").display()
    ));
    env.push(format!(
        "BROKER_BUILDS_PATH={}",
        b.state_dir.join("builds.json").display()
    ));
    env
}

/// The host directory holding the socket (mounted at the same path).
pub fn socket_dir(b: &LocalBroker) -> &Path {
    b.socket.parent().unwrap_or(Path::new("/"))
}

fn spec_sha256(b: &LocalBroker, files: &SingleHostFiles) -> String {
    let mut h = Sha256::new();
    for line in env(b) {
        h.update(line.as_bytes());
        h.update(b"\n");
    }
    for p in [&files.tls_cert, &files.tls_key, &files.jwt_pub] {
        h.update(p.display().to_string().as_bytes());
        h.update(b"\n");
    }
    // A renewed certificate reaches the broker only in a new container:
    // its files are mounted one by one and read once at start.
    h.update(files.tls_cert_sha256.as_bytes());
    hex::encode(h.finalize())
}

pub fn body(
    b: &LocalBroker,
    files: &SingleHostFiles,
    image: &str,
    bundle: &Bundle,
    drain: Duration,
) -> ContainerCreateBody {
    let mut labels = base_labels(labels::COMPONENT_BROKER, bundle, spec_sha256(b, files));
    labels.insert(
        labels::BROKER_SOCKET.to_string(),
        b.socket.display().to_string(),
    );
    let ro = |src: &Path, target: &str| Mount {
        read_only: Some(true),
        ..bind(src, target)
    };
    let dir = socket_dir(b);
    ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec![format!("/{BROKER}")]),
        env: Some(env(b)),
        labels: Some(labels),
        stop_signal: Some("SIGTERM".into()),
        stop_timeout: Some(drain.as_secs() as i64),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            mounts: Some(vec![
                bind(dir, &dir.display().to_string()),
                bind(&b.state_dir, &b.state_dir.display().to_string()),
                ro(&files.tls_cert, TLS_CERT_IN),
                ro(&files.tls_key, TLS_KEY_IN),
                ro(&files.jwt_pub, JWT_PUB_IN),
            ]),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Starts (or keeps, or replaces) the broker container and waits until its
/// UDS lane answers `/v1/health`.
pub async fn ensure(
    engine: &Engine,
    b: &LocalBroker,
    files: &SingleHostFiles,
    image: &str,
    bundle: &Bundle,
    drain: Duration,
    timeout: Duration,
) -> Result<(String, ContainerAction, serde_json::Value), ApplianceError> {
    let dir = socket_dir(b);
    std::fs::create_dir_all(dir).map_err(|e| {
        ApplianceError::Usage(format!(
            "--broker-socket {}: cannot create {}: {e}",
            b.socket.display(),
            dir.display()
        ))
    })?;
    let (id, action) =
        container::ensure(engine, &b.name, body(b, files, image, bundle, drain), drain).await?;
    let health = super::health_gate::wait_uds_healthy(engine, &b.name, &b.socket, timeout)
        .await
        .map_err(|e| ApplianceError::BrokerFailed(Box::new(e)))?;
    Ok((id, action, health))
}

/// The broker part of `cp status`.
#[derive(Debug, Serialize)]
pub struct BrokerStatus {
    pub container: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    pub healthy: bool,
    /// Agents with an open stream (the broker's `/v1/health`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_error: Option<String>,
}

/// Observes the broker container `name`; `None` when there is none (or the
/// name belongs to something that is not an appliance broker).
pub async fn status(engine: &Engine, name: &str) -> Result<Option<BrokerStatus>, ApplianceError> {
    let Some(c) = container::inspect(engine, name).await? else {
        return Ok(None);
    };
    if c.label(labels::COMPONENT) != Some(labels::COMPONENT_BROKER) {
        return Ok(None);
    }
    let socket = c.label(labels::BROKER_SOCKET).map(str::to_string);
    let (health, health_error) = match (c.state.running, &socket) {
        (false, _) => (None, Some("container is not running".to_string())),
        (true, None) => (
            None,
            Some(format!("container has no {} label", labels::BROKER_SOCKET)),
        ),
        (true, Some(path)) => {
            match probe::get_unix(Path::new(path), "/v1/health", Duration::from_secs(2)).await {
                Ok((200, body)) => (serde_json::from_str::<serde_json::Value>(&body).ok(), None),
                Ok((code, _)) => (None, Some(format!("/v1/health answered {code}"))),
                Err(e) => (None, Some(e)),
            }
        }
    };
    Ok(Some(BrokerStatus {
        container: name.to_string(),
        state: c.state.status.clone(),
        socket,
        healthy: c.state.running && health_error.is_none(),
        streams: health.as_ref().and_then(|h| h["streams"].as_u64()),
        health_error,
    }))
}

/// Stops (the broker drains on SIGTERM) and removes the broker container
/// `name` when it is one; `true` when there was one.
pub async fn down(engine: &Engine, name: &str, drain: Duration) -> Result<bool, ApplianceError> {
    let Some(c) = container::inspect(engine, name).await? else {
        return Ok(false);
    };
    if c.label(labels::COMPONENT) != Some(labels::COMPONENT_BROKER) {
        return Ok(false);
    }
    container::stop_and_remove(engine, &c.id, drain).await?;
    Ok(true)
}
