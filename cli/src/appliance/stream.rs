//! The agent's stream to its broker, as the agent's `/healthz` shows it
//! (the component is not required, so the health gate passes without it):
//! `cp up --with-broker` waits for it, `cp status` reports it.

use std::time::{Duration, Instant};

use super::{health_gate, probe, ApplianceError};

/// How often `up` looks at the agent's broker component.
const STREAM_POLL: Duration = Duration::from_millis(200);

/// The agent's broker component as `/healthz` shows it: `(status, detail)`.
pub fn broker_component(health: &serde_json::Value) -> Option<(String, String)> {
    let c = health
        .get("components")?
        .get(coolify_api_types::health::BROKER)?;
    Some((
        c.get("status")?.as_str()?.to_string(),
        c.get("detail")
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .to_string(),
    ))
}

/// Waits until the agent's `/healthz` shows its broker stream connected
/// (the component is not required, so the health gate passes without it).
pub async fn wait_stream(
    broker: &str,
    health_port: u16,
    timeout: Duration,
) -> Result<serde_json::Value, ApplianceError> {
    let started = Instant::now();
    loop {
        let answer = probe::get(
            health_gate::healthz_addr(health_port),
            "/healthz",
            Duration::from_secs(1),
        )
        .await;
        let detail = match answer {
            Ok((_, body)) => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                match broker_component(&v) {
                    Some((status, _)) if status == "healthy" => return Ok(v),
                    Some((status, d)) => format!("{status}: {d}"),
                    None => "the agent shows no broker component".into(),
                }
            }
            Err(e) => e,
        };
        if started.elapsed() >= timeout {
            return Err(ApplianceError::StreamNotConnected {
                broker: broker.to_string(),
                timeout,
                detail,
            });
        }
        tokio::time::sleep(STREAM_POLL).await;
    }
}
