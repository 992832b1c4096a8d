//! Restart adoption: the build containers and work dirs a previous run of
//! the agent left, picked up again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::launch::Sandbox;
use super::Builds;
use crate::builds::container;
use crate::builds::request;
use crate::builds::warm_builders::{self, SlotState, Warm};
use crate::builds::workdir;
use crate::podman::EngineError;

impl Builds {
    /// Restart adoption (seed 000's resume_or_reap): running build
    /// containers are followed again; stopped ones are settled and removed;
    /// work dirs that never got a container (queued when the agent
    /// stopped) get an error verdict. Answers reach the broker when the
    /// first session opens (see [`Builds::on_session`]).
    pub(super) async fn adopt(self: &Arc<Self>) -> Result<(), EngineError> {
        let found = container::list_builds(&self.socket).await?;
        let (mut followed, mut settled, mut foreign, mut retired) =
            (0usize, 0usize, 0usize, 0usize);
        let mut serving_slots = Vec::new();
        for c in found {
            let labels = c.labels.clone().unwrap_or_default();
            let (id, dir, sandbox) = if let Some(slot) = labels.get(warm_builders::LABEL_WARM) {
                let slot = PathBuf::from(slot);
                // A build belongs to the agent whose build dir holds its
                // work dir: another agent on the same engine (a second
                // install, or tests side by side) settles its own builds.
                if !slot.starts_with(&self.cfg.dir) {
                    foreign += 1;
                    continue;
                }
                match warm_builders::slot_state(&slot) {
                    SlotState::Serving { request_id, dir } => {
                        serving_slots.push(slot.clone());
                        (request_id, dir, Sandbox::of(c.id.clone(), Some(slot)))
                    }
                    SlotState::Idle | SlotState::Unused => {
                        // Never got a build: made again by `keep_warm`.
                        self.retire(&Warm {
                            container: c.id.clone(),
                            slot,
                            process: None,
                        })
                        .await;
                        retired += 1;
                        continue;
                    }
                }
            } else {
                let Some(id) = labels.get(request::LABEL_REQUEST_ID).cloned() else {
                    continue;
                };
                if request::validate_request_id(&id).is_err() {
                    tracing::warn!(container = %c.id, "build container with a bad request id label left alone");
                    continue;
                }
                let dir = labels
                    .get(request::LABEL_WORK_DIR)
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .unwrap_or_else(|| self.dir(&id));
                if !dir.starts_with(&self.cfg.dir) {
                    tracing::debug!(request_id = %id, work_dir = %dir.display(), "build container of another agent left alone");
                    foreign += 1;
                    continue;
                }
                (id, dir, Sandbox::of(c.id.clone(), None))
            };
            if c.state == "running" {
                tracing::info!(request_id = %id, container = %sandbox.container, "adopting a running build");
                followed += 1;
                let token = CancellationToken::new();
                self.slots().running.insert(id.clone(), token.clone());
                let this = self.clone();
                // The run-time clock restarts at adoption: the engine's
                // start time is not needed to bound the build.
                let deadline = Instant::now() + self.cfg.timeout;
                tokio::spawn(async move {
                    this.follow(&id, &dir, &sandbox, &token, deadline).await;
                    this.finish(&id, &dir, sandbox).await;
                });
            } else {
                tracing::info!(request_id = %id, state = %c.state, "reporting a build that ended while the agent was away");
                self.settle_and_answer(&id, &dir, Some(sandbox)).await;
                settled += 1;
            }
        }
        // Slot dirs no container waits on any more (removed from outside).
        for slot in warm_builders::slots(&self.cfg.dir) {
            if !serving_slots.contains(&slot) {
                warm_builders::remove_slot(&slot);
            }
        }
        let busy: Vec<String> = self.slots().running.keys().cloned().collect();
        let orphans = workdir::orphans(&self.cfg.dir, |id| busy.iter().any(|b| b == id));
        let lost = orphans.len();
        for (id, dir) in orphans {
            let _ = workdir::write_error(
                &dir,
                "io",
                "the agent restarted before this build started; dispatch it again",
                "queue",
            );
            workdir::remove_credentials(&dir);
            tracing::warn!(request_id = %id, "a queued build was lost to the agent restart; it answers 500");
            self.metrics.finished("io");
        }
        tracing::info!(
            followed,
            settled,
            lost,
            other_agents = foreign,
            warm_retired = retired,
            "build adoption done"
        );
        Ok(())
    }
}
