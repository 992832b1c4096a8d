//! The `service_endpoints` row and the changes a host writes.

use serde::{Deserialize, Serialize};

/// One row of `service_endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub container_id: String,
    pub container_name: String,
    pub namespace: String,
    pub host_mgmt_ip: String,
    pub container_ip: String,
    /// Engine state: running, exited, created, paused, …
    pub state: String,
    /// healthy, unhealthy, starting, or unknown (no healthcheck).
    pub health: String,
    /// Milliseconds since the epoch of the last write.
    pub updated_at: i64,
    /// Set by `POST /services/register`; empty until then.
    pub service_id: String,
    /// Ports registered with the service.
    pub ports: Vec<u16>,
}

/// What the sync observed of one container; the store keeps the rest
/// (service id, ports) as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub container_id: String,
    pub container_name: String,
    pub namespace: String,
    pub container_ip: String,
    pub state: String,
    pub health: String,
}

/// One write of a host's own rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert, or update the observed columns of an existing row.
    Upsert(Observed),
    /// The container is gone from the engine.
    Delete { container_id: String },
    /// Explicit registration under a service id.
    Register {
        observed: Observed,
        service_id: String,
        ports: Vec<u16>,
    },
}

impl Endpoint {
    /// The observed part, to compare with what the engine says now.
    pub fn observed(&self) -> Observed {
        Observed {
            container_id: self.container_id.clone(),
            container_name: self.container_name.clone(),
            namespace: self.namespace.clone(),
            container_ip: self.container_ip.clone(),
            state: self.state.clone(),
            health: self.health.clone(),
        }
    }

    /// Answers DNS: running and healthy-or-unknown (seed 000).
    pub fn is_resolvable(&self) -> bool {
        self.state == "running" && matches!(self.health.as_str(), "healthy" | "unknown")
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Ports are stored as a JSON array text (one schema for SQLite and Corrosion).
pub fn ports_to_text(ports: &[u16]) -> String {
    serde_json::to_string(ports).unwrap_or_else(|_| "[]".into())
}

pub fn ports_from_text(text: &str) -> Vec<u16> {
    serde_json::from_str(text).unwrap_or_default()
}
