//! Host facts verbs: `GET /host/info` (with the settings in force),
//! `/host/containers`, `/host/stats`.
//!
//! `/proc` inside the appliance is the host's for these files (load, memory
//! and uptime are not namespaced), so no host mount is needed.

mod procfs;
mod settings;

pub use settings::Settings;

use std::collections::HashMap;

use serde::Serialize;

use crate::config::Config;
use crate::labels::MANAGED_LABEL;
use crate::podman::{Engine, EngineError};

/// Why a host-facts verb failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("reading /proc: {0}")]
    Proc(#[source] std::io::Error),
    #[error("{0}")]
    Uname(String),
}

pub use procfs::{LoadAverage, MemoryInfo};

#[derive(Debug, Serialize)]
pub struct HostInfo {
    pub hostname: String,
    pub mgmt_ip: String,
    pub coold_version: &'static str,
    pub kernel: String,
    pub arch: String,
    pub cpus: usize,
    pub memory_total_bytes: u64,
    pub engine: EngineInfo,
    pub namespaces: Vec<String>,
    pub builder_enabled: bool,
    /// The settings the agent parsed at start (docs/agent-config.md).
    pub settings: Settings,
}

#[derive(Debug, Serialize)]
pub struct EngineInfo {
    pub name: String,
    pub version: String,
    pub api_version: String,
}

#[derive(Debug, Serialize)]
pub struct HostContainer {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    pub state: String,
    pub status: String,
    pub created: i64,
    pub managed: bool,
    pub labels: HashMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct HostStats {
    pub load: LoadAverage,
    pub memory: MemoryInfo,
    pub uptime_secs: f64,
    pub cpus: usize,
    pub containers_running: usize,
    pub containers_total: usize,
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn engine_err(e: bollard::errors::Error) -> HostError {
    HostError::Engine(EngineError::Api(e))
}

fn proc_err(e: std::io::Error) -> HostError {
    HostError::Proc(e)
}

pub async fn info(engine: &Engine, config: &Config) -> Result<HostInfo, HostError> {
    let version = engine.version().await.map_err(engine_err)?;
    let uts = nix::sys::utsname::uname().map_err(|e| HostError::Uname(e.to_string()))?;
    let engine_name = version
        .components
        .as_ref()
        .and_then(|c| c.first())
        .map(|c| c.name.clone())
        .unwrap_or_else(|| "engine".into());
    Ok(HostInfo {
        hostname: uts.nodename().to_string_lossy().into_owned(),
        mgmt_ip: config.host_mgmt_ip.to_string(),
        coold_version: env!("CARGO_PKG_VERSION"),
        kernel: uts.release().to_string_lossy().into_owned(),
        arch: uts.machine().to_string_lossy().into_owned(),
        cpus: cpus(),
        memory_total_bytes: procfs::memory().map_err(proc_err)?.total_bytes,
        engine: EngineInfo {
            name: engine_name,
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
        },
        namespaces: config.namespaces.iter().map(|n| n.name.clone()).collect(),
        builder_enabled: config.builder_enabled,
        settings: Settings::of(config),
    })
}

pub async fn containers(engine: &Engine) -> Result<Vec<HostContainer>, EngineError> {
    let list = crate::podman::raw::list_containers(&engine.socket)
        .await
        .map_err(EngineError::Raw)?;
    Ok(list
        .into_iter()
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            HostContainer {
                id: c.id,
                names: c
                    .names
                    .into_iter()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .collect(),
                image: c.image,
                state: c.state,
                status: c.status,
                created: c.created,
                managed: labels.get(MANAGED_LABEL).map(String::as_str) == Some("true"),
                labels,
            }
        })
        .collect())
}

pub async fn stats(engine: &Engine) -> Result<HostStats, HostError> {
    let all = containers(engine).await?;
    Ok(HostStats {
        load: procfs::load().map_err(proc_err)?,
        memory: procfs::memory().map_err(proc_err)?,
        uptime_secs: procfs::uptime().map_err(proc_err)?,
        cpus: cpus(),
        containers_running: all.iter().filter(|c| c.state == "running").count(),
        containers_total: all.len(),
    })
}
