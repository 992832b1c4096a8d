//! A build's way in: the request checked, its work dir written, then a
//! slot taken at once or a place in the FIFO queue; and the slot handed
//! to the next queued build when one ends.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::launch::Sandbox;
use super::Builds;
use crate::builds::request::{self, error_body, Verdict};
use crate::builds::workdir;
use coolify_build_contract::{CREDENTIALS_FILE, SPEC_FILE};

#[derive(Debug, Default)]
pub(super) struct Slots {
    /// Builds with a container, by request id → their cancel token.
    pub(super) running: HashMap<String, CancellationToken>,
    /// Request ids waiting for a slot (their work dir is written).
    pub(super) queue: VecDeque<String>,
}

impl Builds {
    /// A BuildRequest frame. Never waits for the build: its Response is
    /// sent when it ends.
    pub fn submit(self: &Arc<Self>, id: String, spec: Vec<u8>) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(v) = this.accept(&id, &spec) {
                tracing::warn!(request_id = %id, status = v.status, error = %v.body, "build refused");
                this.metrics.finished(&v.outcome);
                this.outbox.response(&id, v.status, &v.body).await;
            }
        });
    }

    /// Checks the request, writes its work dir, and starts or queues it.
    fn accept(self: &Arc<Self>, id: &str, spec: &[u8]) -> Result<(), Verdict> {
        let refuse = |status: u16, message: String| Verdict {
            status,
            body: error_body("bad_request", message, "request"),
            outcome: "bad_request".into(),
        };
        request::validate_request_id(id).map_err(|e| refuse(400, e.to_string()))?;
        let prepared = request::prepare(spec).map_err(|e| refuse(400, e.to_string()))?;
        let dir = self.dir(id);
        {
            let s = self.slots();
            if s.running.contains_key(id) || s.queue.iter().any(|q| q == id) || dir.exists() {
                return Err(refuse(
                    409,
                    format!("request_id: build {id} already exists on this host"),
                ));
            }
        }
        let io = |e: std::io::Error| Verdict {
            status: 500,
            body: error_body(
                "io",
                format!("build work dir {}: {e}", dir.display()),
                "request",
            ),
            outcome: "io".into(),
        };
        workdir::create(&dir).map_err(io)?;
        workdir::write_private(&dir.join(SPEC_FILE), &prepared.spec_json).map_err(io)?;
        if let Some(c) = &prepared.credentials {
            let bytes = serde_json::to_vec(c).unwrap_or_default();
            workdir::write_private(&dir.join(CREDENTIALS_FILE), &bytes).map_err(io)?;
        }
        let token = {
            let mut s = self.slots();
            if s.running.len() < self.cfg.capacity as usize {
                let token = CancellationToken::new();
                s.running.insert(id.to_string(), token.clone());
                Some(token)
            } else {
                s.queue.push_back(id.to_string());
                None
            }
        };
        match token {
            Some(token) => self.spawn_run(id.to_string(), token),
            None => tracing::info!(request_id = %id, "build queued: every slot is busy"),
        }
        Ok(())
    }

    /// Runs a build that holds a slot: launch, follow, finish.
    fn spawn_run(self: &Arc<Self>, id: String, token: CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            let dir = this.dir(&id);
            let sandbox = match this.launch(&id, &dir).await {
                Ok(sandbox) => {
                    let deadline = Instant::now() + this.cfg.timeout;
                    this.follow(&id, &dir, &sandbox, &token, deadline).await;
                    sandbox
                }
                Err(e) => {
                    tracing::error!(request_id = %id, error = %e, "build container did not start");
                    let _ = workdir::write_error(&dir, "io", &e.to_string(), "start");
                    // A cold create may have got as far as a container.
                    Sandbox::cold(&id)
                }
            };
            this.finish(&id, &dir, sandbox).await;
        });
    }

    /// The build `id` ended: its slot goes to the oldest queued build.
    pub(super) fn release_slot(self: &Arc<Self>, id: &str) {
        let next = {
            let mut s = self.slots();
            s.running.remove(id);
            let next = s.queue.pop_front();
            if let Some(n) = &next {
                let token = CancellationToken::new();
                s.running.insert(n.clone(), token.clone());
                Some((n.clone(), token))
            } else {
                None
            }
        };
        if let Some((n, token)) = next {
            self.spawn_run(n, token);
        }
    }
}
