//! `cp status`: observes the appliance and its `--with-broker` container,
//! never creates or starts anything; [`StatusReport::render`] is its text.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::{container, health_gate, labels, local_broker, probe, stream, ApplianceError};
use crate::agent_api::ApiClient;
use crate::engine::Engine;

/// The result of `cp status`.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub container: String,
    pub present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coold_sha256: Option<String>,
    pub healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_error: Option<String>,
    /// The agent's broker stream as its `/healthz` shows it
    /// (`healthy` = connected), when it dials one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_stream: Option<String>,
    /// The `--with-broker` container, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<local_broker::BrokerStatus>,
    /// The settings the running agent parsed at start, as its
    /// `GET /api/v1/host/info` answers them (docs/agent-config.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings_error: Option<String>,
}

/// The agent REST address the running appliance advertises (its
/// `coolify.cp.api` label); `None` when there is no engine, no appliance,
/// or it is not running. Observes only.
pub async fn api_addr(name: &str, engine_spec: &str) -> Option<String> {
    let engine = Engine::connect(engine_spec).await.ok()?;
    let c = container::inspect(&engine, name).await.ok()??;
    if !c.state.running {
        return None;
    }
    c.label(labels::API_ADDR).map(str::to_string)
}

/// The agent's settings in force, asked of the agent itself with the
/// config dir's CA and token.
async fn settings_in_force(config_dir: &Path, addr: &str) -> Result<serde_json::Value, String> {
    let client = ApiClient::new(config_dir, addr).map_err(|e| e.to_string())?;
    let (_, body) = client
        .send(http::Method::GET, "/api/v1/host/info", None)
        .await
        .map_err(|e| e.to_string())?;
    let info: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("host/info is not JSON: {e}"))?;
    match info.get("settings") {
        Some(s) => Ok(s.clone()),
        None => Err("this agent's host/info has no settings (an older coold)".into()),
    }
}

/// Observes only: never creates or starts anything.
pub async fn status(
    name: &str,
    broker_name: &str,
    engine_spec: &str,
    config_dir: &Path,
) -> Result<StatusReport, ApplianceError> {
    let engine = Engine::connect(engine_spec).await?;
    let broker = local_broker::status(&engine, broker_name).await?;
    let Some(c) = container::inspect(&engine, name).await? else {
        return Ok(StatusReport {
            container: name.to_string(),
            present: false,
            id: None,
            state: None,
            image: None,
            started_at: None,
            uptime_secs: None,
            coold_sha256: None,
            healthy: false,
            health: None,
            health_error: None,
            broker_stream: None,
            broker,
            settings: None,
            settings_error: None,
        });
    };
    let running = c.state.running;
    let state = Some(c.state.status.clone());
    let started_at = Some(c.state.started_at.clone()).filter(|s| !s.is_empty());
    let uptime_secs = if running {
        started_at
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t.split('.').next().unwrap_or(t)).ok())
            .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
            .map(|d| d.as_secs())
    } else {
        None
    };
    let health_port = c
        .label(labels::HEALTH_PORT)
        .and_then(|p| p.parse::<u16>().ok());
    let (health, health_error) = match (running, health_port) {
        (false, _) => (None, Some("container is not running".to_string())),
        (true, None) => (
            None,
            Some(format!("container has no {} label", labels::HEALTH_PORT)),
        ),
        (true, Some(port)) => {
            match probe::get(
                health_gate::healthz_addr(port),
                "/healthz",
                Duration::from_secs(2),
            )
            .await
            {
                Ok((code, body)) => {
                    let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
                    (
                        Some(v),
                        (code != 200).then(|| format!("/healthz answered {code}")),
                    )
                }
                Err(e) => (None, Some(format!("/healthz on 127.0.0.1:{port}: {e}"))),
            }
        }
    };
    let (settings, settings_error) = match (running, c.label(labels::API_ADDR)) {
        (false, _) => (None, None),
        (true, None) => (
            None,
            Some(format!("container has no {} label", labels::API_ADDR)),
        ),
        (true, Some(addr)) => match settings_in_force(config_dir, addr).await {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        },
    };
    Ok(StatusReport {
        settings,
        settings_error,
        container: name.to_string(),
        present: true,
        id: Some(c.id.clone()),
        state,
        image: Some(c.config.image.clone()),
        started_at,
        uptime_secs,
        coold_sha256: c.label(labels::COOLD_SHA256).map(str::to_string),
        healthy: running && health_error.is_none() && broker.as_ref().is_none_or(|b| b.healthy),
        broker_stream: health
            .as_ref()
            .and_then(stream::broker_component)
            .map(|(status, detail)| format!("{status}: {detail}")),
        health,
        health_error,
        broker,
    })
}

impl StatusReport {
    /// The text of `cp status` (`--output text`).
    pub fn render(&self) -> String {
        let r = self;
        if !r.present {
            let mut lines = vec![format!("{}: absent", r.container)];
            lines.extend(render_broker(r));
            return lines.join("\n");
        }
        let mut lines = vec![
            format!("container  {}", r.container),
            format!("state      {}", r.state.as_deref().unwrap_or("unknown")),
            format!("image      {}", r.image.as_deref().unwrap_or("unknown")),
        ];
        if let Some(up) = r.uptime_secs {
            lines.push(format!(
                "uptime     {}",
                humantime::format_duration(std::time::Duration::from_secs(up))
            ));
        }
        lines.push(format!(
            "healthy    {}",
            if r.healthy { "yes" } else { "no" }
        ));
        if let Some(err) = &r.health_error {
            lines.push(format!("problem    {err}"));
        }
        if let Some(stream) = &r.broker_stream {
            lines.push(format!("stream     {stream}"));
        }
        lines.extend(render_broker(r));
        if let Some(components) = r
            .health
            .as_ref()
            .and_then(|h| h.get("components"))
            .and_then(|c| c.as_object())
        {
            lines.push("components".into());
            for (name, c) in components {
                lines.push(format!(
                    "  {name:<12} {:<10} {}",
                    c.get("status").and_then(|s| s.as_str()).unwrap_or("?"),
                    c.get("detail").and_then(|s| s.as_str()).unwrap_or("")
                ));
            }
        }
        if let Some(settings) = &r.settings {
            lines.push("settings".into());
            flatten("", settings, &mut lines);
        }
        if let Some(err) = &r.settings_error {
            lines.push(format!("settings   unknown: {err}"));
        }
        lines.join("\n")
    }
}

/// `  section.key  value` lines, as agent.toml names the keys.
fn flatten(prefix: &str, v: &serde_json::Value, lines: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, lines);
            }
        }
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect();
            lines.push(format!("  {prefix:<30} {}", items.join(",")));
        }
        serde_json::Value::String(s) => lines.push(format!("  {prefix:<30} {s}")),
        serde_json::Value::Null => lines.push(format!("  {prefix:<30} (unset)")),
        other => lines.push(format!("  {prefix:<30} {other}")),
    }
}

/// The `--with-broker` container's lines of `cp status`.
fn render_broker(r: &StatusReport) -> Vec<String> {
    let Some(b) = &r.broker else {
        return Vec::new();
    };
    let mut lines = vec![format!(
        "broker     {} {} ({}{})",
        b.container,
        b.state,
        if b.healthy { "healthy" } else { "unhealthy" },
        b.streams
            .map(|n| format!(", {n} stream(s)"))
            .unwrap_or_default()
    )];
    if let Some(sock) = &b.socket {
        lines.push(format!("  socket     {sock}"));
    }
    if let Some(err) = &b.health_error {
        lines.push(format!("  problem    {err}"));
    }
    lines
}
