//! The zone table: what DNS answers from, built from discovery's in-memory
//! view after every reconcile and swapped in whole (like aardvark-dns), so a
//! packet never waits on the endpoint store and never sees half an update.
//!
//! Pure: no I/O here.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use crate::discovery::Endpoint;

/// Resolvable addresses per `(namespace, container name)`, both lowercase.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ZoneTable {
    names: HashMap<(String, String), Vec<Ipv4Addr>>,
    /// Names that exist but have no resolvable endpoint right now (stopped or
    /// unhealthy), so the lookup verb can say why a name is NXDOMAIN.
    hidden: HashMap<(String, String), String>,
    namespaces: HashSet<String>,
}

impl ZoneTable {
    /// Invariant: only endpoints that are running and healthy-or-unknown
    /// (`Endpoint::is_resolvable`) with an IPv4 address are answered.
    pub fn from_endpoints(endpoints: &[Endpoint]) -> ZoneTable {
        let mut t = ZoneTable::default();
        for e in endpoints {
            let key = (
                e.namespace.to_ascii_lowercase(),
                e.container_name.to_ascii_lowercase(),
            );
            t.namespaces.insert(key.0.clone());
            let ip = e.container_ip.parse::<Ipv4Addr>().ok();
            match ip {
                Some(ip) if e.is_resolvable() => {
                    let ips = t.names.entry(key).or_default();
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
                _ => {
                    let why = if ip.is_none() {
                        format!("endpoint {} has no IPv4 address", short(&e.container_id))
                    } else {
                        format!(
                            "endpoint {} is {} (health {})",
                            short(&e.container_id),
                            e.state,
                            e.health
                        )
                    };
                    t.hidden.insert(key, why);
                }
            }
        }
        // A stable order, so round robin rotates a fixed list.
        for ips in t.names.values_mut() {
            ips.sort();
        }
        t.hidden.retain(|k, _| !t.names.contains_key(k));
        t
    }

    /// Resolvable addresses of `name` in `namespace` (both lowercase).
    pub fn addresses(&self, namespace: &str, name: &str) -> Option<&[Ipv4Addr]> {
        self.names
            .get(&(namespace.to_string(), name.to_string()))
            .map(Vec::as_slice)
    }

    /// Why a known name has no resolvable endpoint, if it is known.
    pub fn hidden_reason(&self, namespace: &str, name: &str) -> Option<&str> {
        self.hidden
            .get(&(namespace.to_string(), name.to_string()))
            .map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// An endpoint row for tests of this concern.
#[cfg(test)]
pub fn test_endpoint(
    id: &str,
    name: &str,
    ns: &str,
    ip: &str,
    state: &str,
    health: &str,
) -> Endpoint {
    Endpoint {
        container_id: id.into(),
        container_name: name.into(),
        namespace: ns.into(),
        host_mgmt_ip: "127.0.0.1".into(),
        container_ip: ip.into(),
        state: state.into(),
        health: health.into(),
        updated_at: 0,
        service_id: String::new(),
        ports: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::test_endpoint as endpoint;
    use super::*;

    #[test]
    fn only_running_healthy_or_unknown_endpoints_are_answered() {
        let t = ZoneTable::from_endpoints(&[
            endpoint("a", "web", "alpha", "198.18.0.2", "running", "healthy"),
            endpoint("b", "web", "alpha", "198.18.0.3", "running", "unknown"),
            endpoint("c", "web", "alpha", "198.18.0.4", "running", "unhealthy"),
            endpoint("d", "web", "alpha", "198.18.0.5", "exited", "unknown"),
            endpoint("e", "web", "alpha", "198.18.0.6", "running", "starting"),
            endpoint("f", "db", "alpha", "198.18.0.7", "running", "unhealthy"),
        ]);
        assert_eq!(
            t.addresses("alpha", "web"),
            Some(&["198.18.0.2".parse().unwrap(), "198.18.0.3".parse().unwrap()][..])
        );
        assert_eq!(t.addresses("alpha", "db"), None);
        assert!(t
            .hidden_reason("alpha", "db")
            .unwrap()
            .contains("unhealthy"));
    }

    #[test]
    fn names_are_stored_lowercase() {
        let t = ZoneTable::from_endpoints(&[endpoint(
            "a",
            "Web",
            "Alpha",
            "198.18.0.2",
            "running",
            "unknown",
        )]);
        assert!(t.addresses("alpha", "web").is_some());
    }

    #[test]
    fn endpoints_without_ipv4_are_not_answered() {
        let t =
            ZoneTable::from_endpoints(&[endpoint("a", "web", "alpha", "", "running", "unknown")]);
        assert!(t.is_empty());
    }
}
