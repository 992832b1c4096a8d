//! `coolify firewall …`: the allow-rule commands and the tuple's flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct FirewallArgs {
    /// Agent REST API as HOST:PORT. Default: the running appliance's
    /// `coolify.cp.api` label, else 127.0.0.1:8443.
    #[arg(long, env = "COOLIFY_API", global = true)]
    pub api: Option<String>,

    /// Appliance container whose label gives the default API address.
    #[arg(
        long,
        env = "COOLIFY_CP_NAME",
        default_value = "coolify-cp",
        global = true
    )]
    pub name: String,

    #[command(subcommand)]
    pub command: FirewallCommand,
}

#[derive(Debug, Subcommand)]
pub enum FirewallCommand {
    /// Allow one tuple (both planes). Same tuple again: same id, no duplicate.
    Allow(RuleArgs),
    /// Delete a rule by id; succeeds also when it is already gone.
    Delete {
        /// 12 hex characters, as `allow` and `list` print.
        id: String,
    },
    /// List rules, optionally of one namespace.
    List {
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Add many rules at once, all or nothing. FILE (or - for stdin) holds
    /// `{"rules":[{…},…]}` or a JSON array of rules.
    Bulk { file: PathBuf },
    /// Make the host's rules equal FILE's set (of --namespace only, when
    /// given) and print what was added, removed and kept.
    Reconcile {
        file: PathBuf,
        #[arg(long)]
        namespace: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Tenancy namespace (default: `default`).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Source IPv4 address or CIDR.
    #[arg(long)]
    pub src: String,
    /// Destination IPv4 address or CIDR.
    #[arg(long)]
    pub dst: String,
    /// tcp or udp; required with --port.
    #[arg(long)]
    pub proto: Option<String>,
    /// Destination port or range (8000-8100).
    #[arg(long)]
    pub port: Option<String>,
}
