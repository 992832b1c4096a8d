//! `coolify cp up|down|status|rotate` and `coolify init`: the appliance's flags
//! and the namespace flags both share.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::broker::{HostLinkArgs, SingleHostArgs};

/// The default `--subnet-pool` (seed 000's example addresses).
const DEFAULT_SUBNET_POOL: &str = "10.210.0.0/16";

#[derive(Debug, Args)]
pub struct NamespaceArgs {
    /// Namespaces, comma-separated (e.g. default,alpha). On `cp up`, also
    /// provisions them and passes COOLD_NAMESPACES to the appliance.
    #[arg(long, env = "COOLIFY_NAMESPACES", value_name = "NS,…")]
    pub namespaces: Option<String>,

    /// Pool the per-namespace /24 subnets come from.
    #[arg(long, env = "COOLIFY_SUBNET_POOL", default_value = DEFAULT_SUBNET_POOL)]
    pub subnet_pool: String,
}

#[derive(Debug, Subcommand)]
pub enum CpCommand {
    /// Create or update the appliance and wait until it is healthy (idempotent).
    ///
    /// Steps: PKI under --config-dir (reused when present), the image
    /// `<image-repo>:<version>` (rebuilt only when the embedded coold changed),
    /// the container (started, kept, or drained and replaced), then the health
    /// gate on http://127.0.0.1:<health-port>/healthz. Two runs at once are
    /// serialised by a lock; both succeed. With --with-broker, the broker
    /// container comes first (its keys and this host's token created when
    /// missing), and `up` waits until the agent's stream to it is connected.
    Up(Box<UpArgs>),
    /// Stop the appliance (SIGTERM, drain, then kill) and remove its container.
    ///
    /// Also stops the `--with-broker` container (--broker-name). PKI, broker
    /// keys, firewall snapshots and data are kept. Succeeds when absent.
    Down(DownArgs),
    /// Show the appliance's state and health; creates nothing.
    ///
    /// Exit codes: 0 healthy, 1 present but unhealthy, 3 absent.
    Status(InstanceArgs),
    /// Replace the agent API's bearer token and/or server certificate.
    ///
    /// The running appliance picks the new files up without a restart
    /// (same container; requests in flight finish on what they started
    /// with). `rotate` returns once the agent answers the new token and
    /// refuses the old one (--api-token), and a TLS handshake presents the
    /// new certificate (--server-cert: 90 days, from the CA under
    /// --config-dir, for the mgmt IP the appliance runs with, 127.0.0.1,
    /// localhost and this host's name). Clients that keep a copy of the
    /// token need the new one from <config-dir>/agent/api-token.
    ///
    /// Example: coolify cp rotate --api-token --server-cert
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Container name of the running appliance (its labels give the API address).
    #[arg(long, env = "COOLIFY_CP_NAME", default_value = "coolify-cp")]
    pub name: String,

    /// Issue a new API token; the old one is refused from then on.
    #[arg(long)]
    pub api_token: bool,

    /// Issue a new 90-day server certificate from the appliance CA.
    #[arg(long)]
    pub server_cert: bool,

    /// How long the agent may take to serve the new material.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct InstanceArgs {
    /// Container name.
    #[arg(long, env = "COOLIFY_CP_NAME", default_value = "coolify-cp")]
    pub name: String,

    /// Image repository; the tag is this CLI's version.
    #[arg(
        long,
        env = "COOLIFY_CP_IMAGE_REPO",
        default_value = "localhost/coolify-cp"
    )]
    pub image_repo: String,

    /// Container name of the single-host broker (`cp up --with-broker`).
    #[arg(long, env = "COOLIFY_BROKER_NAME", default_value = "coolify-broker")]
    pub broker_name: String,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub instance: InstanceArgs,

    /// This host's management IPv4 (the agent API binds it). Default: wg0's address, else 127.0.0.1.
    #[arg(long, env = "COOLIFY_MGMT_IP")]
    pub mgmt_ip: Option<Ipv4Addr>,

    /// Agent REST API port on the mgmt IP.
    #[arg(long, env = "COOLIFY_API_PORT", default_value_t = 8443)]
    pub api_port: u16,

    /// Loopback port of /healthz and /metrics.
    #[arg(long, env = "COOLIFY_HEALTH_PORT", default_value_t = 8442)]
    pub health_port: u16,

    /// Data dir mounted into the appliance.
    #[arg(long, env = "COOLIFY_DATA_DIR", default_value = "/var/lib/coolify")]
    pub data_dir: PathBuf,

    /// Runtime dir mounted into the appliance (sockets, locks).
    #[arg(long, env = "COOLIFY_RUN_DIR", default_value = "/run/coolify")]
    pub run_dir: PathBuf,

    /// How long /healthz may take to turn green.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: Duration,

    /// How long a replaced appliance may drain before it is killed.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub drain_timeout: Duration,

    /// The agent's firewall writer (COOLIFY-ALLOW and coolify_bridge on this
    /// host). `off` leaves the host's tables alone and makes the firewall
    /// verbs answer 503.
    #[arg(long, env = "COOLIFY_FIREWALL", value_enum, default_value = "on")]
    pub firewall: Switch,

    /// OCI runtimes besides the engine's default that get their own engine
    /// service on this host (Podman 4.3's API ignores the runtime on
    /// create). Comma-separated; empty for none. One that cannot start is
    /// reported, and the agent answers 422 for it.
    #[arg(
        long,
        env = "COOLIFY_RUNTIME_SERVICES",
        value_delimiter = ',',
        default_value = "runsc"
    )]
    pub runtime_services: Vec<String>,

    #[command(flatten)]
    pub namespaces: NamespaceArgs,

    /// Let the agent run image builds: COOLD_BUILDER_ENABLED=1, so it
    /// advertises the `builder` capability (a `--with-broker` token grants
    /// it; with --broker-url, enroll the host with `--caps builder`).
    #[arg(long, env = "COOLIFY_BUILDER")]
    pub builder: bool,

    #[command(flatten)]
    pub broker: HostLinkArgs,

    #[command(flatten)]
    pub single_host: SingleHostArgs,
}

/// `on` / `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub instance: InstanceArgs,

    /// How long coold may drain after SIGTERM before it is killed.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub timeout: Duration,

    /// Also remove the appliance images.
    #[arg(long)]
    pub purge: bool,

    /// Runtime dir of the appliance (its runtime services are stopped too).
    #[arg(long, env = "COOLIFY_RUN_DIR", default_value = "/run/coolify")]
    pub run_dir: PathBuf,
}
