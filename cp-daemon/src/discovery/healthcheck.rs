//! Runs managed containers' healthchecks where the engine does not, and
//! knows every managed container's health either way.
//!
//! Podman schedules healthchecks with systemd timers; with no systemd (these
//! machines, and inside the appliance) a container's health stays
//! `starting` forever (DESIGN.md decision 9). So the agent calls libpod's
//! healthcheck-run endpoint at each container's own interval; Podman itself
//! applies retries and the start period and records the result, and a
//! change of status wakes the sync so DNS drops an unhealthy container
//! within one interval.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::podman::raw::{self, HealthcheckView};

/// Docker's default healthcheck interval, when the container sets none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Lower bound, so a bad spec cannot turn the runner into a busy loop.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// The interval a healthcheck asks for; `None` when it has no test.
pub fn schedule(hc: &HealthcheckView) -> Option<Duration> {
    let test = hc.test.as_ref()?;
    if test.is_empty() || test[0].eq_ignore_ascii_case("NONE") {
        return None;
    }
    let interval = u64::try_from(hc.interval)
        .ok()
        .filter(|ns| *ns > 0)
        .map(Duration::from_nanos)
        .unwrap_or(DEFAULT_INTERVAL);
    Some(interval.max(MIN_INTERVAL))
}

/// Last known health per container id. The engine's container list does not
/// carry health (Podman 4.3's status line lacks "(healthy)"), so this is
/// where the sync reads it.
pub type HealthMap = Arc<Mutex<HashMap<String, String>>>;

/// Tracks running managed containers that have a healthcheck: in `agent`
/// mode one task per container runs it; in `engine` mode each sync reads
/// the engine's recorded status.
#[derive(Debug)]
pub struct HealthRunner {
    socket: PathBuf,
    trigger: Arc<Notify>,
    run_checks: bool,
    /// `None`: inspected, has no healthcheck (or the engine runs it).
    tasks: HashMap<String, Option<JoinHandle<()>>>,
    /// Ids with a healthcheck.
    checked: std::collections::HashSet<String>,
    health: HealthMap,
}

impl HealthRunner {
    pub fn new(socket: PathBuf, trigger: Arc<Notify>, run_checks: bool) -> Self {
        HealthRunner {
            socket,
            trigger,
            run_checks,
            tasks: HashMap::new(),
            checked: Default::default(),
            health: Arc::default(),
        }
    }

    /// The shared map of last known health.
    pub fn health(&self) -> HashMap<String, String> {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, id: &str, status: &str) {
        if !status.is_empty() {
            self.health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.to_string(), status.to_string());
        }
    }

    /// Starts runners for newly running containers, stops those of
    /// containers that no longer run.
    pub async fn sync(&mut self, running: &[String]) {
        self.tasks.retain(|id, task| {
            let keep = running.contains(id);
            if !keep {
                if let Some(t) = task {
                    t.abort();
                }
            }
            keep
        });
        self.checked.retain(|id| running.contains(id));
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| running.contains(id));
        for id in running {
            let known = self.tasks.contains_key(id);
            // New containers are inspected once; in engine mode, containers
            // with a healthcheck are re-read every sync for their status.
            if known && (self.run_checks || !self.checked.contains(id)) {
                continue;
            }
            let c = match raw::inspect_container(&self.socket, id).await {
                Ok(Some(c)) => c,
                // Gone meanwhile, or the engine hiccuped: try next reconcile.
                Ok(None) | Err(_) => continue,
            };
            let interval = schedule(&c.config.healthcheck.clone().unwrap_or_default());
            if interval.is_some() {
                self.checked.insert(id.clone());
                self.record(
                    id,
                    c.state
                        .health
                        .as_ref()
                        .map(|h| h.status.as_str())
                        .unwrap_or("starting"),
                );
            }
            if known {
                continue;
            }
            let task = interval.filter(|_| self.run_checks).map(|interval| {
                tokio::spawn(run(
                    self.socket.clone(),
                    id.clone(),
                    interval,
                    self.trigger.clone(),
                    self.health.clone(),
                ))
            });
            self.tasks.insert(id.clone(), task);
        }
    }
}

impl Drop for HealthRunner {
    fn drop(&mut self) {
        for t in self.tasks.values().flatten() {
            t.abort();
        }
    }
}

async fn run(
    socket: PathBuf,
    id: String,
    interval: Duration,
    trigger: Arc<Notify>,
    health: HealthMap,
) {
    let path = format!("/v4.0.0/libpod/containers/{id}/healthcheck");
    let mut last = String::new();
    loop {
        tokio::time::sleep(interval).await;
        match raw::get_json_at::<serde_json::Value>(&socket, &path).await {
            Ok(Some(v)) => {
                let status = v
                    .get("Status")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string();
                if status != last {
                    tracing::debug!(container = %id, %status, "health changed");
                    health
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.clone(), status.clone());
                    last = status;
                    trigger.notify_one();
                }
            }
            Ok(None) => return,
            Err(e) => tracing::debug!(container = %id, error = %e, "healthcheck run failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(test: &[&str], interval_ns: i64) -> HealthcheckView {
        HealthcheckView {
            test: Some(test.iter().map(|s| s.to_string()).collect()),
            interval: interval_ns,
            ..Default::default()
        }
    }

    #[test]
    fn interval_comes_from_the_spec_with_a_default_and_a_floor() {
        assert_eq!(
            schedule(&hc(&["CMD-SHELL", "true"], 2_000_000_000)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            schedule(&hc(&["CMD-SHELL", "true"], 0)),
            Some(DEFAULT_INTERVAL)
        );
        assert_eq!(schedule(&hc(&["CMD", "true"], 1)), Some(MIN_INTERVAL));
    }

    #[test]
    fn none_or_missing_test_schedules_nothing() {
        assert_eq!(schedule(&hc(&["NONE"], 0)), None);
        assert_eq!(schedule(&HealthcheckView::default()), None);
        assert_eq!(schedule(&hc(&[], 0)), None);
    }
}
