//! A build's container: the warm builder waiting for it when there is
//! one, else a new one, created, initialised, fenced and started.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use coolify_build_contract::CREDENTIALS_FILE;

use super::Builds;
use crate::builds::container::{self, SandboxSpec};
use crate::builds::egress;
use crate::builds::process_exit::ProcessWatch;
use crate::builds::request;
use crate::builds::warm_builders;
use crate::podman::EngineError;

/// The container a build runs in.
#[derive(Debug)]
pub(super) struct Sandbox {
    /// Name or engine id: what engine calls address it by.
    pub(super) container: String,
    /// The warm slot path it was made on, for a warm builder.
    pub(super) slot: Option<PathBuf>,
    /// A warm builder's rename to its build's name, awaited before the
    /// removal (a fast build can end first; the two must not cross).
    pub(super) renaming: Option<tokio::task::JoinHandle<()>>,
    /// Its process in the host's procfs, when known at launch.
    pub(super) process: Option<ProcessWatch>,
}

impl Sandbox {
    pub(super) fn cold(id: &str) -> Sandbox {
        Sandbox::of(request::container_name(id), None)
    }

    pub(super) fn of(container: String, slot: Option<PathBuf>) -> Sandbox {
        Sandbox {
            container,
            slot,
            renaming: None,
            process: None,
        }
    }
}

/// Why a build could not be launched (it answers 500 with the reason).
#[derive(Debug, thiserror::Error)]
pub(super) enum LaunchError {
    #[error("work dir: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Egress(#[from] egress::EgressError),
}

impl Builds {
    /// A warm builder when one waits, else a new container.
    pub(super) async fn launch(&self, id: &str, dir: &Path) -> Result<Sandbox, LaunchError> {
        let name = request::container_name(id);
        if let Some(w) = self.take_warm().await {
            if let Err(e) = warm_builders::hand_over(&w.slot, dir) {
                self.retire(&w).await;
                return Err(e.into());
            }
            tracing::info!(request_id = %id, container = %w.container, "build started in a warm builder");
            // Operators find a build by its name; the driver itself uses
            // the id, so the rename stays off the build's path.
            let (socket, container) = (self.socket.clone(), w.container.clone());
            let renaming = tokio::spawn(async move {
                if let Err(e) = container::rename(&socket, &container, &name).await {
                    tracing::warn!(%container, error = %e, "warm builder keeps its name");
                }
            });
            return Ok(Sandbox {
                renaming: Some(renaming),
                process: w.process,
                ..Sandbox::of(w.container, Some(w.slot))
            });
        }
        let with_credentials = dir.join(CREDENTIALS_FILE).exists();
        let spec = self.sandbox_spec(
            name.clone(),
            dir,
            request::builder_args(&self.cfg, dir, &self.socket, with_credentials),
            (request::LABEL_REQUEST_ID, id),
        );
        let (_, process) = self.create_and_start(&spec).await?;
        tracing::info!(request_id = %id, container = %name, "build started");
        Ok(Sandbox {
            process,
            ..Sandbox::cold(id)
        })
    }

    pub(super) fn sandbox_spec(
        &self,
        name: String,
        dir: &Path,
        args: Vec<String>,
        (key, value): (&str, &str),
    ) -> SandboxSpec {
        SandboxSpec {
            name,
            image: self.image.clone(),
            entrypoint: vec![request::BUILDER_BIN.to_string()],
            args,
            labels: HashMap::from([
                (request::LABEL_BUILD.to_string(), "true".to_string()),
                (key.to_string(), value.to_string()),
                (
                    request::LABEL_WORK_DIR.to_string(),
                    dir.display().to_string(),
                ),
            ]),
            binds: vec![
                (dir.to_path_buf(), dir.to_path_buf()),
                // The builder dials the engine where the agent does; the
                // source is the host's socket (COOLD_PODMAN_SOCKET_HOST).
                (
                    self.cfg
                        .engine_socket_on_host
                        .clone()
                        .unwrap_or_else(|| self.socket.clone()),
                    self.socket.clone(),
                ),
            ],
            memory: self.cfg.memory,
            cpus: self.cfg.cpus,
            network: self.cfg.network.clone(),
        }
    }

    /// Create → init → fence → start; returns the engine's id and a watch
    /// on the container's process.
    pub(super) async fn create_and_start(
        &self,
        spec: &SandboxSpec,
    ) -> Result<(String, Option<ProcessWatch>), LaunchError> {
        let id = container::create(&self.socket, spec).await?;
        container::init(&self.socket, &id).await?;
        let init = container::initialised(&self.socket, &id).await?;
        if !self.cfg.deny_cidrs.is_empty() {
            egress::fence(&self.tools, &init.netns, &self.cfg.deny_cidrs).await?;
        }
        // Taken before start, so it cannot miss an exit; start execs the
        // entrypoint in this same process.
        let process = ProcessWatch::new(&self.tools.proc_dir(), init.pid);
        container::start(&self.socket, &id).await?;
        Ok((id, process))
    }
}
