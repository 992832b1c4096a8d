//! The container verbs' request and response bodies: our own documented
//! types, not Podman's JSON. Unknown fields are refused (400 naming them),
//! so a caller's typo can never be silently dropped on the way to Podman.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /containers`: what central templates from compose and resolved
/// secrets. Fields the deny filter refuses are accepted here so that the
/// refusal can name them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContainer {
    /// Container name; unique on the host. Podman picks one when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Image reference in local storage, e.g. `localhost/tenant/web:v2`.
    pub image: String,
    /// Command (overrides the image's CMD).
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Entrypoint (overrides the image's ENTRYPOINT).
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Environment. Values are passed through and never logged.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Extra labels; `coolify.managed=true` is always added.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Tenancy namespace, recorded as the `coolify.namespace` label.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Network to join: a network name, `none`, or `bridge` (the default
    /// network). `host` is refused by the deny filter.
    #[serde(default)]
    pub network: Option<String>,
    /// Published ports.
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// Volumes, binds and tmpfs mounts.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
    /// Memory limit in bytes.
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// CPU limit in billionths of a CPU (1e9 = one CPU).
    #[serde(default)]
    pub nano_cpus: Option<u64>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    /// OCI runtime (`runc`, `runsc` for gVisor, …): must be listed in
    /// `COOLD_ALLOWED_RUNTIMES` and configured in the engine.
    #[serde(default)]
    pub runtime: Option<String>,
    /// Refused by the deny filter when true.
    #[serde(default)]
    pub privileged: bool,
    /// Capabilities to add; host-owning ones are refused.
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// `host` is refused; so are the other host namespaces below.
    #[serde(default)]
    pub pid_mode: Option<String>,
    #[serde(default)]
    pub ipc_mode: Option<String>,
    #[serde(default)]
    pub uts_mode: Option<String>,
    #[serde(default)]
    pub userns_mode: Option<String>,
    /// Host devices; any is refused.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Security options; `seccomp=unconfined`, `apparmor=unconfined` and
    /// `systempaths=unconfined` are refused.
    #[serde(default)]
    pub security_opt: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    pub container_port: u16,
    /// Host port; the engine picks one when absent.
    #[serde(default)]
    pub host_port: Option<u16>,
    /// Host address to bind, e.g. `127.0.0.1`; all addresses when absent.
    #[serde(default)]
    pub host_ip: Option<String>,
    #[serde(default)]
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Volume name (`volume`) or absolute host path (`bind`); unused for
    /// `tmpfs`.
    #[serde(default)]
    pub source: Option<String>,
    /// Absolute path inside the container.
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    OnFailure,
    UnlessStopped,
}

/// A container healthcheck; the agent runs it itself where the engine
/// cannot (no systemd, DESIGN.md decision 9).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// Command run inside the container, exec form (`["CMD", "true"]` or
    /// `["CMD-SHELL", "wget -q -O- localhost"]`).
    pub test: Vec<String>,
    #[serde(default)]
    pub interval_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub start_period_ms: Option<u64>,
}

/// Answer of `POST /containers`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Created {
    pub id: String,
    /// The OCI runtime the container was created with.
    pub runtime: String,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `POST /containers/{id}/stop` and `/restart`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// Seconds to wait after SIGTERM before SIGKILL (engine default 10).
    #[serde(default)]
    pub timeout: Option<u32>,
}

/// `DELETE /containers/{id}` (body or `?force=true`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    /// Kill a running container first.
    #[serde(default)]
    pub force: bool,
}

/// Answer of `GET /containers/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    /// The image reference it was created from.
    pub image: String,
    pub state: ContainerState,
    /// OCI runtime, e.g. `runc` or `runsc`.
    pub runtime: String,
    pub created: String,
    pub restart_count: i64,
    pub labels: BTreeMap<String, String>,
    pub managed: bool,
    pub namespace: Option<String>,
    /// Address per attached network.
    pub networks: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ContainerState {
    /// `created`, `running`, `exited`, `stopped`, … as the engine says it.
    pub status: String,
    pub running: bool,
    pub exit_code: i64,
    pub started_at: String,
    pub finished_at: String,
    /// `healthy`, `unhealthy`, `starting`, or absent without a healthcheck.
    pub health: Option<String>,
    /// The engine's error for the last start, if any.
    pub error: String,
}

/// `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// Command, exec form.
    pub cmd: Vec<String>,
    /// Allocate a TTY (output then arrives as `stdout` only).
    #[serde(default)]
    pub tty: bool,
    /// Stream output as NDJSON [`LogLine`]s followed by one
    /// `{"exit_code": n}` line, instead of one JSON answer.
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

/// Answer of a non-streamed exec.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
    /// True when output beyond the cap was dropped.
    pub truncated: bool,
}

/// One line of `GET /containers/{id}/logs` (NDJSON) or a streamed exec.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time, with `?timestamps=true`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timestamp: Option<String>,
    pub text: String,
}

/// Answer of `POST /containers/{id}/healthcheck/run`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct HealthcheckResult {
    /// `healthy`, `unhealthy` or `starting`.
    pub status: String,
    pub failing_streak: i64,
}
