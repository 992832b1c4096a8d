//! A claimed container's tenant state through `crate::tenant_sync`: the download
//! of a claim, the periodic uploads while claimed, the upload of a release,
//! and the manual sync verb.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use super::dirs::owner;
use super::pool::Held;
use super::{PoolError, Pools};
use crate::tenant_sync::{Outcome, Periodic, Retry};
use crate::workloads::StoredSpec;

/// Attempts of the release upload before the release gives up (and keeps
/// everything for the caller's retry).
const RELEASE_UPLOAD_ATTEMPTS: u32 = 3;

/// Answer of a manual sync.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncView {
    pub tenant: String,
    pub workload: String,
    /// `upload` or `download`.
    pub direction: String,
    pub mappings: Vec<MappingView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MappingView {
    pub path: String,
    /// `transferred`, or `nothing_stored` (a download for a tenant with
    /// nothing in the sink yet).
    pub outcome: String,
}

impl Pools {
    /// Downloads the tenant's state into the container's state dir (policy
    /// `on_claim`), owned by the spec's user, then starts the periodic
    /// upload when the spec has one.
    pub(super) async fn sync_in(
        &self,
        stored: &StoredSpec,
        tenant: &str,
        held: &Held,
    ) -> Result<(), PoolError> {
        let Some(sync) = &stored.spec.sync else {
            return Ok(());
        };
        let dirs = self.dirs(&held.member.name);
        if sync.policy.on_claim {
            if let Err(e) = self.sync.download(sync, tenant, &dirs.state).await {
                self.counters.sync_failures.fetch_add(1, Ordering::Relaxed);
                return Err(PoolError::Download(e));
            }
            super::dirs::own_tree(&dirs.state, owner(stored.spec.user.as_deref()))
                .map_err(PoolError::Dirs)?;
        }
        self.start_periodic(stored, tenant, &held.member.name);
        Ok(())
    }

    pub(super) fn start_periodic(&self, stored: &StoredSpec, tenant: &str, container: &str) {
        let Some(sync) = &stored.spec.sync else {
            return;
        };
        let started = Periodic::start(
            self.sync.clone(),
            Arc::new(sync.clone()),
            tenant.to_string(),
            self.dirs(container).state,
            self.shutdown.child_token(),
        );
        if let Some(p) = started {
            self.periodic
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(container.to_string(), p);
        }
    }

    pub(super) async fn stop_periodic(&self, container: &str) {
        let running = self
            .periodic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(container);
        if let Some(p) = running {
            p.stop().await;
        }
    }

    /// Uploads the tenant's state (policy `on_release`), retrying a sink
    /// that is down a few times. On failure nothing is wiped.
    pub(super) async fn sync_out(
        &self,
        stored: Option<&StoredSpec>,
        tenant: &str,
        held: &Held,
    ) -> Result<(), PoolError> {
        let Some(sync) = stored.and_then(|s| s.spec.sync.as_ref()) else {
            return Ok(());
        };
        if !sync.policy.on_release {
            return Ok(());
        }
        let state = self.dirs(&held.member.name).state;
        let retry = Retry {
            attempts: RELEASE_UPLOAD_ATTEMPTS,
            backoff: Duration::from_millis(500),
        };
        match self.sync.upload_retrying(sync, tenant, &state, retry).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.counters.sync_failures.fetch_add(1, Ordering::Relaxed);
                Err(PoolError::Upload(e))
            }
        }
    }

    /// `POST /tenants/{tenant}/sync`: a manual upload (default) or download
    /// of a claimed container's state.
    pub async fn sync_now(
        &self,
        stored: &StoredSpec,
        tenant: &str,
        download: bool,
    ) -> Result<SyncView, PoolError> {
        let workload = stored.spec.id.as_str();
        let Some(sync) = &stored.spec.sync else {
            return Err(PoolError::NoSyncSection(workload.to_string()));
        };
        if !sync.policy.manual {
            return Err(PoolError::ManualSyncOff(workload.to_string()));
        }
        let held = self
            .book()
            .pools
            .get(workload)
            .and_then(|p| p.claimed.get(tenant).cloned())
            .ok_or_else(|| PoolError::NoClaimOn {
                tenant: tenant.to_string(),
                workload: workload.to_string(),
            })?;
        let state = self.dirs(&held.member.name).state;
        let report = if download {
            self.sync
                .download(sync, tenant, &state)
                .await
                .and_then(|r| {
                    super::dirs::own_tree(&state, owner(stored.spec.user.as_deref())).map_err(
                        |e| crate::tenant_sync::SyncError::Local {
                            mapping: "/".into(),
                            action: "own",
                            path: e.path.clone(),
                            source: std::io::Error::other(e.message),
                        },
                    )?;
                    Ok(r)
                })
        } else {
            self.sync.upload(sync, tenant, &state).await
        };
        let report = report.map_err(|e| {
            self.counters.sync_failures.fetch_add(1, Ordering::Relaxed);
            PoolError::SyncFailed(e)
        })?;
        Ok(SyncView {
            tenant: tenant.to_string(),
            workload: workload.to_string(),
            direction: if download { "download" } else { "upload" }.into(),
            mappings: report
                .mappings
                .iter()
                .map(|m| MappingView {
                    path: m.path.clone(),
                    outcome: match m.outcome {
                        Outcome::Transferred => "transferred",
                        Outcome::NothingStored => "nothing_stored",
                    }
                    .into(),
                })
                .collect(),
        })
    }
}
