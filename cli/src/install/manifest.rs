//! The list of what `cp install` wrote (unit files with their sha256,
//! enablement links with their target, directories it had to create), so
//! that `cp uninstall` removes exactly that.
//!
//! Invariant: nothing is removed unless it is still what install wrote; a
//! unit file the operator edited, or a link repointed, is left and named.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::InstallError;
use crate::file_write;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub units_dir: PathBuf,
    /// Absolute path and sha256 of each unit file written.
    pub files: Vec<(PathBuf, String)>,
    /// Absolute path of each symlink created, and its target.
    pub links: Vec<(PathBuf, PathBuf)>,
    /// Directories install created (deepest last); removed when empty.
    pub dirs: Vec<PathBuf>,
}

/// What uninstall did.
#[derive(Debug, Default, Serialize)]
pub struct Removal {
    pub removed: Vec<PathBuf>,
    /// Paths install wrote that changed since, left in place.
    pub left_changed: Vec<PathBuf>,
}

pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Manifest {
    /// The manifest at `path`; `None` when install never wrote one.
    pub fn load(path: &Path) -> Result<Option<Manifest>, InstallError> {
        match std::fs::read(path) {
            Ok(t) => serde_json::from_slice(&t)
                .map(Some)
                .map_err(|e| InstallError::io(path, format!("not an install manifest: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(InstallError::io(path, e)),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), InstallError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| InstallError::io(path, e))?;
        file_write::atomic(path, &text, 0o600).map_err(|e| InstallError::io(path, e))
    }

    /// Every path this manifest claims.
    pub fn owns(&self, p: &Path) -> bool {
        self.files.iter().any(|(f, _)| f == p) || self.links.iter().any(|(l, _)| l == p)
    }

    /// This manifest and `other` together (a write in progress claims both
    /// the old and the new paths until it is done).
    pub fn union(&self, other: &Manifest) -> Manifest {
        let mut m = self.clone();
        for f in &other.files {
            if !m.files.iter().any(|(p, _)| *p == f.0) {
                m.files.push(f.clone());
            }
        }
        for l in &other.links {
            if !m.links.iter().any(|(p, _)| *p == l.0) {
                m.links.push(l.clone());
            }
        }
        for d in &other.dirs {
            if !m.dirs.contains(d) {
                m.dirs.push(d.clone());
            }
        }
        m
    }

    /// Removes what this manifest names and `keep` does not, when it is
    /// still what was written.
    pub fn remove_all_but(&self, keep: &Manifest) -> Removal {
        let kept: BTreeSet<&PathBuf> = keep
            .files
            .iter()
            .map(|(p, _)| p)
            .chain(keep.links.iter().map(|(p, _)| p))
            .collect();
        let mut r = Removal::default();
        for (link, target) in &self.links {
            if kept.contains(link) {
                continue;
            }
            match std::fs::read_link(link) {
                Ok(t) if t == *target => remove(link, &mut r),
                Ok(_) => r.left_changed.push(link.clone()),
                Err(_) => {}
            }
        }
        for (file, hash) in &self.files {
            if kept.contains(file) {
                continue;
            }
            match std::fs::read(file) {
                Ok(t) if sha256(&t) == *hash => remove(file, &mut r),
                Ok(_) => r.left_changed.push(file.clone()),
                Err(_) => {}
            }
        }
        for dir in self.dirs.iter().rev() {
            if !keep.dirs.contains(dir) && std::fs::remove_dir(dir).is_ok() {
                r.removed.push(dir.clone());
            }
        }
        r
    }
}

fn remove(p: &Path, r: &mut Removal) {
    if std::fs::remove_file(p).is_ok() {
        r.removed.push(p.to_path_buf());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unchanged_paths_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let (a, b, l) = (d.join("a.service"), d.join("b.service"), d.join("l"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        std::os::unix::fs::symlink(&a, &l).unwrap();
        std::fs::write(d.join("other.service"), "x").unwrap();
        let m = Manifest {
            units_dir: d.to_path_buf(),
            files: vec![(a.clone(), sha256(b"a")), (b.clone(), sha256(b"b"))],
            links: vec![(l.clone(), a.clone())],
            dirs: vec![],
        };
        std::fs::write(&b, "edited by the operator").unwrap();

        let r = m.remove_all_but(&Manifest::default());

        assert_eq!(r.removed, [l.clone(), a.clone()]);
        assert_eq!(r.left_changed, std::slice::from_ref(&b));
        assert!(b.exists() && d.join("other.service").exists());
        let again = m.remove_all_but(&Manifest::default());
        assert!(again.removed.is_empty(), "a second run removes nothing");
    }
}
