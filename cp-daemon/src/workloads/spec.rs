//! The workload spec of seed 001 (docker-compose-like YAML), as strict serde
//! types: every struct refuses unknown keys, and durations and sizes are
//! parsed while decoding, so a bad value is reported at its own key and line.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// One workload: what its pool's containers run and how many to keep warm.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Unique id used in API calls and labels (`[a-z0-9][a-z0-9-_.]{0,62}`).
    pub id: String,
    /// Human-readable name.
    #[serde(default)]
    pub name: Option<String>,
    /// Image in local storage (never pulled by the pool).
    pub image: String,
    #[serde(default)]
    pub volumes: Volumes,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Overrides the image's command, exec form.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub healthcheck: Option<SpecHealthcheck>,
    #[serde(default)]
    pub ports: Vec<SpecPort>,
    #[serde(default)]
    pub deploy: Deploy,
    /// Read-only root filesystem; `/tmp` then becomes a size-capped tmpfs.
    #[serde(default)]
    pub read_only: bool,
    /// `UID` or `UID:GID` (numeric: the agent chowns the state and secrets
    /// dirs to it, and a scratch image has no passwd to resolve names).
    #[serde(default)]
    pub user: Option<String>,
    /// A network name, `bridge` (default) or `none`; `host` is refused.
    #[serde(default)]
    pub network_mode: Option<String>,
    /// OCI runtime (`runc`, `runsc` for gVisor), from `COOLD_ALLOWED_RUNTIMES`.
    #[serde(default)]
    pub runtime: Option<String>,
    /// Accepted only so the deny filter can refuse it by name.
    #[serde(default)]
    pub privileged: bool,
    /// Accepted only so the deny filter can refuse host-owning ones by name.
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub pool: PoolSpec,
    /// State synchronisation through rclone: the sync concern's own strict
    /// types (`crate::tenant_sync::SyncSpec`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub sync: Option<crate::tenant_sync::SyncSpec>,
}

/// `volumes:` — the per-container dirs the agent owns and mounts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Volumes {
    #[serde(default)]
    pub state: Option<VolumeTarget>,
    #[serde(default)]
    pub secrets: Option<VolumeTarget>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeTarget {
    /// Absolute mount path inside the container.
    pub target: String,
    /// Secrets are always read-only whatever this says; state honours it.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecHealthcheck {
    /// `["CMD", …]` or `["CMD-SHELL", "…"]`.
    pub test: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub interval: Option<SpecDuration>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub timeout: Option<SpecDuration>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub start_period: Option<SpecDuration>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecPort {
    pub container: u16,
    #[serde(default)]
    pub protocol: crate::containers::types::Protocol,
    /// Host address the engine-chosen host port binds; default 127.0.0.1
    /// (pool containers are reached through the agent's host, not the world).
    #[serde(default)]
    pub host_ip: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    #[serde(default)]
    pub resources: Resources,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub limits: Limits,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// CPU cores, e.g. `"0.5"` or `2`; default 1.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub cpus: Option<Cpus>,
    /// Memory, e.g. `512M`, `2G` (K/M/G are powers of 1024); default 512M.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub memory: Option<ByteSize>,
}

/// `pool:` — how many containers to keep and what release does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    #[serde(default = "default_min")]
    pub min_size: u32,
    #[serde(default = "default_max")]
    pub max_size: u32,
    /// Idle containers above `min_size` older than this are retired.
    #[serde(default = "default_idle")]
    #[schema(value_type = String)]
    pub idle_timeout: SpecDuration,
    #[serde(default)]
    pub on_release: OnRelease,
}

impl Default for PoolSpec {
    fn default() -> Self {
        PoolSpec {
            min_size: default_min(),
            max_size: default_max(),
            idle_timeout: default_idle(),
            on_release: OnRelease::default(),
        }
    }
}

fn default_min() -> u32 {
    1
}
fn default_max() -> u32 {
    10
}
fn default_idle() -> SpecDuration {
    SpecDuration(Duration::from_secs(600))
}

/// What release does with the container once the tenant's files are gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnRelease {
    /// Remove it and warm a fresh one (nothing of the tenant can linger in
    /// memory, `/tmp` or the container's own layer).
    #[default]
    Destroy,
    /// Wipe its dirs, restart it and put it back idle.
    Reuse,
}

/// A duration written with a unit (`30s`, `10m`, `1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecDuration(pub Duration);

impl<'de> Deserialize<'de> for SpecDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SpecDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, such as 30s or 10m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SpecDuration, E> {
                humantime::parse_duration(v.trim())
                    .map(SpecDuration)
                    .map_err(|e| {
                        E::custom(format!("bad duration {v:?}: {e} (use e.g. 30s or 10m)"))
                    })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SpecDuration, E> {
                Err(E::custom(format!(
                    "bad duration {v}: a unit is required (e.g. {v}s)"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SpecDuration, E> {
                Err(E::custom(format!(
                    "bad duration {v}: a unit is required (e.g. {v}s)"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for SpecDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// A memory size: bytes, or a number with `K`, `M`, `G`, `T` (powers of
/// 1024, as docker-compose reads them; `Ki`/`KiB`/`KB` alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

pub fn parse_size(v: &str) -> Result<u64, String> {
    let t = v.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad size {v:?}: expected a number with K, M, G or T"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "ki" | "kib" => 1 << 10,
        "m" | "mb" | "mi" | "mib" => 1 << 20,
        "g" | "gb" | "gi" | "gib" => 1 << 30,
        "t" | "tb" | "ti" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "bad size {v:?}: unknown unit {unit:?} (use K, M, G or T)"
            ))
        }
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > i64::MAX as f64 {
        return Err(format!("bad size {v:?}: out of range"));
    }
    Ok(bytes as u64)
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 512M or 2G")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                if v == 0 {
                    return Err(E::custom("bad size 0: must be positive"));
                }
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("bad size {v}: must be positive")))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// CPU cores as a string (`"0.5"`) or a number (`2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cpus(pub f64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Cpus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of CPU cores such as \"0.5\" or 2")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cpus, E> {
                let n: f64 = v
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("bad cpus {v:?}: expected a number")))?;
                self.visit_f64(n)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cpus, E> {
                if v.is_finite() && (0.01..=1024.0).contains(&v) {
                    Ok(Cpus(v))
                } else {
                    Err(E::custom(format!(
                        "bad cpus {v}: must be between 0.01 and 1024"
                    )))
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cpus, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cpus, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}
