//! The health gates of `cp up`: poll the agent's `/healthz` (or the
//! broker's `/v1/health` on its UDS) every 100 ms until 200, and fail at
//! once (with the reason and the last log lines) when the container exits,
//! restarts or vanishes instead of waiting out the timeout.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::container::{inspect, last_logs};
use super::probe;
use super::ApplianceError;
use crate::engine::Engine;

const POLL: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Log lines quoted in a failure.
const LOG_LINES: usize = 20;

pub fn healthz_addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Waits until the agent's `/healthz` answers 200; returns its body.
pub async fn wait_healthy(
    engine: &Engine,
    name: &str,
    health_port: u16,
    timeout: Duration,
) -> Result<serde_json::Value, ApplianceError> {
    let addr = healthz_addr(health_port);
    let url = format!("http://{addr}/healthz");
    wait_for(engine, name, url, timeout, || {
        probe::get(addr, "/healthz", PROBE_TIMEOUT)
    })
    .await
}

/// Waits until the broker's `/v1/health` answers 200 on its UDS lane.
pub async fn wait_uds_healthy(
    engine: &Engine,
    name: &str,
    socket: &Path,
    timeout: Duration,
) -> Result<serde_json::Value, ApplianceError> {
    let url = format!("unix:{} GET /v1/health", socket.display());
    wait_for(engine, name, url, timeout, || {
        probe::get_unix(socket, "/v1/health", PROBE_TIMEOUT)
    })
    .await
}

async fn wait_for<F, Fut>(
    engine: &Engine,
    name: &str,
    url: String,
    timeout: Duration,
    mut probe: F,
) -> Result<serde_json::Value, ApplianceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(u16, String), String>>,
{
    let started = Instant::now();
    let initial_restarts = restart_count(engine, name).await?;
    let mut last: (Option<u16>, String, Option<String>) = (None, String::new(), None);
    loop {
        match probe().await {
            Ok((200, body)) => {
                return Ok(serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)));
            }
            Ok((status, body)) => last = (Some(status), body, None),
            Err(e) => last.2 = Some(e),
        }
        check_alive(engine, name, initial_restarts).await?;
        if started.elapsed() >= timeout {
            return Err(ApplianceError::HealthTimeout {
                url,
                timeout,
                last_status: last.0,
                last_body: last.1,
                last_error: last.2,
                logs: last_logs(engine, name, LOG_LINES).await,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn restart_count(engine: &Engine, name: &str) -> Result<i64, ApplianceError> {
    Ok(inspect(engine, name)
        .await?
        .map(|c| c.restart_count)
        .unwrap_or(0))
}

async fn check_alive(
    engine: &Engine,
    name: &str,
    initial_restarts: i64,
) -> Result<(), ApplianceError> {
    let Some(c) = inspect(engine, name).await? else {
        return Err(ApplianceError::ContainerVanished { name: name.into() });
    };
    // With restart=always, a crashing coold may be back up before we look;
    // a higher restart count still tells us it died.
    let restarts = c.restart_count - initial_restarts;
    if c.has_exited() || restarts > 0 {
        let logs = last_logs(engine, name, LOG_LINES).await;
        // Stop the crash loop; the container stays for `podman logs`, and
        // the next `cp up` replaces or restarts it.
        let _ = super::container::stop(engine, name, Duration::from_secs(2)).await;
        return Err(ApplianceError::ContainerExited {
            name: name.into(),
            exit_code: c.has_exited().then_some(c.state.exit_code),
            restarts,
            error: Some(c.state.error).filter(|e| !e.is_empty()),
            logs,
        });
    }
    Ok(())
}
