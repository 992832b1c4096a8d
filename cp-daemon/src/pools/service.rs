//! Claims, releases, recovery and the background refill: the effect edge
//! that applies the bookkeeping's decisions to the engine, the dirs and the
//! claims record.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use super::claims::{ClaimRecord, ClaimsFile};
use super::dirs::{owner, ContainerDirs};
use super::pool::{Book, Held, Limits, Member, Take};
use super::warm::{self, discard, remove_container, wait_ready, Warmed};
use super::PoolDeps;
use super::{PoolError, NAME_PREFIX, POOL_AGENT_LABEL, POOL_HASH_LABEL, POOL_WORKLOAD_LABEL};
use crate::health::Health;
use crate::podman::raw;
use crate::podman::InvalidField;
use crate::sync::{Outcome, Periodic, Retry, StateSync};
use crate::workloads::spec::OnRelease;
use crate::workloads::StoredSpec;

/// Where the pools keep their files.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolsConfig {
    /// `COOLD_STATES_DIR`: `<dir>/<container>` per container.
    pub states_dir: PathBuf,
    /// `COOLD_SECRETS_DIR`.
    pub secrets_dir: PathBuf,
    /// The claims record (under `COOLD_DATA_DIR`).
    pub claims_path: PathBuf,
    /// Stamped on this agent's pool containers (`coolify.pool.agent`), so
    /// recovery never touches another agent's.
    pub agent_tag: String,
    /// `COOLD_POOL_REFILL_INTERVAL`: how often pools are checked without a
    /// claim waking them (idle timeouts, lost containers).
    pub refill_interval: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    claims: AtomicU64,
    cold_starts: AtomicU64,
    releases: AtomicU64,
    rejected_full: AtomicU64,
    warm_failures: AtomicU64,
    sync_failures: AtomicU64,
}

/// The pools of this agent.
pub struct Pools {
    config: PoolsConfig,
    /// What the pools reach outside themselves.
    deps: PoolDeps,
    claims: ClaimsFile,
    book: Mutex<Book>,
    wake: Notify,
    counters: Counters,
    /// rclone runs for specs with `sync:`.
    sync: StateSync,
    /// Periodic uploads per claimed container, stopped before its release.
    periodic: Mutex<HashMap<String, Periodic>>,
    /// The agent's shutdown: periodic uploads stop with it.
    shutdown: CancellationToken,
}

// `StateSync` has no `Debug`: the pools' own leaves it out.
impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pools")
            .field("config", &self.config)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

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

/// One workload's pool, for status and metrics.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PoolView {
    pub workload: String,
    pub idle: u32,
    pub claimed: u32,
    /// Being made, claimed cold or released right now.
    pub pending: u32,
    pub min_size: u32,
    pub max_size: u32,
}

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

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn limits(stored: &StoredSpec) -> Limits<'_> {
    Limits {
        min: stored.spec.pool.min_size,
        max: stored.spec.pool.max_size,
        idle_timeout: stored.spec.pool.idle_timeout.0,
        hash: &stored.hash,
    }
}

impl Pools {
    pub fn open(
        config: PoolsConfig,
        deps: PoolDeps,
        sync: StateSync,
        shutdown: CancellationToken,
    ) -> Result<Pools, PoolError> {
        Ok(Pools {
            claims: ClaimsFile::open(&config.claims_path)?,
            config,
            deps,
            book: Mutex::new(Book::default()),
            wake: Notify::new(),
            counters: Counters::default(),
            sync,
            periodic: Mutex::new(HashMap::new()),
            shutdown,
        })
    }

    /// Downloads the tenant's state into the container's state dir (policy
    /// `on_claim`), owned by the spec's user, then starts the periodic
    /// upload when the spec has one.
    async fn sync_in(
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

    fn start_periodic(&self, stored: &StoredSpec, tenant: &str, container: &str) {
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

    async fn stop_periodic(&self, container: &str) {
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
    async fn sync_out(
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
                        |e| crate::sync::SyncError::Local {
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

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The two dirs a container of this agent has.
    pub fn dirs(&self, container: &str) -> ContainerDirs {
        ContainerDirs::for_container(&self.config.states_dir, &self.config.secrets_dir, container)
    }

    /// The handles the pools reach outside themselves.
    pub fn deps(&self) -> &PoolDeps {
        &self.deps
    }

    pub fn agent_tag(&self) -> &str {
        &self.config.agent_tag
    }

    /// Asks the refill task to look now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn view(&self, stored: &StoredSpec, tenant: &str, held: &Held, cold: bool) -> ClaimView {
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
            Take::Cold => match warm::warm(self, stored).await {
                Ok(Warmed { name, id }) => (
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
    fn fill(
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

    fn write_secrets(
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

    async fn release_held(
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

    /// Every claim a tenant holds.
    pub fn tenant_claims(
        &self,
        tenant: &str,
        spec_of: impl Fn(&str) -> Option<Arc<StoredSpec>>,
    ) -> Vec<ClaimView> {
        let book = self.book();
        book.pools
            .iter()
            .filter_map(|(w, p)| Some((w, p.claimed.get(tenant)?)))
            .filter_map(|(w, held)| Some(self.view(spec_of(w)?.as_ref(), tenant, held, false)))
            .collect()
    }

    pub fn pool_views(&self, specs: &[Arc<StoredSpec>]) -> Vec<PoolView> {
        let book = self.book();
        specs
            .iter()
            .map(|s| {
                let p = book.pools.get(&s.spec.id);
                PoolView {
                    workload: s.spec.id.clone(),
                    idle: p.map(|p| p.idle.len() as u32).unwrap_or(0),
                    claimed: p.map(|p| p.claimed.len() as u32).unwrap_or(0),
                    pending: p.map(|p| p.making + p.busy).unwrap_or(0),
                    min_size: s.spec.pool.min_size,
                    max_size: s.spec.pool.max_size,
                }
            })
            .collect()
    }

    /// Whether any tenant holds a container of `workload`.
    pub fn has_claims(&self, workload: &str) -> bool {
        self.book()
            .pools
            .get(workload)
            .is_some_and(|p| !p.claimed.is_empty() || p.busy > 0)
    }

    /// Prometheus text: pool sizes and claim counters.
    pub fn render_metrics(&self, specs: &[Arc<StoredSpec>]) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "# HELP coold_pool_containers Pool containers by workload and state.\n# TYPE coold_pool_containers gauge");
        for v in self.pool_views(specs) {
            for (state, n) in [
                ("idle", v.idle),
                ("claimed", v.claimed),
                ("pending", v.pending),
            ] {
                let _ = writeln!(
                    out,
                    "coold_pool_containers{{workload=\"{}\",state=\"{state}\"}} {n}",
                    v.workload
                );
            }
        }
        let c = &self.counters;
        for (name, help, v) in [
            (
                "coold_pool_claims_total",
                "Claims answered with a container.",
                &c.claims,
            ),
            (
                "coold_pool_cold_starts_total",
                "Claims that had to create a container.",
                &c.cold_starts,
            ),
            (
                "coold_pool_releases_total",
                "Releases completed.",
                &c.releases,
            ),
            (
                "coold_pool_full_total",
                "Claims refused at max_size (429).",
                &c.rejected_full,
            ),
            (
                "coold_pool_warm_failures_total",
                "Pool containers that failed to become ready.",
                &c.warm_failures,
            ),
            (
                "coold_pool_sync_failures_total",
                "State syncs that failed.",
                &c.sync_failures,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        out
    }

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
                let made = match warm::warm(&pools, &stored).await {
                    Ok(Warmed { name, id }) => Some(Member {
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
