//! Snapshot files (`COOLD_RULES_PATH`, `COOLD_BRIDGE_RULES_PATH`): written
//! after every mutation, replayed on boot.
//!
//! Invariant: the kernel is the source of truth; the snapshot follows it.
//! A reader never sees a half-written snapshot: each write goes to a
//! temporary file in the same directory, is fsynced, renamed over the old
//! one, and the directory is fsynced so the rename survives a power cut.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::plan::{self, CommentError};
use super::rule::Rule;

/// A snapshot file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("snapshot {path}: {reason}")]
pub struct SnapshotError {
    pub path: PathBuf,
    pub reason: String,
}

fn err(path: &Path, reason: impl std::fmt::Display) -> SnapshotError {
    SnapshotError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Where both snapshots live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPaths {
    /// iptables-restore fragment for `COOLIFY-ALLOW`.
    pub rules: PathBuf,
    /// nft script for `bridge coolify_bridge coolify_allow`.
    pub bridge: PathBuf,
}

impl SnapshotPaths {
    /// Rewrites both snapshots from `rules`.
    pub fn write<'a>(
        &self,
        rules: impl Iterator<Item = &'a Rule> + Clone,
    ) -> Result<(), SnapshotError> {
        self.write_specs(
            rules.clone().map(plan::iptables_spec),
            rules.map(plan::nft_spec),
        )
    }

    /// Rewrites both snapshots from rendered rule specs (what the store
    /// keeps per rule).
    pub fn write_specs<A: AsRef<str>, B: AsRef<str>>(
        &self,
        iptables: impl IntoIterator<Item = A>,
        nft: impl IntoIterator<Item = B>,
    ) -> Result<(), SnapshotError> {
        write_atomic(
            &self.rules,
            plan::iptables_snapshot_of_specs(iptables).as_bytes(),
        )?;
        write_atomic(&self.bridge, plan::nft_snapshot_of_specs(nft).as_bytes())
    }

    /// Every rule either snapshot holds (duplicates removed, bad tags
    /// returned apart so the caller can log them). Missing files are empty.
    pub fn read(&self) -> Result<(Vec<Rule>, Vec<CommentError>), SnapshotError> {
        let mut rules = Vec::new();
        let mut bad = Vec::new();
        for path in [&self.rules, &self.bridge] {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(err(path, format!("cannot read: {e}"))),
            };
            for parsed in plan::tagged_rules(&text) {
                match parsed {
                    Ok(r) if !rules.contains(&r) => rules.push(r),
                    Ok(_) => {}
                    Err(e) => bad.push(e),
                }
            }
        }
        Ok((rules, bad))
    }
}

/// tmp + fsync + rename + fsync(dir). The temporary name is fixed per
/// target; the store lock makes this process its only writer.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), SnapshotError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(dir, format!("cannot create directory: {e}")))?;
    let mut tmp_name = path
        .file_name()
        .ok_or_else(|| err(path, "not a file path"))?
        .to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        Ok(())
    };
    write().map_err(|e| err(&tmp, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, format!("cannot replace: {e}")))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| err(dir, format!("cannot fsync directory: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::rule::{PortValue, RuleRequest};

    fn rule(src: &str) -> Rule {
        RuleRequest {
            namespace: Some("t".into()),
            src: Some(src.into()),
            dst: Some("10.9.0.0/16".into()),
            proto: Some("tcp".into()),
            port: Some(PortValue::Number(443)),
            id: None,
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn write_then_read_round_trips_and_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let paths = SnapshotPaths {
            rules: dir.path().join("sub/allow.rules"),
            bridge: dir.path().join("sub/allow.nft"),
        };
        let rules = [rule("10.0.0.1"), rule("10.0.0.2")];
        paths.write(rules.iter()).unwrap();
        let (back, bad) = paths.read().unwrap();
        assert_eq!(back, rules.to_vec());
        assert!(bad.is_empty());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn replace_is_a_rename_so_open_readers_keep_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.rules");
        write_atomic(&path, b"old").unwrap();
        let old = std::fs::File::open(&path).unwrap();
        let old_ino = std::os::unix::fs::MetadataExt::ino(&old.metadata().unwrap());
        write_atomic(&path, b"new").unwrap();
        let new_ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        assert_ne!(old_ino, new_ino, "the file was rewritten in place");
        assert_eq!(std::io::read_to_string(old).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn missing_snapshots_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let paths = SnapshotPaths {
            rules: dir.path().join("none.rules"),
            bridge: dir.path().join("none.nft"),
        };
        assert_eq!(paths.read().unwrap().0, vec![]);
    }
}
