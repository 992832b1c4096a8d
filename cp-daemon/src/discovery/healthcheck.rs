//! Runs managed containers' healthchecks where the engine does not.
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
use std::sync::Arc;
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

/// One task per running managed container that has a healthcheck.
#[derive(Debug)]
pub struct HealthRunner {
    socket: PathBuf,
    trigger: Arc<Notify>,
    /// `None`: inspected, has no healthcheck.
    tasks: HashMap<String, Option<JoinHandle<()>>>,
}

impl HealthRunner {
    pub fn new(socket: PathBuf, trigger: Arc<Notify>) -> Self {
        HealthRunner {
            socket,
            trigger,
            tasks: HashMap::new(),
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
        for id in running {
            if self.tasks.contains_key(id) {
                continue;
            }
            let hc = match raw::inspect_container(&self.socket, id).await {
                Ok(Some(c)) => c.config.healthcheck.unwrap_or_default(),
                // Gone meanwhile, or the engine hiccuped: try next reconcile.
                Ok(None) | Err(_) => continue,
            };
            let task = schedule(&hc).map(|interval| {
                tokio::spawn(run(self.socket.clone(), id.clone(), interval, self.trigger.clone()))
            });
            self.tasks.insert(id.clone(), task);
        }
    }

    pub fn running_checks(&self) -> usize {
        self.tasks.values().filter(|t| t.is_some()).count()
    }
}

impl Drop for HealthRunner {
    fn drop(&mut self) {
        for t in self.tasks.values().flatten() {
            t.abort();
        }
    }
}

async fn run(socket: PathBuf, id: String, interval: Duration, trigger: Arc<Notify>) {
    let path = format!("/v4.0.0/libpod/containers/{id}/healthcheck");
    let mut last = String::new();
    loop {
        tokio::time::sleep(interval).await;
        match raw::get_json_at::<serde_json::Value>(&socket, &path).await {
            Ok(Some(v)) => {
                let status = v.get("Status").and_then(|s| s.as_str()).unwrap_or_default().to_string();
                if status != last {
                    tracing::debug!(container = %id, %status, "health changed");
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
        assert_eq!(schedule(&hc(&["CMD-SHELL", "true"], 2_000_000_000)), Some(Duration::from_secs(2)));
        assert_eq!(schedule(&hc(&["CMD-SHELL", "true"], 0)), Some(DEFAULT_INTERVAL));
        assert_eq!(schedule(&hc(&["CMD", "true"], 1)), Some(MIN_INTERVAL));
    }

    #[test]
    fn none_or_missing_test_schedules_nothing() {
        assert_eq!(schedule(&hc(&["NONE"], 0)), None);
        assert_eq!(schedule(&HealthcheckView::default()), None);
        assert_eq!(schedule(&hc(&[], 0)), None);
    }
}
