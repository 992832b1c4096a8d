//! The build driver: BuildRequest → work dir → fenced build container →
//! events streamed as they are written → the verdict as the Response.
//!
//! Invariants:
//! - A build's files are the truth: every verdict is on disk (the builder's
//!   result.json / error.json, or an error.json the agent writes when the
//!   builder left none) before its Response is sent, so a Response lost to
//!   a dropped stream is sent again when the next session opens.
//! - At most `COOLD_BUILDER_CAPACITY` build containers run; later builds
//!   wait in FIFO order.
//! - The credentials file never outlives its build's container.
//!
//! One file per job: `queue.rs` takes a request and runs it now or later,
//! `launch.rs` gives it a container (a warm builder or a new one),
//! `follow.rs` streams its events and enforces cancel and run time,
//! `finish.rs` settles and answers it, `cancel.rs` stops one, `adopt.rs`
//! picks builds up again after a restart, `session.rs` replays to a new
//! broker session, `keep_warm.rs` keeps builders waiting.

mod adopt;
mod cancel;
mod finish;
mod follow;
mod keep_warm;
mod launch;
mod queue;
mod session;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::metrics::BuildMetrics;
use super::outbox::Outbox;
use super::warm_builders::WarmPool;
use super::workdir;
use crate::config::BuildsConfig;
use crate::hosttools::ToolRunner;
use queue::Slots;

/// How often adoption is retried while the engine is unreachable.
const ADOPT_RETRY: Duration = Duration::from_secs(2);
/// How often finished work dirs past `COOLD_BUILD_KEEP` are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The agent's build driver (one per agent, when `COOLD_BUILDER_ENABLED`).
#[derive(Debug)]
pub struct Builds {
    cfg: BuildsConfig,
    image: String,
    socket: PathBuf,
    tools: ToolRunner,
    pub outbox: Outbox,
    metrics: BuildMetrics,
    slots: Mutex<Slots>,
    warm: WarmPool,
}

impl Builds {
    pub fn new(cfg: BuildsConfig, image: String, socket: PathBuf, tools: ToolRunner) -> Self {
        Builds {
            cfg,
            image,
            socket,
            tools,
            outbox: Outbox::default(),
            metrics: BuildMetrics::default(),
            slots: Mutex::new(Slots::default()),
            warm: WarmPool::default(),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dir(&self, id: &str) -> PathBuf {
        workdir::path(&self.cfg.dir, id)
    }

    pub fn render_metrics(&self) -> String {
        let (running, queued) = {
            let s = self.slots();
            (s.running.len(), s.queue.len())
        };
        self.metrics
            .render(running, queued, self.cfg.capacity, self.warm.len())
    }

    /// The driver's background work until `stop`: restart adoption, retried
    /// while the engine does not answer (the agent itself stays up, like
    /// its other engine users), then the work dir sweep and the warm
    /// builders.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            match self.adopt().await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "build adoption waits for the engine");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(ADOPT_RETRY) => {}
                    }
                }
            }
        }
        tokio::join!(self.sweep(&stop), self.keep_warm(&stop));
    }

    /// Removes finished work dirs past `COOLD_BUILD_KEEP` until `stop`.
    async fn sweep(&self, stop: &CancellationToken) {
        loop {
            let removed = workdir::sweep(&self.cfg.dir, self.cfg.keep, SystemTime::now());
            if removed > 0 {
                tracing::info!(removed, "old build work dirs removed");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(SWEEP_EVERY.min(self.cfg.keep)) => {}
            }
        }
    }
}
