//! What stops `cp install` / `cp uninstall`, each saying what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("systemd is not PID 1 on this host ({dir} is not a directory), so there is nothing to install units into; nothing was written. Keep using `coolify cp up`, and run it again after every reboot (the containers' restart policy does not survive one without systemd)")]
    NotSystemd { dir: &'static str },
    #[error("no `cp up` of {name} recorded at {path}: run `coolify cp up` with the settings to keep (and --name {name}) first, then `coolify cp install`")]
    NoRecord { path: PathBuf, name: String },
    #[error("cp up record {path}: {reason}")]
    Record { path: PathBuf, reason: String },
    #[error("{0} not found on PATH (nor in /usr/local/sbin, /usr/sbin, /sbin); the units run it by absolute path: install it (scripts/setup-host lists the packages)")]
    ToolMissing(&'static str),
    #[error("{path} exists and was not written by `cp install` (not in {manifest}); move it away, or pick another --name")]
    Taken { path: PathBuf, manifest: PathBuf },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("units written, but `systemctl daemon-reload` failed: {0}")]
    Reload(String),
}

impl InstallError {
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> InstallError {
        InstallError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}
