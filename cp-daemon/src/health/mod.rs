//! Component health: each long-running part of the agent reports here, and
//! `/healthz` renders the whole picture.
//!
//! Invariant: `/healthz` answers 200 only when every *required* component is
//! `healthy`; a component that never reported counts as `starting`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

/// The state of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Starting,
    Healthy,
    Degraded,
    Unhealthy,
}

/// One component's entry in `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentHealth {
    pub status: Status,
    pub detail: String,
    /// Whether this component gates the overall status.
    pub required: bool,
}

/// The `/healthz` body.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub status: Status,
    pub version: &'static str,
    pub components: BTreeMap<&'static str, ComponentHealth>,
}

impl HealthReport {
    pub fn is_healthy(&self) -> bool {
        self.status == Status::Healthy
    }
}

/// Shared registry of component health.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<RwLock<BTreeMap<&'static str, ComponentHealth>>>,
}

impl Health {
    /// Declares a component before it reports, so `/healthz` shows it as
    /// `starting` instead of hiding it.
    pub fn register(&self, name: &'static str, required: bool) {
        self.write().insert(
            name,
            ComponentHealth {
                status: Status::Starting,
                detail: "not checked yet".into(),
                required,
            },
        );
    }

    pub fn set(&self, name: &'static str, status: Status, detail: impl Into<String>) {
        let mut map = self.write();
        let required = map.get(name).map(|c| c.required).unwrap_or(true);
        map.insert(
            name,
            ComponentHealth {
                status,
                detail: detail.into(),
                required,
            },
        );
    }

    pub fn report(&self) -> HealthReport {
        let components = self.inner.read().unwrap_or_else(|p| p.into_inner()).clone();
        let status = if components
            .values()
            .filter(|c| c.required)
            .all(|c| c.status == Status::Healthy)
        {
            Status::Healthy
        } else {
            Status::Unhealthy
        };
        HealthReport {
            status,
            version: env!("CARGO_PKG_VERSION"),
            components,
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<&'static str, ComponentHealth>> {
        // A panic while holding the lock cannot leave the map half-written
        // (every write is one insert), so a poisoned lock is still usable.
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreported_required_component_keeps_healthz_red() {
        let h = Health::default();
        h.register("podman", true);
        assert!(!h.report().is_healthy());
        assert_eq!(h.report().components["podman"].status, Status::Starting);
    }

    #[test]
    fn all_required_healthy_is_green() {
        let h = Health::default();
        h.register("podman", true);
        h.register("dns", false);
        h.set("podman", Status::Healthy, "ping ok");
        h.set("dns", Status::Degraded, "waiting for bridge");
        assert!(h.report().is_healthy());
    }

    #[test]
    fn one_unhealthy_required_component_is_red() {
        let h = Health::default();
        h.register("podman", true);
        h.register("firewall", true);
        h.set("podman", Status::Healthy, "ok");
        h.set("firewall", Status::Unhealthy, "iptables missing");
        assert!(!h.report().is_healthy());
    }
}
