//! A CancelBuild frame: SIGTERM to a running build (its follower sends
//! it), or a queued build dropped and answered at once.

use std::sync::Arc;

use super::Builds;
use crate::builds::workdir;

impl Builds {
    /// A CancelBuild frame: SIGTERM to a running build, or drop a queued
    /// one (answered 409 `cancelled` at once). Unknown ids are ignored:
    /// the build already ended and its Response says how.
    pub fn cancel(self: &Arc<Self>, id: &str) {
        let queued = {
            let mut s = self.slots();
            if let Some(token) = s.running.get(id) {
                token.cancel();
                return;
            }
            let before = s.queue.len();
            s.queue.retain(|q| q != id);
            s.queue.len() != before
        };
        if !queued {
            tracing::debug!(request_id = %id, "cancel for a build this host does not run");
            return;
        }
        let dir = self.dir(id);
        let _ = workdir::write_error(&dir, "cancelled", "cancelled before it started", "queue");
        let (this, id) = (self.clone(), id.to_string());
        tokio::spawn(async move {
            this.settle_and_answer(&id, &dir, None).await;
        });
    }
}
