//! The spec store: `COOLD_WORKLOADS_DIR` is the truth (one `<id>.yaml` per
//! workload, written atomically with the caller's own text, comments and
//! all); memory holds the parsed copy for the pools.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use super::parse::{parse, SpecError};
use super::spec::WorkloadSpec;
use super::validate::check;
use crate::containers::deny::DenyPolicy;

/// A checked spec and the short hash of its text, stamped on the pool's
/// containers so a replaced spec retires the idle ones made from the old.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSpec {
    pub spec: WorkloadSpec,
    pub hash: String,
    /// The file it lives in (an operator's file keeps its own name).
    pub path: PathBuf,
}

/// Why the store could not load or save.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("workload {0} not found")]
    NotFound(String),
}

#[derive(Debug)]
pub struct WorkloadStore {
    dir: PathBuf,
    policy: DenyPolicy,
    specs: RwLock<BTreeMap<String, Arc<StoredSpec>>>,
}

fn io(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn hash_of(spec: &WorkloadSpec) -> String {
    // Hash of the parsed spec, not the text: a comment edit keeps the pool.
    let canonical = serde_json::to_vec(spec).unwrap_or_default();
    hex::encode(&Sha256::digest(&canonical)[..6])
}

/// Parses and checks one spec text.
pub fn load_text(text: &str, policy: &DenyPolicy) -> Result<WorkloadSpec, SpecError> {
    let spec = parse(text)?;
    check(&spec, policy).map_err(|e| e.located(text))?;
    Ok(spec)
}

impl WorkloadStore {
    /// Loads every `*.yaml`, `*.yml` and `*.json` in `dir` (a missing dir is
    /// empty). Any bad file fails the load, naming the file, key and line:
    /// a pool silently missing is worse than an agent that says why.
    pub fn open(dir: &Path, policy: DenyPolicy) -> Result<WorkloadStore, StoreError> {
        let mut specs = BTreeMap::new();
        let mut from: BTreeMap<String, PathBuf> = BTreeMap::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e.collect::<Result<Vec<_>, _>>().map_err(|e| io(dir, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(dir, e)),
        };
        let mut paths: Vec<PathBuf> = entries
            .into_iter()
            .map(|e| e.path())
            .filter(|p| {
                matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("yaml" | "yml" | "json")
                )
            })
            .collect();
        paths.sort();
        for path in paths {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            let spec = load_text(&text, &policy).map_err(|e| e.in_file(&name))?;
            let id = spec.id.clone();
            let stored = StoredSpec {
                hash: hash_of(&spec),
                spec,
                path: path.clone(),
            };
            if let Some(first) = from.insert(id.clone(), path.clone()) {
                return Err(SpecError::new(
                    "id",
                    format!("workload {id} is also defined in {}", first.display()),
                )
                .located(&text)
                .in_file(&name)
                .into());
            }
            specs.insert(id, Arc::new(stored));
        }
        Ok(WorkloadStore {
            dir: dir.to_path_buf(),
            policy,
            specs: RwLock::new(specs),
        })
    }

    pub fn get(&self, id: &str) -> Option<Arc<StoredSpec>> {
        self.specs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<StoredSpec>> {
        self.specs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Adds or replaces a spec: checked first, then written atomically as
    /// `<id>.yaml`, then visible. Returns whether it replaced one.
    pub fn put(&self, text: &str) -> Result<(Arc<StoredSpec>, bool), StoreError> {
        let spec = load_text(text, &self.policy)?;
        let path = match self.get(&spec.id) {
            Some(old) => old.path.clone(),
            None => self.dir.join(format!("{}.yaml", spec.id)),
        };
        crate::firewall::write_atomic(&path, text.as_bytes()).map_err(|e| io(&path, e))?;
        let stored = Arc::new(StoredSpec {
            hash: hash_of(&spec),
            spec,
            path,
        });
        let replaced = self
            .specs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(stored.spec.id.clone(), stored.clone())
            .is_some();
        Ok((stored, replaced))
    }

    /// Removes a spec's file and entry (its pool drains idle containers).
    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        let stored = self
            .get(id)
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        match std::fs::remove_file(&stored.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&stored.path, e)),
        }
        self.specs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Ok(())
    }
}
