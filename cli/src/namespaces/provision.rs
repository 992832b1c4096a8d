//! The effect edge of namespace provisioning: list the engine's networks
//! and create the planned ones through libpod's API (only libpod can turn
//! DNS off for a network; the Docker-compatible create cannot).

use std::net::Ipv4Addr;
use std::path::Path;

use coolify_engine_raw as raw;
use serde::Deserialize;

use super::plan::{self, Action, Cidr, ExistingNetwork, NetworkPlan, PlanError};

/// libpod's API prefix (Podman 4.x answers any v4 path).
const LIBPOD: &str = "/v4.0.0/libpod";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Engine(#[from] raw::RawError),
    #[error(transparent)]
    Socket(#[from] crate::engine::EngineError),
    #[error("creating network {network} ({subnet}): the engine answered {status}: {message}")]
    Create {
        network: String,
        subnet: String,
        status: u16,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
struct LibpodNetwork {
    name: String,
    #[serde(default)]
    subnets: Option<Vec<LibpodSubnet>>,
    #[serde(default)]
    dns_enabled: bool,
}

#[derive(Debug, Deserialize)]
struct LibpodSubnet {
    subnet: String,
    #[serde(default)]
    gateway: Option<String>,
}

/// The engine's networks; IPv6 subnets are ignored (namespaces are IPv4).
pub async fn existing(socket: &Path) -> Result<Vec<ExistingNetwork>, ProvisionError> {
    let nets: Vec<LibpodNetwork> = raw::get_json_at(socket, &format!("{LIBPOD}/networks/json"))
        .await?
        .unwrap_or_default();
    Ok(nets
        .into_iter()
        .map(|n| ExistingNetwork {
            name: n.name,
            subnets: n
                .subnets
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| {
                    let c: Cidr = s.subnet.parse().ok()?;
                    let gw = s.gateway.and_then(|g| g.parse::<Ipv4Addr>().ok());
                    Some((c, gw))
                })
                .collect(),
            dns_enabled: n.dns_enabled,
        })
        .collect())
}

/// Plans against the engine's networks and creates what is missing.
pub async fn provision(
    socket: &Path,
    namespaces: &[String],
    pool: Cidr,
) -> Result<Vec<NetworkPlan>, ProvisionError> {
    let plans = plan::plan(namespaces, pool, &existing(socket).await?)?;
    for p in plans.iter().filter(|p| p.action == Action::Create) {
        let body = serde_json::json!({
            "name": p.network,
            "driver": "bridge",
            "subnets": [{ "subnet": p.subnet.to_string(), "gateway": p.gateway.to_string() }],
            // coold serves the gateway's port 53; aardvark-dns must not.
            "dns_enabled": false,
            "labels": { "coolify.namespace": p.namespace },
        });
        let (status, reply) = raw::post(
            socket,
            &format!("{LIBPOD}/networks/create"),
            "application/json",
            body.to_string().into(),
        )
        .await?;
        if !(200..300).contains(&status) {
            return Err(ProvisionError::Create {
                network: p.network.clone(),
                subnet: p.subnet.to_string(),
                status,
                message: serde_json::from_slice::<serde_json::Value>(&reply)
                    .ok()
                    .and_then(|v| {
                        v.get("message")
                            .and_then(|m| m.as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| String::from_utf8_lossy(&reply).into_owned()),
            });
        }
    }
    Ok(plans)
}
