//! Readiness of one pool container: dirs, create (through the same checks as
//! `POST /containers`, plus the pool's hardening), start, and wait until
//! healthy. The agent runs the healthcheck itself (DESIGN.md decision 9):
//! without systemd the engine never would, so "healthy" here is a real
//! check result, not a timer. `discard` and `remove_container` undo it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{Mount, MountType};

use super::dirs::{owner, ContainerDirs};
use super::{PoolDeps, PoolError, Pools};
use crate::containers;
use crate::labels::{POOL_AGENT_LABEL, POOL_HASH_LABEL, POOL_WORKLOAD_LABEL};
use crate::workloads::{create_request, StoredSpec};

/// Size cap of the `/tmp` tmpfs a read-only container gets.
pub const TMP_TMPFS: &str = "rw,nosuid,nodev,size=64m,mode=1777";
/// How often readiness is checked while warming.
const READY_POLL: Duration = Duration::from_millis(100);
/// Bound on one warm-up beyond the spec's own start period.
const READY_GRACE: Duration = Duration::from_secs(60);

/// A container made for a pool, started and healthy.
#[derive(Debug, Clone)]
pub struct ReadyContainer {
    pub name: String,
    pub id: String,
}

/// `coolify-pool-<workload>-<random>`: unique, and the prefix recovery
/// uses to know its own dirs.
pub fn container_name(workload: &str) -> String {
    format!(
        "{}{workload}-{:08x}",
        super::NAME_PREFIX,
        rand::random::<u32>()
    )
}

/// Creates, starts and waits for one container; on any failure removes
/// what it made, so a half-made container never stays behind.
pub async fn make_ready(pools: &Pools, stored: &StoredSpec) -> Result<ReadyContainer, PoolError> {
    let d = pools.deps();
    let spec = &stored.spec;
    let name = container_name(&spec.id);
    let dirs = pools.dirs(&name);
    let who = owner(spec.user.as_deref());
    dirs.create(who).map_err(PoolError::Dirs)?;
    let mut req = create_request(spec);
    req.name = Some(name.clone());
    req.labels
        .insert(POOL_WORKLOAD_LABEL.into(), spec.id.clone());
    req.labels
        .insert(POOL_HASH_LABEL.into(), stored.hash.clone());
    req.labels
        .insert(POOL_AGENT_LABEL.into(), pools.agent_tag().to_string());
    let created = containers::create_with(&d.engine, &d.runtimes, &d.deny, &req, |body| {
        harden(body, stored, &dirs)
    })
    .await;
    let id = match created {
        Ok(c) => c.id,
        Err(e) => {
            let _ = dirs.remove();
            return Err(e.into());
        }
    };
    let ready = async {
        containers::start(&d.engine, &d.runtimes, &id).await?;
        wait_ready(d, &id, stored).await
    }
    .await;
    if let Err(e) = ready {
        discard(d, &name, &dirs).await;
        return Err(e);
    }
    Ok(ReadyContainer { name, id })
}

/// Agent-owned parts of the engine body, added after the deny filter: the
/// container's own two dirs, read-only root with a capped `/tmp`.
fn harden(
    body: &mut bollard::models::ContainerCreateBody,
    stored: &StoredSpec,
    dirs: &ContainerDirs,
) {
    let spec = &stored.spec;
    let hc = body.host_config.get_or_insert_with(Default::default);
    let mounts = hc.mounts.get_or_insert_with(Vec::new);
    if let Some(v) = &spec.volumes.state {
        mounts.push(Mount {
            target: Some(v.target.clone()),
            source: Some(dirs.state.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(v.read_only),
            ..Default::default()
        });
    }
    if let Some(v) = &spec.volumes.secrets {
        mounts.push(Mount {
            target: Some(v.target.clone()),
            source: Some(dirs.secrets.display().to_string()),
            typ: Some(MountType::BIND),
            // Always read-only: a tenant's process can read its secrets,
            // never rewrite what the next claim would trust.
            read_only: Some(true),
            ..Default::default()
        });
    }
    if spec.read_only {
        hc.readonly_rootfs = Some(true);
        hc.tmpfs = Some(HashMap::from([("/tmp".to_string(), TMP_TMPFS.to_string())]));
    }
}

/// Running, and healthy when the spec has a healthcheck. Bounded by the
/// start period plus a grace; an `unhealthy` verdict fails at once.
pub async fn wait_ready(d: &PoolDeps, id: &str, stored: &StoredSpec) -> Result<(), PoolError> {
    let start_period = stored
        .spec
        .healthcheck
        .as_ref()
        .and_then(|h| h.start_period)
        .map(|d| d.0)
        .unwrap_or_default();
    let deadline = Instant::now() + start_period + READY_GRACE;
    loop {
        let info = containers::inspect(&d.engine, id).await?;
        if !info.state.running
            && info.state.status != "created"
            && info.state.status != "configured"
        {
            return Err(PoolError::NotReady(format!(
                "container exited while warming (status {}, exit code {}{})",
                info.state.status,
                info.state.exit_code,
                if info.state.error.is_empty() {
                    String::new()
                } else {
                    format!(", {}", info.state.error)
                }
            )));
        }
        if info.state.running {
            if stored.spec.healthcheck.is_none() {
                return Ok(());
            }
            match containers::healthcheck(&d.engine, &d.runtimes, id).await {
                Ok(r) if r.status == "healthy" => return Ok(()),
                Ok(r) if r.status == "unhealthy" => {
                    return Err(PoolError::NotReady(format!(
                        "healthcheck failed {} times",
                        r.failing_streak
                    )))
                }
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if Instant::now() >= deadline {
            return Err(PoolError::NotReady(format!(
                "not healthy within {:?}",
                start_period + READY_GRACE
            )));
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// Removes a pool container and its dirs; errors are logged, since the
/// next recovery pass removes whatever is left.
pub async fn discard(d: &PoolDeps, name: &str, dirs: &ContainerDirs) {
    if let Err(e) = remove_container(d, name).await {
        tracing::warn!(container = name, error = %e, "pool container not removed; recovery will retry");
    }
    if let Err(e) = dirs.remove() {
        tracing::warn!(container = name, error = %e, "pool dirs not removed; recovery will retry");
    }
}

/// Force-removes a container (kill, no grace: a pool container holds
/// nothing the agent has not already wiped or uploaded).
pub async fn remove_container(d: &PoolDeps, name: &str) -> Result<(), PoolError> {
    match containers::delete(&d.engine, &d.runtimes, name, true).await {
        Ok(()) => Ok(()),
        Err(containers::ContainerError::Engine(crate::podman::EngineError::NotFound {
            ..
        })) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
