//! The agent's one connection to Podman, through its Docker-compatible API
//! socket with bollard (DESIGN.md decision 2), and the health watcher that
//! keeps the `podman` component of `/healthz` current.

// The lenient read client is its own crate, shared with the CLI; it stays
// `crate::podman::raw` here.
pub use coolify_engine_raw as raw;

mod version_cache;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use tokio_util::sync::CancellationToken;

use crate::health::{Health, Status};

/// Component name in `/healthz`.
pub use coolify_api_types::health::PODMAN as COMPONENT;

/// Errors reaching the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("Podman API socket {path} does not exist: start it with `podman system service --time=0 unix://{path}`")]
    SocketMissing { path: String },
    #[error("cannot connect to the Podman API at {path}: {source}")]
    Connect {
        path: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("Podman API error: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error(transparent)]
    Raw(#[from] raw::RawError),
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the engine refused the request: {0}")]
    Rejected(String),
    #[error("Podman API unreachable: {0}; is `podman system service` running?")]
    Unavailable(String),
    #[error("Podman API failed: {0}")]
    Failed(String),
}

/// A value the agent would hand the engine (an id, a name, an image
/// reference, a create field) is malformed: the caller must fix `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidField {
    pub field: String,
    pub message: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> InvalidField {
        InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl EngineError {
    /// The message a caller sees: what went wrong with the object, or that
    /// the engine itself is unavailable.
    pub fn caller_message(&self) -> String {
        match self {
            EngineError::NotFound { .. }
            | EngineError::Conflict(_)
            | EngineError::Rejected(_)
            | EngineError::Failed(_) => self.to_string(),
            _ => format!("container engine unavailable: {self}"),
        }
    }

    /// Sorts a bollard error by what the caller can do about it. `what`
    /// names the object for a 404 ("container web-1").
    pub fn classify(e: bollard::errors::Error, what: &str) -> EngineError {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError {
                status_code,
                message,
            } => Self::from_status(status_code, message, what),
            B::HyperResponseError { .. }
            | B::IOError { .. }
            | B::RequestTimeoutError
            | B::HyperLegacyError { .. } => EngineError::Unavailable(e.to_string()),
            other => EngineError::Failed(other.to_string()),
        }
    }

    /// Same for a lenient raw read.
    pub fn classify_raw(e: raw::RawError, what: &str) -> EngineError {
        match e {
            raw::RawError::Connect { .. } | raw::RawError::Http { .. } => {
                EngineError::Unavailable(e.to_string())
            }
            raw::RawError::Status {
                status, message, ..
            } => Self::from_status(status, message, what),
            raw::RawError::Json { .. } => EngineError::Failed(e.to_string()),
        }
    }

    /// Podman 4.3 answers some caller errors with a 500 whose text says
    /// what happened (measured: a taken name, a running container); those
    /// are sorted by their text here so the API can say 409.
    pub fn from_status(status: u16, message: String, what: &str) -> EngineError {
        match status {
            404 => EngineError::NotFound {
                what: format!("{what} ({message})"),
            },
            409 => EngineError::Conflict(message),
            // Podman answers a wrong container state (remove while running,
            // exec in a stopped one) with a 500 whose cause is this text.
            500 if message.contains("container state improper")
                || message.contains("is already in use") =>
            {
                EngineError::Conflict(message)
            }
            500 if message.contains("invalid reference format")
                || message.contains("no command or entrypoint provided") =>
            {
                EngineError::Rejected(message)
            }
            400 | 422 => EngineError::Rejected(message),
            _ => EngineError::Failed(format!("{status}: {message}")),
        }
    }
}

/// A handle to the engine API; cheap to clone.
#[derive(Clone, Debug)]
pub struct Engine {
    pub docker: Docker,
    /// The socket path, for the lenient reads of [`raw`].
    pub socket: PathBuf,
    /// `GET /version`, slow on Podman 4.3 ([`version_cache`]).
    version: version_cache::TtlCache<bollard::models::SystemVersion>,
}

/// Per-request timeout for the engine client, seconds. Long operations
/// (builds, pulls) set their own.
const CLIENT_TIMEOUT_SECS: u64 = 120;

impl Engine {
    pub fn connect(socket: &Path) -> Result<Self, EngineError> {
        let path = socket.display().to_string();
        if !socket.exists() {
            return Err(EngineError::SocketMissing { path });
        }
        let docker =
            Docker::connect_with_unix(&path, CLIENT_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                .map_err(|source| EngineError::Connect { path, source })?;
        Ok(Engine {
            docker,
            socket: socket.to_path_buf(),
            version: version_cache::TtlCache::new(version_cache::TTL),
        })
    }

    /// The engine's version, fetched at most once per [`version_cache::TTL`].
    pub async fn version(&self) -> Result<bollard::models::SystemVersion, bollard::errors::Error> {
        self.version.get_or_fetch(|| self.docker.version()).await
    }

    /// One liveness probe, bounded by `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), String> {
        match tokio::time::timeout(timeout, self.docker.ping()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }
}

/// Pings the engine every `interval` and records the outcome in `health`.
/// Runs until `stop` fires.
pub async fn watch(engine: Engine, health: Health, interval: Duration, stop: CancellationToken) {
    loop {
        match engine.ping(Duration::from_secs(2)).await {
            Ok(()) => health.set(COMPONENT, Status::Healthy, "API socket answers"),
            Err(e) => health.set(COMPONENT, Status::Unhealthy, format!("ping failed: {e}")),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
