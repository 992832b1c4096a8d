//! The build driver's `COOLD_BUILD_*` variables (issue 5). Pure, like the
//! rest of `config`: a bad value names its variable.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::{parse, ConfigError, Namespace};

/// How the agent runs builds.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildsConfig {
    /// `COOLD_BUILD_DIR`: one work dir per build below it.
    pub dir: PathBuf,
    /// `COOLD_BUILDER_IMAGE`: image holding `/coolify-builder`; `None` =
    /// the appliance's own image (read from `/run/.containerenv` at start).
    pub image: Option<String>,
    /// `COOLD_BUILD_MEMORY`: memory limit of a build container, bytes.
    pub memory: u64,
    /// `COOLD_BUILD_CPUS`: CPU limit, in CPUs (fractions allowed).
    pub cpus: f64,
    /// `COOLD_BUILD_TIMEOUT`: run time after which the driver stops a build.
    pub timeout: Duration,
    /// `COOLD_BUILD_GRACE`: SIGTERM → SIGKILL delay on cancel and timeout.
    pub grace: Duration,
    /// `COOLD_BUILD_KEEP`: how long a finished build's work dir is kept.
    pub keep: Duration,
    /// `COOLD_BUILD_DENY_CIDRS`: destinations a build container may not reach.
    pub deny_cidrs: Vec<Cidr>,
    /// `COOLD_BUILD_STATIC_BASE_IMAGE`: STATIC stack base, passed to the
    /// builder as `--static-base-image` (its own default otherwise).
    pub static_base_image: Option<String>,
    /// `COOLD_BUILDER_CAPACITY`: builds run at once; more wait in a queue.
    pub capacity: u32,
    /// `COOLD_BUILD_NETWORK`: the Podman network build containers join
    /// (the engine's default network when unset).
    pub network: Option<String>,
    /// `COOLD_BUILD_WARM`: builder containers kept created, fenced and
    /// started ahead of requests (0..=capacity); each serves one build.
    pub warm: u32,
    /// `COOLD_PODMAN_SOCKET_HOST`: where the engine socket is on the host,
    /// the source of its bind into build containers (mounted there at the
    /// agent's own socket path). Inside the appliance the agent sees the
    /// socket at a fixed path whatever the host's is; `None` = the same
    /// path on both sides (an agent outside the appliance).
    pub engine_socket_on_host: Option<PathBuf>,
}

/// An IPv4 network, `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

pub mod defaults {
    pub const DIR: &str = "/var/lib/coolify/builds";
    pub const MEMORY: &str = "2g";
    pub const CPUS: &str = "1";
    pub const TIMEOUT: &str = "30m";
    pub const GRACE: &str = "10s";
    pub const KEEP: &str = "1h";
    pub const CAPACITY: u32 = 2;
    pub const WARM: u32 = 1;
}

fn invalid(var: &'static str, v: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: v.to_string(),
        reason: reason.into(),
    }
}

/// `512m`, `2g`, `1048576`: bytes (binary units), at least 16 MiB.
pub fn size(var: &'static str, v: &str) -> Result<u64, ConfigError> {
    let t = v.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| invalid(var, v, "expected a size such as 512m or 2g"))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| invalid(var, v, "too large"))?;
    if bytes < 16 << 20 {
        return Err(invalid(var, v, "must be at least 16m"));
    }
    Ok(bytes)
}

/// `a.b.c.d/len` or a bare address (`/32`).
pub fn cidr(var: &'static str, v: &str) -> Result<Cidr, ConfigError> {
    let t = v.trim();
    let (a, l) = t.split_once('/').unwrap_or((t, "32"));
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| invalid(var, v, "expected an IPv4 network such as 10.210.0.0/16"))?;
    let len: u8 = l
        .parse()
        .ok()
        .filter(|n| *n <= 32)
        .ok_or_else(|| invalid(var, v, "prefix length must be 0..=32"))?;
    Ok(Cidr { addr, len })
}

/// The default deny list: the mgmt address and each namespace's /24 (the
/// per-host network seed 000 gives a namespace, known by its gateway).
fn default_deny(mgmt: Ipv4Addr, namespaces: &[Namespace]) -> Vec<Cidr> {
    let mut out = vec![Cidr {
        addr: mgmt,
        len: 32,
    }];
    for ns in namespaces {
        if ns.gateway.is_unspecified() {
            continue;
        }
        let o = ns.gateway.octets();
        let c = Cidr {
            addr: Ipv4Addr::new(o[0], o[1], o[2], 0),
            len: 24,
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

impl BuildsConfig {
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        mgmt: Ipv4Addr,
        namespaces: &[Namespace],
    ) -> Result<Self, ConfigError> {
        let or = |var: &str, default: &str| get(var).unwrap_or_else(|| default.to_string());
        let cpus_raw = or("COOLD_BUILD_CPUS", defaults::CPUS);
        let cpus = cpus_raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|c| c.is_finite() && *c >= 0.01 && *c <= 1024.0)
            .ok_or_else(|| {
                invalid(
                    "COOLD_BUILD_CPUS",
                    &cpus_raw,
                    "expected CPUs such as 1 or 0.5",
                )
            })?;
        let deny_cidrs = match get("COOLD_BUILD_DENY_CIDRS") {
            Some(v) if v.trim() == "none" => Vec::new(),
            Some(v) => v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| cidr("COOLD_BUILD_DENY_CIDRS", s))
                .collect::<Result<_, _>>()?,
            None => default_deny(mgmt, namespaces),
        };
        let capacity = match get("COOLD_BUILDER_CAPACITY") {
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| invalid("COOLD_BUILDER_CAPACITY", &v, "expected a number 1..=64"))?,
            None => defaults::CAPACITY,
        };
        let warm = match get("COOLD_BUILD_WARM") {
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= capacity)
                .ok_or_else(|| {
                    invalid(
                        "COOLD_BUILD_WARM",
                        &v,
                        format!("expected a number 0..={capacity} (COOLD_BUILDER_CAPACITY)"),
                    )
                })?,
            None => defaults::WARM.min(capacity),
        };
        Ok(BuildsConfig {
            engine_socket_on_host: get("COOLD_PODMAN_SOCKET_HOST")
                .map(|v| parse::path("COOLD_PODMAN_SOCKET_HOST", &v))
                .transpose()?,
            dir: parse::path("COOLD_BUILD_DIR", &or("COOLD_BUILD_DIR", defaults::DIR))?,
            image: get("COOLD_BUILDER_IMAGE").map(|s| s.trim().to_string()),
            memory: size(
                "COOLD_BUILD_MEMORY",
                &or("COOLD_BUILD_MEMORY", defaults::MEMORY),
            )?,
            cpus,
            timeout: parse::duration(
                "COOLD_BUILD_TIMEOUT",
                &or("COOLD_BUILD_TIMEOUT", defaults::TIMEOUT),
            )?,
            grace: parse::duration(
                "COOLD_BUILD_GRACE",
                &or("COOLD_BUILD_GRACE", defaults::GRACE),
            )?,
            keep: parse::duration("COOLD_BUILD_KEEP", &or("COOLD_BUILD_KEEP", defaults::KEEP))?,
            deny_cidrs,
            static_base_image: get("COOLD_BUILD_STATIC_BASE_IMAGE").map(|s| s.trim().to_string()),
            capacity,
            network: get("COOLD_BUILD_NETWORK").map(|s| s.trim().to_string()),
            warm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<BuildsConfig, ConfigError> {
        let ns = parse::namespaces("COOLD_NAMESPACES", "a:net-a:10.210.3.1,b:net-b:0.0.0.0")
            .expect("namespaces");
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BuildsConfig::from_lookup(|k| map.get(k).cloned(), Ipv4Addr::new(100, 64, 0, 5), &ns)
    }

    #[test]
    fn defaults_deny_the_mgmt_ip_and_namespace_networks() {
        let c = cfg(&[]).expect("defaults");
        let deny: Vec<String> = c.deny_cidrs.iter().map(Cidr::to_string).collect();
        assert_eq!(deny, ["100.64.0.5/32", "10.210.3.0/24"]);
        assert_eq!(c.memory, 2 << 30);
        assert_eq!(c.capacity, 2);
        assert_eq!(c.dir, PathBuf::from(defaults::DIR));
        assert_eq!(c.image, None);
    }

    #[test]
    fn explicit_values_parse() {
        let c = cfg(&[
            ("COOLD_BUILD_MEMORY", "512m"),
            ("COOLD_BUILD_CPUS", "0.5"),
            ("COOLD_BUILD_DENY_CIDRS", "198.18.4.0/24, 198.19.0.9"),
            ("COOLD_BUILDER_CAPACITY", "3"),
            ("COOLD_BUILDER_IMAGE", "localhost/b:1"),
        ])
        .expect("config");
        assert_eq!(c.memory, 512 << 20);
        assert_eq!(c.cpus, 0.5);
        assert_eq!(c.capacity, 3);
        assert_eq!(c.image.as_deref(), Some("localhost/b:1"));
        let deny: Vec<String> = c.deny_cidrs.iter().map(Cidr::to_string).collect();
        assert_eq!(deny, ["198.18.4.0/24", "198.19.0.9/32"]);
        assert!(cfg(&[("COOLD_BUILD_DENY_CIDRS", "none")])
            .expect("none")
            .deny_cidrs
            .is_empty());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("COOLD_BUILD_MEMORY", "lots"),
            ("COOLD_BUILD_MEMORY", "1m"),
            ("COOLD_BUILD_CPUS", "0"),
            ("COOLD_BUILD_CPUS", "nan"),
            ("COOLD_BUILD_TIMEOUT", "forever"),
            ("COOLD_BUILD_DENY_CIDRS", "10.0.0.0/33"),
            ("COOLD_BUILD_DENY_CIDRS", "example.com"),
            ("COOLD_BUILDER_CAPACITY", "0"),
            ("COOLD_BUILD_WARM", "3"),
            ("COOLD_BUILD_WARM", "-1"),
            ("COOLD_BUILD_DIR", "relative/dir"),
        ] {
            let e = cfg(&[(var, value)]).expect_err(var);
            assert!(e.to_string().starts_with(var), "{e}");
        }
    }
}
