//! Command-line surface of `coolify`. Every default is shown in `--help`,
//! and every flag that names a fixed thing has an environment override.
//!
//! Pure data: the command modules use these types, and this module uses
//! none of theirs (`cli/tests/import_direction.rs` holds it to that). What a
//! flag means at run time (resolving a broker link, a host id) lives with
//! the command that acts on it.

pub mod broker;
pub mod cp;
pub mod firewall;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use broker::{BrokerArgs, DispatchArgs, FleetArgs};
use cp::CpCommand;
use firewall::FirewallArgs;

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
    Firewall(FirewallArgs),
    /// Broker enrollment: `init` (TLS + token keys), `enroll` (a host
    /// token), `revoke` (refuse a host's tokens).
    Broker(BrokerArgs),
    /// The hosts connected to the broker: id, agent version, capabilities,
    /// connected since, last frame, free build slots (through its UDS lane).
    Fleet(FleetArgs),
    /// Run one agent verb on a host through the broker's UDS lane.
    Dispatch(DispatchArgs),
    /// Provision namespace networks: one DNS-disabled bridge
    /// `coolify-<ns>-mesh` per namespace with a /24 of the pool (idempotent).
    ///
    /// In a cluster, pass this host's token (--host-token-file): its /24s
    /// come from the slice enrollment gave it, never one another host holds.
    Init(cp::InitArgs),
}
