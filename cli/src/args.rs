//! Command-line surface of `coolify`. Every default is shown in `--help`,
//! and every flag that names a fixed thing has an environment override.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::output::OutputFormat;

#[derive(Debug, Parser)]
#[command(
    name = "coolify",
    version,
    about = "Operate coolify hosts: the control-plane appliance and its agent",
    long_about = "Operate coolify hosts.\n\n`coolify cp up` turns this host into a managed node: it builds the appliance image from the coold binary this CLI carries (no registry), starts the privileged `coolify-cp` container with Podman, and waits until its /healthz is green."
)]
pub struct Cli {
    /// Where PKI and firewall snapshots live (created 0700).
    #[arg(
        long,
        global = true,
        env = "COOLIFY_CONFIG_DIR",
        default_value = "/etc/coolify"
    )]
    pub config_dir: PathBuf,

    /// Engine API socket (Podman's, or any Docker-compatible one): a path or unix:// URL.
    #[arg(
        long,
        global = true,
        env = "DOCKER_HOST",
        default_value = "unix:///run/podman/podman.sock"
    )]
    pub engine_socket: String,

    /// `text` for people (progress on stderr), `json` for scripts (one document on stdout).
    #[arg(long, short = 'o', global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The control-plane appliance on this host.
    #[command(subcommand)]
    Cp(CpCommand),
    /// Allow rules on this host's agent (both firewall planes), over its REST API.
    Firewall(crate::firewall::FirewallArgs),
    /// Broker enrollment: `init` (TLS + token keys), `enroll` (a host token).
    Broker(crate::broker::BrokerArgs),
    /// Run one agent verb on a host through the broker's UDS lane.
    Dispatch(crate::broker::DispatchArgs),
    /// Provision namespace networks: one DNS-disabled bridge
    /// `coolify-<ns>-mesh` per namespace with a /24 of the pool (idempotent).
    Init(NamespaceArgs),
}

#[derive(Debug, Args)]
pub struct NamespaceArgs {
    /// Namespaces, comma-separated (e.g. default,alpha). On `cp up`, also
    /// provisions them and passes COOLD_NAMESPACES to the appliance.
    #[arg(long, env = "COOLIFY_NAMESPACES", value_name = "NS,…")]
    pub namespaces: Option<String>,

    /// Pool the per-namespace /24 subnets come from.
    #[arg(long, env = "COOLIFY_SUBNET_POOL", default_value = crate::namespaces::DEFAULT_POOL)]
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
    pub broker: crate::broker::HostLinkArgs,

    #[command(flatten)]
    pub single_host: crate::broker::SingleHostArgs,
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
