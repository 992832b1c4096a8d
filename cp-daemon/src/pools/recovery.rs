//! Recovery on start: the pools rebuilt from the engine's labelled
//! containers and the claims record.

use std::collections::BTreeSet;
use std::time::Instant;

use super::pool::{Held, Member};
use super::readiness::discard;
use super::{PoolError, Pools, NAME_PREFIX};
use crate::labels::{POOL_AGENT_LABEL, POOL_HASH_LABEL, POOL_WORKLOAD_LABEL};
use crate::podman::raw;

impl Pools {
    /// Rebuilds the pools from the engine's labelled containers and the
    /// claims record: claimed ones stay claimed (started again if they
    /// stopped), running unclaimed ones of a current spec are adopted as
    /// idle, anything else (half-made, stopped, unknown workload, old spec)
    /// is removed with its dirs, and claims whose container is gone are
    /// dropped with theirs.
    pub async fn recover(&self) -> Result<RecoveryReport, PoolError> {
        let list = raw::list_containers(&self.deps.engine.socket)
            .await
            .map_err(|e| {
                PoolError::Container(
                    crate::podman::EngineError::classify_raw(e, "container list").into(),
                )
            })?;
        let claims = self.claims.all();
        let mut report = RecoveryReport::default();
        let mut seen = BTreeSet::new();
        for c in list {
            let labels = c.labels.clone().unwrap_or_default();
            let Some(workload) = labels.get(POOL_WORKLOAD_LABEL).cloned() else {
                continue;
            };
            let Some(name) = c
                .names
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
            else {
                continue;
            };
            // Only this agent's containers: another agent on the host (a
            // test, a second data dir) keeps its own.
            if !name.starts_with(NAME_PREFIX)
                || labels.get(POOL_AGENT_LABEL) != Some(&self.config.agent_tag)
            {
                continue;
            }
            seen.insert(name.clone());
            let hash = labels.get(POOL_HASH_LABEL).cloned().unwrap_or_default();
            let member = Member {
                name: name.clone(),
                id: c.id.clone(),
                hash: hash.clone(),
                since: Instant::now(),
            };
            let running = c.state == "running";
            if let Some(rec) = claims.get(&name) {
                if !running {
                    if let Err(e) =
                        crate::containers::start(&self.deps.engine, &self.deps.runtimes, &c.id)
                            .await
                    {
                        tracing::warn!(container = %name, error = %e, "claimed pool container did not start again");
                    }
                }
                if let Some(s) = self.deps.workloads.get(&rec.workload) {
                    self.start_periodic(&s, &rec.tenant, &name);
                }
                self.book().pool(&rec.workload).claimed.insert(
                    rec.tenant.clone(),
                    Held {
                        member,
                        claimed_at: rec.claimed_at,
                    },
                );
                report.claimed += 1;
                continue;
            }
            let current = self
                .deps
                .workloads
                .get(&workload)
                .is_some_and(|s| s.hash == hash);
            // An idle container's dirs are empty by construction; wipe
            // anyway, so a crash mid-claim can never leak into the next.
            if running && current && self.dirs(&name).wipe().is_ok() {
                self.book().pool(&workload).idle.push(member);
                report.adopted += 1;
            } else {
                discard(&self.deps, &name, &self.dirs(&name)).await;
                report.removed += 1;
            }
        }
        for (name, _) in claims.iter().filter(|(n, _)| !seen.contains(*n)) {
            self.dirs(name).remove().map_err(PoolError::Dirs)?;
            self.claims.remove(name)?;
            report.dropped_claims += 1;
        }
        Ok(report)
    }
}

/// What recovery found.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecoveryReport {
    pub claimed: u32,
    pub adopted: u32,
    pub removed: u32,
    pub dropped_claims: u32,
}
