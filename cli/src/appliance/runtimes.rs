//! Per-runtime engine services on the host, for the appliance.
//!
//! Podman 4.3's API ignores the OCI runtime named on create, so coold
//! creates containers of another runtime (gVisor's `runsc`) through a Podman
//! API service started with `--runtime X` on a private socket. Inside the
//! FROM scratch appliance coold has no podman binary, and a service started
//! from inside would take its containers down with the appliance (same
//! cgroup and PID namespace). So `cp up` starts them here, on the host, in
//! their own session, with the socket where coold looks
//! (`<run-dir>/runtimes/podman-<runtime>.sock`) and coold adopts them.
//! `cp down` stops them; the containers they started keep running.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where coold looks for runtime services (`COOLD_RUNTIME_DIR`).
pub fn dir(run_dir: &Path) -> PathBuf {
    run_dir.join("runtimes")
}

fn socket(run_dir: &Path, runtime: &str) -> PathBuf {
    dir(run_dir).join(format!("podman-{runtime}.sock"))
}

fn pid_file(run_dir: &Path, runtime: &str) -> PathBuf {
    dir(run_dir).join(format!("podman-{runtime}.pid"))
}

/// What happened to one runtime's service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeService {
    pub runtime: String,
    /// `running` (already answered), `started`, or `unavailable: <why>`.
    pub state: String,
}

fn answers(socket: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf[9..12] == *b"200")
}

/// Ensures a service answers for each runtime; one that cannot start (not
/// configured in the engine, no podman binary) is reported, not fatal:
/// coold then answers 422 for that runtime, naming why.
pub fn ensure(run_dir: &Path, runtimes: &[String]) -> Vec<RuntimeService> {
    runtimes
        .iter()
        .map(|rt| RuntimeService {
            runtime: rt.clone(),
            state: ensure_one(run_dir, rt).unwrap_or_else(|e| format!("unavailable: {e}")),
        })
        .collect()
}

fn ensure_one(run_dir: &Path, runtime: &str) -> Result<String, String> {
    let sock = socket(run_dir, runtime);
    if answers(&sock) {
        return Ok("running".into());
    }
    std::fs::create_dir_all(dir(run_dir))
        .map_err(|e| format!("{}: {e}", dir(run_dir).display()))?;
    let _ = std::fs::remove_file(&sock);
    let log_path = dir(run_dir).join(format!("podman-{runtime}.log"));
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new("podman");
    cmd.arg("--runtime")
        .arg(runtime)
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", sock.display()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // Its own session: the service outlives this CLI and its terminal.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run podman: {e}"))?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if answers(&sock) {
            let _ = std::fs::write(pid_file(run_dir, runtime), child.id().to_string());
            return Ok("started".into());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!(
                "podman --runtime {runtime} exited ({status}): {}",
                log.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    Err(format!(
        "podman --runtime {runtime} did not answer within 10 s; see {}",
        log_path.display()
    ))
}

/// Stops the services `ensure` started (their containers keep running:
/// each has its own conmon).
pub fn stop_all(run_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir(run_dir)) else {
        return Vec::new();
    };
    let mut stopped = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(runtime) = name
            .strip_prefix("podman-")
            .and_then(|n| n.strip_suffix(".pid"))
        else {
            continue;
        };
        let pid = std::fs::read_to_string(entry.path())
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            // Only a process that still is that service: pids get reused.
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| {
                        String::from_utf8_lossy(&c).contains(&format!("podman-{runtime}.sock"))
                    })
                    .unwrap_or(false)
            });
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            stopped.push(runtime.to_string());
        }
        let _ = std::fs::remove_file(entry.path());
        let _ = std::fs::remove_file(socket(run_dir, runtime));
    }
    stopped
}
