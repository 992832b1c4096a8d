//! A tenant's claim: the container it already holds, an idle one, or one
//! made cold; then the claims record, the secrets and the state download.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;
use utoipa::ToSchema;

use super::agent_pools::{limits, now_unix};
use super::claims::ClaimRecord;
use super::dirs::owner;
use super::pool::{Held, Member, Take};
use super::readiness::{self, discard, ReadyContainer};
use super::{PoolError, Pools};
use crate::workloads::StoredSpec;

/// Answer of a claim.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClaimView {
    pub tenant: String,
    pub workload: String,
    /// Container name (also accepted by the container verbs).
    pub container: String,
    pub container_id: String,
    /// True when no idle container was ready and this one was made for the
    /// claim.
    pub cold: bool,
    /// Host path of the container's state dir, and where it is mounted.
    pub state_dir: Option<String>,
    pub state_target: Option<String>,
    pub secrets_dir: Option<String>,
    pub secrets_target: Option<String>,
    /// Unix seconds.
    pub claimed_at: u64,
}

impl Pools {
    /// A tenant's claim: the container it holds, a warm one, or a cold one.
    pub async fn claim(
        &self,
        stored: &StoredSpec,
        tenant: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Result<ClaimView, PoolError> {
        let workload = stored.spec.id.as_str();
        let take = self.book().take(workload, tenant, limits(stored));
        let (member, cold) = match take {
            Take::Existing(held) => {
                // Idempotent: the same container; new secrets replace old.
                self.write_secrets(stored, &held.member.name, secrets)?;
                return Ok(self.view(stored, tenant, &held, false));
            }
            Take::InFlight => {
                return Err(PoolError::InProgress {
                    tenant: tenant.to_string(),
                    workload: workload.to_string(),
                })
            }
            Take::Full { max } => {
                self.counters.rejected_full.fetch_add(1, Ordering::Relaxed);
                return Err(PoolError::Full {
                    workload: workload.to_string(),
                    max,
                });
            }
            Take::Warm(m) => (m, false),
            Take::Cold => match readiness::make_ready(self, stored).await {
                Ok(ReadyContainer { name, id }) => (
                    Member {
                        name,
                        id,
                        hash: stored.hash.clone(),
                        since: Instant::now(),
                    },
                    true,
                ),
                Err(e) => {
                    self.book().done(workload, tenant);
                    self.counters.warm_failures.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            },
        };
        self.wake();
        let held = Held {
            member,
            claimed_at: now_unix(),
        };
        let filled = match self.fill(stored, tenant, &held, secrets) {
            Ok(()) => self.sync_in(stored, tenant, &held).await,
            Err(e) => Err(e),
        };
        match filled {
            Ok(()) => {
                self.book().claimed(workload, tenant, held.clone());
                self.counters.claims.fetch_add(1, Ordering::Relaxed);
                if cold {
                    self.counters.cold_starts.fetch_add(1, Ordering::Relaxed);
                }
                Ok(self.view(stored, tenant, &held, cold))
            }
            Err(e) => {
                // The container may hold part of the tenant's secrets or
                // state: it is never handed to anyone else.
                self.stop_periodic(&held.member.name).await;
                let dirs = self.dirs(&held.member.name);
                let _ = dirs.wipe();
                discard(&self.deps, &held.member.name, &dirs).await;
                let _ = self.claims.remove(&held.member.name);
                self.book().done(workload, tenant);
                Err(e)
            }
        }
    }

    /// The durable record first, then the secrets: tenant data never sits
    /// in a dir that no claim record covers, so recovery never hands a
    /// container with someone's secrets to anyone else.
    pub(super) fn fill(
        &self,
        stored: &StoredSpec,
        tenant: &str,
        held: &Held,
        secrets: &BTreeMap<String, String>,
    ) -> Result<(), PoolError> {
        self.claims.insert(
            &held.member.name,
            ClaimRecord {
                tenant: tenant.to_string(),
                workload: stored.spec.id.clone(),
                claimed_at: held.claimed_at,
            },
        )?;
        self.write_secrets(stored, &held.member.name, secrets)
    }

    pub(super) fn write_secrets(
        &self,
        stored: &StoredSpec,
        container: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Result<(), PoolError> {
        if secrets.is_empty() {
            return Ok(());
        }
        self.dirs(container)
            .write_secrets(secrets, owner(stored.spec.user.as_deref()))
            .map_err(PoolError::Dirs)
    }

    pub(super) fn view(
        &self,
        stored: &StoredSpec,
        tenant: &str,
        held: &Held,
        cold: bool,
    ) -> ClaimView {
        let dirs = self.dirs(&held.member.name);
        let spec = &stored.spec;
        ClaimView {
            tenant: tenant.to_string(),
            workload: spec.id.clone(),
            container: held.member.name.clone(),
            container_id: held.member.id.clone(),
            cold,
            state_dir: spec
                .volumes
                .state
                .as_ref()
                .map(|_| dirs.state.display().to_string()),
            state_target: spec.volumes.state.as_ref().map(|v| v.target.clone()),
            secrets_dir: spec
                .volumes
                .secrets
                .as_ref()
                .map(|_| dirs.secrets.display().to_string()),
            secrets_target: spec.volumes.secrets.as_ref().map(|v| v.target.clone()),
            claimed_at: held.claimed_at,
        }
    }
}
