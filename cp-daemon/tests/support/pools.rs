//! Pool test support: a spec for the local busybox image, an agent with its
//! own workloads, states, secrets and data dirs (kept across a restart),
//! and a guard that removes the workload's containers even when a test
//! fails.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{poll_json, unique, Coold, TEST_IMAGE};

/// The dirs one agent's pools use; they outlive the agent process, so a
/// restarted agent finds its claims.
pub struct PoolDirs {
    pub root: tempfile::TempDir,
}

impl PoolDirs {
    pub fn new() -> PoolDirs {
        PoolDirs {
            root: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("COOLD_WORKLOADS_DIR", "workloads"),
            ("COOLD_STATES_DIR", "states"),
            ("COOLD_SECRETS_DIR", "secrets"),
            ("COOLD_DATA_DIR", "data"),
        ]
        .iter()
        .map(|(k, d)| (k.to_string(), self.path(d).display().to_string()))
        .chain([("COOLD_POOL_REFILL_INTERVAL".to_string(), "1s".to_string())])
        .collect()
    }
    /// Starts an agent on these dirs.
    pub fn start(&self) -> Coold {
        let env = self.env();
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Coold::start(&refs)
    }
}

/// A workload id no other test uses, whose containers are removed when
/// dropped. Declare it before the agent: locals drop in reverse order, so
/// the agent stops first and cannot refill the pool after the sweep.
pub struct Workload {
    pub id: String,
}

impl Workload {
    pub fn new(prefix: &str) -> Workload {
        Workload { id: unique(prefix) }
    }

    /// A busybox spec with state at /data, secrets at /secrets, a
    /// healthcheck the agent runs, and the given pool sizes.
    pub fn spec(&self, min: u32, max: u32) -> String {
        format!(
            "\
id: {id}
name: Pool test
image: {TEST_IMAGE}
command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 1; done\"]
volumes:
  state:
    target: /data
  secrets:
    target: /secrets
    read_only: true
healthcheck:
  test: [CMD, 'true']
  interval: 1s
  timeout: 10s
  retries: 3
deploy:
  resources:
    limits:
      cpus: '0.5'
      memory: 64M
read_only: true
pool:
  min_size: {min}
  max_size: {max}
  idle_timeout: 10m
",
            id = self.id
        )
    }

    /// Names of this workload's containers in the engine.
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("podman")
            .args([
                "ps",
                "-a",
                "--filter",
                &format!("label=coolify.pool.workload={}", self.id),
                "--format",
                "{{.Names}}",
            ])
            .output()
            .expect("podman ps");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for Workload {
    /// Removes the workload's containers, in three passes a little apart:
    /// a refill the agent sent just before the test stopped it can land in
    /// the engine after the first listing (seen: one left in state
    /// Created).
    fn drop(&mut self) {
        for pass in 0..3 {
            if pass > 0 {
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            for c in self.containers() {
                let _ = Command::new("podman")
                    .args(["rm", "-f", "-t", "0", &c])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Polls the workload's pool until `pred` holds (bounded).
pub fn wait_pool(
    c: &Coold,
    id: &str,
    within: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    poll_json(c, &format!("/api/v1/workloads/{id}"), within, |v| {
        pred(&v["pool"])
    })["pool"]
        .clone()
}

/// Runs `cmd` in a container through the agent: (exit code, stdout).
pub fn exec(c: &Coold, container: &str, cmd: &[&str]) -> (i64, String) {
    let body = serde_json::json!({ "cmd": cmd }).to_string();
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{container}/exec"),
        Some(&body),
    );
    assert_eq!(code, 200, "{v}");
    (
        v["exit_code"].as_i64().unwrap_or(-1),
        v["stdout"].as_str().unwrap_or("").to_string(),
    )
}
