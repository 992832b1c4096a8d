//! Keeping `COOLD_BUILD_WARM` builders waiting: made ahead of requests,
//! taken by a build only while still running, retired when dead or at
//! stop. The pool and the file steps are `warm_builders.rs`; the engine
//! calls are here.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::launch::LaunchError;
use super::Builds;
use crate::builds::container;
use crate::builds::request;
use crate::builds::warm_builders::{self, Warm};
use crate::builds::workdir;

/// Wait before trying again when a warm builder could not be made.
const WARM_RETRY: Duration = Duration::from_secs(5);

impl Builds {
    /// A new warm builder waiting on a fresh slot dir.
    async fn make_warm(&self) -> Result<Warm, LaunchError> {
        let slot = warm_builders::new_slot(&self.cfg.dir);
        workdir::create(&slot)?;
        let name = warm_builders::container_name(&slot);
        let mut args = request::builder_args(&self.cfg, &slot, &self.socket, true);
        args.push("--await-go".into());
        let slot_label = slot.display().to_string();
        let spec = self.sandbox_spec(
            name.clone(),
            &slot,
            args,
            (warm_builders::LABEL_WARM, &slot_label),
        );
        match self.create_and_start(&spec).await {
            Ok((container, process)) => Ok(Warm {
                container,
                slot,
                process,
            }),
            Err(e) => {
                let _ = container::remove(&self.socket, &name).await;
                warm_builders::remove_slot(&slot);
                Err(e)
            }
        }
    }

    /// The oldest idle warm builder that is still running; dead ones
    /// (killed from outside) are removed, never handed a build.
    pub(super) async fn take_warm(&self) -> Option<Warm> {
        while let Some(w) = self.warm.take() {
            // procfs when the process is watched: an inspect would put
            // engine time on the build's path.
            let running = match &w.process {
                Some(p) => !p.ended(),
                None => matches!(
                    container::inspect(&self.socket, &w.container).await,
                    Ok(Some(v)) if v.state.running
                ),
            };
            if running {
                return Some(w);
            }
            tracing::warn!(container = %w.container, "warm builder is not running; removing it");
            self.retire(&w).await;
            self.warm.refill.notify_one();
        }
        None
    }

    pub(super) async fn retire(&self, w: &Warm) {
        if let Err(e) = container::remove(&self.socket, &w.container).await {
            tracing::warn!(container = %w.container, error = %e, "cannot remove warm builder");
        }
        warm_builders::remove_slot(&w.slot);
    }

    /// Keeps `COOLD_BUILD_WARM` builders waiting until `stop`, then
    /// removes the idle ones (a build in a warm builder is left to run,
    /// like any other, and adopted by the next start).
    pub(super) async fn keep_warm(&self, stop: &CancellationToken) {
        while !stop.is_cancelled() {
            if self.warm.len() < self.cfg.warm as usize {
                match self.make_warm().await {
                    Ok(w) => {
                        tracing::debug!(container = %w.container, "warm builder ready");
                        self.warm.put(w);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot make a warm builder; builds start cold");
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            _ = tokio::time::sleep(WARM_RETRY) => {}
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = self.warm.refill.notified() => {}
            }
        }
        for w in self.warm.drain() {
            self.retire(&w).await;
        }
    }
}
