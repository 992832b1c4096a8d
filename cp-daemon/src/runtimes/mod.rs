//! OCI runtime choice per container (`runtime: runsc` for gVisor).
//!
//! Why this is more than a field: Podman 4.3's REST API ignores the runtime
//! on create (compat `HostConfig.Runtime` and libpod `oci_runtime` alike;
//! podman issues 28429 and 28454), while `podman --runtime X` works and
//! Podman then keeps X for the container's whole life. So:
//!
//! 1. The first create that asks for a non-default runtime probes the
//!    engine: it creates through the main API with the field set and reads
//!    back `OCIRuntime`. If the engine honoured it, the field is used from
//!    then on ([`Probe::Honoured`]).
//! 2. Otherwise the container is created through a Podman API service of
//!    that runtime (`podman --runtime X system service` on a private socket
//!    under `COOLD_RUNTIME_DIR`), started on first use and restarted when it
//!    is gone ([`RuntimeServices`]).
//! 3. Later verbs on such a container go through the same service: an
//!    engine service started before the runtime was registered in
//!    containers.conf cannot run it ("runtime runsc is missing", measured),
//!    while the runtime's own service always can.
//!
//! A runtime must be listed in `COOLD_ALLOWED_RUNTIMES` (else 403) and
//! configured in the engine (else 422, with the engine's reason).

mod service;

use std::path::PathBuf;
use std::sync::Mutex;

use serde::Deserialize;
use tokio::sync::OnceCell;

pub use service::RuntimeServices;

use crate::podman::{raw, Engine, EngineError};

/// Why a runtime cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("runtime {name:?} is not allowed on this host (COOLD_ALLOWED_RUNTIMES: {allowed})")]
    NotAllowed { name: String, allowed: String },
    #[error("runtime {name:?} is not installed or not configured in the engine: {reason}")]
    NotInstalled { name: String, reason: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What the probe learnt about the engine's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Not asked yet.
    Unknown,
    /// The create API's runtime field takes effect.
    Honoured,
    /// It is ignored: use a runtime service.
    Ignored,
}

/// How one create reaches the engine.
#[derive(Debug, Clone)]
pub enum CreatePath {
    /// The main engine, its default runtime.
    Default { runtime: String },
    /// The main engine with the runtime field; `probe` when this create is
    /// also the probe that decides whether the field works.
    Field { runtime: String, probe: bool },
    /// The runtime's own API service.
    Service { runtime: String, engine: Engine },
}

/// The runtime table of one agent.
#[derive(Debug)]
pub struct Runtimes {
    allowed: Vec<String>,
    default: OnceCell<String>,
    probe: Mutex<Probe>,
    pub services: RuntimeServices,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LibpodInfo {
    host: LibpodHost,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LibpodHost {
    oci_runtime: LibpodRuntime,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LibpodRuntime {
    name: String,
}

impl Runtimes {
    pub fn new(allowed: Vec<String>, podman_bin: PathBuf, dir: PathBuf) -> Self {
        Runtimes {
            allowed,
            default: OnceCell::new(),
            probe: Mutex::new(Probe::Unknown),
            services: RuntimeServices::new(podman_bin, dir),
        }
    }

    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// The engine's default runtime (`runc` here), asked once.
    pub async fn default_runtime(&self, main: &Engine) -> Result<String, EngineError> {
        self.default
            .get_or_try_init(|| async {
                let info: Option<LibpodInfo> =
                    raw::get_json_at(&main.socket, &format!("{}/info", raw::LIBPOD))
                        .await
                        .map_err(|e| EngineError::classify_raw(e, "engine info"))?;
                Ok::<_, EngineError>(
                    info.map(|i| i.host.oci_runtime.name)
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| "runc".to_string()),
                )
            })
            .await
            .cloned()
    }

    pub fn probe(&self) -> Probe {
        *self.probe.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what a probing create observed.
    pub fn record_probe(&self, honoured: bool) {
        let mut p = self.probe.lock().unwrap_or_else(|p| p.into_inner());
        *p = if honoured {
            Probe::Honoured
        } else {
            Probe::Ignored
        };
        tracing::info!(
            honoured,
            "probed whether the engine API honours the runtime on create"
        );
    }

    /// Decides how a create asking for `requested` reaches the engine.
    pub async fn plan(
        &self,
        main: &Engine,
        requested: Option<&str>,
    ) -> Result<CreatePath, RuntimeError> {
        let default = self.default_runtime(main).await?;
        let Some(name) = requested else {
            return Ok(CreatePath::Default { runtime: default });
        };
        if !self.allowed.iter().any(|a| a == name) {
            return Err(RuntimeError::NotAllowed {
                name: name.to_string(),
                allowed: self.allowed.join(","),
            });
        }
        if name == default {
            return Ok(CreatePath::Default { runtime: default });
        }
        match self.probe() {
            Probe::Unknown => Ok(CreatePath::Field {
                runtime: name.to_string(),
                probe: true,
            }),
            Probe::Honoured => Ok(CreatePath::Field {
                runtime: name.to_string(),
                probe: false,
            }),
            Probe::Ignored => Ok(CreatePath::Service {
                runtime: name.to_string(),
                engine: self.services.engine(name).await?,
            }),
        }
    }

    /// The engine that can run a container whose OCI runtime is
    /// `oci_runtime`: its runtime service when it has one, else the main.
    pub async fn engine_for(
        &self,
        main: &Engine,
        oci_runtime: &str,
    ) -> Result<Engine, RuntimeError> {
        if oci_runtime.is_empty()
            || self.probe() == Probe::Honoured
            || !self.allowed.iter().any(|a| a == oci_runtime)
            || oci_runtime == self.default_runtime(main).await?
        {
            return Ok(main.clone());
        }
        self.services.engine(oci_runtime).await
    }
}
