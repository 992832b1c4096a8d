//! A cluster of simulated hosts on one machine (issue 16 item 1, DESIGN.md
//! decision 13): N [`NetnsHost`]s, each with its own network namespace and
//! Podman API service, joined by an underlay that plays wg0.
//!
//! The underlay is a bridge in a fabric namespace of its own; each host
//! gets one veth pair, `mgmt0` in the host's namespace carrying its
//! management address, the peer enslaved to the bridge. Nothing of it
//! lives in the machine's own namespace, so clusters of parallel tests
//! cannot see each other whatever their addresses. Each host then routes
//! the other hosts' namespace subnets via their management addresses: what
//! WireGuard's AllowedIPs does on real hosts (docs/cluster.md).
//!
//! `scripts/cluster up|down` builds the same topology for people, with
//! stable names; `tests/tests/cluster.rs` checks that both agree.

use std::net::Ipv4Addr;
use std::process::Command;

use crate::corrosion::{free_udp_port, AgentSpec, CorrosionAgent};
use crate::netns_host::NetnsHost;
use crate::Instance;

/// The underlay: a namespace holding the bridge every host's veth joins.
/// Deleting the namespace takes the bridge and the veth ends with it.
pub struct Fabric {
    pub ns: String,
}

impl Fabric {
    fn new() -> Self {
        let fabric = Fabric {
            ns: crate::unique("coolify-fab"),
        };
        ip(&["netns", "add", &fabric.ns]);
        ip(&["-n", &fabric.ns, "link", "set", "lo", "up"]);
        ip(&["-n", &fabric.ns, "link", "add", BRIDGE, "type", "bridge"]);
        ip(&["-n", &fabric.ns, "link", "set", BRIDGE, "up"]);
        fabric
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// The bridge's name inside the fabric namespace (private to it, so a
/// fixed name cannot clash).
pub const BRIDGE: &str = "coolify-fab";

/// The interface carrying a host's management address.
pub const MGMT_IF: &str = "mgmt0";

/// One host of the cluster: its namespace and engine, its management
/// address on the underlay, and the subnets it owns.
pub struct ClusterHost {
    pub host: NetnsHost,
    pub mgmt: Ipv4Addr,
    /// This host's namespace subnets (CIDR), routed to by the others.
    pub subnets: Vec<String>,
}

impl ClusterHost {
    /// [`ClusterHost::cp_up`] with the namespace `default` and the
    /// endpoints in this host's Corrosion agent (add `--subnet-pool` or
    /// the host's token for the namespace's /24).
    pub fn cp_up_on_corrosion(&self, inst: &Instance, corrosion: &CorrosionAgent) -> Command {
        let mut up = self.cp_up(inst);
        up.args(["--namespaces", "default", "--endpoint-store", "corrosion"]);
        up.arg("--corrosion-api").arg(corrosion.api().to_string());
        up
    }

    /// `cp up` of `inst` on this host: run inside its namespace (the health
    /// gate probes 127.0.0.1, which must be this host's), against its
    /// engine, the agent API bound on its management address, its
    /// firewall on (its tables are its own). Add the broker flags.
    pub fn cp_up(&self, inst: &Instance) -> Command {
        let mut up = inst.up_with_own_flags();
        up.args(["--firewall", "on", "--runtime-services", ""]);
        up.args(["--mgmt-ip", &self.mgmt.to_string()]);
        up.arg("--engine-socket")
            .arg(format!("unix://{}", self.host.socket().display()));
        self.host.wrap(&up)
    }

    /// `podman <args>` against this host's engine, inside its namespace.
    pub fn podman(&self, args: &[&str]) -> Command {
        let url = format!("unix://{}", self.host.socket().display());
        let mut all = vec!["--url", url.as_str()];
        all.extend_from_slice(args);
        self.host.command("podman", &all)
    }
}

/// N simulated hosts joined by an underlay.
pub struct Cluster {
    // Declared before `fabric`: hosts (and their veth ends) go first.
    pub hosts: Vec<ClusterHost>,
    pub fabric: Fabric,
    /// The underlay's /24, e.g. `198.19.37.0/24`.
    pub underlay: String,
}

impl Cluster {
    /// A real Corrosion agent per host, in the hosts' order: gossip on its
    /// management address, joined to every other host's, the HTTP API on
    /// the host's own loopback.
    pub fn start_corrosion(&self) -> Vec<CorrosionAgent> {
        let port = free_udp_port();
        let gossip: Vec<std::net::SocketAddr> = self
            .hosts
            .iter()
            .map(|h| std::net::SocketAddr::from((h.mgmt, port)))
            .collect();
        self.hosts
            .iter()
            .zip(&gossip)
            .map(|(h, own)| {
                CorrosionAgent::start_with(AgentSpec {
                    gossip: *own,
                    bootstrap: gossip.iter().filter(|g| *g != own).copied().collect(),
                    api: std::net::SocketAddr::from(([127, 0, 0, 1], crate::free_port())),
                    prefix: vec!["nsenter".into(), format!("--net=/run/netns/{}", h.host.ns)],
                })
            })
            .collect()
    }

    /// `n` hosts, each with its Podman API service running, owning no
    /// namespace subnets.
    pub fn new(n: usize) -> Self {
        Self::with_subnets(&vec![Vec::new(); n])
    }

    /// One host per entry of `subnets`, each owning those CIDRs (inside
    /// 198.18.0.0/15); every other host routes them via its management
    /// address.
    pub fn with_subnets(subnets: &[Vec<String>]) -> Self {
        let n = subnets.len();
        assert!((1..=250).contains(&n), "a cluster has 1 to 250 hosts");
        for s in subnets.iter().flatten() {
            assert!(
                in_benchmark_range(s),
                "namespace subnet {s}: tests use 198.18.0.0/15 only (DESIGN.md)"
            );
        }
        // The upper half of 198.18.0.0/15 (198.19.x), a random /24: its
        // namespaces are private, so only a reader comparing two clusters'
        // logs is helped by them differing.
        let third = 128 + rand::random::<u8>() % 128;
        let underlay = format!("198.19.{third}.0/24");
        let fabric = Fabric::new();
        let mut hosts = Vec::with_capacity(n);
        for (i, owned) in subnets.iter().enumerate() {
            let mut host = NetnsHost::new();
            let mgmt = Ipv4Addr::new(198, 19, third, i as u8 + 1);
            let peer = format!("h{}", i + 1);
            ip(&[
                "-n", &fabric.ns, "link", "add", &peer, "type", "veth", "peer", "name", MGMT_IF,
                "netns", &host.ns,
            ]);
            ip(&["-n", &fabric.ns, "link", "set", &peer, "master", BRIDGE]);
            ip(&["-n", &fabric.ns, "link", "set", &peer, "up"]);
            ip(&[
                "-n",
                &host.ns,
                "addr",
                "add",
                &format!("{mgmt}/24"),
                "dev",
                MGMT_IF,
            ]);
            ip(&["-n", &host.ns, "link", "set", MGMT_IF, "up"]);
            host.start_engine();
            hosts.push(ClusterHost {
                host,
                mgmt,
                subnets: owned.clone(),
            });
        }
        for me in &hosts {
            for other in hosts.iter().filter(|o| o.mgmt != me.mgmt) {
                for s in &other.subnets {
                    ip(&[
                        "-n",
                        &me.host.ns,
                        "route",
                        "add",
                        s,
                        "via",
                        &other.mgmt.to_string(),
                        "dev",
                        MGMT_IF,
                    ]);
                }
            }
        }
        Cluster {
            hosts,
            fabric,
            underlay,
        }
    }
}

/// Whether a CIDR lies in 198.18.0.0/15 (its address and prefix length
/// parse, and the prefix is at least /15).
fn in_benchmark_range(cidr: &str) -> bool {
    let Some((addr, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(addr), Ok(len)) = (addr.parse::<Ipv4Addr>(), len.parse::<u8>()) else {
        return false;
    };
    let o = addr.octets();
    (15..=32).contains(&len) && o[0] == 198 && (o[1] == 18 || o[1] == 19)
}

/// `ip <args>` on the machine; panics with stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(out.status.success(), "ip {args:?}: {}", crate::stderr(&out));
}

#[cfg(test)]
mod tests {
    use super::in_benchmark_range;

    #[test]
    fn namespace_subnets_must_lie_in_the_benchmark_range() {
        for (cidr, ok) in [
            ("198.18.5.0/24", true),
            ("198.19.255.0/24", true),
            ("198.18.0.0/15", true),
            ("198.16.0.0/12", false),
            ("10.0.0.0/24", false),
            ("198.20.0.0/24", false),
            ("198.18.0.0", false),
            ("198.18.0.0/33", false),
        ] {
            assert_eq!(in_benchmark_range(cidr), ok, "{cidr}");
        }
    }
}
