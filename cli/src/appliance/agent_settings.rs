//! The agent's settings beyond what `cp up` decides itself: from
//! `<config-dir>/agent.toml`, overridden by `cp up`'s flags, checked with
//! coold's own parser before anything starts, then passed to the container
//! as `COOLD_*` variables. An error names where the bad value came from: the
//! file's key and line, or the flag.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::agent_file::{self, AgentFileError};

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File {
        path: PathBuf,
        key: &'static str,
        line: usize,
    },
    Flag(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { path, key, line } => write!(f, "{} line {line}: {key}", path.display()),
            Origin::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

/// One `COOLD_*` variable and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentVar {
    pub var: &'static str,
    pub value: String,
    pub origin: Origin,
}

/// The variable whose value is a host file mounted into the agent.
pub const SYNC_ENV_FILE: &str = "COOLD_SYNC_ENV_FILE";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    File(#[from] AgentFileError),
    #[error("{origin}: {reason}")]
    Invalid { origin: Origin, reason: String },
}

/// The file's settings with the flags' on top (a flag wins).
pub fn gather(
    file: &Path,
    flags: Vec<(&'static str, &'static str, String)>,
) -> Result<Vec<AgentVar>, SettingsError> {
    let mut vars: Vec<AgentVar> = agent_file::read(file)?
        .into_iter()
        .map(|e| AgentVar {
            var: e.key.var,
            value: e.value,
            origin: Origin::File {
                path: file.to_path_buf(),
                key: e.key.name,
                line: e.line,
            },
        })
        .collect();
    for (flag, var, value) in flags {
        vars.retain(|v| v.var != var);
        vars.push(AgentVar {
            var,
            value,
            origin: Origin::Flag(flag),
        });
    }
    Ok(vars)
}

/// Checks the container's whole environment (`env`, `NAME=value` lines
/// that already include `vars`) with the parser coold starts with, and the
/// sync credentials file on the host. An error is turned back into the
/// setting that caused it.
pub fn check(env: &[String], vars: &[AgentVar]) -> Result<(), SettingsError> {
    let lookup = |name: &str| {
        env.iter().find_map(|line| {
            line.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    if let Err(e) = coolify_agent_config::Config::from_lookup(lookup) {
        let var = match &e {
            coolify_agent_config::ConfigError::Missing { var, .. }
            | coolify_agent_config::ConfigError::Invalid { var, .. } => *var,
        };
        let origin = vars
            .iter()
            .find(|v| v.var == var)
            .map(|v| v.origin.clone())
            // A variable cp up itself sets: its flags made it.
            .unwrap_or(Origin::Flag("cp up"));
        return Err(SettingsError::Invalid {
            origin,
            reason: e.to_string(),
        });
    }
    if let Some(v) = vars.iter().find(|v| v.var == SYNC_ENV_FILE) {
        sync_env_file_ok(Path::new(&v.value)).map_err(|reason| SettingsError::Invalid {
            origin: v.origin.clone(),
            reason,
        })?;
    }
    Ok(())
}

/// The credentials file must exist and be the owner's alone: coold refuses
/// it otherwise, and this says so before anything starts.
fn sync_env_file_ok(path: &Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} has mode {mode:o}: credentials must not be readable by group or others; chmod 600 it",
            path.display()
        ));
    }
    Ok(())
}

/// sha256 of the sync credentials file, so that `cp up` replaces the agent
/// (which reads it once at start) when the credentials changed.
pub fn sync_env_digest(vars: &[AgentVar]) -> Option<String> {
    let v = vars.iter().find(|v| v.var == SYNC_ENV_FILE)?;
    let bytes = std::fs::read(&v.value).unwrap_or_default();
    Some(hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [&str; 1] = ["COOLD_HOST_MGMT_IP=127.0.0.1"];

    fn env_with(vars: &[AgentVar]) -> Vec<String> {
        BASE.iter()
            .map(|s| s.to_string())
            .chain(vars.iter().map(|v| format!("{}={}", v.var, v.value)))
            .collect()
    }

    #[test]
    fn a_flag_overrides_the_files_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(&file, "[dns]\nzone = \"file.internal\"\nport = 5353\n").unwrap();
        let vars = gather(
            &file,
            vec![("--dns-zone", "COOLD_DNS_ZONE", "flag.internal".into())],
        )
        .unwrap();
        let zone: Vec<_> = vars.iter().filter(|v| v.var == "COOLD_DNS_ZONE").collect();
        assert_eq!(zone.len(), 1);
        assert_eq!(zone[0].value, "flag.internal");
        assert_eq!(zone[0].origin, Origin::Flag("--dns-zone"));
        assert!(vars
            .iter()
            .any(|v| v.var == "COOLD_DNS_PORT" && v.value == "5353"));
    }

    #[test]
    fn a_value_coold_would_refuse_is_named_by_its_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(
            &file,
            "[dns]\nzone = \"ok.internal\"\nupstream = \"not an address\"\n",
        )
        .unwrap();
        let vars = gather(&file, Vec::new()).unwrap();
        let err = check(&env_with(&vars), &vars).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} line 3: dns.upstream: COOLD_DNS_UPSTREAM=",
                file.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_bad_flag_is_named_as_the_flag() {
        let vars = gather(
            Path::new("/nonexistent/agent.toml"),
            vec![("--endpoint-store", "COOLD_ENDPOINT_STORE", "etcd".into())],
        )
        .unwrap();
        let err = check(&env_with(&vars), &vars).unwrap_err().to_string();
        assert!(
            err.starts_with("--endpoint-store: COOLD_ENDPOINT_STORE"),
            "{err}"
        );
    }

    #[test]
    fn a_sync_credentials_file_others_can_read_is_refused_before_start() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("sync.env");
        std::fs::write(&creds, "K=v\n").unwrap();
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(
            &file,
            format!("[sync]\nenv_file = {:?}\n", creds.display().to_string()),
        )
        .unwrap();
        let vars = gather(&file, Vec::new()).unwrap();
        let err = check(&env_with(&vars), &vars).unwrap_err().to_string();
        assert!(
            err.contains("line 2: sync.env_file") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        check(&env_with(&vars), &vars).unwrap();
    }
}
