//! The CLI's connection to the container engine (Podman's API socket, or any
//! Docker-compatible one), chosen by `--engine-socket` / `DOCKER_HOST`.

use std::path::{Path, PathBuf};

use bollard::Docker;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("engine socket {0:?} is not supported: only unix:// sockets (or a plain path) are")]
    Unsupported(String),
    #[error("Podman API socket {path} not found: start it with `mkdir -p {dir} && podman system service --time=0 unix://{path} &` (scripts/setup-host does this), or point --engine-socket / DOCKER_HOST elsewhere")]
    Missing { path: String, dir: String },
    #[error("Podman API at {path} does not answer: {reason}; is `podman system service` running?")]
    Unreachable { path: String, reason: String },
    #[error("engine API: {0}")]
    Api(#[from] bollard::errors::Error),
}

/// A connected engine and the host path of its socket (the appliance
/// mounts the same socket).
#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
    pub socket: PathBuf,
}

/// Turns `unix:///run/podman/podman.sock` or a plain path into a path.
pub fn socket_path(spec: &str) -> Result<PathBuf, EngineError> {
    let path = match spec.strip_prefix("unix://") {
        Some(p) => p,
        None if spec.contains("://") => return Err(EngineError::Unsupported(spec.to_string())),
        None => spec,
    };
    if path.is_empty() || !Path::new(path).is_absolute() {
        return Err(EngineError::Unsupported(spec.to_string()));
    }
    Ok(PathBuf::from(path))
}

impl Engine {
    /// Connects and pings, so a dead socket is reported before any work.
    pub async fn connect(spec: &str) -> Result<Engine, EngineError> {
        let socket = socket_path(spec)?;
        let path = socket.display().to_string();
        if !socket.exists() {
            let dir = socket
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "/".into());
            return Err(EngineError::Missing { path, dir });
        }
        let docker =
            Docker::connect_with_unix(&path, 300, bollard::API_DEFAULT_VERSION).map_err(|e| {
                EngineError::Unreachable {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?;
        docker.ping().await.map_err(|e| EngineError::Unreachable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Engine { docker, socket })
    }
}

/// True when the engine answered 404 for the object.
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// True when the engine answered 409 (name in use, object in use).
pub fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_specs_parse() {
        assert_eq!(
            socket_path("unix:///run/podman/podman.sock").unwrap(),
            PathBuf::from("/run/podman/podman.sock")
        );
        assert_eq!(
            socket_path("/tmp/x.sock").unwrap(),
            PathBuf::from("/tmp/x.sock")
        );
        assert!(socket_path("tcp://127.0.0.1:2375").is_err());
        assert!(socket_path("relative.sock").is_err());
        assert!(socket_path("unix://").is_err());
    }

    #[tokio::test]
    async fn missing_socket_says_how_to_start_it() {
        let err = Engine::connect("unix:///nonexistent/podman.sock")
            .await
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(msg.contains("podman system service"), "{msg}");
        assert!(msg.contains("/nonexistent/podman.sock"), "{msg}");
    }
}
