//! Network verbs: create, list (managed only), delete. Through libpod's
//! network API, because only it can create a network with DNS disabled
//! (DESIGN.md: aardvark-dns would otherwise hold the gateway's port 53 that
//! coold's namespace DNS needs).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::containers::check_id;
use crate::labels::{MANAGED_LABEL, NAMESPACE_LABEL};
use crate::podman::{raw, Engine, EngineError, InvalidField};

/// Why a network verb failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The network is not the agent's to change.
    #[error("{}", .0.message)]
    Denied(InvalidField),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// `POST /networks`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNetwork {
    pub name: String,
    /// IPv4 subnet in CIDR form, e.g. `198.18.7.0/24`; the engine picks one
    /// when absent.
    #[serde(default)]
    pub subnet: Option<String>,
    /// Gateway inside `subnet`; the engine picks the first address when absent.
    #[serde(default)]
    pub gateway: Option<String>,
    /// No route out of the network.
    #[serde(default)]
    pub internal: bool,
    /// Run the engine's DNS (aardvark) on the gateway. Off by default:
    /// namespace networks are served by coold's own DNS.
    #[serde(default)]
    pub dns_enabled: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A network as the agent reports it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct NetworkInfo {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub subnets: Vec<Subnet>,
    pub internal: bool,
    pub dns_enabled: bool,
    pub labels: BTreeMap<String, String>,
    pub managed: bool,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct Subnet {
    pub subnet: String,
    pub gateway: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EngineNetwork {
    name: String,
    id: String,
    driver: String,
    subnets: Option<Vec<Subnet>>,
    internal: bool,
    dns_enabled: bool,
    labels: Option<BTreeMap<String, String>>,
}

impl From<EngineNetwork> for NetworkInfo {
    fn from(n: EngineNetwork) -> Self {
        let labels = n.labels.unwrap_or_default();
        NetworkInfo {
            name: n.name,
            id: n.id,
            driver: n.driver,
            subnets: n.subnets.unwrap_or_default(),
            internal: n.internal,
            dns_enabled: n.dns_enabled,
            managed: labels.get(MANAGED_LABEL).map(String::as_str) == Some("true"),
            namespace: labels.get(NAMESPACE_LABEL).cloned(),
            labels,
        }
    }
}

fn engine_err(name: &str) -> impl Fn(raw::RawError) -> NetworkError + '_ {
    move |e| NetworkError::Engine(EngineError::classify_raw(e, &format!("network {name}")))
}

/// Parses `a.b.c.d/len`.
fn cidr(field: &str, s: &str) -> Result<(Ipv4Addr, u8), InvalidField> {
    let bad = || {
        InvalidField::new(
            field,
            format!("{field} must be an IPv4 CIDR such as 198.18.7.0/24"),
        )
    };
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&len) {
        return Err(InvalidField::new(field, "prefix length must be 8-30"));
    }
    Ok((ip, len))
}

/// Checks the request; pure.
pub fn validate(req: &CreateNetwork) -> Result<(), InvalidField> {
    check_id("name", &req.name)?;
    if let Some(ns) = &req.namespace {
        check_id("namespace", ns)?;
    }
    for k in req.labels.keys() {
        if k.is_empty() || k.contains('\0') || k == MANAGED_LABEL || k == NAMESPACE_LABEL {
            return Err(InvalidField::new(
                format!("labels.{k}"),
                "label keys must be non-empty and not the agent's own",
            ));
        }
    }
    match (&req.subnet, &req.gateway) {
        (None, Some(_)) => Err(InvalidField::new("gateway", "a gateway needs a subnet")),
        (Some(s), gw) => {
            let (net, len) = cidr("subnet", s)?;
            let mask = u32::MAX << (32 - len);
            if u32::from(net) & !mask != 0 {
                return Err(InvalidField::new(
                    "subnet",
                    "subnet has host bits set; use the network address",
                ));
            }
            if let Some(gw) = gw {
                let g: Ipv4Addr = gw
                    .parse()
                    .map_err(|_| InvalidField::new("gateway", "gateway must be an IPv4 address"))?;
                if u32::from(g) & mask != u32::from(net) {
                    return Err(InvalidField::new(
                        "gateway",
                        "gateway must lie inside subnet",
                    ));
                }
            }
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

pub async fn create(engine: &Engine, req: &CreateNetwork) -> Result<NetworkInfo, NetworkError> {
    validate(req)?;
    let mut labels = req.labels.clone();
    labels.insert(MANAGED_LABEL.into(), "true".into());
    if let Some(ns) = &req.namespace {
        labels.insert(NAMESPACE_LABEL.into(), ns.clone());
    }
    let subnets: Vec<serde_json::Value> = req
        .subnet
        .iter()
        .map(|s| match &req.gateway {
            Some(g) => serde_json::json!({ "subnet": s, "gateway": g }),
            None => serde_json::json!({ "subnet": s }),
        })
        .collect();
    let body = serde_json::json!({
        "name": req.name,
        "driver": "bridge",
        "subnets": subnets,
        "internal": req.internal,
        "dns_enabled": req.dns_enabled,
        "labels": labels,
    });
    let bytes = raw::call(
        &engine.socket,
        http::Method::POST,
        &format!("{}/networks/create", raw::LIBPOD),
        Some(body.to_string().into_bytes()),
    )
    .await
    .map_err(engine_err(&req.name))?;
    let n: EngineNetwork = serde_json::from_slice(&bytes)
        .map_err(|e| EngineError::Failed(format!("network create answer: {e}")))?;
    Ok(n.into())
}

/// `GET /networks`: the networks the agent manages.
pub async fn list(engine: &Engine) -> Result<Vec<NetworkInfo>, NetworkError> {
    let all: Vec<EngineNetwork> =
        raw::get_json_at(&engine.socket, &format!("{}/networks/json", raw::LIBPOD))
            .await
            .map_err(engine_err("list"))?
            .unwrap_or_default();
    let mut out: Vec<NetworkInfo> = all
        .into_iter()
        .map(NetworkInfo::from)
        .filter(|n| n.managed)
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `DELETE /networks/{name}`: only managed networks.
pub async fn delete(engine: &Engine, name: &str) -> Result<(), NetworkError> {
    check_id("name", name)?;
    let n: EngineNetwork = raw::get_json_at(
        &engine.socket,
        &format!("{}/networks/{name}/json", raw::LIBPOD),
    )
    .await
    .map_err(engine_err(name))?
    .ok_or_else(|| EngineError::NotFound {
        what: format!("network {name}"),
    })?;
    if !NetworkInfo::from(n).managed {
        return Err(NetworkError::Denied(InvalidField::new(
            "name",
            format!("network {name} is not managed by coolify"),
        )));
    }
    raw::call(
        &engine.socket,
        http::Method::DELETE,
        &format!("{}/networks/{name}", raw::LIBPOD),
        None,
    )
    .await
    .map_err(engine_err(name))?;
    Ok(())
}
