//! Settings of one appliance instance. Every fixed name, port and path has
//! an override, so tests (and a second instance) never collide with a live
//! `coolify-cp`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CpSettings {
    /// Container name.
    pub name: String,
    /// Image repository; the tag is the CLI version.
    pub image_repo: String,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    /// Host path of the engine socket, mounted into the appliance.
    pub engine_socket: PathBuf,
    pub mgmt_ip: Ipv4Addr,
    pub api_port: u16,
    pub health_port: u16,
    /// How long `/healthz` may take to turn green.
    pub timeout: Duration,
    /// How long a stop waits for coold to drain before it is killed.
    pub drain: Duration,
    /// Whether coold writes this host's firewall tables.
    pub firewall: bool,
    /// Runtimes that get their own engine service on the host.
    pub runtime_services: Vec<String>,
    /// `COOLD_NAMESPACES` from provisioning; `None` keeps coold's default.
    pub namespaces: Option<String>,
    /// The broker this host's agent dials; `None` leaves the client off.
    /// With `with_broker`, `up` fills it in for the local broker.
    pub broker: Option<crate::broker::HostLink>,
    /// `COOLD_BUILDER_ENABLED`: the agent advertises the `builder`
    /// capability (and a `--with-broker` token grants it).
    pub builder: bool,
    /// `--with-broker`: the single-host broker to run beside the agent.
    pub with_broker: Option<LocalBroker>,
    /// The agent's other settings (agent.toml and its flags), checked by
    /// `up` before it starts anything.
    pub agent: Vec<super::agent_settings::AgentVar>,
}

/// The broker container of a single-host install.
#[derive(Debug, Clone)]
pub struct LocalBroker {
    /// Container name.
    pub name: String,
    /// This host's id (the token's `sub`).
    pub host_id: String,
    /// `BROKER_GRPC_BIND`.
    pub grpc_bind: SocketAddr,
    /// The UDS lane on the host (`BROKER_UNIX_SOCKET_PATH`); its directory
    /// is mounted into the broker container at the same path.
    pub socket: PathBuf,
    /// `BROKER_UNIX_SOCKET_GROUP` as a gid (the image has no /etc/group).
    pub socket_gid: Option<u32>,
    /// The broker's own state on the host (`<data-dir>/broker`: its
    /// revocation record), mounted read-write at the same path so it
    /// outlives the container.
    pub state_dir: PathBuf,
}

impl LocalBroker {
    /// Where the agent dials: loopback when the listener binds every
    /// address, else the bound address.
    pub fn dial_addr(&self) -> SocketAddr {
        let mut addr = self.grpc_bind;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        addr
    }
}

impl CpSettings {
    /// `localhost/coolify-cp:0.1.0`.
    pub fn image(&self) -> String {
        format!("{}:{}", self.image_repo, env!("CARGO_PKG_VERSION"))
    }
}

/// The management address when none is given: wg0's IPv4 (the mesh, seed
/// 000), else loopback so a single host works out of the box.
pub fn default_mgmt_ip() -> Ipv4Addr {
    nix::ifaddrs::getifaddrs()
        .ok()
        .and_then(|mut addrs| {
            addrs.find_map(|a| {
                if a.interface_name != "wg0" {
                    return None;
                }
                a.address?.as_sockaddr_in().map(|s| s.ip())
            })
        })
        .unwrap_or(Ipv4Addr::LOCALHOST)
}
