//! Revoked host tokens, kept across broker restarts.
//!
//! A revocation is per host: every token for that host issued at or before
//! the revocation's second (its `iat`) is refused from then on, including
//! the one its open stream was opened with. A token enrolled later works,
//! so a host is brought back by enrolling it again. Tokens without `iat`
//! are refused for a revoked host: nothing says they are newer.
//!
//! The record is one small JSON file, written before the revocation is
//! answered ([`crate::state_file`]), so a revocation that was answered
//! survives a crash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::jwt::Claims;

/// Why the record could not be read or written; names the file.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error("BROKER_REVOCATIONS_PATH={}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
}

/// One host's revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRevocation {
    /// Tokens with `iat` at or before this (Unix seconds) are refused.
    pub revoked_before: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    version: u32,
    hosts: BTreeMap<String, HostRevocation>,
}

const VERSION: u32 = 1;

/// Whether `claims` fall under `revocation` (pure).
pub fn is_revoked(revocation: Option<&HostRevocation>, claims: &Claims) -> bool {
    match (revocation, claims.iat) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(r), Some(iat)) => iat <= r.revoked_before,
    }
}

/// The revocations in force, and the file they live in.
#[derive(Debug)]
pub struct Revocations {
    path: PathBuf,
    hosts: RwLock<BTreeMap<String, HostRevocation>>,
}

impl Revocations {
    /// Reads the record; a missing file is an empty record, a malformed one
    /// an error (a broker that forgot its revocations must not start).
    pub fn load(path: &Path) -> Result<Revocations, RevocationError> {
        let err = |reason: String| RevocationError::File {
            path: path.to_path_buf(),
            reason,
        };
        let hosts = match std::fs::read(path) {
            Ok(bytes) => {
                let record: Record = serde_json::from_slice(&bytes)
                    .map_err(|e| err(format!("not a revocation record: {e}")))?;
                if record.version != VERSION {
                    return Err(err(format!(
                        "record version {} is not {VERSION}",
                        record.version
                    )));
                }
                record.hosts
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Revocations {
            path: path.to_path_buf(),
            hosts: RwLock::new(hosts),
        })
    }

    pub fn get(&self, host: &str) -> Option<HostRevocation> {
        self.hosts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .copied()
    }

    /// The revocation that refuses these claims, if one does.
    pub fn revoking(&self, claims: &Claims) -> Option<HostRevocation> {
        self.get(&claims.sub)
            .filter(|r| is_revoked(Some(r), claims))
    }

    /// Revokes every token of `host` issued at or before `now` and writes
    /// the record before returning. A second revocation moves the cutoff
    /// forward, never back.
    pub fn revoke(&self, host: &str, now: u64) -> Result<HostRevocation, RevocationError> {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        let mut next = hosts.clone();
        let revoked_before = next.get(host).map_or(now, |r| r.revoked_before.max(now));
        let revocation = HostRevocation { revoked_before };
        next.insert(host.to_string(), revocation);
        self.write(&next)?;
        *hosts = next;
        Ok(revocation)
    }

    fn write(&self, hosts: &BTreeMap<String, HostRevocation>) -> Result<(), RevocationError> {
        let err = |reason: String| RevocationError::File {
            path: self.path.clone(),
            reason,
        };
        let record = Record {
            version: VERSION,
            hosts: hosts.clone(),
        };
        let body = serde_json::to_vec_pretty(&record).map_err(|e| err(e.to_string()))?;
        crate::state_file::write_atomic(&self.path, &body).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, iat: Option<u64>) -> Claims {
        Claims {
            sub: sub.into(),
            aud: crate::jwt::AUDIENCE.into(),
            exp: u64::MAX,
            iat,
            jti: None,
            caps: Vec::new(),
            net: None,
        }
    }

    #[test]
    fn tokens_issued_at_or_before_the_cutoff_are_revoked() {
        let r = HostRevocation {
            revoked_before: 100,
        };
        assert!(is_revoked(Some(&r), &claims("h", Some(99))));
        assert!(is_revoked(Some(&r), &claims("h", Some(100))));
        assert!(!is_revoked(Some(&r), &claims("h", Some(101))));
        assert!(
            is_revoked(Some(&r), &claims("h", None)),
            "no iat: not provably newer"
        );
        assert!(!is_revoked(None, &claims("h", Some(1))));
    }

    #[test]
    fn a_revocation_survives_a_reload_and_other_hosts_are_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/revocations.json");
        let r = Revocations::load(&path).unwrap();
        r.revoke("h1", 100).unwrap();
        let again = Revocations::load(&path).unwrap();
        assert!(again.revoking(&claims("h1", Some(100))).is_some());
        assert!(again.revoking(&claims("h2", Some(1))).is_none());
        assert!(again.revoking(&claims("h1", Some(101))).is_none());
    }

    #[test]
    fn the_cutoff_never_moves_back() {
        let dir = tempfile::tempdir().unwrap();
        let r = Revocations::load(&dir.path().join("r.json")).unwrap();
        r.revoke("h", 200).unwrap();
        let second = r.revoke("h", 150).unwrap();
        assert_eq!(second.revoked_before, 200);
    }

    #[test]
    fn a_malformed_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = Revocations::load(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("BROKER_REVOCATIONS_PATH={}", path.display())),
            "{e}"
        );
    }

    #[test]
    fn an_unwritable_record_refuses_the_revocation_and_keeps_memory_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: the rename fails.
        let path = dir.path().join("r.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("x"), "").unwrap();
        let r = Revocations {
            path: path.clone(),
            hosts: RwLock::default(),
        };
        assert!(r.revoke("h", 100).is_err());
        assert!(r.get("h").is_none());
    }
}
