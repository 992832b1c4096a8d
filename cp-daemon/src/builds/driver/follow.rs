//! Following a running build: its events streamed as they are written,
//! its verdict or its process's end noticed, cancel and the run time
//! enforced (SIGTERM, then SIGKILL after the grace).

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::launch::Sandbox;
use super::Builds;
use crate::builds::container;
use crate::builds::dir_watch::DirWatch;
use crate::builds::process_exit::ProcessWatch;
use crate::builds::workdir::{self, EventTail};

/// How often a running build's events file, verdict files and process
/// are read when nothing woke the loop sooner (local file reads: cheap; a
/// write in the work dir wakes it at once, see `dir_watch.rs`). The
/// verdict lands the build, not the container's exit: the engine reports
/// an exit well after the builder's last write (conmon and Podman's
/// cleanup; docs/builds.md has the figures).
const POLL: Duration = Duration::from_millis(20);
/// How often the container's state is asked of the engine when its
/// process cannot be watched in procfs (see `process_exit.rs`).
const INSPECT_EVERY: Duration = Duration::from_millis(500);
/// How often it is asked anyway while the process is watched: a safety
/// net, each inspect costing the engine time.
const INSPECT_WATCHED_EVERY: Duration = Duration::from_secs(5);

impl Builds {
    /// Streams the events file until the container stops; enforces cancel
    /// and the run time (SIGTERM, then SIGKILL after the grace).
    pub(super) async fn follow(
        &self,
        id: &str,
        dir: &Path,
        sandbox: &Sandbox,
        token: &CancellationToken,
        deadline: Instant,
    ) {
        let name = sandbox.container.as_str();
        let mut tail = EventTail::default();
        let mut sessions = self.outbox.sessions();
        let mut stopping: Option<Instant> = None;
        let mut killed = false;
        // The exit is seen in procfs at the poll's cadence. A sandbox this
        // agent launched comes with its process watched; an adopted one is
        // watched from the first inspect. Where the pid is not visible the
        // engine is asked every INSPECT_EVERY.
        let proc_dir = self.tools.proc_dir();
        let mut process = sandbox.process.clone();
        let mut inspected = process.as_ref().map(|_| Instant::now());
        // Wakes the loop when the builder writes; the poll alone would
        // see the verdict up to POLL late.
        let mut watch = match DirWatch::new(dir) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::debug!(request_id = %id, error = %e, "no inotify on the work dir; polling");
                None
            }
        };
        loop {
            if sessions.has_changed().unwrap_or(false) {
                sessions.borrow_and_update();
                // A new session: the broker may know nothing of what was
                // sent before; replay from the first line.
                tail = EventTail::default();
            }
            self.forward_events(id, dir, &mut tail).await;
            if workdir::has_verdict(dir) {
                break;
            }
            let now = Instant::now();
            let every = if process.is_some() {
                INSPECT_WATCHED_EVERY
            } else {
                INSPECT_EVERY
            };
            let exited = process.as_ref().is_some_and(ProcessWatch::ended);
            if exited || inspected.is_none_or(|at| now.duration_since(at) >= every) {
                inspected = Some(now);
                // The verdict may have landed between its check and the
                // exit; read it once more before the engine is asked.
                if exited && workdir::has_verdict(dir) {
                    break;
                }
                match container::inspect(&self.socket, name).await {
                    Ok(Some(v)) if v.state.running => {
                        if process.as_ref().is_none_or(ProcessWatch::ended) {
                            process = ProcessWatch::new(&proc_dir, v.state.pid);
                        }
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(request_id = %id, error = %e, "cannot inspect build container")
                    }
                }
            }
            match stopping {
                None if token.is_cancelled() => {
                    tracing::info!(request_id = %id, "cancelling build (SIGTERM)");
                    self.signal(id, name, "SIGTERM").await;
                    stopping = Some(now);
                }
                None if now >= deadline => {
                    let msg = format!(
                        "the build ran past COOLD_BUILD_TIMEOUT={}",
                        humantime::format_duration(self.cfg.timeout)
                    );
                    tracing::warn!(request_id = %id, "{msg}; stopping it (SIGTERM)");
                    let _ = std::fs::write(dir.join(workdir::TIMED_OUT), &msg);
                    self.signal(id, name, "SIGTERM").await;
                    stopping = Some(now);
                }
                Some(at) if !killed && now.duration_since(at) >= self.cfg.grace => {
                    tracing::warn!(request_id = %id, "build did not stop within COOLD_BUILD_GRACE; SIGKILL");
                    self.signal(id, name, "SIGKILL").await;
                    killed = true;
                }
                _ => {}
            }
            let changed = async {
                match &watch {
                    Some(w) => w.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = token.cancelled(), if stopping.is_none() => {}
                r = changed => if let Err(e) = r {
                    tracing::debug!(request_id = %id, error = %e, "work dir watch failed; polling");
                    watch = None;
                }
            }
        }
        self.forward_events(id, dir, &mut tail).await;
    }

    async fn signal(&self, id: &str, name: &str, signal: &str) {
        if let Err(e) = container::kill(&self.socket, name, signal).await {
            tracing::warn!(request_id = %id, signal, error = %e, "cannot signal build container");
        }
    }

    pub(super) async fn forward_events(&self, id: &str, dir: &Path, tail: &mut EventTail) {
        match tail.read_new(dir) {
            Ok(lines) => {
                for (seq, line) in lines {
                    // No session: the line stays in the file and is
                    // replayed when the next one opens.
                    self.outbox.event(id, seq, line).await;
                }
            }
            Err(e) => tracing::warn!(request_id = %id, error = %e, "cannot read build events"),
        }
    }
}
