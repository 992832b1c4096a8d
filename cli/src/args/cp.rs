//! `coolify cp up|down|status|rotate` and `coolify init`: the appliance's flags
//! and the namespace flags both share.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::broker::{HostLinkArgs, SingleHostArgs};

#[derive(Debug, Args)]
pub struct NamespaceArgs {
    /// Namespaces, comma-separated (e.g. default,alpha). On `cp up`, also
    /// provisions them and passes COOLD_NAMESPACES to the appliance.
    #[arg(long, env = "COOLIFY_NAMESPACES", value_name = "NS,…")]
    pub namespaces: Option<String>,

    /// Pool the per-namespace /24 subnets come from. Default: the slice in
    /// this host's token (`coolify broker enroll`), else 10.210.0.0/16.
    #[arg(long, env = "COOLIFY_SUBNET_POOL")]
    pub subnet_pool: Option<String>,
}

/// `coolify init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub namespaces: NamespaceArgs,

    /// This host's token from `coolify broker enroll`: its subnet slice is
    /// the pool (the same file `cp up --host-token-file` takes).
    #[arg(long, env = "COOLIFY_HOST_TOKEN_FILE")]
    pub host_token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CpCommand {
    /// Create or update the appliance and wait until it is healthy (idempotent).
    ///
    /// Steps: the agent's settings (agent.toml with the flags on top) checked
    /// as coold would check them, PKI under --config-dir (reused when present), the image
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
    /// Make the last `cp up` survive a reboot: systemd units, enabled.
    ///
    /// Units, started in this order at boot: the Podman API socket (Podman's
    /// own podman.socket when `cp up` used /run/podman/podman.sock and the
    /// host has it, else `<name>-podman.service`), one engine service per
    /// runtime of --runtime-services (`<name>-engine-<runtime>.service`),
    /// the firewall scaffold and snapshot restore (with --firewall on), then
    /// `<name>.service`, which runs the same `coolify cp up` again (with
    /// --with-broker, the broker too). The settings are the ones the last
    /// successful `cp up` recorded under <config-dir>/install/: run `cp up`
    /// first. Nothing is started now; the units take over at the next boot.
    ///
    /// Needs systemd as PID 1 (checked like sd_booted: /run/systemd/system
    /// is a directory); without it nothing is written and the exit code is
    /// 1: keep using `coolify cp up`, run again after each reboot.
    Install(InstallArgs),
    /// Remove exactly what `cp install` wrote (unit files and enablement
    /// links it created), nothing else. Stops nothing: `cp down` stops the
    /// appliance. Succeeds when nothing is installed.
    Uninstall(UninstallArgs),
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

/// Where `cp install` writes units when --units-dir is not given.
pub const SYSTEM_UNITS_DIR: &str = "/etc/systemd/system";

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Container name of the appliance whose last `cp up` is installed.
    #[arg(long, env = "COOLIFY_CP_NAME", default_value = "coolify-cp")]
    pub name: String,

    /// Write the units into this directory instead of /etc/systemd/system,
    /// for an image being assembled or a test: no systemd is told (no PID 1
    /// check, no daemon-reload); enablement links go under it too.
    #[arg(long, value_name = "DIR")]
    pub units_dir: Option<PathBuf>,

    /// Print the units (in start order) and write nothing.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Container name of the appliance whose units are removed.
    #[arg(long, env = "COOLIFY_CP_NAME", default_value = "coolify-cp")]
    pub name: String,
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
    pub agent: AgentFlags,

    #[command(flatten)]
    pub broker: HostLinkArgs,

    #[command(flatten)]
    pub single_host: SingleHostArgs,
}

/// The agent's settings most often changed, as flags; each overrides the
/// same key of the agent config file. The rest are keys of that file only
/// (docs/agent-config.md).
#[derive(Debug, Args, Default)]
pub struct AgentFlags {
    /// The agent's settings file (TOML, docs/agent-config.md); checked
    /// before anything starts. Absent = defaults. Default:
    /// <config-dir>/agent.toml.
    #[arg(long, env = "COOLIFY_AGENT_CONFIG", value_name = "PATH")]
    pub agent_config: Option<PathBuf>,

    /// Where discovery keeps endpoints: `sqlite` (this host only) or
    /// `corrosion` (gossiped to every host). Key discovery.endpoint_store.
    #[arg(long, env = "COOLIFY_ENDPOINT_STORE", value_name = "sqlite|corrosion")]
    pub endpoint_store: Option<String>,

    /// The Corrosion agent's HTTP API, IP:PORT. Key discovery.corrosion_api.
    #[arg(long, env = "COOLIFY_CORROSION_API", value_name = "IP:PORT")]
    pub corrosion_api: Option<String>,

    /// Cluster DNS zone. Key dns.zone.
    #[arg(long, value_name = "ZONE")]
    pub dns_zone: Option<String>,

    /// Where cluster DNS forwards other names, IP:PORT. Key dns.upstream.
    #[arg(long, value_name = "IP:PORT")]
    pub dns_upstream: Option<String>,

    /// Host directories container bind mounts may lie under,
    /// comma-separated (empty = no binds). Key containers.bind_allowlist.
    #[arg(long, value_name = "DIR,…")]
    pub bind_allowlist: Option<String>,

    /// OCI runtimes a create may ask for, comma-separated. Key
    /// containers.allowed_runtimes.
    #[arg(long, value_name = "RUNTIME,…")]
    pub allowed_runtimes: Option<String>,

    /// The Podman network build containers join (e.g. one where a git
    /// server is). Key builds.network.
    #[arg(long, value_name = "NETWORK")]
    pub build_network: Option<String>,

    /// Builds run at once; more wait in a queue. Key builds.capacity.
    #[arg(long, value_name = "N")]
    pub builder_capacity: Option<u32>,
}

impl AgentFlags {
    /// The flags given: `(flag, COOLD_* variable, value)`.
    pub fn given(&self) -> Vec<(&'static str, &'static str, String)> {
        let text = [
            (
                "--endpoint-store",
                "COOLD_ENDPOINT_STORE",
                &self.endpoint_store,
            ),
            (
                "--corrosion-api",
                "COOLD_CORROSION_API",
                &self.corrosion_api,
            ),
            ("--dns-zone", "COOLD_DNS_ZONE", &self.dns_zone),
            ("--dns-upstream", "COOLD_DNS_UPSTREAM", &self.dns_upstream),
            (
                "--bind-allowlist",
                "COOLD_BIND_ALLOWLIST",
                &self.bind_allowlist,
            ),
            (
                "--allowed-runtimes",
                "COOLD_ALLOWED_RUNTIMES",
                &self.allowed_runtimes,
            ),
            (
                "--build-network",
                "COOLD_BUILD_NETWORK",
                &self.build_network,
            ),
        ];
        let mut out: Vec<(&'static str, &'static str, String)> = text
            .into_iter()
            .filter_map(|(flag, var, v)| v.clone().map(|v| (flag, var, v)))
            .collect();
        if let Some(n) = self.builder_capacity {
            out.push((
                "--builder-capacity",
                "COOLD_BUILDER_CAPACITY",
                n.to_string(),
            ));
        }
        out
    }
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
