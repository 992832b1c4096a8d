//! Namespace provisioning (`coolify init --namespaces …`, and the same flags
//! on `cp up`): one DNS-disabled Podman bridge per namespace, handed to the
//! appliance as `COOLD_NAMESPACES`. `plan` is pure; `provision` is the edge.

mod plan;
mod provision;

pub use plan::{Cidr, NetworkPlan, PlanError};
pub use provision::ProvisionError;

use serde::Serialize;

use crate::args::cp::NamespaceArgs;
use crate::engine;

/// What `init` did: each namespace network, and the COOLD_NAMESPACES value.
#[derive(Debug, Serialize)]
pub struct InitReport {
    pub networks: Vec<NetworkPlan>,
    pub coold_namespaces: String,
}

impl InitReport {
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = self
            .networks
            .iter()
            .map(|n| {
                let action = match n.action {
                    plan::Action::Create => "created",
                    plan::Action::Keep => "kept",
                };
                format!(
                    "{action:<8} {} {} gateway {} (namespace {})",
                    n.network, n.subnet, n.gateway, n.namespace
                )
            })
            .collect();
        lines.push(format!("COOLD_NAMESPACES={}", self.coold_namespaces));
        lines.join("\n")
    }
}

/// Provisions the namespace networks (`init`, and `cp up --namespaces`).
pub async fn init(engine_socket: &str, a: &NamespaceArgs) -> Result<InitReport, ProvisionError> {
    let list = plan::parse_namespaces(a.namespaces.as_deref().unwrap_or(""))?;
    let pool: Cidr = a.subnet_pool.parse().map_err(PlanError::BadPool)?;
    let socket = engine::socket_path(engine_socket)?;
    let networks = provision::provision(&socket, &list, pool).await?;
    Ok(InitReport {
        coold_namespaces: plan::coold_namespaces(&networks),
        networks,
    })
}
