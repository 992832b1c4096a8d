//! The background refill task.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::agent_pools::limits;
use super::pool::Member;
use super::readiness::{self, discard, ReadyContainer};
use super::Pools;
use crate::health::Health;
use crate::podman::raw;

/// The background refill: recovers once, then keeps every pool at
/// `min_size` idle, retires idle containers past `idle_timeout` (and those
/// of replaced or deleted specs), woken by claims and releases or every
/// refill interval.
pub async fn run(pools: Arc<Pools>, health: Health, stop: CancellationToken) {
    loop {
        match pools.recover().await {
            Ok(r) => {
                tracing::info!(
                    claimed = r.claimed,
                    adopted = r.adopted,
                    removed = r.removed,
                    dropped_claims = r.dropped_claims,
                    "pools recovered"
                );
                health.set(
                    super::COMPONENT,
                    crate::health::Status::Healthy,
                    "recovered",
                );
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "pool recovery failed; retrying");
                health.set(
                    super::COMPONENT,
                    crate::health::Status::Unhealthy,
                    e.to_string(),
                );
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    }
    loop {
        prune_dead(&pools).await;
        refill_once(&pools);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = pools.wake.notified() => {}
            _ = tokio::time::sleep(pools.config.refill_interval) => {}
        }
    }
}

/// Drops idle containers that are no longer running, so a claim never
/// gets a dead one and the refill replaces them. One list call per pass,
/// off the claim path.
async fn prune_dead(pools: &Pools) {
    let listed = Instant::now();
    let Ok(list) = raw::list_containers(&pools.deps.engine.socket).await else {
        return;
    };
    let running: BTreeSet<String> = list
        .into_iter()
        .filter(|c| c.state == "running")
        .map(|c| c.id)
        .collect();
    let gone = pools.book().prune_idle(&running, listed);
    for m in gone {
        tracing::warn!(container = %m.name, "idle pool container stopped running; replacing it");
        let dirs = pools.dirs(&m.name);
        discard(&pools.deps, &m.name, &dirs).await;
    }
}

/// One pass: decisions under the lock, effects in spawned tasks.
fn refill_once(pools: &Arc<Pools>) {
    let specs = pools.deps.workloads.all();
    let mut workloads: BTreeSet<String> = specs.iter().map(|s| s.spec.id.clone()).collect();
    workloads.extend(pools.book().pools.keys().cloned());
    let now = Instant::now();
    for w in workloads {
        let stored = specs.iter().find(|s| s.spec.id == w).cloned();
        let plan = pools.book().refill(&w, stored.as_deref().map(limits), now);
        for m in plan.retire {
            let pools = pools.clone();
            tokio::spawn(async move {
                let dirs = pools.dirs(&m.name);
                discard(&pools.deps, &m.name, &dirs).await;
            });
        }
        let Some(stored) = stored else { continue };
        for _ in 0..plan.make {
            let (pools, stored) = (pools.clone(), stored.clone());
            tokio::spawn(async move {
                let made = match readiness::make_ready(&pools, &stored).await {
                    Ok(ReadyContainer { name, id }) => Some(Member {
                        name,
                        id,
                        hash: stored.hash.clone(),
                        since: Instant::now(),
                    }),
                    Err(e) => {
                        pools.counters.warm_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(workload = %stored.spec.id, error = %e, "pool container not made");
                        None
                    }
                };
                let failed = made.is_none();
                pools.book().made(&stored.spec.id, made);
                if failed {
                    // Back off: the next pass is the refill interval away,
                    // not an immediate retry of a spec that cannot start.
                } else {
                    pools.wake();
                }
            });
        }
    }
}
