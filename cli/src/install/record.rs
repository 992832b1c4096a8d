//! What a successful `cp up` ran with, saved so that `cp install` can run
//! the very same command at boot ("the same settings as the `cp up` that
//! preceded it").
//!
//! The command is kept as it was typed (binary, arguments, working
//! directory, and the environment variables its flags read), so a flag
//! added later needs no change here and a boot replays exactly what the
//! operator ran. Beside it, the few resolved values the other units need
//! (engine socket, dirs, firewall, runtimes), which the command line alone
//! would only give after re-parsing it under another environment.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::InstallError;
use crate::file_write;

/// Bumped when a field changes meaning; an older record is refused with
/// "run cp up again".
const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpRecord {
    pub version: u32,
    /// The `coolify` binary that ran (`/proc/self/exe`, absolute).
    pub exe: PathBuf,
    /// Its working directory: relative paths in `args` stay meaningful.
    pub cwd: PathBuf,
    /// Every argument after the program name.
    pub args: Vec<String>,
    /// The environment variables that `cp up`'s flags read (their
    /// `env = …` names), as they were set.
    pub env: Vec<(String, String)>,
    /// The resolved values the other units are built from.
    pub container: String,
    pub engine_socket: PathBuf,
    pub config_dir: PathBuf,
    pub run_dir: PathBuf,
    pub firewall: bool,
    pub runtime_services: Vec<String>,
    /// The `--with-broker` container, when there is one.
    pub broker_container: Option<String>,
}

/// The resolved settings of one `cp up`, from the caller.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub container: String,
    pub engine_socket: PathBuf,
    pub config_dir: PathBuf,
    pub run_dir: PathBuf,
    pub firewall: bool,
    pub runtime_services: Vec<String>,
    pub broker_container: Option<String>,
}

impl UpRecord {
    /// This process's command line, with `env_names` read from its
    /// environment. Fails on arguments that are not UTF-8 (a unit file
    /// could not carry them faithfully).
    pub fn capture(env_names: &[String], r: Resolved) -> Result<UpRecord, InstallError> {
        let exe = std::env::current_exe().map_err(|e| InstallError::Record {
            path: PathBuf::from("/proc/self/exe"),
            reason: e.to_string(),
        })?;
        let cwd = std::env::current_dir().map_err(|e| InstallError::Record {
            path: PathBuf::from("."),
            reason: format!("cannot read the working directory: {e}"),
        })?;
        let args = std::env::args_os()
            .skip(1)
            .map(|a| {
                a.into_string().map_err(|a| InstallError::Record {
                    path: exe.clone(),
                    reason: format!("argument {a:?} is not UTF-8"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let env = env_names
            .iter()
            .filter_map(|n| std::env::var(n).ok().map(|v| (n.clone(), v)))
            .collect();
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        Ok(UpRecord {
            version: RECORD_VERSION,
            exe,
            cwd,
            args,
            env,
            container: r.container,
            engine_socket: r.engine_socket,
            config_dir: abs(&r.config_dir),
            run_dir: abs(&r.run_dir),
            firewall: r.firewall,
            runtime_services: r
                .runtime_services
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .collect(),
            broker_container: r.broker_container,
        })
    }

    /// Written atomically, 0600 (it names the operator's paths and flags).
    pub fn save(&self, path: &Path) -> Result<(), InstallError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| InstallError::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        file_write::atomic(path, &text, 0o600).map_err(|e| InstallError::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The record `cp up` left for `name`, or an error that says to run it.
    pub fn load(path: &Path, name: &str) -> Result<UpRecord, InstallError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(InstallError::NoRecord {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                })
            }
            Err(e) => {
                return Err(InstallError::Record {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
            }
        };
        let rec: UpRecord = serde_json::from_slice(&text).map_err(|e| InstallError::Record {
            path: path.to_path_buf(),
            reason: format!("not a cp up record ({e}); run `coolify cp up` again"),
        })?;
        if rec.version != RECORD_VERSION {
            return Err(InstallError::Record {
                path: path.to_path_buf(),
                reason: format!(
                    "written by another coolify (record version {}); run `coolify cp up` again",
                    rec.version
                ),
            });
        }
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved() -> Resolved {
        Resolved {
            container: "coolify-cp".into(),
            engine_socket: "/run/podman/podman.sock".into(),
            config_dir: "/etc/coolify".into(),
            run_dir: "/run/coolify".into(),
            firewall: true,
            runtime_services: vec!["runsc".into(), " ".into()],
            broker_container: None,
        }
    }

    #[test]
    fn a_saved_record_loads_back_the_same() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("install/up-coolify-cp.json");
        let rec = UpRecord::capture(&["PATH".into()], resolved()).unwrap();
        assert_eq!(rec.runtime_services, ["runsc"], "blank runtimes dropped");
        rec.save(&path).unwrap();
        assert_eq!(UpRecord::load(&path, "coolify-cp").unwrap(), rec);
    }

    #[test]
    fn a_missing_record_says_to_run_cp_up() {
        let tmp = tempfile::tempdir().unwrap();
        let err = UpRecord::load(&tmp.path().join("none.json"), "coolify-cp").unwrap_err();
        assert!(matches!(err, InstallError::NoRecord { .. }));
        assert!(err.to_string().contains("coolify cp up"), "{err}");
    }

    #[test]
    fn a_record_of_another_version_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("up.json");
        let mut rec = UpRecord::capture(&[], resolved()).unwrap();
        rec.version = RECORD_VERSION + 1;
        rec.save(&path).unwrap();
        let err = UpRecord::load(&path, "coolify-cp").unwrap_err();
        assert!(
            err.to_string().contains("run `coolify cp up` again"),
            "{err}"
        );
    }
}
