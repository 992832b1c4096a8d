//! A tenant's release: the state upload, the wipe of the tenant's files
//! before the answer, then the container destroyed or restarted clean and
//! idle again (`on_release: reuse`).

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;
use utoipa::ToSchema;

use super::dirs::ContainerDirs;
use super::pool::{Held, Member};
use super::readiness::{remove_container, wait_ready};
use super::{PoolError, Pools};
use crate::podman::InvalidField;
use crate::workloads::spec::OnRelease;
use crate::workloads::StoredSpec;

/// Answer of a release.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseView {
    pub tenant: String,
    pub workload: String,
    pub container: String,
    /// `destroyed` or `returned` (to the pool, with `on_release: reuse`).
    pub outcome: String,
    /// The tenant's state and secrets are gone from disk.
    pub wiped: bool,
}

impl Pools {
    /// The workload a tenant's release is about: the one named, or the only
    /// one it holds.
    pub fn workload_of(&self, tenant: &str, named: Option<&str>) -> Result<String, PoolError> {
        if let Some(w) = named {
            return Ok(w.to_string());
        }
        let held: Vec<String> = self
            .book()
            .pools
            .iter()
            .filter(|(_, p)| p.claimed.contains_key(tenant))
            .map(|(w, _)| w.clone())
            .collect();
        match held.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(PoolError::NoClaim(tenant.to_string())),
            _ => Err(PoolError::Invalid(InvalidField::new(
                "workload",
                format!(
                    "tenant {tenant} holds claims on {}; name the workload",
                    held.join(", ")
                ),
            ))),
        }
    }

    /// Release: the tenant's files are wiped before this returns; then the
    /// container is destroyed (default) or restarted clean and idle again.
    pub async fn release(
        &self,
        stored: Option<&StoredSpec>,
        workload: &str,
        tenant: &str,
    ) -> Result<ReleaseView, PoolError> {
        let Some(held) = self.book().start_release(workload, tenant) else {
            if self.book().in_flight(workload, tenant) {
                return Err(PoolError::InProgress {
                    tenant: tenant.to_string(),
                    workload: workload.to_string(),
                });
            }
            return Err(PoolError::NoClaimOn {
                tenant: tenant.to_string(),
                workload: workload.to_string(),
            });
        };
        let name = held.member.name.clone();
        let dirs = self.dirs(&name);
        let result = self.release_held(stored, tenant, &held, &dirs).await;
        match result {
            Ok(outcome) => {
                self.counters.releases.fetch_add(1, Ordering::Relaxed);
                self.book().done(workload, tenant);
                if outcome == "returned" {
                    self.book().pool(workload).idle.push(Member {
                        since: Instant::now(),
                        ..held.member.clone()
                    });
                }
                self.wake();
                Ok(ReleaseView {
                    tenant: tenant.to_string(),
                    workload: workload.to_string(),
                    container: name,
                    outcome: outcome.to_string(),
                    wiped: true,
                })
            }
            Err(e) => {
                // Still the tenant's: a retried release picks it up again.
                let mut book = self.book();
                book.done(workload, tenant);
                book.pool(workload).claimed.insert(tenant.to_string(), held);
                Err(e)
            }
        }
    }

    pub(super) async fn release_held(
        &self,
        stored: Option<&StoredSpec>,
        tenant: &str,
        held: &Held,
        dirs: &ContainerDirs,
    ) -> Result<&'static str, PoolError> {
        let name = &held.member.name;
        // Periodic uploads end first, so the release upload is the last
        // word; state is wiped only once that upload has succeeded.
        self.stop_periodic(name).await;
        if let Err(e) = self.sync_out(stored, tenant, held).await {
            if let Some(s) = stored {
                self.start_periodic(s, tenant, name);
            }
            return Err(e);
        }
        // Then wipe: whatever happens to the container next, the tenant's
        // files are gone when this answers.
        dirs.wipe().map_err(PoolError::Dirs)?;
        let reuse = stored
            .filter(|s| s.spec.pool.on_release == OnRelease::Reuse && s.hash == held.member.hash);
        if let Some(stored) = reuse {
            // A restart clears processes and the tmpfs; the dirs are empty.
            let restarted = async {
                let stop = crate::containers::types::StopRequest { timeout: Some(1) };
                let d = &self.deps;
                crate::containers::restart(&d.engine, &d.runtimes, &held.member.id, &stop).await?;
                wait_ready(d, &held.member.id, stored).await
            }
            .await;
            match restarted {
                Ok(()) => {
                    self.claims.remove(name)?;
                    return Ok("returned");
                }
                Err(e) => {
                    tracing::warn!(container = %name, error = %e, "reused container not ready; destroying it");
                }
            }
        }
        remove_container(&self.deps, name).await?;
        dirs.remove().map_err(PoolError::Dirs)?;
        self.claims.remove(name)?;
        Ok("destroyed")
    }
}
