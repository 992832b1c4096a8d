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

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use coolify_build_contract::{CREDENTIALS_FILE, SPEC_FILE};
use tokio_util::sync::CancellationToken;

use super::container::{self, SandboxSpec};
use super::dir_watch::DirWatch;
use super::egress;
use super::metrics::BuildMetrics;
use super::outbox::Outbox;
use super::process_exit::ProcessWatch;
use super::request::{self, error_body, Verdict};
use super::warm_builders::{self, SlotState, Warm, WarmPool};
use super::workdir::{self, EventTail};
use crate::config::BuildsConfig;
use crate::hosttools::ToolRunner;
use crate::podman::EngineError;

/// How often a running build's events file, verdict files and process
/// are read when nothing woke the loop sooner (local file reads: cheap; a
/// write in the work dir wakes it at once, see `dir_watch.rs`). The
/// verdict lands the build: the engine only reports the container's exit
/// 200–400 ms after the builder's last write (conmon and Podman's cleanup,
/// measured on Podman 4.3), which was most of a small build's overhead.
const POLL: Duration = Duration::from_millis(20);
/// How often the container's state is asked of the engine when its
/// process cannot be watched in procfs (see `process_exit.rs`).
const INSPECT_EVERY: Duration = Duration::from_millis(500);
/// How often it is asked anyway while the process is watched: a safety
/// net, each inspect costing the engine a few ms.
const INSPECT_WATCHED_EVERY: Duration = Duration::from_secs(5);
/// How often adoption is retried while the engine is unreachable.
const ADOPT_RETRY: Duration = Duration::from_secs(2);
/// How often finished work dirs past `COOLD_BUILD_KEEP` are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Wait before trying again when a warm builder could not be made.
const WARM_RETRY: Duration = Duration::from_secs(5);

/// The container a build runs in.
#[derive(Debug)]
struct Sandbox {
    /// Name or engine id: what engine calls address it by.
    container: String,
    /// The warm slot path it was made on, for a warm builder.
    slot: Option<PathBuf>,
    /// A warm builder's rename to its build's name, awaited before the
    /// removal (a fast build can end first; the two must not cross).
    renaming: Option<tokio::task::JoinHandle<()>>,
    /// Its process in the host's procfs, when known at launch.
    process: Option<ProcessWatch>,
}

impl Sandbox {
    fn cold(id: &str) -> Sandbox {
        Sandbox::of(request::container_name(id), None)
    }

    fn of(container: String, slot: Option<PathBuf>) -> Sandbox {
        Sandbox {
            container,
            slot,
            renaming: None,
            process: None,
        }
    }
}

#[derive(Debug, Default)]
struct Slots {
    /// Builds with a container, by request id → their cancel token.
    running: HashMap<String, CancellationToken>,
    /// Request ids waiting for a slot (their work dir is written).
    queue: VecDeque<String>,
}

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

/// Why a build could not be launched (it answers 500 with the reason).
#[derive(Debug, thiserror::Error)]
enum LaunchError {
    #[error("work dir: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Egress(#[from] egress::EgressError),
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

    /// A warm builder when one waits, else a new container.
    async fn launch(&self, id: &str, dir: &Path) -> Result<Sandbox, LaunchError> {
        let name = request::container_name(id);
        if let Some(w) = self.take_warm().await {
            if let Err(e) = warm_builders::hand_over(&w.slot, dir) {
                self.retire(&w).await;
                return Err(e.into());
            }
            tracing::info!(request_id = %id, container = %w.container, "build started in a warm builder");
            // Operators find a build by its name; the driver itself uses
            // the id, so the rename stays off the build's path.
            let (socket, container) = (self.socket.clone(), w.container.clone());
            let renaming = tokio::spawn(async move {
                if let Err(e) = container::rename(&socket, &container, &name).await {
                    tracing::warn!(%container, error = %e, "warm builder keeps its name");
                }
            });
            return Ok(Sandbox {
                renaming: Some(renaming),
                process: w.process,
                ..Sandbox::of(w.container, Some(w.slot))
            });
        }
        let with_credentials = dir.join(CREDENTIALS_FILE).exists();
        let spec = self.sandbox_spec(
            name.clone(),
            dir,
            request::builder_args(&self.cfg, dir, &self.socket, with_credentials),
            (request::LABEL_REQUEST_ID, id),
        );
        let (_, process) = self.create_and_start(&spec).await?;
        tracing::info!(request_id = %id, container = %name, "build started");
        Ok(Sandbox {
            process,
            ..Sandbox::cold(id)
        })
    }

    fn sandbox_spec(
        &self,
        name: String,
        dir: &Path,
        args: Vec<String>,
        (key, value): (&str, &str),
    ) -> SandboxSpec {
        SandboxSpec {
            name,
            image: self.image.clone(),
            entrypoint: vec![request::BUILDER_BIN.to_string()],
            args,
            labels: HashMap::from([
                (request::LABEL_BUILD.to_string(), "true".to_string()),
                (key.to_string(), value.to_string()),
                (
                    request::LABEL_WORK_DIR.to_string(),
                    dir.display().to_string(),
                ),
            ]),
            binds: vec![dir.to_path_buf(), self.socket.clone()],
            memory: self.cfg.memory,
            cpus: self.cfg.cpus,
            network: self.cfg.network.clone(),
        }
    }

    /// Create → init → fence → start; returns the engine's id and a watch
    /// on the container's process.
    async fn create_and_start(
        &self,
        spec: &SandboxSpec,
    ) -> Result<(String, Option<ProcessWatch>), LaunchError> {
        let id = container::create(&self.socket, spec).await?;
        container::init(&self.socket, &id).await?;
        let init = container::initialised(&self.socket, &id).await?;
        if !self.cfg.deny_cidrs.is_empty() {
            egress::fence(&self.tools, &init.netns, &self.cfg.deny_cidrs).await?;
        }
        // Taken before start, so it cannot miss an exit; start execs the
        // entrypoint in this same process.
        let process = ProcessWatch::new(&self.tools.proc_dir(), init.pid);
        container::start(&self.socket, &id).await?;
        Ok((id, process))
    }

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
    async fn take_warm(&self) -> Option<Warm> {
        while let Some(w) = self.warm.take() {
            // procfs when the process is watched: an inspect is ~9 ms of
            // engine time on the build's path (Podman 4.3, measured).
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

    async fn retire(&self, w: &Warm) {
        if let Err(e) = container::remove(&self.socket, &w.container).await {
            tracing::warn!(container = %w.container, error = %e, "cannot remove warm builder");
        }
        warm_builders::remove_slot(&w.slot);
    }

    /// Keeps `COOLD_BUILD_WARM` builders waiting until `stop`, then
    /// removes the idle ones (a build in a warm builder is left to run,
    /// like any other, and adopted by the next start).
    async fn keep_warm(&self, stop: &CancellationToken) {
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

    /// Streams the events file until the container stops; enforces cancel
    /// and the run time (SIGTERM, then SIGKILL after the grace).
    async fn follow(
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

    async fn forward_events(&self, id: &str, dir: &Path, tail: &mut EventTail) {
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

    /// The build ended (or never started): settle its verdict on disk,
    /// answer, hand its slot to the next queued build, then remove the
    /// container. The answer does not wait for the removal: a container
    /// still on its way out takes ~220 ms to remove on Podman 4.3, as long
    /// as a small build. The verdict is on disk first, so an agent that
    /// dies before the removal answers again and removes it at restart.
    async fn finish(self: &Arc<Self>, id: &str, dir: &Path, sandbox: Sandbox) {
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
        self.remove_sandbox(id, sandbox).await;
        // Now, not when the warm builder was taken: see `WarmPool::take`.
        self.warm.refill.notify_one();
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

    /// Answers a build that is not running (any container it had is
    /// removed after the answer).
    async fn settle_and_answer(self: &Arc<Self>, id: &str, dir: &Path, sandbox: Option<Sandbox>) {
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

    /// Restart adoption (seed 000's resume_or_reap): running build
    /// containers are followed again; stopped ones are settled and removed;
    /// work dirs that never got a container (queued when the agent
    /// stopped) get an error verdict. Answers reach the broker when the
    /// first session opens (see [`Builds::on_session`]).
    async fn adopt(self: &Arc<Self>) -> Result<(), EngineError> {
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

    /// A broker session opened: frames go to it, running builds replay
    /// their events, and every finished build still on disk is answered
    /// again (the broker keeps the first answer and ignores repeats).
    pub fn on_session(
        self: &Arc<Self>,
        tx: tokio::sync::mpsc::Sender<coolify_proto::v1::ClientMsg>,
    ) {
        self.outbox.open(tx);
        let this = self.clone();
        tokio::spawn(async move {
            let running: Vec<String> = this.slots().running.keys().cloned().collect();
            for f in workdir::finished(&this.cfg.dir) {
                if running.contains(&f.request_id) {
                    continue;
                }
                let mut tail = EventTail::default();
                this.forward_events(&f.request_id, &f.dir, &mut tail).await;
                this.outbox
                    .response(&f.request_id, f.verdict.status, &f.verdict.body)
                    .await;
            }
        });
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
