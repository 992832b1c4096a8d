//! Cross-field rules of a decoded spec, and the spec as the create request
//! its pool containers are made from, judged by the same deny filter as
//! `POST /containers`.
//!
//! Pure, except that the deny filter resolves bind sources on disk (a spec
//! has none of its own: the agent's state and secrets binds are added after
//! the filter, since they are not user input).

use std::path::{Component, Path};

use super::parse::SpecError;
use super::spec::WorkloadSpec;
use crate::containers::deny::{self, DenyPolicy};
use crate::containers::types::{CreateContainer, Healthcheck, PortMapping};

/// Default memory limit when the spec sets none (secure default: every pool
/// container is capped).
pub const DEFAULT_MEMORY: u64 = 512 << 20;
/// Default CPU limit, in cores.
pub const DEFAULT_CPUS: f64 = 1.0;
/// Highest `max_size` a pool may ask for.
pub const MAX_POOL_SIZE: u32 = 1000;

/// An id or tenant name: `[a-z0-9][a-z0-9-_.]{0,62}`, never `.`/`..`-like
/// path tricks (no `/`, and a leading dot is impossible).
pub fn check_name(field: &str, s: &str) -> Result<(), SpecError> {
    let mut chars = s.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(
            field,
            format!("{s:?} must match [a-z0-9][a-z0-9-_.]{{0,62}}"),
        ))
    }
}

/// An absolute, normalised mount target: no `..`, no `.`, not `/` itself.
fn check_target(field: &str, target: &str) -> Result<(), SpecError> {
    let p = Path::new(target);
    if !p.is_absolute() {
        return Err(SpecError::new(
            field,
            format!("{target:?} must be an absolute path"),
        ));
    }
    if target.contains('\0') || target.contains(',') || target.contains(':') {
        return Err(SpecError::new(field, "must not contain NUL, `,` or `:`"));
    }
    if p.components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        || target.split('/').any(|s| s == "." || s == "..")
    {
        return Err(SpecError::new(
            field,
            format!("{target:?} escapes its directory (`..` or `.` segments)"),
        ));
    }
    if p.components().count() < 2 {
        return Err(SpecError::new(field, "must not be `/`"));
    }
    Ok(())
}

/// Checks what decoding cannot: names, paths, sizes against each other.
pub fn validate(spec: &WorkloadSpec) -> Result<(), SpecError> {
    check_name("id", &spec.id)?;
    crate::images::check_ref("image", &spec.image)
        .map_err(|e| SpecError::new("image", e.to_string()))?;
    let state = spec.volumes.state.as_ref();
    let secrets = spec.volumes.secrets.as_ref();
    if let Some(s) = state {
        check_target("volumes.state.target", &s.target)?;
    }
    if let Some(s) = secrets {
        check_target("volumes.secrets.target", &s.target)?;
    }
    if let (Some(a), Some(b)) = (state, secrets) {
        let (a, b) = (Path::new(&a.target), Path::new(&b.target));
        if a.starts_with(b) || b.starts_with(a) {
            return Err(SpecError::new(
                "volumes.secrets.target",
                "state and secrets targets must not contain each other",
            ));
        }
    }
    if spec.read_only {
        for v in [state, secrets].into_iter().flatten() {
            if Path::new(&v.target).starts_with("/tmp") {
                return Err(SpecError::new(
                    "volumes",
                    "with read_only, /tmp is the agent's tmpfs; mount state and secrets elsewhere",
                ));
            }
        }
    }
    if let Some(u) = &spec.user {
        let mut parts = u.splitn(2, ':');
        let numeric = parts.all(|p| !p.is_empty() && p.parse::<u32>().is_ok());
        if !numeric {
            return Err(SpecError::new(
                "user",
                format!(
                    "{u:?} must be a numeric UID or UID:GID (the agent chowns the pool dirs to it)"
                ),
            ));
        }
    }
    if let Some(hc) = &spec.healthcheck {
        if hc.test.is_empty() {
            return Err(SpecError::new("healthcheck.test", "needs a command"));
        }
        for (key, d) in [
            ("healthcheck.interval", hc.interval),
            ("healthcheck.timeout", hc.timeout),
        ] {
            if let Some(d) = d {
                if d.0 < std::time::Duration::from_secs(1) || d.0.as_secs() > 86_400 {
                    return Err(SpecError::new(key, "must be between 1s and 24h"));
                }
            }
        }
        if hc.start_period.is_some_and(|d| d.0.as_secs() > 86_400) {
            return Err(SpecError::new("healthcheck.start_period", "at most 24h"));
        }
    }
    for (i, p) in spec.ports.iter().enumerate() {
        if p.container == 0 {
            return Err(SpecError::new(
                format!("ports[{i}].container"),
                "port must be 1-65535",
            ));
        }
        if let Some(ip) = &p.host_ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(SpecError::new(
                    format!("ports[{i}].host_ip"),
                    "must be an IP address",
                ));
            }
        }
    }
    if let Some(m) = spec.deploy.resources.limits.memory {
        if m.0 < 6 << 20 {
            return Err(SpecError::new(
                "deploy.resources.limits.memory",
                "must be at least 6M (runc refuses less)",
            ));
        }
    }
    if let Some(c) = spec.deploy.resources.limits.cpus {
        let host = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        if c.0 > host {
            return Err(SpecError::new(
                "deploy.resources.limits.cpus",
                format!("{} is more than this host's {host} CPUs", c.0),
            ));
        }
    }
    let pool = &spec.pool;
    if pool.max_size == 0 || pool.max_size > MAX_POOL_SIZE {
        return Err(SpecError::new(
            "pool.max_size",
            format!("must be between 1 and {MAX_POOL_SIZE}"),
        ));
    }
    if pool.min_size > pool.max_size {
        return Err(SpecError::new(
            "pool.min_size",
            format!(
                "min_size {} is larger than max_size {}",
                pool.min_size, pool.max_size
            ),
        ));
    }
    if let Some(sync) = &spec.sync {
        sync.validate()
            .map_err(|e| SpecError::new(e.key, e.reason))?;
        if spec.volumes.state.is_none() {
            return Err(SpecError::new(
                "sync",
                "sync moves the state dir: set volumes.state.target",
            ));
        }
    }
    for (k, v) in &spec.environment {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(SpecError::new(
                format!("environment.{k}"),
                "names must be non-empty, without `=` or NUL; values without NUL",
            ));
        }
    }
    Ok(())
}

/// The create request every container of this workload's pool is made
/// from (without the agent's own binds, added at create time).
pub fn create_request(spec: &WorkloadSpec) -> CreateContainer {
    let limits = &spec.deploy.resources.limits;
    let cpus = limits.cpus.map(|c| c.0).unwrap_or(DEFAULT_CPUS);
    let host = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    CreateContainer {
        image: spec.image.clone(),
        cmd: spec.command.clone(),
        env: spec.environment.clone(),
        user: spec.user.clone(),
        network: spec.network_mode.clone(),
        ports: spec
            .ports
            .iter()
            .map(|p| PortMapping {
                container_port: p.container,
                host_port: None,
                host_ip: Some(p.host_ip.clone().unwrap_or_else(|| "127.0.0.1".into())),
                protocol: p.protocol,
            })
            .collect(),
        memory_bytes: Some(limits.memory.map(|m| m.0).unwrap_or(DEFAULT_MEMORY)),
        nano_cpus: Some((cpus.min(host) * 1e9) as u64),
        healthcheck: spec.healthcheck.as_ref().map(|h| Healthcheck {
            test: h.test.clone(),
            interval_ms: h.interval.map(|d| d.0.as_millis() as u64),
            timeout_ms: h.timeout.map(|d| d.0.as_millis() as u64),
            retries: h.retries,
            start_period_ms: h.start_period.map(|d| d.0.as_millis() as u64),
        }),
        runtime: spec.runtime.clone(),
        privileged: spec.privileged,
        cap_add: spec.cap_add.clone(),
        // Secure defaults (seed 001 "Security"): nothing but what the spec
        // adds back, and no privilege gain through setuid binaries.
        cap_drop: vec!["ALL".into()],
        security_opt: vec!["no-new-privileges".into()],
        ..Default::default()
    }
}

/// Maps the deny filter's field names back to the spec's keys.
fn spec_key(field: &str) -> String {
    let (head, rest) = match field.find(['[', '.']) {
        Some(i) => field.split_at(i),
        None => (field, ""),
    };
    let key = match head {
        "network" => "network_mode",
        "cmd" => "command",
        "env" => "environment",
        "nano_cpus" => "deploy.resources.limits.cpus",
        "memory_bytes" => "deploy.resources.limits.memory",
        other => other,
    };
    format!("{key}{rest}")
}

/// Validation, then the deny filter on the spec's create request: a spec
/// is refused at load exactly as its create would be at run time.
pub fn check(spec: &WorkloadSpec, policy: &DenyPolicy) -> Result<(), SpecError> {
    validate(spec)?;
    let req = create_request(spec);
    deny::check(&req, policy).map_err(|d| {
        let key = spec_key(&d.field);
        if d.malformed {
            SpecError::new(key, d.reason)
        } else {
            SpecError::denied(key, d.reason)
        }
    })?;
    crate::containers::validate(&req).map_err(|e| SpecError::new(spec_key(&e.field), e.message))
}
