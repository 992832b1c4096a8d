//! `policy.periodic`: upload a claimed tenant's state at a fixed period.
//!
//! The pools concern starts one [`Periodic`] per claim whose spec has a
//! period and stops it before the release upload, so the two never race.
//! A failed periodic upload is logged and counted, and the next tick tries
//! again: the state dir is never touched by it.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::runner::StateSync;
use super::spec::SyncSpec;

/// What the periodic uploads of one claim did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodicStatus {
    /// Uploads that finished.
    pub uploads: u64,
    /// Uploads that failed.
    pub failures: u64,
    /// The last failure's message; cleared by the next success.
    pub last_error: Option<String>,
}

/// A running periodic upload; stopped by [`Periodic::stop`] or by
/// cancelling the token it was started with.
#[derive(Debug)]
pub struct Periodic {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    status: watch::Receiver<PeriodicStatus>,
}

impl Periodic {
    /// Starts uploading every `policy.periodic` (first upload one period
    /// from now). `None` when the spec has no period. `cancel` is usually
    /// a child of the agent's shutdown token.
    pub fn start(
        sync: StateSync,
        spec: Arc<SyncSpec>,
        tenant: String,
        state_dir: PathBuf,
        cancel: CancellationToken,
    ) -> Option<Periodic> {
        let period = spec.policy.periodic?.0;
        let (tx, status) = watch::channel(PeriodicStatus::default());
        let token = cancel.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            // A slow upload delays the next one instead of bunching them.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let result = tokio::select! {
                    // Cancelled mid-upload: the child rclone is killed; the
                    // release upload that follows redoes the whole job.
                    _ = token.cancelled() => return,
                    r = sync.upload(&spec, &tenant, &state_dir) => r,
                };
                tx.send_modify(|s| match &result {
                    Ok(_) => {
                        s.uploads += 1;
                        s.last_error = None;
                    }
                    Err(e) => {
                        s.failures += 1;
                        s.last_error = Some(e.to_string());
                    }
                });
                if let Err(error) = result {
                    tracing::warn!(%tenant, %error, "periodic state upload failed; retrying next period");
                }
            }
        });
        Some(Periodic {
            cancel,
            task,
            status,
        })
    }

    /// A view of the uploads so far, updated after each one.
    pub fn status(&self) -> watch::Receiver<PeriodicStatus> {
        self.status.clone()
    }

    /// Stops the uploads and waits until none of them runs any more.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}
