//! What stops an appliance command, each error carrying what the operator
//! needs to act.

use std::time::Duration;

use crate::engine::EngineError;
use crate::pki::PkiError;

/// Everything that can stop an appliance command, each carrying what the
/// operator needs to act.
#[derive(Debug, thiserror::Error)]
pub enum ApplianceError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    AgentSettings(#[from] super::agent_settings::SettingsError),
    #[error(
        "this coolify binary carries no {0} (built without it); build it with scripts/build-static"
    )]
    NotEmbedded(&'static str),
    #[error("{0}")]
    Usage(String),
    #[error("building the appliance image failed: {0}")]
    Build(String),
    #[error("container name {name:?} is taken: {reason}")]
    NameConflict { name: String, reason: String },
    #[error("{name} exited while starting ({}){}; it was stopped to end the restart loop\n--- last log lines ---\n{logs}",
        match exit_code { Some(c) => format!("exit code {c}"), None => format!("restarted {restarts} time(s)") },
        error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    ContainerExited {
        name: String,
        exit_code: Option<i64>,
        restarts: i64,
        error: Option<String>,
        logs: String,
    },
    #[error("{name} disappeared while starting (removed by another process?)")]
    ContainerVanished { name: String },
    #[error("{url} was not healthy within {}: last status {}, last body {last_body:?}{}\n--- last log lines ---\n{logs}",
        humantime::format_duration(*timeout),
        last_status.map(|s| s.to_string()).unwrap_or_else(|| "none".into()),
        last_error.as_ref().map(|e| format!(", last error: {e}")).unwrap_or_default())]
    HealthTimeout {
        url: String,
        timeout: Duration,
        last_status: Option<u16>,
        last_body: String,
        last_error: Option<String>,
        logs: String,
    },
    #[error("the agent's stream to {broker} did not connect within {}: {detail} (check `podman logs {broker}` and the agent's /healthz)",
        humantime::format_duration(*timeout))]
    StreamNotConnected {
        broker: String,
        timeout: Duration,
        detail: String,
    },
    #[error("{0}\n(the broker's variables come from cp up's flags: --broker-grpc-bind → BROKER_GRPC_BIND, --broker-socket → BROKER_UNIX_SOCKET_PATH, --broker-socket-group → BROKER_UNIX_SOCKET_GROUP)")]
    BrokerFailed(Box<ApplianceError>),
    #[error("no running appliance {name} ({state}): start it with `coolify cp up`")]
    NotRunning { name: String, state: String },
    #[error("the agent at {api} did not {what} within {}: {last}. The new files are in place; check the api-credentials component of its /healthz and `podman logs {name}`",
        humantime::format_duration(*timeout))]
    RotationNotSeen {
        name: String,
        api: String,
        what: &'static str,
        timeout: Duration,
        last: String,
    },
    #[error("lock {path}: {reason}")]
    Lock { path: String, reason: String },
    #[error("engine API: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error(transparent)]
    Namespaces(#[from] crate::namespaces::ProvisionError),
    #[error(transparent)]
    RawApi(#[from] coolify_engine_raw::RawError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_timeout_names_url_last_answer_and_logs() {
        let e = ApplianceError::HealthTimeout {
            url: "http://127.0.0.1:8442/healthz".into(),
            timeout: Duration::from_secs(30),
            last_status: Some(503),
            last_body: r#"{"status":"unhealthy"}"#.into(),
            last_error: None,
            logs: "coold starting\nping failed".into(),
        };
        let text = e.to_string();
        for part in [
            "http://127.0.0.1:8442/healthz",
            "30s",
            "503",
            "unhealthy",
            "ping failed",
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
    }

    #[test]
    fn exit_while_starting_names_code_or_restarts() {
        let exited = ApplianceError::ContainerExited {
            name: "coolify-cp".into(),
            exit_code: Some(2),
            restarts: 0,
            error: None,
            logs: "configuration error: COOLD_X".into(),
        };
        assert!(exited.to_string().contains("exit code 2"));
        let looped = ApplianceError::ContainerExited {
            name: "coolify-cp".into(),
            exit_code: None,
            restarts: 3,
            error: None,
            logs: String::new(),
        };
        assert!(looped.to_string().contains("restarted 3 time(s)"));
    }
}
