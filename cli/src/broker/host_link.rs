//! `cp up --broker-url …`: the flags that wire the agent to a remote broker,
//! resolved into the files the appliance mounts.

use std::path::{Path, PathBuf};

use crate::args::broker::HostLinkArgs;

/// The resolved link: host files to mount into the appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    pub url: String,
    pub token_file: PathBuf,
    pub ca: PathBuf,
    /// sha256 of the token when `cp up` minted it (`--with-broker`): a new
    /// token must replace the container, which sees the mounted file's old
    /// inode otherwise.
    pub token_sha256: Option<String>,
}

/// `None` when no broker is wanted; an error names the missing flag.
pub fn resolve_link(a: &HostLinkArgs, config_dir: &Path) -> Result<Option<HostLink>, String> {
    let Some(url) = a.broker_url.clone().filter(|u| !u.trim().is_empty()) else {
        if a.host_token_file.is_some() {
            return Err("--host-token-file needs --broker-url".into());
        }
        return Ok(None);
    };
    let token_file = a
        .host_token_file
        .clone()
        .ok_or("--broker-url needs --host-token-file (from `coolify broker enroll`)")?;
    let ca = a
        .broker_ca
        .clone()
        .unwrap_or_else(|| config_dir.join("broker").join("ca.crt"));
    for (flag, path) in [("--host-token-file", &token_file), ("--broker-ca", &ca)] {
        if !path.is_file() {
            return Err(format!("{flag} {}: no such file", path.display()));
        }
    }
    // Mount sources must be absolute for the engine.
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    Ok(Some(HostLink {
        url,
        token_file: abs(token_file),
        ca: abs(ca),
        token_sha256: None,
    }))
}
