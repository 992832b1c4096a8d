//! `coolify broker …`, `coolify dispatch`, and `cp up`'s flags that wire the
//! host to a broker.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BrokerArgs {
    #[command(subcommand)]
    pub command: BrokerCommand,
}

#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Create the broker's CA, TLS certificate and ES256 token key pair
    /// (idempotent: existing files are kept). Files are 0600 in a 0700 dir:
    /// <config-dir>/broker/{ca.crt,ca.key,broker.crt,broker.key,jwt.key} and
    /// <config-dir>/jwt.pub (the broker's default BROKER_JWT_PUBLIC_KEY_PATH).
    Init(InitArgs),
    /// Print a host token (JWT, ES256) for `--host-id`, signed with
    /// <config-dir>/broker/jwt.key. Give it to `cp up --host-token-file`.
    Enroll(EnrollArgs),
    /// Revoke a host's tokens through the running broker's UDS lane: every
    /// token of --host-id issued up to now is refused from then on (across
    /// broker restarts) and the host's stream is closed at once. Enroll the
    /// host again to let it back in.
    Revoke(RevokeArgs),
}

/// The broker's UDS lane, for every command that talks to it.
#[derive(Debug, Args)]
pub struct LaneSocket {
    /// The broker's UDS lane.
    #[arg(
        long,
        env = "BROKER_UNIX_SOCKET_PATH",
        default_value = "/run/coolify/broker.sock"
    )]
    pub socket: PathBuf,
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(flatten)]
    pub lane: LaneSocket,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The host whose tokens are revoked.
    #[arg(long)]
    pub host_id: String,
    #[command(flatten)]
    pub lane: LaneSocket,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The host id (the token's `sub`; the agent's Hello must match it).
    #[arg(long)]
    pub host_id: String,
    /// Capabilities the host may advertise, e.g. `builder` (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub caps: Vec<String>,
    /// Token lifetime.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "365d")]
    pub ttl: Duration,
    /// The cluster's namespace subnet pool: each enrolled host gets its own
    /// slice of it (recorded in <config-dir>/broker/subnets.json, carried in
    /// its token), and `cp up` takes each namespace's /24 from that slice.
    #[arg(long, env = "COOLIFY_CLUSTER_POOL", default_value = "10.208.0.0/12")]
    pub cluster_pool: String,
    /// Size of each host's slice, as a prefix length (20: 16 namespaces per
    /// host).
    #[arg(
        long,
        env = "COOLIFY_HOST_SUBNETS",
        default_value_t = 20,
        value_name = "PREFIX"
    )]
    pub host_subnets: u8,
}

/// `cp up` flags that wire the host to a broker.
#[derive(Debug, Args, Clone)]
pub struct HostLinkArgs {
    /// Broker the agent dials, e.g. grpcs://broker.example:6443/v1/agent.
    #[arg(long, env = "COOLIFY_BROKER_URL")]
    pub broker_url: Option<String>,
    /// This host's token from `coolify broker enroll` (mounted read-only).
    #[arg(long, env = "COOLIFY_HOST_TOKEN_FILE")]
    pub host_token_file: Option<PathBuf>,
    /// CA that signed the broker's certificate (mounted read-only).
    /// Default: <config-dir>/broker/ca.crt.
    #[arg(long, env = "COOLIFY_BROKER_CA")]
    pub broker_ca: Option<PathBuf>,
}

/// `cp up --with-broker`: run the broker on this host, from the appliance
/// image, and wire the agent to it.
#[derive(Debug, Args, Clone)]
pub struct SingleHostArgs {
    /// Single-host install: create the broker's keys and this host's token
    /// when missing, start the broker container (--broker-name) and wire the
    /// agent to it over loopback.
    #[arg(
        long,
        env = "COOLIFY_WITH_BROKER",
        conflicts_with_all = ["broker_url", "host_token_file", "broker_ca"]
    )]
    pub with_broker: bool,
    /// This host's id (the token's `sub`). Default: the host name.
    #[arg(long, env = "COOLIFY_HOST_ID")]
    pub host_id: Option<String>,
    /// Where the broker's gRPC listener binds (agents dial it; loopback
    /// keeps it private to this host).
    #[arg(
        long,
        env = "COOLIFY_BROKER_GRPC_BIND",
        default_value = "127.0.0.1:6443"
    )]
    pub broker_grpc_bind: std::net::SocketAddr,
    /// The broker's UDS lane on the host. Default: <run-dir>/broker.sock.
    #[arg(long, env = "COOLIFY_BROKER_SOCKET")]
    pub broker_socket: Option<PathBuf>,
    /// Group (name or gid) that may use the UDS lane: the socket becomes
    /// 0660 owned by it instead of 0600.
    #[arg(long, env = "COOLIFY_BROKER_SOCKET_GROUP")]
    pub broker_socket_group: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Extra names the broker certificate carries (DNS names or IPs the
    /// agents dial); localhost, 127.0.0.1 and this host's name are always in.
    #[arg(long = "name", value_delimiter = ',')]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Target host id (as enrolled).
    #[arg(long)]
    pub host: String,
    /// HTTP method of the agent verb: GET, POST, PUT, PATCH, DELETE.
    pub verb: String,
    /// Agent path, e.g. /api/v1/host/info (a query string is allowed).
    pub path: String,
    /// JSON body for the verb.
    #[arg(long)]
    pub data: Option<String>,
    #[command(flatten)]
    pub lane: LaneSocket,
}
