//! Supervised Podman API services, one per extra OCI runtime:
//! `podman --runtime X system service --time=IDLE unix://DIR/podman-X.sock`.
//!
//! A service starts on first use and is started again when it has gone
//! (idle timeout, crash). The idle timeout bounds what a crashed agent can
//! leave behind; a socket that already answers (an earlier agent's service)
//! is adopted instead of started twice. On drop, the agent's own children
//! are killed.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::RuntimeError;
use crate::podman::Engine;

/// A runtime service exits after this long without connections; the next
/// use starts it again.
const IDLE_SECS: u32 = 120;
/// How long a new service has to answer its socket.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of the service's stderr kept for error messages.
const STDERR_LINES: usize = 8;

#[derive(Debug)]
struct Service {
    engine: Engine,
    /// `None` when adopted from an earlier agent.
    child: Option<Child>,
}

/// The per-runtime services of one agent.
#[derive(Debug)]
pub struct RuntimeServices {
    podman_bin: PathBuf,
    dir: PathBuf,
    services: Mutex<HashMap<String, Service>>,
}

impl RuntimeServices {
    pub fn new(podman_bin: PathBuf, dir: PathBuf) -> Self {
        RuntimeServices {
            podman_bin,
            dir,
            services: Mutex::new(HashMap::new()),
        }
    }

    pub fn socket(&self, runtime: &str) -> PathBuf {
        self.dir.join(format!("podman-{runtime}.sock"))
    }

    /// An engine handle on `runtime`'s service, starting it when needed.
    pub async fn engine(&self, runtime: &str) -> Result<Engine, RuntimeError> {
        let mut services = self.services.lock().await;
        if let Some(s) = services.get_mut(runtime) {
            let alive = match s.child.as_mut() {
                Some(c) => matches!(c.try_wait(), Ok(None)),
                None => true,
            };
            if alive && answers(&s.engine).await {
                return Ok(s.engine.clone());
            }
            services.remove(runtime);
        }
        let socket = self.socket(runtime);
        if let Ok(engine) = Engine::connect(&socket) {
            if answers(&engine).await {
                tracing::info!(runtime, socket = %socket.display(), "adopted a running runtime service");
                services.insert(
                    runtime.to_string(),
                    Service {
                        engine: engine.clone(),
                        child: None,
                    },
                );
                return Ok(engine);
            }
        }
        let service = self.start(runtime, &socket).await?;
        let engine = service.engine.clone();
        services.insert(runtime.to_string(), service);
        Ok(engine)
    }

    async fn start(&self, runtime: &str, socket: &Path) -> Result<Service, RuntimeError> {
        let not_installed = |reason: String| RuntimeError::NotInstalled {
            name: runtime.to_string(),
            reason,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            not_installed(format!(
                "cannot create COOLD_RUNTIME_DIR {}: {e}",
                self.dir.display()
            ))
        })?;
        // A socket file nobody answers on is left from a dead service.
        let _ = std::fs::remove_file(socket);
        let mut child = Command::new(&self.podman_bin)
            .arg("--runtime")
            .arg(runtime)
            .args(["system", "service"])
            .arg(format!("--time={IDLE_SECS}"))
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                not_installed(format!(
                    "the engine ignores the runtime on create, and a runtime service cannot start: COOLD_PODMAN_BIN={}: {e}",
                    self.podman_bin.display()
                ))
            })?;
        // Drain stderr always (a full pipe would stall the service) and keep
        // its last lines for the error message.
        let tail: Arc<StdMutex<VecDeque<String>>> = Arc::default();
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            let name = runtime.to_string();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(runtime = %name, "{line}");
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() == STDERR_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                // Let the reader take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let t = tail.lock().unwrap_or_else(|p| p.into_inner());
                let reason = t
                    .iter()
                    .rev()
                    .find(|l| l.contains("Error") || l.contains("error"))
                    .or(t.back())
                    .cloned()
                    .unwrap_or_else(|| format!("runtime service exited with {status}"));
                return Err(not_installed(reason));
            }
            if socket.exists() {
                if let Ok(engine) = Engine::connect(socket) {
                    if answers(&engine).await {
                        tracing::info!(runtime, socket = %socket.display(), pid = child.id(), "runtime service up");
                        return Ok(Service {
                            engine,
                            child: Some(child),
                        });
                    }
                }
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.start_kill();
                return Err(RuntimeError::Engine(
                    crate::podman::EngineError::Unavailable(format!(
                        "runtime service for {runtime} did not answer within {START_TIMEOUT:?}"
                    )),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the services this agent started (drain).
    pub async fn shutdown(&self) {
        let mut services = self.services.lock().await;
        for (name, mut s) in services.drain() {
            if let Some(child) = s.child.as_mut() {
                if let Some(pid) = child.id() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
                if tokio::time::timeout(Duration::from_secs(3), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.start_kill();
                }
                tracing::info!(runtime = %name, "runtime service stopped");
            }
        }
    }
}

async fn answers(engine: &Engine) -> bool {
    engine.ping(Duration::from_secs(2)).await.is_ok()
}
