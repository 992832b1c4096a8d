//! The deny filter on `POST /containers` (seed 000, "Security boundary"):
//! it runs before Podman sees the request and refuses anything that would
//! hand a container the host: privileged mode, host-owning capabilities,
//! host namespaces, devices, bind mounts outside `COOLD_BIND_ALLOWLIST`,
//! and security options that lift seccomp/AppArmor confinement.
//!
//! Pure decision, except that bind sources are resolved against the
//! filesystem the agent sees (symlinks are followed, see [`path`]); callers
//! turn a [`Denied`] into a 403 naming its field.

pub mod path;

use std::path::PathBuf;

use crate::containers::types::{CreateContainer, MountKind};

/// Capabilities that own the host, refused in `cap_add` (with or without
/// the `CAP_` prefix, any case). `ALL` would include every one of them.
pub const DENIED_CAPABILITIES: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "DAC_READ_SEARCH",
    "BPF",
    "PERFMON",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "SYS_TIME",
];

/// Security options accepted as they are. Everything else (seccomp,
/// AppArmor or SELinux overrides, `systempaths=unconfined`, …) is refused:
/// the engine's default profiles always apply.
const ALLOWED_SECURITY_OPTS: &[&str] = &[
    "no-new-privileges",
    "no-new-privileges:true",
    "no-new-privileges=true",
];

/// What the filter allows, from configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DenyPolicy {
    /// Host directories under which bind sources may lie, already
    /// normalised. Empty: no bind mounts at all.
    pub bind_allowlist: Vec<PathBuf>,
}

/// A refused request: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Denied {
    pub field: String,
    pub reason: String,
    /// True when the field is malformed rather than forbidden (400, not 403).
    pub malformed: bool,
}

fn deny(field: impl Into<String>, reason: impl Into<String>) -> Denied {
    Denied {
        field: field.into(),
        reason: reason.into(),
        malformed: false,
    }
}

fn malformed(field: impl Into<String>, reason: impl Into<String>) -> Denied {
    Denied {
        field: field.into(),
        reason: reason.into(),
        malformed: true,
    }
}

/// A name a network or volume may have: no `:` (so no `container:x`,
/// `ns:/proc/1/ns/net`), no `/`.
fn plain_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && s.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Checks a create request against the policy; the first refusal wins.
pub fn check(req: &CreateContainer, policy: &DenyPolicy) -> Result<(), Denied> {
    if req.privileged {
        return Err(deny("privileged", "privileged containers are not allowed"));
    }
    for (i, cap) in req.cap_add.iter().enumerate() {
        let norm = cap.trim().to_ascii_uppercase();
        let norm = norm.strip_prefix("CAP_").unwrap_or(&norm);
        if DENIED_CAPABILITIES.contains(&norm) {
            return Err(deny(
                format!("cap_add[{i}]"),
                format!("capability {cap} owns the host and is not allowed"),
            ));
        }
    }
    if let Some(net) = req.network.as_deref() {
        if net == "host" {
            return Err(deny(
                "network",
                "the host network is reserved for the agent itself",
            ));
        }
        if !plain_name(net) {
            return Err(deny(
                "network",
                "network must be a network name, `bridge` or `none` (no `container:` or `ns:` joins)",
            ));
        }
    }
    let namespaces = [
        ("pid_mode", &req.pid_mode),
        ("ipc_mode", &req.ipc_mode),
        ("uts_mode", &req.uts_mode),
        ("userns_mode", &req.userns_mode),
    ];
    for (field, mode) in namespaces {
        match mode.as_deref().map(str::trim) {
            None | Some("") | Some("private") => {}
            Some("auto") if field == "userns_mode" => {}
            Some("shareable") | Some("none") if field == "ipc_mode" => {}
            Some(other) => {
                return Err(deny(
                    field,
                    format!(
                    "{field} {other:?} would share a namespace with the host or another container"
                ),
                ))
            }
        }
    }
    if !req.devices.is_empty() {
        return Err(deny("devices", "host devices are not allowed"));
    }
    for (i, opt) in req.security_opt.iter().enumerate() {
        if !ALLOWED_SECURITY_OPTS.contains(&opt.trim()) {
            return Err(deny(
                format!("security_opt[{i}]"),
                format!("{opt:?} is not allowed; only no-new-privileges is, the engine's seccomp and AppArmor profiles always apply"),
            ));
        }
    }
    for (i, m) in req.mounts.iter().enumerate() {
        let field = format!("mounts[{i}].source");
        if !m.target.starts_with('/') {
            return Err(malformed(
                format!("mounts[{i}].target"),
                "target must be an absolute path",
            ));
        }
        match m.kind {
            MountKind::Tmpfs => {
                if m.source.is_some() {
                    return Err(malformed(field, "a tmpfs mount has no source"));
                }
            }
            MountKind::Volume => match m.source.as_deref() {
                Some(name) if plain_name(name) => {}
                _ => {
                    return Err(malformed(
                        field,
                        "a volume mount needs a volume name ([A-Za-z0-9][A-Za-z0-9_.-]*)",
                    ))
                }
            },
            MountKind::Bind => {
                let Some(source) = m.source.as_deref() else {
                    return Err(malformed(
                        field,
                        "a bind mount needs an absolute source path",
                    ));
                };
                let resolved = path::resolve(source)
                    .ok_or_else(|| malformed(field.clone(), "source must be an absolute path"))?;
                let allowed = policy.bind_allowlist.iter().any(|root| {
                    path::resolve_path(root).is_some_and(|root| resolved.starts_with(&root))
                });
                if !allowed {
                    return Err(deny(
                        field,
                        format!(
                            "bind source {source} (resolved {}) is outside COOLD_BIND_ALLOWLIST",
                            resolved.display()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
