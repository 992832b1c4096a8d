//! The build container through the Podman API (compat paths where Docker's
//! API says it, libpod's for `init` and the network namespace path). The
//! container is created, initialised (its netns exists, nothing runs yet),
//! fenced by [`super::egress`], then started.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::podman::raw::{self, percent_encode, ContainerSummaryView, ContainerView, LIBPOD};
use crate::podman::EngineError;

/// What a build container is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSpec {
    pub name: String,
    pub image: String,
    pub entrypoint: Vec<String>,
    pub args: Vec<String>,
    pub labels: HashMap<String, String>,
    /// `(host path, path inside)` bind mounts.
    pub binds: Vec<(PathBuf, PathBuf)>,
    pub memory: u64,
    pub cpus: f64,
    /// Network to join; the engine's default when `None`.
    pub network: Option<String>,
}

impl SandboxSpec {
    /// The compat create body. Pure.
    pub fn create_body(&self) -> serde_json::Value {
        let binds: Vec<String> = self
            .binds
            .iter()
            .map(|(host, inside)| format!("{}:{}", host.display(), inside.display()))
            .collect();
        let mut body = serde_json::json!({
            "Image": self.image,
            "Entrypoint": self.entrypoint,
            "Cmd": self.args,
            "Labels": self.labels,
            "HostConfig": {
                "Binds": binds,
                "Memory": self.memory,
                // No swap beyond the memory limit: the limit means it.
                "MemorySwap": self.memory,
                "NanoCpus": (self.cpus * 1e9) as i64,
                // The builder needs no capability the default set lacks;
                // without NET_ADMIN it cannot undo its egress rules.
                "CapDrop": ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"],
                "SecurityOpt": ["no-new-privileges"],
            },
        });
        if let Some(net) = &self.network {
            body["HostConfig"]["NetworkMode"] = serde_json::Value::String(net.clone());
        }
        body
    }
}

fn what(name: &str) -> String {
    format!("build container {name}")
}

fn classify(name: &str) -> impl Fn(raw::RawError) -> EngineError + '_ {
    move |e| EngineError::classify_raw(e, &what(name))
}

#[derive(Debug, Deserialize)]
struct Created {
    #[serde(rename = "Id")]
    id: String,
}

/// Creates the container; returns the engine's id for it.
pub async fn create(socket: &Path, spec: &SandboxSpec) -> Result<String, EngineError> {
    let path = raw::compat_path(&format!(
        "/containers/create?name={}",
        percent_encode(&spec.name)
    ));
    let body = raw::call(
        socket,
        http::Method::POST,
        &path,
        Some(spec.create_body().to_string().into_bytes()),
    )
    .await
    .map_err(classify(&spec.name))?;
    let created: Created = serde_json::from_slice(&body)
        .map_err(|e| EngineError::Failed(format!("{}: create answer: {e}", what(&spec.name))))?;
    Ok(created.id)
}

/// Gives a container a new name (a warm builder takes its build's name).
pub async fn rename(socket: &Path, container: &str, name: &str) -> Result<(), EngineError> {
    let path = format!(
        "{LIBPOD}/containers/{}/rename?name={}",
        percent_encode(container),
        percent_encode(name)
    );
    raw::call(socket, http::Method::POST, &path, None)
        .await
        .map_err(classify(container))?;
    Ok(())
}

/// Creates the container's namespaces without starting its process.
pub async fn init(socket: &Path, name: &str) -> Result<(), EngineError> {
    let path = format!("{LIBPOD}/containers/{}/init", percent_encode(name));
    let (status, body) = raw::request(socket, http::Method::POST, &path, None)
        .await
        .map_err(classify(name))?;
    // 304: already initialised.
    if (200..300).contains(&status) || status == 304 {
        return Ok(());
    }
    Err(EngineError::from_status(
        status,
        raw::error_message(&body),
        &what(name),
    ))
}

/// A container after `init`: its first process exists, waiting to be
/// started (start execs the entrypoint in that same process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initialised {
    /// That process as the host's pid namespace numbers it; 0 if unknown.
    pub pid: i64,
    /// A path naming its network namespace, for `nsenter --net`.
    pub netns: PathBuf,
}

/// Reads pid and network namespace of an initialised container.
///
/// `/proc/<pid>/ns/net` names the namespace wherever the host's /proc is
/// seen, including the appliance's `/host` (where the agent runs host
/// tools). The engine's `/run/netns/…` file is a bind mount made after the
/// appliance started; its view of the host root is a private bind, so
/// there it is an empty file and `nsenter` fails ("reassociate to namespace
/// 'ns/net' failed: Invalid argument"). The `/run/netns` path is
/// the fallback when the engine reports no pid.
pub async fn initialised(socket: &Path, name: &str) -> Result<Initialised, EngineError> {
    let v = inspect(socket, name)
        .await?
        .ok_or_else(|| EngineError::NotFound { what: what(name) })?;
    let pid = v.state.pid;
    if pid > 0 {
        let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        return Ok(Initialised { pid, netns });
    }
    let sandbox_key = v
        .network_settings
        .map(|n| n.sandbox_key)
        .unwrap_or_default();
    if sandbox_key.is_empty() {
        return Err(EngineError::Failed(format!(
            "{} has no network namespace after init",
            what(name)
        )));
    }
    Ok(Initialised {
        pid: 0,
        netns: PathBuf::from(sandbox_key),
    })
}

pub async fn start(socket: &Path, name: &str) -> Result<(), EngineError> {
    let path = raw::compat_path(&format!("/containers/{}/start", percent_encode(name)));
    raw::call(socket, http::Method::POST, &path, None)
        .await
        .map_err(classify(name))?;
    Ok(())
}

/// Sends `signal` to the container's process; a container that is not
/// running any more is fine (there is nothing left to stop).
pub async fn kill(socket: &Path, name: &str, signal: &str) -> Result<(), EngineError> {
    let path = raw::compat_path(&format!(
        "/containers/{}/kill?signal={signal}",
        percent_encode(name)
    ));
    match raw::call(socket, http::Method::POST, &path, None).await {
        Ok(_) => Ok(()),
        Err(e) => match EngineError::classify_raw(e, &what(name)) {
            EngineError::Conflict(_) | EngineError::NotFound { .. } => Ok(()),
            other => Err(other),
        },
    }
}

pub async fn inspect(socket: &Path, name: &str) -> Result<Option<ContainerView>, EngineError> {
    raw::inspect_container(socket, name)
        .await
        .map_err(classify(name))
}

/// Removes the container (forced); absent is fine.
pub async fn remove(socket: &Path, name: &str) -> Result<(), EngineError> {
    let path = raw::compat_path(&format!(
        "/containers/{}?force=true&v=true",
        percent_encode(name)
    ));
    match raw::call(socket, http::Method::DELETE, &path, None).await {
        Ok(_) => Ok(()),
        Err(e) => match EngineError::classify_raw(e, &what(name)) {
            EngineError::NotFound { .. } => Ok(()),
            other => Err(other),
        },
    }
}

/// Every container labelled as a build, running or not.
pub async fn list_builds(socket: &Path) -> Result<Vec<ContainerSummaryView>, EngineError> {
    let filters = serde_json::json!({ "label": [format!("{}=true", super::request::LABEL_BUILD)] });
    let path = format!(
        "/containers/json?all=true&filters={}",
        percent_encode(&filters.to_string())
    );
    Ok(raw::get_json(socket, &path)
        .await
        .map_err(|e| EngineError::classify_raw(e, "build containers"))?
        .unwrap_or_default())
}

/// The last lines the container wrote (stdout and stderr), for the log
/// line of a build that left no result file. Best effort: empty on error.
pub async fn log_tail(socket: &Path, name: &str) -> String {
    let path = raw::compat_path(&format!(
        "/containers/{}/logs?stdout=true&stderr=true&tail=20",
        percent_encode(name)
    ));
    match raw::request(socket, http::Method::GET, &path, None).await {
        // Multiplexed frames: drop the 8-byte headers' control bytes.
        Ok((200, body)) => String::from_utf8_lossy(&body)
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_body_carries_limits_labels_and_binds() {
        let spec = SandboxSpec {
            name: "coolify-build-r1".into(),
            image: "localhost/builder:1".into(),
            entrypoint: vec!["/coolify-builder".into()],
            args: vec!["--spec".into(), "/b/r1/spec.json".into()],
            labels: HashMap::from([("coolify.build".to_string(), "true".to_string())]),
            binds: vec![
                ("/b/r1".into(), "/b/r1".into()),
                ("/srv/engine.sock".into(), "/run/podman/podman.sock".into()),
            ],
            memory: 512 << 20,
            cpus: 1.5,
            network: Some("builds".into()),
        };
        let b = spec.create_body();
        assert_eq!(b["HostConfig"]["Memory"], 512u64 << 20);
        assert_eq!(b["HostConfig"]["NanoCpus"], 1_500_000_000i64);
        assert_eq!(
            b["HostConfig"]["Binds"],
            serde_json::json!(["/b/r1:/b/r1", "/srv/engine.sock:/run/podman/podman.sock"])
        );
        assert_eq!(b["Labels"]["coolify.build"], "true");
        assert_eq!(b["Entrypoint"][0], "/coolify-builder");
        assert_eq!(b["HostConfig"]["NetworkMode"], "builds");
    }
}
