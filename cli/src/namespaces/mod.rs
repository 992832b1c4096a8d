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

/// The pool when neither --subnet-pool nor a host token names one (seed
/// 000's example addresses).
const DEFAULT_SUBNET_POOL: Cidr = Cidr {
    network: std::net::Ipv4Addr::new(10, 210, 0, 0),
    prefix: 16,
};

/// The pool this host's /24s come from: the slice its token was given at
/// enrollment (cluster-wide, see `broker/subnets.rs`), else --subnet-pool,
/// else the default. A --subnet-pool outside the slice is refused.
pub fn pool(a: &NamespaceArgs, slice: Option<Cidr>) -> Result<Cidr, PlanError> {
    let given = a
        .subnet_pool
        .as_deref()
        .map(str::parse::<Cidr>)
        .transpose()
        .map_err(PlanError::BadPool)?;
    match (slice, given) {
        (Some(slice), Some(given))
            if !(slice.contains(given.network) && given.prefix >= slice.prefix) =>
        {
            Err(PlanError::OutsideSlice { given, slice })
        }
        (_, Some(given)) => Ok(given),
        (Some(slice), None) => Ok(slice),
        (None, None) => Ok(DEFAULT_SUBNET_POOL),
    }
}

/// Provisions the namespace networks (`init`, and `cp up --namespaces`)
/// from `pool`.
pub async fn init(
    engine_socket: &str,
    a: &NamespaceArgs,
    pool: Cidr,
) -> Result<InitReport, ProvisionError> {
    let list = plan::parse_namespaces(a.namespaces.as_deref().unwrap_or(""))?;
    let socket = engine::socket_path(engine_socket)?;
    let networks = provision::provision(&socket, &list, pool).await?;
    Ok(InitReport {
        coold_namespaces: plan::coold_namespaces(&networks),
        networks,
    })
}
