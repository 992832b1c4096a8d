//! The broker material of a single-host install (`cp up --with-broker`):
//! `broker init` for whatever is missing (keys are never overwritten; the
//! TLS certificate lasts 90 days and is renewed with under 30 left), then
//! this host's token. The token is minted when absent
//! and again when it no longer fits: another host id or capabilities,
//! expiring within [`RENEW_BEFORE`], or not verifiable with `jwt.pub`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coolify_broker::jwt::{self, JwtVerifier};
use sha2::{Digest, Sha256};

use super::init;
use crate::args::broker::{InitArgs, SingleHostArgs};

/// Lifetime of a minted host token.
const TOKEN_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// A token closer than this to its expiry is renewed by the next `cp up`.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Files the broker and the agent containers mount (read-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleHostFiles {
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub jwt_pub: PathBuf,
    /// Signs the broker certificate; the agent trusts it.
    pub ca: PathBuf,
    pub token_file: PathBuf,
    /// sha256 of the token, so a renewed token replaces the agent container
    /// (a bind-mounted file keeps showing the old inode after a rename).
    pub token_sha256: String,
    /// sha256 of the TLS certificate, so a renewed one replaces the broker
    /// container (same reason; the broker reads it only at start).
    pub tls_cert_sha256: String,
}

/// What `ensure` did with the token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAction {
    Minted,
    Kept,
    Renewed { reason: String },
}

/// The host id: `--host-id`, else the host name; checked like the
/// broker checks a token's `sub`.
pub fn host_id(a: &SingleHostArgs) -> Result<String, String> {
    let id = match &a.host_id {
        Some(id) => id.clone(),
        None => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .map_err(|e| format!("--host-id: cannot read the host name ({e}); pass one"))?,
    };
    coolify_broker::jwt::validate_host_id(&id).map_err(|e| {
        format!("--host-id: {e} (the default is the host name; pass one that fits)")
    })?;
    Ok(id)
}

/// `--broker-socket-group` as a gid: the scratch image has no
/// /etc/group, so a name is resolved here, on the host.
pub fn socket_gid(a: &SingleHostArgs) -> Result<Option<u32>, String> {
    let Some(g) = a.broker_socket_group.as_deref() else {
        return Ok(None);
    };
    if let Ok(n) = g.parse::<u32>() {
        return Ok(Some(n));
    }
    match nix::unistd::Group::from_name(g) {
        Ok(Some(group)) => Ok(Some(group.gid.as_raw())),
        Ok(None) => Err(format!(
            "--broker-socket-group {g}: no such group on this host"
        )),
        Err(e) => Err(format!("--broker-socket-group {g}: {e}")),
    }
}

/// The token file under the config dir.
pub fn token_path(config_dir: &Path) -> PathBuf {
    config_dir.join("broker").join("host.jwt")
}

/// What [`ensure`] made: the files, which of them it created and renewed,
/// and what it did with the token.
pub type Ensured = (SingleHostFiles, Vec<String>, Vec<String>, TokenAction);

/// Creates what is missing and renews a TLS certificate that is due.
/// `names` are extra certificate names (the address the agent dials when
/// it is not loopback).
pub fn ensure(
    config_dir: &Path,
    host_id: &str,
    caps: &[String],
    names: Vec<String>,
) -> Result<Ensured, String> {
    jwt::validate_host_id(host_id).map_err(|e| format!("--host-id: {e}"))?;
    let lines = init::init(config_dir, &InitArgs { names }, init::CertLife::Renewed)?;
    let with_prefix = |prefix: &str| -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(prefix).map(str::to_string))
            .collect()
    };
    let (created, renewed) = (with_prefix("created "), with_prefix("renewed "));
    let dir = config_dir.join("broker");
    let jwt_pub = config_dir.join("jwt.pub");
    let token_file = token_path(config_dir);
    let verifier = JwtVerifier::load(&jwt_pub).map_err(|e| e.to_string())?;
    let existing = match std::fs::read_to_string(&token_file) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: cannot read: {e}", token_file.display())),
    };
    let action = match existing
        .as_deref()
        .map(|t| misfit(&verifier, t, host_id, caps))
    {
        Some(None) => TokenAction::Kept,
        Some(Some(reason)) => TokenAction::Renewed { reason },
        None => TokenAction::Minted,
    };
    let token = match &action {
        TokenAction::Kept => existing.unwrap_or_default(),
        _ => {
            let key_path = dir.join("jwt.key");
            let key = std::fs::read(&key_path)
                .map_err(|e| format!("{}: cannot read: {e}", key_path.display()))?;
            let token = jwt::mint_es256(&key, host_id, caps, TOKEN_TTL)
                .map_err(|e| format!("--host-id {host_id}: {e}"))?;
            write_private(&token_file, token.as_bytes())?;
            token
        }
    };
    let tls_cert = dir.join("broker.crt");
    let cert = std::fs::read(&tls_cert)
        .map_err(|e| format!("{}: cannot read: {e}", tls_cert.display()))?;
    let files = SingleHostFiles {
        tls_cert_sha256: hex::encode(Sha256::digest(&cert)),
        tls_cert,
        tls_key: dir.join("broker.key"),
        ca: dir.join("ca.crt"),
        jwt_pub,
        token_sha256: hex::encode(Sha256::digest(token.trim().as_bytes())),
        token_file,
    };
    Ok((files, created, renewed, action))
}

/// Why `token` cannot serve `host_id` with `caps`, or `None` when it can.
fn misfit(verifier: &JwtVerifier, token: &str, host_id: &str, caps: &[String]) -> Option<String> {
    let claims = match verifier.verify(token.trim()) {
        Ok(c) => c,
        Err(e) => return Some(format!("not valid for this broker: {e}")),
    };
    if claims.sub != host_id {
        return Some(format!("host id {} → {host_id}", claims.sub));
    }
    let (mut have, mut want) = (claims.caps.clone(), caps.to_vec());
    have.sort();
    want.sort();
    if have != want {
        return Some(format!("capabilities {have:?} → {want:?}"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if claims.exp < now + RENEW_BEFORE.as_secs() {
        return Some("expires within 30 days".into());
    }
    None
}

/// Writes `data` with mode 0600 under a temporary name, then renames it
/// into place, so a reader never sees half a token.
fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("jwt.tmp");
    let _ = std::fs::remove_file(&tmp);
    let err = |e: std::io::Error| format!("{}: cannot write: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(data).and_then(|_| f.sync_all()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn caps(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn first_run_mints_a_0600_token_the_broker_key_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let (files, created, _, action) = ensure(dir.path(), "web-1", &[], vec![]).unwrap();
        assert_eq!(action, TokenAction::Minted);
        assert!(
            created.iter().any(|c| c.ends_with("jwt.key")),
            "{created:?}"
        );
        let mode = std::fs::metadata(&files.token_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let token = std::fs::read_to_string(&files.token_file).unwrap();
        let claims = JwtVerifier::load(&files.jwt_pub)
            .unwrap()
            .verify(&token)
            .unwrap();
        assert_eq!(claims.sub, "web-1");
        assert!(claims.caps.is_empty());
    }

    #[test]
    fn second_run_keeps_keys_and_token() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _, _, _) = ensure(dir.path(), "web-1", &caps(&["builder"]), vec![]).unwrap();
        let key = std::fs::read(dir.path().join("broker/jwt.key")).unwrap();
        let (second, created, _, action) =
            ensure(dir.path(), "web-1", &caps(&["builder"]), vec![]).unwrap();
        assert_eq!(action, TokenAction::Kept);
        assert!(created.is_empty(), "{created:?}");
        assert_eq!(first, second);
        assert_eq!(
            std::fs::read(dir.path().join("broker/jwt.key")).unwrap(),
            key
        );
    }

    #[test]
    fn other_caps_or_host_id_renew_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _, _, _) = ensure(dir.path(), "web-1", &[], vec![]).unwrap();
        let (second, _, _, action) =
            ensure(dir.path(), "web-1", &caps(&["builder"]), vec![]).unwrap();
        assert!(
            matches!(action, TokenAction::Renewed { ref reason } if reason.contains("capabilities"))
        );
        assert_ne!(first.token_sha256, second.token_sha256);
        let (_, _, _, action) = ensure(dir.path(), "web-2", &caps(&["builder"]), vec![]).unwrap();
        assert!(matches!(action, TokenAction::Renewed { ref reason } if reason.contains("web-2")));
    }

    #[test]
    fn a_token_of_another_key_is_renewed() {
        let dir = tempfile::tempdir().unwrap();
        ensure(dir.path(), "web-1", &[], vec![]).unwrap();
        std::fs::write(token_path(dir.path()), "not.a.token").unwrap();
        let (_, _, _, action) = ensure(dir.path(), "web-1", &[], vec![]).unwrap();
        assert!(
            matches!(action, TokenAction::Renewed { ref reason } if reason.contains("not valid"))
        );
    }

    #[test]
    fn a_bad_host_id_names_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure(dir.path(), "web/1", &[], vec![]).unwrap_err();
        assert!(err.starts_with("--host-id"), "{err}");
    }
}
