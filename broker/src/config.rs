//! Broker configuration from `BROKER_*` variables (seed 000, "broker env
//! vars", plus TLS and queue settings). A bad value fails start with a
//! [`ConfigError`] naming the variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `BROKER_GRPC_BIND`: where coold dials in.
    pub grpc_bind: SocketAddr,
    /// `BROKER_UNIX_SOCKET_PATH`: the central app's lane.
    pub unix_socket_path: PathBuf,
    /// `BROKER_UNIX_SOCKET_GROUP`: group name or gid granted 0660.
    pub unix_socket_group: Option<String>,
    /// `BROKER_PENDING_MAX`: in-flight plus landed requests.
    pub pending_max: usize,
    /// `BROKER_JWT_PUBLIC_KEY_PATH`: verifies host tokens.
    pub jwt_public_key_path: PathBuf,
    /// `BROKER_LOG_LEVEL`: tracing EnvFilter directive.
    pub log_level: String,
    /// `BROKER_DISPATCH_TIMEOUT_SECS`: how long a sync dispatch waits.
    pub dispatch_timeout: Duration,
    /// `BROKER_TLS_CERT` / `BROKER_TLS_KEY`: the gRPC listener's identity.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// `BROKER_HOST_QUEUE`: frames queued per host before 503.
    pub host_queue: usize,
    /// Revoked hosts' token cutoffs (`coolify broker revoke`), kept across
    /// restarts.
    pub revocations_path: PathBuf,
    /// `BROKER_BUILDS_PATH`: builds dispatched and not landed, kept across
    /// restarts (`build_journal`).
    pub builds_path: PathBuf,
}

pub mod defaults {
    pub const GRPC_BIND: &str = "0.0.0.0:6443";
    pub const UNIX_SOCKET_PATH: &str = "/run/coolify/broker.sock";
    pub const PENDING_MAX: &str = "10000";
    pub const JWT_PUBLIC_KEY_PATH: &str = "/etc/coolify/jwt.pub";
    pub const LOG_LEVEL: &str = "info";
    pub const DISPATCH_TIMEOUT_SECS: &str = "10";
    pub const TLS_CERT: &str = "/etc/coolify/broker/broker.crt";
    pub const TLS_KEY: &str = "/etc/coolify/broker/broker.key";
    pub const HOST_QUEUE: &str = "1024";
    pub const REVOCATIONS_PATH: &str = "/var/lib/coolify/broker/revocations.json";
    pub const BUILDS_PATH: &str = "/var/lib/coolify/broker/builds.json";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn number(var: &'static str, v: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    let n: u64 = v
        .trim()
        .parse()
        .map_err(|_| invalid(var, v, "not a whole number"))?;
    if n < min || n > max {
        return Err(invalid(var, v, format!("must be {min}..={max}")));
    }
    Ok(n)
}

fn path(var: &'static str, v: &str) -> Result<PathBuf, ConfigError> {
    if !v.starts_with('/') {
        return Err(invalid(var, v, "must be an absolute path"));
    }
    Ok(PathBuf::from(v))
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let or = |var: &str, d: &str| get(var).unwrap_or_else(|| d.to_string());

        let bind = or("BROKER_GRPC_BIND", defaults::GRPC_BIND);
        let grpc_bind = bind
            .parse()
            .map_err(|_| invalid("BROKER_GRPC_BIND", &bind, "expected ip:port"))?;
        let group = get("BROKER_UNIX_SOCKET_GROUP");
        if let Some(g) = &group {
            let ok = g
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            if !ok {
                return Err(invalid(
                    "BROKER_UNIX_SOCKET_GROUP",
                    g,
                    "expected a group name or gid",
                ));
            }
        }
        let log_level = or("BROKER_LOG_LEVEL", defaults::LOG_LEVEL);
        Ok(Config {
            grpc_bind,
            unix_socket_path: path(
                "BROKER_UNIX_SOCKET_PATH",
                &or("BROKER_UNIX_SOCKET_PATH", defaults::UNIX_SOCKET_PATH),
            )?,
            unix_socket_group: group,
            pending_max: number(
                "BROKER_PENDING_MAX",
                &or("BROKER_PENDING_MAX", defaults::PENDING_MAX),
                1,
                10_000_000,
            )? as usize,
            jwt_public_key_path: path(
                "BROKER_JWT_PUBLIC_KEY_PATH",
                &or("BROKER_JWT_PUBLIC_KEY_PATH", defaults::JWT_PUBLIC_KEY_PATH),
            )?,
            log_level,
            dispatch_timeout: Duration::from_secs(number(
                "BROKER_DISPATCH_TIMEOUT_SECS",
                &or(
                    "BROKER_DISPATCH_TIMEOUT_SECS",
                    defaults::DISPATCH_TIMEOUT_SECS,
                ),
                1,
                3600,
            )?),
            tls_cert: path(
                "BROKER_TLS_CERT",
                &or("BROKER_TLS_CERT", defaults::TLS_CERT),
            )?,
            tls_key: path("BROKER_TLS_KEY", &or("BROKER_TLS_KEY", defaults::TLS_KEY))?,
            host_queue: number(
                "BROKER_HOST_QUEUE",
                &or("BROKER_HOST_QUEUE", defaults::HOST_QUEUE),
                1,
                1_000_000,
            )? as usize,
            revocations_path: path(
                "BROKER_REVOCATIONS_PATH",
                &or("BROKER_REVOCATIONS_PATH", defaults::REVOCATIONS_PATH),
            )?,
            builds_path: path(
                "BROKER_BUILDS_PATH",
                &or("BROKER_BUILDS_PATH", defaults::BUILDS_PATH),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_follow_seed_000() {
        let c = with(&[]).expect("defaults");
        assert_eq!(c.grpc_bind.to_string(), "0.0.0.0:6443");
        assert_eq!(
            c.unix_socket_path,
            PathBuf::from("/run/coolify/broker.sock")
        );
        assert_eq!(c.pending_max, 10_000);
        assert_eq!(c.dispatch_timeout, Duration::from_secs(10));
        assert_eq!(c.unix_socket_group, None);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("BROKER_GRPC_BIND", "nope"),
            ("BROKER_UNIX_SOCKET_PATH", "relative.sock"),
            ("BROKER_UNIX_SOCKET_GROUP", "php fpm"),
            ("BROKER_PENDING_MAX", "0"),
            ("BROKER_PENDING_MAX", "ten"),
            ("BROKER_JWT_PUBLIC_KEY_PATH", "jwt.pub"),
            ("BROKER_DISPATCH_TIMEOUT_SECS", "0"),
            ("BROKER_TLS_CERT", "x"),
            ("BROKER_HOST_QUEUE", "-1"),
        ] {
            let err = with(&[(var, value)]).expect_err(var);
            assert_eq!(err.var, var, "{err}");
        }
    }
}
