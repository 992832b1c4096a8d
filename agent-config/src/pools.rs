//! The pools' and workload specs' `COOLD_*` variables; each error names its
//! variable.

use std::path::PathBuf;
use std::time::Duration;

use super::{parse, ConfigError};

/// Where specs, per-container dirs and claims live.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// `COOLD_WORKLOADS_DIR`: one YAML spec per workload.
    pub workloads_dir: PathBuf,
    /// `COOLD_STATES_DIR`: `<dir>/<container>` state dirs.
    pub states_dir: PathBuf,
    /// `COOLD_SECRETS_DIR`: `<dir>/<container>` secrets dirs.
    pub secrets_dir: PathBuf,
    /// `COOLD_POOL_REFILL_INTERVAL`: pools are checked at least this often.
    pub refill_interval: Duration,
}

pub mod defaults {
    pub const WORKLOADS_DIR: &str = "/etc/coolify/workloads";
    pub const STATES_DIR: &str = "/var/lib/coolify/states";
    pub const SECRETS_DIR: &str = "/var/lib/coolify/secrets";
    pub const REFILL_INTERVAL: &str = "5s";
}

pub fn read(get: &dyn Fn(&str) -> Option<String>) -> Result<PoolSettings, ConfigError> {
    let or = |var: &str, default: &str| get(var).unwrap_or_else(|| default.to_string());
    let states_dir = parse::path(
        "COOLD_STATES_DIR",
        &or("COOLD_STATES_DIR", defaults::STATES_DIR),
    )?;
    let secrets_dir = parse::path(
        "COOLD_SECRETS_DIR",
        &or("COOLD_SECRETS_DIR", defaults::SECRETS_DIR),
    )?;
    if states_dir.starts_with(&secrets_dir) || secrets_dir.starts_with(&states_dir) {
        return Err(ConfigError::Invalid {
            var: "COOLD_SECRETS_DIR",
            value: secrets_dir.display().to_string(),
            reason: "must not contain or lie inside COOLD_STATES_DIR".into(),
        });
    }
    Ok(PoolSettings {
        workloads_dir: parse::path(
            "COOLD_WORKLOADS_DIR",
            &or("COOLD_WORKLOADS_DIR", defaults::WORKLOADS_DIR),
        )?,
        states_dir,
        secrets_dir,
        refill_interval: parse::duration(
            "COOLD_POOL_REFILL_INTERVAL",
            &or("COOLD_POOL_REFILL_INTERVAL", defaults::REFILL_INTERVAL),
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<PoolSettings, ConfigError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        read(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_documented_paths() {
        let s = with(&[]).unwrap();
        assert_eq!(s.workloads_dir, PathBuf::from(defaults::WORKLOADS_DIR));
        assert_eq!(s.states_dir, PathBuf::from(defaults::STATES_DIR));
        assert_eq!(s.refill_interval, Duration::from_secs(5));
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            ("COOLD_WORKLOADS_DIR", "relative/dir"),
            ("COOLD_STATES_DIR", "states"),
            ("COOLD_SECRETS_DIR", "/var/lib/coolify/states/secrets"),
            ("COOLD_POOL_REFILL_INTERVAL", "often"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert!(e.to_string().contains(var), "{var}: {e}");
        }
    }
}
