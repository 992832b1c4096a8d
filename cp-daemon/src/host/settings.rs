//! The agent's settings in force, as `GET /host/info` shows them under
//! `settings` (and `coolify cp status` prints them). Grouped and named as
//! `<config-dir>/agent.toml` names them (docs/agent-config.md), so an
//! operator compares the file with what the agent parsed, key by key.
//! Paths of credentials are shown; their contents never are.

use serde::Serialize;

use crate::config::{Config, StoreKind};

#[derive(Debug, Serialize)]
pub struct Settings {
    pub firewall: bool,
    pub drain_timeout: String,
    pub containers: ContainerSettings,
    pub discovery: DiscoverySettings,
    pub dns: DnsSettings,
    pub builds: BuildSettings,
    pub pools: PoolSettings,
    pub sync: SyncSettings,
}

#[derive(Debug, Serialize)]
pub struct ContainerSettings {
    pub bind_allowlist: Vec<String>,
    pub allowed_runtimes: Vec<String>,
    pub healthchecks: &'static str,
}

#[derive(Debug, Serialize)]
pub struct DiscoverySettings {
    pub endpoint_store: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrosion_api: Option<String>,
    pub reconcile_interval: String,
}

#[derive(Debug, Serialize)]
pub struct DnsSettings {
    pub zone: String,
    pub upstream: String,
    pub upstream_timeout: String,
    pub port: u16,
}

#[derive(Debug, Serialize)]
pub struct BuildSettings {
    pub network: Option<String>,
    pub capacity: u32,
    pub warm: u32,
    pub cpus: f64,
    pub memory_bytes: u64,
    pub timeout: String,
    pub grace: String,
    pub keep: String,
    pub deny_cidrs: Vec<String>,
    pub static_base_image: Option<String>,
    pub builder_image: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PoolSettings {
    pub refill_interval: String,
}

#[derive(Debug, Serialize)]
pub struct SyncSettings {
    pub rclone_bin: String,
    pub timeout: String,
    pub env_file: Option<String>,
}

fn human(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn shown(p: &std::path::Path) -> String {
    p.display().to_string()
}

impl Settings {
    pub fn of(c: &Config) -> Self {
        let (endpoint_store, corrosion_api) = match &c.endpoint_store {
            StoreKind::Sqlite => ("sqlite", None),
            StoreKind::Corrosion(addr) => ("corrosion", Some(addr.to_string())),
        };
        Settings {
            firewall: c.firewall_enabled,
            drain_timeout: human(c.drain_timeout),
            containers: ContainerSettings {
                bind_allowlist: c.bind_allowlist.iter().map(|p| shown(p)).collect(),
                allowed_runtimes: c.allowed_runtimes.clone(),
                healthchecks: if c.agent_healthchecks {
                    "agent"
                } else {
                    "engine"
                },
            },
            discovery: DiscoverySettings {
                endpoint_store,
                corrosion_api,
                reconcile_interval: human(c.reconcile_interval),
            },
            dns: DnsSettings {
                zone: c.dns_zone.clone(),
                upstream: c.dns_upstream.to_string(),
                upstream_timeout: human(c.dns_upstream_timeout),
                port: c.dns_port,
            },
            builds: BuildSettings {
                network: c.builds.network.clone(),
                capacity: c.builds.capacity,
                warm: c.builds.warm,
                cpus: c.builds.cpus,
                memory_bytes: c.builds.memory,
                timeout: human(c.builds.timeout),
                grace: human(c.builds.grace),
                keep: human(c.builds.keep),
                deny_cidrs: c.builds.deny_cidrs.iter().map(|d| d.to_string()).collect(),
                static_base_image: c.builds.static_base_image.clone(),
                builder_image: c.builds.image.clone(),
            },
            pools: PoolSettings {
                refill_interval: human(c.pools.refill_interval),
            },
            sync: SyncSettings {
                rclone_bin: shown(&c.sync.rclone_bin),
                timeout: human(c.sync.timeout),
                env_file: c.sync.env_file.as_deref().map(shown),
            },
        }
    }
}
