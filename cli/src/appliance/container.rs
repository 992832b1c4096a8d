//! The `coolify-cp` container (DESIGN.md decision 4): privileged, host
//! network, the engine socket, the data and run dirs and the agent's part of
//! the config dir mounted (never the CA's or the broker's keys, see
//! [`ConfigLayout`]), the host's tools under `/host`, restart always,
//! coold as PID 1. Reused when its binaries and settings match, replaced
//! (drained first) when either changed. `ensure` serves the broker
//! container of `--with-broker` too: both are judged by the same labels.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use coolify_engine_raw::{self as raw, ContainerView};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::agent_settings;
use super::embedded::Bundle;
use super::host_root::{self, HOST_ROOT_IN_CONTAINER};
use super::labels;
use super::settings::CpSettings;
use super::ApplianceError;
use crate::config_layout::ConfigLayout;
use crate::engine::{is_conflict, is_not_found, Engine};

/// Where the engine socket appears inside the appliance.
const SOCKET_IN_CONTAINER: &str = "/run/podman/podman.sock";
/// Where the host token and broker CA appear (read-only) when the agent
/// dials a broker; outside the mounted dirs so any host path works.
const BROKER_TOKEN_IN_CONTAINER: &str = "/broker/host.jwt";
const BROKER_CA_IN_CONTAINER: &str = "/broker/ca.crt";

/// What `ensure` did with the container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerAction {
    Created,
    /// Existed stopped with the same hash.
    Started,
    /// Already running with the same hash.
    Running,
    /// Another process created it meanwhile (409); adopted.
    Adopted,
    /// Ran other binaries or other settings; drained and replaced.
    Replaced {
        reason: String,
    },
}

/// The environment coold reads (seed 000's COOLD_* table): what `cp up`
/// decides, then the agent's settings from agent.toml and its flags.
pub fn env(s: &CpSettings) -> Vec<String> {
    let layout = ConfigLayout::new(&s.config_dir);
    let show = |p: std::path::PathBuf| p.display().to_string();
    let mut env = vec![
        format!("COOLD_HOST_MGMT_IP={}", s.mgmt_ip),
        format!("COOLD_API_BIND={}:{}", s.mgmt_ip, s.api_port),
        format!("COOLD_API_TOKEN_FILE={}", show(layout.api_token())),
        format!("COOLD_TLS_CERT={}", show(layout.server_cert())),
        format!("COOLD_TLS_KEY={}", show(layout.server_key())),
        format!("COOLD_RULES_PATH={}", show(layout.rules())),
        format!("COOLD_BRIDGE_RULES_PATH={}", show(layout.bridge_rules())),
        format!("COOLD_HEALTH_BIND=127.0.0.1:{}", s.health_port),
        format!("COOLD_PODMAN_SOCKET={SOCKET_IN_CONTAINER}"),
        // Build containers bind the engine socket from the host's path.
        format!("COOLD_PODMAN_SOCKET_HOST={}", s.engine_socket.display()),
        format!("COOLD_DRAIN_TIMEOUT={}s", s.drain.as_secs().max(1)),
        format!("COOLD_DATA_DIR={}", s.data_dir.display()),
        // Pool and build dirs live under the dirs mounted at the same path
        // on both sides, so Podman (which reads bind sources on the host)
        // and rclone (chrooted into the host root) see what coold sees,
        // whatever --data-dir/--config-dir say.
        format!("COOLD_WORKLOADS_DIR={}", show(layout.workloads())),
        format!("COOLD_STATES_DIR={}", s.data_dir.join("states").display()),
        format!("COOLD_SECRETS_DIR={}", s.data_dir.join("secrets").display()),
        format!("COOLD_BUILD_DIR={}", s.data_dir.join("builds").display()),
        format!("COOLD_HOST_ROOT={HOST_ROOT_IN_CONTAINER}"),
        format!("COOLD_FIREWALL={}", if s.firewall { "on" } else { "off" }),
        format!(
            "COOLD_RUNTIME_DIR={}",
            super::runtimes::dir(&s.run_dir).display()
        ),
    ];
    if let Some(ns) = &s.namespaces {
        env.push(format!("COOLD_NAMESPACES={ns}"));
    }
    if s.builder {
        env.push("COOLD_BUILDER_ENABLED=1".into());
    }
    env.extend(s.agent.iter().map(|v| format!("{}={}", v.var, v.value)));
    if let Some(link) = &s.broker {
        env.push(format!("COOLD_BROKER_URL={}", link.url));
        env.push(format!(
            "COOLD_BROKER_TOKEN_FILE={BROKER_TOKEN_IN_CONTAINER}"
        ));
        env.push(format!("COOLD_BROKER_CA={BROKER_CA_IN_CONTAINER}"));
    }
    env
}

pub(super) fn bind(source: &std::path::Path, target: &str) -> Mount {
    Mount {
        source: Some(source.display().to_string()),
        target: Some(target.to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(false),
        ..Default::default()
    }
}

/// sha256 over everything that shapes the container besides the image.
pub fn spec_sha256(s: &CpSettings) -> String {
    let mut h = Sha256::new();
    for line in env(s) {
        h.update(line.as_bytes());
        h.update(b"\n");
    }
    let broker_files = s.broker.iter().flat_map(|l| [&l.token_file, &l.ca]);
    for dir in [&s.config_dir, &s.data_dir, &s.run_dir, &s.engine_socket]
        .into_iter()
        .chain(broker_files)
    {
        h.update(dir.display().to_string().as_bytes());
        h.update(b"\n");
    }
    if let Some(token) = s.broker.as_ref().and_then(|l| l.token_sha256.as_ref()) {
        h.update(token.as_bytes());
    }
    // coold reads the sync credentials once at start: new ones need a new
    // container.
    if let Some(digest) = agent_settings::sync_env_digest(&s.agent) {
        h.update(digest.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Labels every appliance container carries: what it is, the binaries it
/// runs and the hash of its settings (`ensure` judges reuse by these).
pub fn base_labels(component: &str, bundle: &Bundle, spec: String) -> HashMap<String, String> {
    HashMap::from([
        (labels::COMPONENT.to_string(), component.to_string()),
        (
            labels::COOLD_SHA256.to_string(),
            bundle.coold_sha256().to_string(),
        ),
        (labels::BUNDLE_SHA256.to_string(), bundle.sha256.to_string()),
        (labels::SPEC_SHA256.to_string(), spec),
        (
            labels::VERSION.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ])
}

/// The agent container.
pub fn coold_body(s: &CpSettings, image: &str, bundle: &Bundle) -> ContainerCreateBody {
    let mut labels = base_labels(labels::COMPONENT_CP, bundle, spec_sha256(s));
    labels.extend([
        (labels::HEALTH_PORT.to_string(), s.health_port.to_string()),
        (
            labels::API_ADDR.to_string(),
            format!("{}:{}", s.mgmt_ip, s.api_port),
        ),
    ]);
    let dir = |p: &std::path::Path| bind(p, &p.display().to_string());
    ContainerCreateBody {
        image: Some(image.to_string()),
        env: Some(env(s)),
        labels: Some(labels),
        stop_signal: Some("SIGTERM".into()),
        stop_timeout: Some(s.drain.as_secs() as i64),
        host_config: Some(HostConfig {
            privileged: Some(true),
            network_mode: Some("host".into()),
            mounts: Some({
                let mut mounts = vec![
                    bind(&s.engine_socket, SOCKET_IN_CONTAINER),
                    dir(&ConfigLayout::new(&s.config_dir).agent_dir()),
                    dir(&s.data_dir),
                    dir(&s.run_dir),
                ];
                mounts.extend(host_root::mounts(&s.data_dir));
                // The sync credentials file, read-only at its host path.
                if let Some(v) = s
                    .agent
                    .iter()
                    .find(|v| v.var == agent_settings::SYNC_ENV_FILE)
                {
                    mounts.push(Mount {
                        read_only: Some(true),
                        ..dir(std::path::Path::new(&v.value))
                    });
                }
                if let Some(link) = &s.broker {
                    for (src, target) in [
                        (&link.token_file, BROKER_TOKEN_IN_CONTAINER),
                        (&link.ca, BROKER_CA_IN_CONTAINER),
                    ] {
                        mounts.push(Mount {
                            read_only: Some(true),
                            ..bind(src, target)
                        });
                    }
                }
                mounts
            }),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Inspects the container by name; `None` when absent.
pub async fn inspect(engine: &Engine, name: &str) -> Result<Option<ContainerView>, ApplianceError> {
    Ok(raw::inspect_container(&engine.socket, name).await?)
}

/// Why an existing container cannot be kept, or `None` when it can.
fn replace_reason(c: &ContainerView, want: &ContainerCreateBody) -> Option<String> {
    let want = |k: &str| {
        want.labels
            .as_ref()
            .and_then(|l| l.get(k))
            .map(String::as_str)
    };
    let short = |h: Option<&str>| {
        h.map(|h| h.chars().take(12).collect::<String>())
            .unwrap_or_else(|| "none".into())
    };
    for (label, what) in [
        (labels::COOLD_SHA256, "coold"),
        (labels::BUNDLE_SHA256, "appliance binaries"),
    ] {
        let have = c.label(label);
        if have != want(label) {
            return Some(format!(
                "{what} changed ({} → {})",
                short(have),
                short(want(label))
            ));
        }
    }
    if c.label(labels::SPEC_SHA256) != want(labels::SPEC_SHA256) {
        return Some("settings changed (ports, mgmt IP, dirs, broker or agent settings)".into());
    }
    None
}

/// Ensures container `name` exists as `body` describes and is started.
/// Returns the container id and what was done.
pub async fn ensure(
    engine: &Engine,
    name: &str,
    body: ContainerCreateBody,
    drain: Duration,
) -> Result<(String, ContainerAction), ApplianceError> {
    let mut action = ContainerAction::Created;
    if let Some(existing) = inspect(engine, name).await? {
        let id = existing.id.clone();
        match replace_reason(&existing, &body) {
            None if existing.state.running => return Ok((id, ContainerAction::Running)),
            None => {
                start(engine, &id).await?;
                return Ok((id, ContainerAction::Started));
            }
            Some(reason) => {
                stop_and_remove(engine, &id, drain).await?;
                action = ContainerAction::Replaced { reason };
            }
        }
    }
    let options = CreateContainerOptionsBuilder::new().name(name).build();
    match engine
        .docker
        .create_container(Some(options), body.clone())
        .await
    {
        Ok(created) => {
            start(engine, &created.id).await?;
            Ok((created.id, action))
        }
        Err(e) if is_conflict(&e) || e.to_string().contains("already in use") => {
            adopt(engine, name, &body).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A racing process created the container between our inspect and create:
/// adopt it when it is ours (same binaries and settings).
async fn adopt(
    engine: &Engine,
    name: &str,
    body: &ContainerCreateBody,
) -> Result<(String, ContainerAction), ApplianceError> {
    let found = inspect(engine, name)
        .await?
        .ok_or_else(|| ApplianceError::NameConflict {
            name: name.to_string(),
            reason: "the name was taken and released again while creating".into(),
        })?;
    if let Some(reason) = replace_reason(&found, body) {
        return Err(ApplianceError::NameConflict {
            name: name.to_string(),
            reason: format!("another process created it meanwhile, and it differs: {reason}"),
        });
    }
    let id = found.id.clone();
    if !found.state.running {
        start(engine, &id).await?;
    }
    Ok((id, ContainerAction::Adopted))
}

async fn start(engine: &Engine, id: &str) -> Result<(), ApplianceError> {
    match engine.docker.start_container(id, None).await {
        Ok(()) => Ok(()),
        // 304: already started by a racing process.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// SIGTERM, then kill after `drain`. Absent or already stopped is fine.
pub async fn stop(engine: &Engine, id: &str, drain: Duration) -> Result<(), ApplianceError> {
    let options = StopContainerOptionsBuilder::new()
        .t(i32::try_from(drain.as_secs()).unwrap_or(i32::MAX))
        .build();
    match engine.docker.stop_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Stops (coold drains within `drain`), then removes. Absent is fine.
pub async fn stop_and_remove(
    engine: &Engine,
    id: &str,
    drain: Duration,
) -> Result<(), ApplianceError> {
    stop(engine, id, drain).await?;
    let remove = RemoveContainerOptionsBuilder::new().force(true).build();
    match engine.docker.remove_container(id, Some(remove)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The last `lines` lines of the container's output, for error reports.
pub async fn last_logs(engine: &Engine, id: &str, lines: usize) -> String {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = engine.docker.logs(id, Some(options));
    let mut out = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::path::PathBuf;
    use std::time::Duration;

    fn settings(config: &str, data: &str) -> CpSettings {
        CpSettings {
            name: "coolify-cp".into(),
            image_repo: "localhost/coolify-cp".into(),
            config_dir: PathBuf::from(config),
            data_dir: PathBuf::from(data),
            run_dir: PathBuf::from("/run/coolify"),
            engine_socket: PathBuf::from("/run/podman/podman.sock"),
            mgmt_ip: Ipv4Addr::LOCALHOST,
            api_port: 7443,
            health_port: 7444,
            timeout: Duration::from_secs(30),
            drain: Duration::from_secs(10),
            firewall: false,
            runtime_services: Vec::new(),
            namespaces: None,
            broker: None,
            builder: false,
            with_broker: None,
            agent: Vec::new(),
        }
    }

    #[test]
    fn pool_and_build_dirs_follow_the_mounted_config_and_data_dirs() {
        let env = env(&settings("/srv/cfg", "/srv/data"));
        for want in [
            "COOLD_WORKLOADS_DIR=/srv/cfg/agent/workloads",
            "COOLD_STATES_DIR=/srv/data/states",
            "COOLD_SECRETS_DIR=/srv/data/secrets",
            "COOLD_BUILD_DIR=/srv/data/builds",
        ] {
            assert!(env.iter().any(|e| e == want), "{want} missing from {env:?}");
        }
    }
}
