//! What every verb handler can reach: the handles the wiring (`agent.rs`)
//! builds once and the transports (`api/`, `broker_client/`) pass to the
//! verb table. Concerns never see it: the dispatcher hands each one only
//! the handles it needs.

use std::sync::Arc;

use crate::builds::Builds;
use crate::config::Config;
use crate::containers::deny::DenyPolicy;
use crate::discovery::DiscoveryHandle;
use crate::dns::DnsHandle;
use crate::firewall::FirewallStore;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::podman::Engine;
use crate::pools::Pools;
use crate::runtimes::Runtimes;
use crate::workloads::WorkloadStore;

/// What every verb handler can reach.
#[derive(Debug)]
pub struct AgentContext {
    pub config: Config,
    pub engine: Engine,
    pub health: Health,
    pub metrics: Metrics,
    /// `None` when `COOLD_FIREWALL=off`.
    pub firewall: Option<FirewallStore>,
    pub discovery: DiscoveryHandle,
    /// The deny filter's policy on `POST /containers`.
    pub deny: DenyPolicy,
    /// Allowed OCI runtimes and their per-runtime engine services.
    pub runtimes: Arc<Runtimes>,
    pub dns: DnsHandle,
    /// Workload specs (`COOLD_WORKLOADS_DIR`).
    pub workloads: Arc<WorkloadStore>,
    /// Warm pools and tenant claims.
    pub pools: Arc<Pools>,
    /// The build driver; `None` unless `COOLD_BUILDER_ENABLED=1`.
    pub builds: Option<Arc<Builds>>,
}
