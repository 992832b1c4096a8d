//! Value parsers for `COOLD_*` variables; each error names its variable.

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;

/// One entry of `COOLD_NAMESPACES`: a tenancy unit and its bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub network: String,
    pub gateway: Ipv4Addr,
}

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_string(),
        reason: reason.into(),
    }
}

pub fn ipv4(var: &'static str, v: &str) -> Result<Ipv4Addr, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| invalid(var, v, "expected an IPv4 address such as 100.64.0.5"))
}

pub fn socket_addr(var: &'static str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| invalid(var, v, "expected IP:PORT such as 127.0.0.1:8442"))
}

/// `COOLD_API_BIND` takes `IP:PORT` or `INTERFACE:PORT` (seed 000 writes
/// `wg0:8443`); an interface resolves to its first IPv4 address at start.
pub fn bind(var: &'static str, v: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = v.trim().parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (iface, port) = v.trim().rsplit_once(':').ok_or_else(|| {
        invalid(
            var,
            v,
            "expected IP:PORT or INTERFACE:PORT such as wg0:8443",
        )
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(var, v, "port must be a number 1-65535"))?;
    if iface.is_empty()
        || !iface
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(invalid(
            var,
            v,
            "expected IP:PORT or INTERFACE:PORT such as wg0:8443",
        ));
    }
    let ip = interface_ipv4(iface)
        .ok_or_else(|| invalid(var, v, format!("interface {iface} has no IPv4 address")))?;
    Ok(SocketAddr::new(ip.into(), port))
}

fn interface_ipv4(iface: &str) -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        if a.interface_name != iface {
            return None;
        }
        a.address?.as_sockaddr_in().map(|s| s.ip())
    })
}

pub fn port(var: &'static str, v: &str) -> Result<u16, ConfigError> {
    match v.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(invalid(var, v, "expected a port number 1-65535")),
    }
}

pub fn flag(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            var,
            v,
            "expected 1/0, true/false, yes/no or on/off",
        )),
    }
}

pub fn duration(var: &'static str, v: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(v.trim()).map_err(|e| {
        invalid(
            var,
            v,
            format!("expected a duration such as 2s or 500ms ({e})"),
        )
    })?;
    if d.is_zero() {
        return Err(invalid(var, v, "must be greater than zero"));
    }
    Ok(d)
}

pub fn path(var: &'static str, v: &str) -> Result<PathBuf, ConfigError> {
    let p = PathBuf::from(v.trim());
    if !p.is_absolute() {
        return Err(invalid(var, v, "must be an absolute path"));
    }
    Ok(p)
}

/// A DNS zone: dot-separated labels of letters, digits and hyphens.
pub fn zone(var: &'static str, v: &str) -> Result<String, ConfigError> {
    let z = v.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if z.is_empty() || z.len() > 253 || !z.split('.').all(label_ok) {
        return Err(invalid(
            var,
            v,
            "expected a DNS zone such as coolify.internal",
        ));
    }
    Ok(z)
}

pub fn broker_url(var: &'static str, v: &str) -> Result<String, ConfigError> {
    let v = v.trim();
    let rest = ["grpcs://", "grpc://", "https://", "http://"]
        .iter()
        .find_map(|s| v.strip_prefix(s))
        .ok_or_else(|| {
            invalid(
                var,
                v,
                "scheme must be grpcs://, grpc://, https:// or http://",
            )
        })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(invalid(var, v, "missing host"));
    }
    // Resolution is the broker client's job; here only the shape is checked.
    if !authority.contains(':') && authority.to_socket_addrs().is_err() {
        return Err(invalid(var, v, "expected HOST:PORT after the scheme"));
    }
    Ok(v.to_string())
}

/// `<name>:<network>:<gateway-ip>,…` with unique names.
pub fn namespaces(var: &'static str, v: &str) -> Result<Vec<Namespace>, ConfigError> {
    let mut out: Vec<Namespace> = Vec::new();
    for entry in v.split(',').map(str::trim) {
        let parts: Vec<&str> = entry.split(':').collect();
        let [name, network, gateway] = parts[..] else {
            return Err(invalid(
                var,
                v,
                format!("entry {entry:?} must be <name>:<network>:<gateway-ip>"),
            ));
        };
        let ident_ok = |s: &str, max: usize| {
            !s.is_empty()
                && s.len() <= max
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ident_ok(name, 63) {
            return Err(invalid(
                var,
                v,
                format!("entry {entry:?}: namespace name {name:?} must be 1-63 of [A-Za-z0-9_-]"),
            ));
        }
        if !ident_ok(network, 255) {
            return Err(invalid(
                var,
                v,
                format!("entry {entry:?}: network {network:?} must be 1-255 of [A-Za-z0-9_-]"),
            ));
        }
        let gateway: Ipv4Addr = gateway.parse().map_err(|_| {
            invalid(
                var,
                v,
                format!("entry {entry:?}: gateway {gateway:?} is not an IPv4 address"),
            )
        })?;
        if out.iter().any(|n| n.name == name) {
            return Err(invalid(
                var,
                v,
                format!("namespace {name:?} is listed twice"),
            ));
        }
        out.push(Namespace {
            name: name.to_string(),
            network: network.to_string(),
            gateway,
        });
    }
    Ok(out)
}

/// Comma-separated absolute paths; `..` components are refused so that an
/// allowlist entry means what it says.
pub fn path_list(var: &'static str, v: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let mut out = Vec::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let p = PathBuf::from(entry);
        if !p.is_absolute() {
            return Err(invalid(
                var,
                v,
                format!("{entry:?} must be an absolute path"),
            ));
        }
        if p.components().any(|c| c == std::path::Component::ParentDir) {
            return Err(invalid(var, v, format!("{entry:?} must not contain `..`")));
        }
        if p == std::path::Path::new("/") {
            return Err(invalid(
                var,
                v,
                "`/` would allow binding the whole host; list the directories instead",
            ));
        }
        out.push(p.components().collect());
    }
    Ok(out)
}

/// Comma-separated runtime names (`runc,crun,runsc`), at least one.
pub fn runtimes(var: &'static str, v: &str) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for name in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let ok = name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            return Err(invalid(
                var,
                v,
                format!("runtime name {name:?} must be 1-64 of [A-Za-z0-9._-]"),
            ));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    if out.is_empty() {
        return Err(invalid(var, v, "list at least one runtime, e.g. runc"));
    }
    Ok(out)
}
