//! `POST /containers`: decode, validate, deny filter, runtime plan, create.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, Mount as EngineMount, MountType, PortBinding,
    RestartPolicy as EngineRestart, RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};

use super::deny::{self, DenyPolicy};
use super::types::{CreateContainer, Created, MountKind, Protocol, RestartPolicy};
use super::{view, ContainerError};
use crate::labels::{MANAGED_LABEL, NAMESPACE_LABEL};
use crate::podman::{Engine, EngineError, InvalidField};
use crate::runtimes::{CreatePath, Runtimes};

/// Smallest memory limit the engine accepts (runc refuses less).
const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

pub async fn create(
    engine: &Engine,
    runtimes: &Runtimes,
    policy: &DenyPolicy,
    req: &CreateContainer,
) -> Result<Created, ContainerError> {
    create_with(engine, runtimes, policy, req, |_| {}).await
}

/// The deny filter's verdict as a container error: a malformed value is
/// invalid, a refused one denied.
pub fn check_denied(req: &CreateContainer, policy: &DenyPolicy) -> Result<(), ContainerError> {
    deny::check(req, policy).map_err(|d| {
        let field = InvalidField::new(d.field, d.reason);
        if d.malformed {
            ContainerError::Invalid(field)
        } else {
            ContainerError::Denied(field)
        }
    })
}

/// Create from a decoded request, with the same checks as `POST
/// /containers`; `extra` then adds what only the agent may set (the pools'
/// own state and secrets binds, read-only root, tmpfs quotas) to the engine
/// body the filter has passed.
pub async fn create_with(
    main: &Engine,
    runtimes: &Runtimes,
    policy: &DenyPolicy,
    req: &CreateContainer,
    extra: impl FnOnce(&mut ContainerCreateBody),
) -> Result<Created, ContainerError> {
    let req = req.clone();
    validate(&req)?;
    check_denied(&req, policy)?;
    let path = runtimes.plan(main, req.runtime.as_deref()).await?;
    let mut spec = engine_spec(&req);
    extra(&mut spec);
    match path {
        CreatePath::Default { runtime } => {
            let (id, warnings) = create_on(main, &req, spec).await?;
            Ok(Created {
                id,
                runtime,
                warnings,
            })
        }
        CreatePath::Service { runtime, engine } => {
            let (id, warnings) = create_on(&engine, &req, spec).await?;
            Ok(Created {
                id,
                runtime,
                warnings,
            })
        }
        CreatePath::Field { runtime, probe } => {
            let mut with_field = spec.clone();
            if let Some(hc) = with_field.host_config.as_mut() {
                hc.runtime = Some(runtime.clone());
            }
            let (id, warnings) = create_on(main, &req, with_field).await?;
            if !probe {
                return Ok(Created {
                    id,
                    runtime,
                    warnings,
                });
            }
            let got = view::read(main, &id).await?.oci_runtime;
            let honoured = got == runtime;
            runtimes.record_probe(honoured);
            if honoured {
                return Ok(Created {
                    id,
                    runtime,
                    warnings,
                });
            }
            // The engine ignored the field: this container runs the wrong
            // runtime. Remove it and create through the runtime's service.
            main.docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| EngineError::classify(e, "probe container"))?;
            let engine = runtimes.services.engine(&runtime).await?;
            let (id, warnings) = create_on(&engine, &req, spec).await?;
            Ok(Created {
                id,
                runtime,
                warnings,
            })
        }
    }
}

async fn create_on(
    engine: &Engine,
    req: &CreateContainer,
    spec: ContainerCreateBody,
) -> Result<(String, Vec<String>), EngineError> {
    let what = format!("image {}", req.image);
    let created = engine
        .docker
        .create_container(
            Some(CreateContainerOptions {
                name: req.name.clone(),
                ..Default::default()
            }),
            spec,
        )
        .await
        .map_err(|e| EngineError::classify(e, &what))?;
    Ok((created.id, created.warnings))
}

fn no_nul(field: &str, s: &str) -> Result<(), InvalidField> {
    if s.contains('\0') {
        Err(InvalidField::new(
            field,
            format!("{field} must not contain NUL"),
        ))
    } else {
        Ok(())
    }
}

fn plain(field: &str, s: &str) -> Result<(), InvalidField> {
    if super::is_plain_name(s, 253) {
        Ok(())
    } else {
        Err(InvalidField::new(
            field,
            format!("{field} must match [A-Za-z0-9][A-Za-z0-9_.-]* (at most 253 characters)"),
        ))
    }
}

/// Checks what the engine would otherwise turn into a 500, so that bad
/// input is always a 400 naming its field.
pub fn validate(req: &CreateContainer) -> Result<(), InvalidField> {
    crate::images::check_ref("image", &req.image)?;
    if let Some(name) = &req.name {
        plain("name", name)?;
    }
    if let Some(ns) = &req.namespace {
        plain("namespace", ns)?;
    }
    if let Some(h) = &req.hostname {
        plain("hostname", h)?;
    }
    for (field, list) in [("cmd", &req.cmd), ("entrypoint", &req.entrypoint)] {
        if let Some(list) = list {
            for (i, a) in list.iter().enumerate() {
                no_nul(&format!("{field}[{i}]"), a)?;
            }
        }
    }
    for (k, v) in &req.env {
        let field = format!("env.{k}");
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(InvalidField::new(
                "env",
                "environment names must be non-empty, without `=` or NUL",
            ));
        }
        no_nul(&field, v)?;
    }
    for (k, v) in &req.labels {
        if k.is_empty() || k.contains('\0') || k.contains('=') {
            return Err(InvalidField::new(
                "labels",
                "label keys must be non-empty, without `=` or NUL",
            ));
        }
        if k == MANAGED_LABEL || k == NAMESPACE_LABEL {
            return Err(InvalidField::new(
                format!("labels.{k}"),
                format!("{k} is set by the agent"),
            ));
        }
        no_nul(&format!("labels.{k}"), v)?;
    }
    if let Some(w) = &req.working_dir {
        if !w.starts_with('/') {
            return Err(InvalidField::new("working_dir", "must be an absolute path"));
        }
        no_nul("working_dir", w)?;
    }
    if let Some(u) = &req.user {
        let ok = !u.is_empty()
            && u.len() <= 64
            && u.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-:".contains(c));
        if !ok {
            return Err(InvalidField::new(
                "user",
                "user must be NAME, UID or UID:GID",
            ));
        }
    }
    if let Some(m) = req.memory_bytes {
        if !(MIN_MEMORY_BYTES..=i64::MAX as u64).contains(&m) {
            return Err(InvalidField::new(
                "memory_bytes",
                format!("memory_bytes must be at least {MIN_MEMORY_BYTES}"),
            ));
        }
    }
    if let Some(n) = req.nano_cpus {
        let max = std::thread::available_parallelism()
            .map(|c| c.get() as u64)
            .unwrap_or(1)
            * 1_000_000_000;
        if n < 10_000_000 || n > max {
            return Err(InvalidField::new(
                "nano_cpus",
                format!(
                    "nano_cpus must be between 10000000 (0.01 CPU) and {max} (this host's CPUs)"
                ),
            ));
        }
    }
    for (i, p) in req.ports.iter().enumerate() {
        if p.container_port == 0 {
            return Err(InvalidField::new(
                format!("ports[{i}].container_port"),
                "port must be 1-65535",
            ));
        }
        if let Some(ip) = &p.host_ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(InvalidField::new(
                    format!("ports[{i}].host_ip"),
                    "host_ip must be an IP address",
                ));
            }
        }
    }
    for (i, m) in req.mounts.iter().enumerate() {
        no_nul(&format!("mounts[{i}].target"), &m.target)?;
    }
    if let Some(hc) = &req.healthcheck {
        if hc.test.is_empty() {
            return Err(InvalidField::new(
                "healthcheck.test",
                "healthcheck.test needs a command",
            ));
        }
        for (i, a) in hc.test.iter().enumerate() {
            no_nul(&format!("healthcheck.test[{i}]"), a)?;
        }
        for (field, v) in [
            ("healthcheck.interval_ms", hc.interval_ms),
            ("healthcheck.timeout_ms", hc.timeout_ms),
        ] {
            if let Some(ms) = v {
                if !(1000..=86_400_000).contains(&ms) {
                    return Err(InvalidField::new(
                        field,
                        format!("{field} must be between 1000 and 86400000"),
                    ));
                }
            }
        }
        if hc.start_period_ms.is_some_and(|ms| ms > 86_400_000) {
            return Err(InvalidField::new(
                "healthcheck.start_period_ms",
                "at most 86400000",
            ));
        }
    }
    if let Some(r) = &req.runtime {
        no_nul("runtime", r)?;
    }
    Ok(())
}

/// Our request as the engine's create body. Only fields the deny filter
/// has passed reach it; the refused ones are never copied.
fn engine_spec(req: &CreateContainer) -> ContainerCreateBody {
    let mut labels: HashMap<String, String> = req.labels.clone().into_iter().collect();
    labels.insert(MANAGED_LABEL.to_string(), "true".to_string());
    if let Some(ns) = &req.namespace {
        labels.insert(NAMESPACE_LABEL.to_string(), ns.clone());
    }
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let mut exposed = Vec::new();
    for p in &req.ports {
        let key = format!(
            "{}/{}",
            p.container_port,
            match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            }
        );
        exposed.push(key.clone());
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port.map(|h| h.to_string()),
            });
    }
    let mounts = req
        .mounts
        .iter()
        .map(|m| EngineMount {
            target: Some(m.target.clone()),
            source: m.source.clone(),
            typ: Some(match m.kind {
                MountKind::Bind => MountType::BIND,
                MountKind::Volume => MountType::VOLUME,
                MountKind::Tmpfs => MountType::TMPFS,
            }),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    let ms_to_ns = |ms: Option<u64>| ms.map(|v| (v as i64).saturating_mul(1_000_000));
    ContainerCreateBody {
        image: Some(req.image.clone()),
        cmd: req.cmd.clone(),
        entrypoint: req.entrypoint.clone(),
        env: Some(req.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        working_dir: req.working_dir.clone(),
        user: req.user.clone(),
        hostname: req.hostname.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: req.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: ms_to_ns(h.interval_ms),
            timeout: ms_to_ns(h.timeout_ms),
            retries: h.retries.map(i64::from),
            start_period: ms_to_ns(h.start_period_ms),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            network_mode: req.network.clone(),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: (!mounts.is_empty()).then_some(mounts),
            restart_policy: req.restart_policy.map(|r| EngineRestart {
                name: Some(match r {
                    RestartPolicy::No => RestartPolicyNameEnum::NO,
                    RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
                    RestartPolicy::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
                    RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
                }),
                maximum_retry_count: None,
            }),
            memory: req.memory_bytes.map(|m| m as i64),
            nano_cpus: req.nano_cpus.map(|n| n as i64),
            cap_add: (!req.cap_add.is_empty()).then(|| req.cap_add.clone()),
            cap_drop: (!req.cap_drop.is_empty()).then(|| req.cap_drop.clone()),
            pid_mode: req.pid_mode.clone(),
            ipc_mode: req.ipc_mode.clone(),
            uts_mode: req.uts_mode.clone(),
            userns_mode: req.userns_mode.clone(),
            security_opt: (!req.security_opt.is_empty()).then(|| req.security_opt.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}
