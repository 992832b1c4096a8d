//! Which namespace networks to create or keep (seed 000: `coolify init
//! --namespaces default,alpha,…`): one Podman bridge `coolify-<ns>-mesh`
//! per namespace, each with its own /24 from the subnet pool, DNS disabled.
//!
//! Pure: the engine's networks in, a plan or a typed error out. The edge
//! (`provision.rs`) lists networks and applies the plan.
//!
//! Invariant: idempotent. A network that already exists with a /24 of the
//! pool and DNS disabled is kept as it is, whatever the order of
//! `--namespaces`; new namespaces take the lowest /24 no network uses.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::Serialize;

/// An IPv4 prefix such as `198.18.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The `.1` of the subnet, the gateway netavark would pick.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (ip, prefix) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR such as 198.18.0.0/16"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{s:?}: {ip:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{s:?}: prefix must be 0-32"))?;
        let c = Cidr {
            network: ip,
            prefix,
        };
        if u32::from(ip) & c.mask() != u32::from(ip) {
            return Err(format!(
                "{s:?}: host bits are set; did you mean {}/{prefix}?",
                Ipv4Addr::from(u32::from(ip) & c.mask())
            ));
        }
        Ok(c)
    }
}

/// A network the engine already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingNetwork {
    pub name: String,
    /// Each subnet with its gateway, when the engine reports one.
    pub subnets: Vec<(Cidr, Option<Ipv4Addr>)>,
    pub dns_enabled: bool,
}

/// Create or keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Keep,
}

/// One namespace's network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPlan {
    pub namespace: String,
    pub network: String,
    pub subnet: Cidr,
    pub gateway: Ipv4Addr,
    pub action: Action,
}

/// Why the namespaces cannot be provisioned as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("--namespaces: {0:?} is not a namespace name (lowercase letters, digits and '-', 1-32 characters, starting with a letter)")]
    BadName(String),
    #[error("--namespaces: {0:?} is listed twice")]
    Duplicate(String),
    #[error("--namespaces: give at least one namespace, e.g. default,alpha")]
    Empty,
    #[error("--subnet-pool: {0}")]
    BadPool(String),
    #[error("--subnet-pool {given} lies outside {slice}, the slice this host's token was given at enrollment: namespace /24s outside it could clash with another host's; drop --subnet-pool or pass a part of {slice}")]
    OutsideSlice { given: Cidr, slice: Cidr },
    #[error("--subnet-pool {pool}: a pool must be /24 or larger to hold per-namespace /24s")]
    PoolTooSmall { pool: Cidr },
    #[error("--subnet-pool {pool}: no free /24 left for namespace {namespace}; use a larger pool")]
    PoolExhausted { pool: Cidr, namespace: String },
    #[error("network {network} exists with subnet {existing}, which clashes with --subnet-pool {pool} (namespace networks take a /24 of the pool); remove it (podman network rm {network}) or pass the pool it was made from")]
    Clash {
        network: String,
        existing: String,
        pool: Cidr,
    },
    #[error("network {network} exists with DNS enabled: aardvark-dns holds port 53 on its gateway, so coold cannot serve it; remove it (podman network rm {network}) and run init again")]
    DnsEnabled { network: String },
}

/// `coolify-<ns>-mesh`.
pub fn network_name(namespace: &str) -> String {
    format!("coolify-{namespace}-mesh")
}

/// Parses `--namespaces default,alpha`.
pub fn parse_namespaces(list: &str) -> Result<Vec<String>, PlanError> {
    let mut out: Vec<String> = Vec::new();
    for n in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let ok = n.len() <= 32
            && n.starts_with(|c: char| c.is_ascii_lowercase())
            && !n.ends_with('-')
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(PlanError::BadName(n.to_string()));
        }
        if out.iter().any(|o| o == n) {
            return Err(PlanError::Duplicate(n.to_string()));
        }
        out.push(n.to_string());
    }
    if out.is_empty() {
        return Err(PlanError::Empty);
    }
    Ok(out)
}

/// Plans one network per namespace.
pub fn plan(
    namespaces: &[String],
    pool: Cidr,
    existing: &[ExistingNetwork],
) -> Result<Vec<NetworkPlan>, PlanError> {
    if pool.prefix > 24 {
        return Err(PlanError::PoolTooSmall { pool });
    }
    let mut taken: Vec<Cidr> = existing
        .iter()
        .flat_map(|n| n.subnets.iter().map(|(c, _)| *c))
        .collect();
    let mut plans = Vec::new();
    for ns in namespaces {
        let name = network_name(ns);
        if let Some(net) = existing.iter().find(|n| n.name == name) {
            let in_pool = net
                .subnets
                .iter()
                .find(|(c, _)| c.prefix == 24 && pool.contains(c.network));
            let Some((subnet, gateway)) = in_pool.copied() else {
                return Err(PlanError::Clash {
                    network: name,
                    existing: if net.subnets.is_empty() {
                        "none".into()
                    } else {
                        net.subnets
                            .iter()
                            .map(|(c, _)| c.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    },
                    pool,
                });
            };
            if net.dns_enabled {
                return Err(PlanError::DnsEnabled { network: name });
            }
            plans.push(NetworkPlan {
                namespace: ns.clone(),
                network: name,
                subnet,
                gateway: gateway.unwrap_or_else(|| subnet.first_host()),
                action: Action::Keep,
            });
            continue;
        }
        let count = 1u32 << (24 - u32::from(pool.prefix));
        let free = (0..count)
            .map(|i| Cidr {
                network: Ipv4Addr::from(u32::from(pool.network) + (i << 8)),
                prefix: 24,
            })
            .find(|c| !taken.iter().any(|t| t.overlaps(c)))
            .ok_or_else(|| PlanError::PoolExhausted {
                pool,
                namespace: ns.clone(),
            })?;
        taken.push(free);
        plans.push(NetworkPlan {
            namespace: ns.clone(),
            network: name,
            subnet: free,
            gateway: free.first_host(),
            action: Action::Create,
        });
    }
    Ok(plans)
}

/// `COOLD_NAMESPACES`: `<name>:<network>:<gateway>,…`.
pub fn coold_namespaces(plans: &[NetworkPlan]) -> String {
    plans
        .iter()
        .map(|p| format!("{}:{}:{}", p.namespace, p.network, p.gateway))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn net(name: &str, subnet: &str, dns: bool) -> ExistingNetwork {
        let c = cidr(subnet);
        ExistingNetwork {
            name: name.into(),
            subnets: vec![(c, Some(c.first_host()))],
            dns_enabled: dns,
        }
    }

    #[test]
    fn fresh_namespaces_take_the_lowest_free_24s() {
        let ns = parse_namespaces("default,alpha").unwrap();
        let p = plan(
            &ns,
            cidr("198.18.0.0/16"),
            &[
                net("podman", "10.88.0.0/16", true),
                net("other", "198.18.0.0/24", true),
            ],
        )
        .unwrap();
        assert_eq!(p[0].network, "coolify-default-mesh");
        assert_eq!(p[0].subnet, cidr("198.18.1.0/24"));
        assert_eq!(p[0].gateway, "198.18.1.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(p[1].subnet, cidr("198.18.2.0/24"));
        assert!(p.iter().all(|p| p.action == Action::Create));
        assert_eq!(
            coold_namespaces(&p),
            "default:coolify-default-mesh:198.18.1.1,alpha:coolify-alpha-mesh:198.18.2.1"
        );
    }

    #[test]
    fn existing_networks_in_the_pool_are_kept_whatever_the_order() {
        let existing = [
            net("coolify-default-mesh", "198.18.1.0/24", false),
            net("coolify-alpha-mesh", "198.18.2.0/24", false),
        ];
        let ns = parse_namespaces("alpha,beta,default").unwrap();
        let p = plan(&ns, cidr("198.18.0.0/16"), &existing).unwrap();
        assert_eq!(
            (p[0].action, p[0].subnet),
            (Action::Keep, cidr("198.18.2.0/24"))
        );
        assert_eq!(
            (p[1].action, p[1].subnet),
            (Action::Create, cidr("198.18.0.0/24"))
        );
        assert_eq!(
            (p[2].action, p[2].subnet),
            (Action::Keep, cidr("198.18.1.0/24"))
        );
    }

    #[test]
    fn a_same_named_network_outside_the_pool_is_a_clash_naming_both() {
        let err = plan(
            &["alpha".into()],
            cidr("198.18.0.0/16"),
            &[net("coolify-alpha-mesh", "198.19.7.0/24", false)],
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("coolify-alpha-mesh"), "{msg}");
        assert!(msg.contains("198.19.7.0/24"), "{msg}");
        assert!(msg.contains("198.18.0.0/16"), "{msg}");
    }

    #[test]
    fn a_dns_enabled_namespace_network_is_refused() {
        let err = plan(
            &["alpha".into()],
            cidr("198.18.0.0/16"),
            &[net("coolify-alpha-mesh", "198.18.3.0/24", true)],
        )
        .unwrap_err();
        assert!(matches!(err, PlanError::DnsEnabled { .. }));
        assert!(err.to_string().contains("aardvark-dns"));
    }

    #[test]
    fn pool_limits_are_errors() {
        assert!(matches!(
            plan(&["a".into()], cidr("198.18.0.0/25"), &[]),
            Err(PlanError::PoolTooSmall { .. })
        ));
        assert!(matches!(
            plan(&["a".into(), "b".into()], cidr("198.18.0.0/24"), &[]),
            Err(PlanError::PoolExhausted { .. })
        ));
    }

    #[test]
    fn namespace_lists_are_strict() {
        assert_eq!(
            parse_namespaces(" default , alpha ").unwrap(),
            vec!["default", "alpha"]
        );
        for bad in ["", ",", "Alpha", "a_b", "1a", "a-", &"a".repeat(33)] {
            assert!(parse_namespaces(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            parse_namespaces("a,a"),
            Err(PlanError::Duplicate(_))
        ));
    }

    #[test]
    fn cidrs_parse_strictly() {
        assert_eq!(cidr("198.18.0.0/15").prefix, 15);
        assert!("198.18.0.1/16".parse::<Cidr>().is_err());
        assert!("198.18.0.0".parse::<Cidr>().is_err());
        assert!("198.18.0.0/33".parse::<Cidr>().is_err());
    }
}
