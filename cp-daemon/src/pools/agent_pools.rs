//! The `Pools` handle: where the pools keep their files, what they reach
//! outside themselves, the bookkeeping behind its lock, the claims record
//! and the counters. Each job on it lives in its own file (`claim`,
//! `release`, `state_sync`, `recovery`, `refill`, `status`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::claims::ClaimsFile;
use super::dirs::ContainerDirs;
use super::pool::{Book, Limits};
use super::{PoolDeps, PoolError};
use crate::tenant_sync::{Periodic, StateSync};
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
pub(super) struct Counters {
    pub(super) claims: AtomicU64,
    pub(super) cold_starts: AtomicU64,
    pub(super) releases: AtomicU64,
    pub(super) rejected_full: AtomicU64,
    pub(super) warm_failures: AtomicU64,
    pub(super) sync_failures: AtomicU64,
}

/// The pools of this agent.
pub struct Pools {
    pub(super) config: PoolsConfig,
    /// What the pools reach outside themselves.
    pub(super) deps: PoolDeps,
    pub(super) claims: ClaimsFile,
    pub(super) book: Mutex<Book>,
    pub(super) wake: Notify,
    pub(super) counters: Counters,
    /// rclone runs for specs with `sync:`.
    pub(super) sync: StateSync,
    /// Periodic uploads per claimed container, stopped before its release.
    pub(super) periodic: Mutex<HashMap<String, Periodic>>,
    /// The agent's shutdown: periodic uploads stop with it.
    pub(super) shutdown: CancellationToken,
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

pub(super) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn limits(stored: &StoredSpec) -> Limits<'_> {
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

    pub(super) fn book(&self) -> std::sync::MutexGuard<'_, Book> {
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
}
