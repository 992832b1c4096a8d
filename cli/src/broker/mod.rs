//! `coolify broker …` and `coolify dispatch`: enrollment material for the
//! broker (its TLS identity and the host-token signing key), host tokens,
//! and the UDS lane for operators and scripts. `cp up`'s broker flags live
//! here too ([`HostLinkArgs`]) so the appliance code only sees the result.

mod dispatch;
mod init;
pub mod single_host;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

pub use dispatch::DispatchArgs;

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
    Init(init::InitArgs),
    /// Print a host token (JWT, ES256) for `--host-id`, signed with
    /// <config-dir>/broker/jwt.key. Give it to `cp up --host-token-file`.
    Enroll(EnrollArgs),
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

impl SingleHostArgs {
    /// The host id: `--host-id`, else the host name; checked like the
    /// broker checks a token's `sub`.
    pub fn host_id(&self) -> Result<String, String> {
        let id = match &self.host_id {
            Some(id) => id.clone(),
            None => nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .map_err(|e| format!("--host-id: cannot read the host name ({e}); pass one"))?,
        };
        coolify_broker::jwt::validate_host_id(&id).map_err(|e| {
            format!("--host-id: {e} (the default is the host name; pass one that fits)")
        })?;
        Ok(id)
    }

    /// `--broker-socket-group` as a gid: the scratch image has no
    /// /etc/group, so a name is resolved here, on the host.
    pub fn socket_gid(&self) -> Result<Option<u32>, String> {
        let Some(g) = self.broker_socket_group.as_deref() else {
            return Ok(None);
        };
        if let Ok(n) = g.parse::<u32>() {
            return Ok(Some(n));
        }
        match nix::unistd::Group::from_name(g) {
            Ok(Some(group)) => Ok(Some(group.gid.as_raw())),
            Ok(None) => Err(format!(
                "--broker-socket-group {g}: no such group on this host"
            )),
            Err(e) => Err(format!("--broker-socket-group {g}: {e}")),
        }
    }
}

/// The resolved link: host files to mount into the appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    pub url: String,
    pub token_file: PathBuf,
    pub ca: PathBuf,
    /// sha256 of the token when `cp up` minted it (`--with-broker`): a new
    /// token must replace the container, which sees the mounted file's old
    /// inode otherwise.
    pub token_sha256: Option<String>,
}

impl HostLinkArgs {
    /// `None` when no broker is wanted; an error names the missing flag.
    pub fn resolve(&self, config_dir: &Path) -> Result<Option<HostLink>, String> {
        let Some(url) = self.broker_url.clone().filter(|u| !u.trim().is_empty()) else {
            if self.host_token_file.is_some() {
                return Err("--host-token-file needs --broker-url".into());
            }
            return Ok(None);
        };
        let token_file = self
            .host_token_file
            .clone()
            .ok_or("--broker-url needs --host-token-file (from `coolify broker enroll`)")?;
        let ca = self
            .broker_ca
            .clone()
            .unwrap_or_else(|| config_dir.join("broker").join("ca.crt"));
        for (flag, path) in [("--host-token-file", &token_file), ("--broker-ca", &ca)] {
            if !path.is_file() {
                return Err(format!("{flag} {}: no such file", path.display()));
            }
        }
        // Mount sources must be absolute for the engine.
        let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        Ok(Some(HostLink {
            url,
            token_file: abs(token_file),
            ca: abs(ca),
            token_sha256: None,
        }))
    }
}

pub fn run(config_dir: &Path, args: &BrokerArgs) -> ExitCode {
    let result = match &args.command {
        BrokerCommand::Init(a) => init::init(config_dir, a).map(|report| {
            for line in report {
                eprintln!("{line}");
            }
        }),
        BrokerCommand::Enroll(a) => enroll(config_dir, a).map(|token| println!("{token}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coolify: {e}");
            ExitCode::FAILURE
        }
    }
}

fn enroll(config_dir: &Path, a: &EnrollArgs) -> Result<String, String> {
    let key_path = config_dir.join("broker").join("jwt.key");
    let key = std::fs::read(&key_path).map_err(|e| {
        format!(
            "{}: {e}; run `coolify broker init` first",
            key_path.display()
        )
    })?;
    let caps: Vec<String> = a
        .caps
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    coolify_broker::jwt::mint_es256(&key, &a.host_id, &caps, a.ttl)
        .map_err(|e| format!("--host-id {}: {e}", a.host_id))
}

pub async fn dispatch(args: &DispatchArgs) -> ExitCode {
    dispatch::run(args).await
}
