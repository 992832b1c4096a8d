//! Agent configuration, read once from `COOLD_*` environment variables.
//!
//! Pure: [`Config::from_lookup`] takes a lookup function instead of reading the
//! process environment, so every rule is unit-tested without touching it. A bad
//! value fails start with a [`ConfigError`] naming the variable.
//!
//! Its own crate so that `coolify cp up` checks an appliance's settings with
//! the very rules coold starts with (coold re-exports it as `config`).

pub mod builds;
mod parse;
mod pools;
mod sync;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use builds::{BuildsConfig, Cidr};
pub use parse::Namespace;
pub use pools::PoolSettings;
pub use sync::SyncConfig;

/// Everything the agent reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `COOLD_HOST_MGMT_IP` (required): this host's management address.
    pub host_mgmt_ip: Ipv4Addr,
    /// `COOLD_NAMESPACES`: `<name>:<network>:<gateway-ip>,…`.
    pub namespaces: Vec<Namespace>,
    /// `COOLD_BROKER_URL`: where the agent dials the broker.
    pub broker_url: String,
    /// `COOLD_BUILDER_ENABLED`: advertise the `builder` capability.
    pub builder_enabled: bool,
    /// The broker stream; `None` (client off) unless both `COOLD_BROKER_URL`
    /// and `COOLD_BROKER_TOKEN_FILE` are set, so an appliance without a
    /// broker runs exactly as before.
    pub broker: Option<BrokerLink>,
    /// `COOLD_API_BIND`: the agent REST API; `None` disables it.
    pub api_bind: Option<SocketAddr>,
    /// `COOLD_API_TOKEN_FILE`: bearer token file, required with `api_bind`.
    pub api_token_file: Option<PathBuf>,
    /// `COOLD_TLS_CERT` + `COOLD_TLS_KEY`: HTTPS for the REST API.
    pub tls: Option<TlsFiles>,
    /// `COOLD_RULES_PATH`: iptables snapshot.
    pub rules_path: PathBuf,
    /// `COOLD_BRIDGE_RULES_PATH`: nft snapshot.
    pub bridge_rules_path: PathBuf,
    /// `COOLD_FIREWALL`: run the firewall writer (default on). Off only
    /// for agents that must not touch the kernel, such as process-life tests
    /// in the host's own network namespace.
    pub firewall_enabled: bool,
    /// `COOLD_RECONCILE_INTERVAL`: discovery reconcile cadence.
    pub reconcile_interval: Duration,
    /// `COOLD_DNS_ZONE`.
    pub dns_zone: String,
    /// `COOLD_DNS_UPSTREAM`.
    pub dns_upstream: SocketAddr,
    /// `COOLD_DNS_UPSTREAM_TIMEOUT`: a forwarded query gets SERVFAIL after it.
    pub dns_upstream_timeout: Duration,
    /// `COOLD_DNS_PORT`: UDP and TCP port of every namespace server (tests
    /// use another; clients inside containers only ask port 53).
    pub dns_port: u16,
    /// `COOLD_HEALTH_BIND`: loopback listener for `/healthz` and `/metrics`.
    pub health_bind: SocketAddr,
    /// `COOLD_PODMAN_SOCKET`: the Podman API socket inside the appliance.
    pub podman_socket: PathBuf,
    /// `COOLD_DRAIN_TIMEOUT`: how long SIGTERM waits for in-flight verbs.
    pub drain_timeout: Duration,
    /// `COOLD_HOST_ROOT`: the host's root filesystem, mounted into the
    /// appliance, where host tools (iptables, nft) are run from.
    pub host_root: Option<PathBuf>,
    /// `COOLD_DATA_DIR`: the agent's data (the embedded endpoint store).
    pub data_dir: PathBuf,
    /// `COOLD_ENDPOINT_STORE` (+ `COOLD_CORROSION_API`).
    pub endpoint_store: StoreKind,
    /// `COOLD_HEALTHCHECKS`: `agent` runs managed containers' healthchecks
    /// (no systemd); `engine` leaves them to Podman's systemd timers.
    pub agent_healthchecks: bool,
    /// `COOLD_BIND_ALLOWLIST`: comma-separated absolute host directories
    /// under which container bind mounts may lie; empty = no binds.
    pub bind_allowlist: Vec<PathBuf>,
    /// `COOLD_ALLOWED_RUNTIMES`: OCI runtimes a create may ask for.
    pub allowed_runtimes: Vec<String>,
    /// `COOLD_PODMAN_BIN`: the podman binary that starts a per-runtime API
    /// service when the engine ignores the runtime on create.
    pub podman_bin: PathBuf,
    /// `COOLD_RUNTIME_DIR`: where those per-runtime sockets live.
    pub runtime_dir: PathBuf,
    /// Warm pools and workload specs (`config/pools.rs`).
    pub pools: PoolSettings,
    /// `COOLD_RCLONE_BIN`, `COOLD_SYNC_TIMEOUT`: tenant state sync.
    pub sync: SyncConfig,
    /// `COOLD_BUILD_*`: the build driver (used with `builder_enabled`).
    pub builds: BuildsConfig,
}

/// Which endpoint store discovery writes to.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreKind {
    /// SQLite file `endpoints.db` under the data dir.
    Sqlite,
    /// A Corrosion agent's HTTP API at this address.
    Corrosion(SocketAddr),
}

/// How the agent reaches its broker.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerLink {
    /// `COOLD_BROKER_URL`, e.g. `grpcs://broker:6443/v1/agent`.
    pub url: String,
    /// `COOLD_BROKER_TOKEN_FILE`: this host's JWT (`coolify broker enroll`).
    pub token_file: PathBuf,
    /// `COOLD_BROKER_CA`: PEM CA that signed the broker's certificate;
    /// required for `grpcs://` (the scratch image has no system roots).
    pub ca: Option<PathBuf>,
    /// `COOLD_BUILDER_CAPACITY`: concurrent builds advertised with `builder`.
    pub builder_capacity: u32,
}

/// Paths of the REST API's certificate chain and private key (PEM).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A configuration value the agent cannot start with.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{var} is required ({hint})")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
}

/// Defaults from seed 000's config table, plus the appliance's own.
pub mod defaults {
    pub const NAMESPACES: &str = "default:coolify-default-mesh:0.0.0.0";
    pub const BROKER_URL: &str = "grpcs://broker:6443/v1/agent";
    pub const RULES_PATH: &str = "/etc/coolify/allow.rules";
    pub const BRIDGE_RULES_PATH: &str = "/etc/coolify/allow.nft";
    pub const RECONCILE_INTERVAL: &str = "2s";
    pub const DNS_ZONE: &str = "coolify.internal";
    pub const DNS_UPSTREAM: &str = "1.1.1.1:53";
    pub const DNS_UPSTREAM_TIMEOUT: &str = "2s";
    pub const DNS_PORT: &str = "53";
    pub const HEALTH_BIND: &str = "127.0.0.1:8442";
    pub const PODMAN_SOCKET: &str = "/run/podman/podman.sock";
    pub const DRAIN_TIMEOUT: &str = "10s";
    pub const DATA_DIR: &str = "/var/lib/coolify";
    pub const ENDPOINT_STORE: &str = "sqlite";
    pub const CORROSION_API: &str = "127.0.0.1:8080";
    pub const HEALTHCHECKS: &str = "agent";
    pub const BIND_ALLOWLIST: &str = "";
    pub const ALLOWED_RUNTIMES: &str = "runc,crun,runsc";
    pub const PODMAN_BIN: &str = "podman";
    pub const RUNTIME_DIR: &str = "/run/coolify/runtimes";
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from `lookup(var)`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let or = |var: &str, default: &str| get(var).unwrap_or_else(|| default.to_string());

        let host_mgmt_ip = match get("COOLD_HOST_MGMT_IP") {
            Some(v) => parse::ipv4("COOLD_HOST_MGMT_IP", &v)?,
            None => {
                return Err(ConfigError::Missing {
                    var: "COOLD_HOST_MGMT_IP",
                    hint: "this host's management IPv4 address, e.g. the wg0 address",
                })
            }
        };
        let api_bind = get("COOLD_API_BIND")
            .map(|v| parse::bind("COOLD_API_BIND", &v))
            .transpose()?;
        let api_token_file = get("COOLD_API_TOKEN_FILE").map(PathBuf::from);
        if api_bind.is_some() && api_token_file.is_none() {
            return Err(ConfigError::Missing {
                var: "COOLD_API_TOKEN_FILE",
                hint: "the REST API (COOLD_API_BIND) never runs without a bearer token",
            });
        }
        let tls = match (get("COOLD_TLS_CERT"), get("COOLD_TLS_KEY")) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    var: "COOLD_TLS_KEY",
                    hint: "COOLD_TLS_CERT is set; set both or neither",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    var: "COOLD_TLS_CERT",
                    hint: "COOLD_TLS_KEY is set; set both or neither",
                })
            }
        };

        let namespaces = parse::namespaces(
            "COOLD_NAMESPACES",
            &or("COOLD_NAMESPACES", defaults::NAMESPACES),
        )?;
        let builds = BuildsConfig::from_lookup(get, host_mgmt_ip, &namespaces)?;
        let broker = match (get("COOLD_BROKER_URL"), get("COOLD_BROKER_TOKEN_FILE")) {
            (Some(url), Some(token)) => {
                let url = parse::broker_url("COOLD_BROKER_URL", &url)?;
                let tls = url.starts_with("grpcs://") || url.starts_with("https://");
                let ca = get("COOLD_BROKER_CA")
                    .map(|v| parse::path("COOLD_BROKER_CA", &v))
                    .transpose()?;
                if tls && ca.is_none() {
                    return Err(ConfigError::Missing {
                        var: "COOLD_BROKER_CA",
                        hint: "the broker's CA certificate (ca.crt from `coolify broker init`)",
                    });
                }
                Some(BrokerLink {
                    url,
                    token_file: parse::path("COOLD_BROKER_TOKEN_FILE", &token)?,
                    ca,
                    builder_capacity: builds.capacity,
                })
            }
            _ => None,
        };

        Ok(Config {
            broker,
            host_mgmt_ip,
            namespaces,
            builds,
            broker_url: parse::broker_url(
                "COOLD_BROKER_URL",
                &or("COOLD_BROKER_URL", defaults::BROKER_URL),
            )?,
            builder_enabled: get("COOLD_BUILDER_ENABLED")
                .map(|v| parse::flag("COOLD_BUILDER_ENABLED", &v))
                .transpose()?
                .unwrap_or(false),
            api_bind,
            api_token_file,
            tls,
            rules_path: parse::path(
                "COOLD_RULES_PATH",
                &or("COOLD_RULES_PATH", defaults::RULES_PATH),
            )?,
            bridge_rules_path: parse::path(
                "COOLD_BRIDGE_RULES_PATH",
                &or("COOLD_BRIDGE_RULES_PATH", defaults::BRIDGE_RULES_PATH),
            )?,
            firewall_enabled: get("COOLD_FIREWALL")
                .map(|v| parse::flag("COOLD_FIREWALL", &v))
                .transpose()?
                .unwrap_or(true),
            reconcile_interval: parse::duration(
                "COOLD_RECONCILE_INTERVAL",
                &or("COOLD_RECONCILE_INTERVAL", defaults::RECONCILE_INTERVAL),
            )?,
            dns_zone: parse::zone("COOLD_DNS_ZONE", &or("COOLD_DNS_ZONE", defaults::DNS_ZONE))?,
            dns_upstream: parse::socket_addr(
                "COOLD_DNS_UPSTREAM",
                &or("COOLD_DNS_UPSTREAM", defaults::DNS_UPSTREAM),
            )?,
            dns_upstream_timeout: parse::duration(
                "COOLD_DNS_UPSTREAM_TIMEOUT",
                &or("COOLD_DNS_UPSTREAM_TIMEOUT", defaults::DNS_UPSTREAM_TIMEOUT),
            )?,
            dns_port: parse::port("COOLD_DNS_PORT", &or("COOLD_DNS_PORT", defaults::DNS_PORT))?,
            health_bind: parse::socket_addr(
                "COOLD_HEALTH_BIND",
                &or("COOLD_HEALTH_BIND", defaults::HEALTH_BIND),
            )?,
            podman_socket: parse::path(
                "COOLD_PODMAN_SOCKET",
                &or("COOLD_PODMAN_SOCKET", defaults::PODMAN_SOCKET),
            )?,
            drain_timeout: parse::duration(
                "COOLD_DRAIN_TIMEOUT",
                &or("COOLD_DRAIN_TIMEOUT", defaults::DRAIN_TIMEOUT),
            )?,
            host_root: get("COOLD_HOST_ROOT")
                .map(|v| parse::path("COOLD_HOST_ROOT", &v))
                .transpose()?,
            data_dir: parse::path("COOLD_DATA_DIR", &or("COOLD_DATA_DIR", defaults::DATA_DIR))?,
            endpoint_store: match or("COOLD_ENDPOINT_STORE", defaults::ENDPOINT_STORE).trim() {
                "sqlite" => StoreKind::Sqlite,
                "corrosion" => StoreKind::Corrosion(parse::socket_addr(
                    "COOLD_CORROSION_API",
                    &or("COOLD_CORROSION_API", defaults::CORROSION_API),
                )?),
                other => {
                    return Err(ConfigError::Invalid {
                        var: "COOLD_ENDPOINT_STORE",
                        value: other.to_string(),
                        reason: "expected sqlite or corrosion".into(),
                    })
                }
            },
            agent_healthchecks: match or("COOLD_HEALTHCHECKS", defaults::HEALTHCHECKS).trim() {
                "agent" => true,
                "engine" => false,
                other => {
                    return Err(ConfigError::Invalid {
                        var: "COOLD_HEALTHCHECKS",
                        value: other.to_string(),
                        reason: "expected agent or engine".into(),
                    })
                }
            },
            bind_allowlist: parse::path_list(
                "COOLD_BIND_ALLOWLIST",
                &or("COOLD_BIND_ALLOWLIST", defaults::BIND_ALLOWLIST),
            )?,
            allowed_runtimes: parse::runtimes(
                "COOLD_ALLOWED_RUNTIMES",
                &or("COOLD_ALLOWED_RUNTIMES", defaults::ALLOWED_RUNTIMES),
            )?,
            podman_bin: PathBuf::from(or("COOLD_PODMAN_BIN", defaults::PODMAN_BIN).trim()),
            runtime_dir: parse::path(
                "COOLD_RUNTIME_DIR",
                &or("COOLD_RUNTIME_DIR", defaults::RUNTIME_DIR),
            )?,
            pools: pools::read(&get)?,
            sync: SyncConfig::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests;
