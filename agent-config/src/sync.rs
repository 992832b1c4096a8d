//! How tenant state sync runs rclone: `COOLD_RCLONE_BIN`,
//! `COOLD_SYNC_TIMEOUT`, `COOLD_SYNC_ENV_FILE`. Kept apart from the rest of the agent's config so
//! the sync concern's settings stay in one place.

use std::path::PathBuf;
use std::time::Duration;

use super::{parse, ConfigError};

/// Default rclone: a bare name, searched in `PATH` (or, in the appliance,
/// in the host root's bin dirs, since rclone runs chrooted there).
pub const RCLONE_BIN: &str = "rclone";
/// Default bound on one rclone run (one mapping of one sync).
pub const SYNC_TIMEOUT: &str = "10m";

/// Settings of the agent's tenant state sync (`coold`'s `tenant_sync`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// `COOLD_RCLONE_BIN`: a bare name or an absolute path.
    pub rclone_bin: PathBuf,
    /// `COOLD_SYNC_TIMEOUT`: an rclone run is killed after this.
    pub timeout: Duration,
    /// `COOLD_SYNC_ENV_FILE`: `NAME=value` lines that a spec's
    /// `access_key_id_env` / `secret_access_key_env` may name, read once at
    /// start; they are looked up there before the agent's environment.
    /// Keeps sink credentials out of the container's recorded environment.
    pub env_file: Option<PathBuf>,
}

impl SyncConfig {
    /// From `get(var)`, which already treats empty values as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let rclone = get("COOLD_RCLONE_BIN").unwrap_or_else(|| RCLONE_BIN.into());
        let rclone = rclone.trim();
        if !rclone.starts_with('/') && rclone.contains('/') {
            return Err(ConfigError::Invalid {
                var: "COOLD_RCLONE_BIN",
                value: rclone.into(),
                reason: "expected a bare name (rclone) or an absolute path".into(),
            });
        }
        Ok(SyncConfig {
            rclone_bin: PathBuf::from(rclone),
            timeout: parse::duration(
                "COOLD_SYNC_TIMEOUT",
                &get("COOLD_SYNC_TIMEOUT").unwrap_or_else(|| SYNC_TIMEOUT.into()),
            )?,
            env_file: get("COOLD_SYNC_ENV_FILE")
                .map(|v| parse::path("COOLD_SYNC_ENV_FILE", &v))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<SyncConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SyncConfig::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_run_rclone_from_path_for_at_most_ten_minutes() {
        let c = from(&[]).unwrap();
        assert_eq!(c.rclone_bin, PathBuf::from("rclone"));
        assert_eq!(c.timeout, Duration::from_secs(600));
        assert_eq!(c.env_file, None);
    }

    #[test]
    fn overrides_are_read() {
        let c = from(&[
            ("COOLD_RCLONE_BIN", "/opt/rclone/bin/rclone"),
            ("COOLD_SYNC_TIMEOUT", "90s"),
            ("COOLD_SYNC_ENV_FILE", "/etc/coolify/sync.env"),
        ])
        .unwrap();
        assert_eq!(c.env_file, Some(PathBuf::from("/etc/coolify/sync.env")));
        assert_eq!(c.rclone_bin, PathBuf::from("/opt/rclone/bin/rclone"));
        assert_eq!(c.timeout, Duration::from_secs(90));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pair, var) in [
            (("COOLD_RCLONE_BIN", "bin/rclone"), "COOLD_RCLONE_BIN"),
            (("COOLD_SYNC_TIMEOUT", "soon"), "COOLD_SYNC_TIMEOUT"),
            (("COOLD_SYNC_TIMEOUT", "0s"), "COOLD_SYNC_TIMEOUT"),
            (("COOLD_SYNC_ENV_FILE", "sync.env"), "COOLD_SYNC_ENV_FILE"),
        ] {
            match from(&[pair]) {
                Err(ConfigError::Invalid { var: got, .. }) => assert_eq!(got, var),
                other => panic!("{pair:?}: expected an error naming {var}, got {other:?}"),
            }
        }
    }
}
