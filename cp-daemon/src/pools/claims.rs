//! The durable claims record: which pool container each tenant holds.
//!
//! Why a file and not labels: Podman's container labels are fixed at
//! create, and a reused container changes hands, so a label can say what a
//! container is (`coolify.pool.workload`) but not who holds it now. Renaming
//! the container would work for one field but not for the claim time or a
//! release in progress. So the claim lives in one small JSON file under
//! `COOLD_DATA_DIR/pools/claims.json`, rewritten whole and atomically (tmp,
//! fsync, rename, fsync dir) before a claim or release answers: nothing
//! lives only in memory, and recovery joins this record with the labelled
//! containers the engine still has.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One claim: a tenant holds a container of a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub tenant: String,
    pub workload: String,
    /// Unix seconds.
    pub claimed_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ClaimsDoc {
    /// Container name → claim.
    claims: BTreeMap<String, ClaimRecord>,
}

#[derive(Debug, thiserror::Error)]
#[error("claims record {path}: {message}")]
pub struct ClaimsError {
    pub path: PathBuf,
    pub message: String,
}

/// The record, and the one lock that serialises its rewrites.
#[derive(Debug)]
pub struct ClaimsFile {
    path: PathBuf,
    doc: Mutex<BTreeMap<String, ClaimRecord>>,
}

impl ClaimsFile {
    /// Reads the record (absent = no claims).
    pub fn open(path: &Path) -> Result<ClaimsFile, ClaimsError> {
        let err = |m: String| ClaimsError {
            path: path.to_path_buf(),
            message: m,
        };
        let claims = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice::<ClaimsDoc>(&bytes)
                    .map_err(|e| err(format!("unreadable ({e}); move it aside to start over")))?
                    .claims
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(ClaimsFile {
            path: path.to_path_buf(),
            doc: Mutex::new(claims),
        })
    }

    pub fn all(&self) -> BTreeMap<String, ClaimRecord> {
        self.doc.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies `change` and persists; memory changes only if the write did.
    fn update(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, ClaimRecord>),
    ) -> Result<(), ClaimsError> {
        let mut doc = self.doc.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = doc.clone();
        change(&mut next);
        let bytes = serde_json::to_vec_pretty(&ClaimsDoc {
            claims: next.clone(),
        })
        .map_err(|e| ClaimsError {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        crate::firewall::write_atomic(&self.path, &bytes).map_err(|e| ClaimsError {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        *doc = next;
        Ok(())
    }

    pub fn insert(&self, container: &str, record: ClaimRecord) -> Result<(), ClaimsError> {
        self.update(|m| {
            m.insert(container.to_string(), record);
        })
    }

    pub fn remove(&self, container: &str) -> Result<(), ClaimsError> {
        if !self
            .doc
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(container)
        {
            return Ok(());
        }
        self.update(|m| {
            m.remove(container);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pools/claims.json");
        let f = ClaimsFile::open(&path).unwrap();
        let rec = ClaimRecord {
            tenant: "t1".into(),
            workload: "w".into(),
            claimed_at: 5,
        };
        f.insert("c1", rec.clone()).unwrap();
        f.insert("c2", rec.clone()).unwrap();
        f.remove("c2").unwrap();
        let again = ClaimsFile::open(&path).unwrap();
        assert_eq!(
            again.all().into_iter().collect::<Vec<_>>(),
            vec![("c1".to_string(), rec)]
        );
    }

    #[test]
    fn a_corrupt_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.json");
        std::fs::write(&path, b"{not json").unwrap();
        let e = ClaimsFile::open(&path).unwrap_err();
        assert!(e.to_string().contains("claims.json"), "{e}");
    }
}
