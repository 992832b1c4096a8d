//! A build's way out: its verdict settled on disk, the answer sent, its
//! slot released, then its container removed.

use std::path::Path;
use std::sync::Arc;

use super::launch::Sandbox;
use super::Builds;
use crate::builds::container;
use crate::builds::request::{self, error_body, Verdict};
use crate::builds::warm_builders;
use crate::builds::workdir;

impl Builds {
    /// The build ended (or never started): settle its verdict on disk,
    /// answer, hand its slot to the next queued build, then remove the
    /// container. The answer does not wait for the removal: removing a
    /// container still on its way out takes about as long as a small
    /// build. The verdict is on disk first, so an agent that dies before
    /// the removal answers again and removes it at restart.
    pub(super) async fn finish(self: &Arc<Self>, id: &str, dir: &Path, sandbox: Sandbox) {
        if workdir::verdict(dir).is_none() {
            let exit_code = container::inspect(&self.socket, &sandbox.container)
                .await
                .ok()
                .flatten()
                .map(|v| v.state.exit_code);
            let logs = container::log_tail(&self.socket, &sandbox.container).await;
            tracing::warn!(request_id = %id, ?exit_code, %logs, "builder exited without result file");
        }
        let verdict = self.settle(dir);
        workdir::remove_credentials(dir);
        self.metrics.finished(&verdict.outcome);
        tracing::info!(request_id = %id, status = verdict.status, outcome = %verdict.outcome, "build finished");
        self.outbox
            .response(id, verdict.status, &verdict.body)
            .await;
        self.release_slot(id);
        self.remove_sandbox(id, sandbox).await;
        // Now, not when the warm builder was taken: see `WarmPool::take`.
        self.warm.refill.notify_one();
    }

    /// Answers a build that is not running (any container it had is
    /// removed after the answer).
    pub(super) async fn settle_and_answer(
        self: &Arc<Self>,
        id: &str,
        dir: &Path,
        sandbox: Option<Sandbox>,
    ) {
        let verdict = self.settle(dir);
        workdir::remove_credentials(dir);
        self.metrics.finished(&verdict.outcome);
        self.outbox
            .response(id, verdict.status, &verdict.body)
            .await;
        if let Some(sandbox) = sandbox {
            self.remove_sandbox(id, sandbox).await;
        }
    }

    async fn remove_sandbox(&self, id: &str, sandbox: Sandbox) {
        if let Some(renaming) = sandbox.renaming {
            let _ = renaming.await;
        }
        if let Err(e) = container::remove(&self.socket, &sandbox.container).await {
            tracing::warn!(request_id = %id, error = %e, "cannot remove build container");
        }
        if let Some(slot) = &sandbox.slot {
            warm_builders::remove_slot(slot);
        }
    }

    /// The verdict on disk, writing the agent's own when the builder left
    /// none (seed 000: 500 "builder exited without result file").
    fn settle(&self, dir: &Path) -> Verdict {
        if let Some(v) = workdir::verdict(dir) {
            return v;
        }
        let message = "builder exited without result file";
        if let Err(e) = workdir::write_error(dir, "io", message, "build") {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot record the verdict");
        }
        workdir::verdict(dir)
            .unwrap_or_else(|| request::verdict_err(error_body("io", message, "build")))
    }
}
