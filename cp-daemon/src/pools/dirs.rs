//! Per-container state and secrets dirs on the host: made empty (0700,
//! owned by the workload's user) when a container is warmed, filled at
//! claim, wiped at release.
//!
//! Invariant: a dir is named for exactly one container
//! (`<states_dir>/<container>`), and a container mounts only its own two,
//! so no tenant can reach another's files, whatever it runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Most secrets a claim may carry, and their total size.
pub const MAX_SECRETS: usize = 64;
pub const MAX_SECRETS_BYTES: usize = 1 << 20;

/// The two dirs of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDirs {
    pub state: PathBuf,
    pub secrets: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DirError {
    pub path: PathBuf,
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> DirError {
    DirError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// `UID[:GID]` → ids (validated at spec load; `None` = root).
pub fn owner(user: Option<&str>) -> Option<(u32, u32)> {
    let u = user?;
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let uid: u32 = u.parse().ok()?;
            (uid, uid)
        }
    };
    Some((uid, gid))
}

impl ContainerDirs {
    pub fn for_container(states: &Path, secrets: &Path, container: &str) -> ContainerDirs {
        ContainerDirs {
            state: states.join(container),
            secrets: secrets.join(container),
        }
    }

    /// Creates both dirs empty, mode 0700, owned by `owner`.
    pub fn create(&self, owner: Option<(u32, u32)>) -> Result<(), DirError> {
        for d in [&self.state, &self.secrets] {
            if let Some(parent) = d.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o711)
                    .create(parent)
                    .map_err(|e| err(parent, e))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(d)
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        wipe_contents(d).map_err(|e| std::io::Error::other(e.message))
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| err(d, e))?;
            chown(d, owner)?;
        }
        Ok(())
    }

    /// Writes each secret as a file (mode 0400, owned by `owner`); names
    /// are checked so none can leave the dir.
    pub fn write_secrets(
        &self,
        secrets: &BTreeMap<String, String>,
        owner: Option<(u32, u32)>,
    ) -> Result<(), DirError> {
        for (name, value) in secrets {
            let path = self.secrets.join(name);
            let _ = std::fs::remove_file(&path);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&path)
                .map_err(|e| err(&path, e))?;
            f.write_all(value.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| err(&path, e))?;
            chown(&path, owner)?;
        }
        Ok(())
    }

    /// Empties both dirs, keeping them (a reused container still mounts them).
    pub fn wipe(&self) -> Result<(), DirError> {
        wipe_contents(&self.state)?;
        wipe_contents(&self.secrets)
    }

    /// Removes both dirs and everything in them; absent is fine.
    pub fn remove(&self) -> Result<(), DirError> {
        for d in [&self.state, &self.secrets] {
            match std::fs::remove_dir_all(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(d, e)),
            }
        }
        Ok(())
    }
}

/// Gives everything under `dir` to `owner` (downloaded state arrives
/// owned by the agent). Symlinks are re-owned themselves, never followed.
pub fn own_tree(dir: &Path, owner: Option<(u32, u32)>) -> Result<(), DirError> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    let entries = std::fs::read_dir(dir).map_err(|e| err(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| err(dir, e))?;
        let path = entry.path();
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).map_err(|e| err(&path, e))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            own_tree(&path, owner)?;
        }
    }
    Ok(())
}

/// Checks a secret's name: one plain file name.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "secret name {name:?} must match [A-Za-z0-9][A-Za-z0-9_.-]{{0,127}}"
        ))
    }
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<(), DirError> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| err(path, e))?;
    }
    Ok(())
}

fn wipe_contents(dir: &Path) -> Result<(), DirError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| err(dir, e))?;
        let path = entry.path();
        // file_type() does not follow symlinks: a link is removed, never
        // its target.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let res = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        res.map_err(|e| err(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn dirs_are_private_and_wipe_leaves_them_empty() {
        let root = tempfile::tempdir().unwrap();
        let d = ContainerDirs::for_container(
            &root.path().join("states"),
            &root.path().join("secrets"),
            "c1",
        );
        d.create(None).unwrap();
        let mode = std::fs::metadata(&d.state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::create_dir(d.state.join("sub")).unwrap();
        std::fs::write(d.state.join("sub/f"), b"x").unwrap();
        let secrets = BTreeMap::from([("token".to_string(), "s3cr3t".to_string())]);
        d.write_secrets(&secrets, None).unwrap();
        let mode = std::fs::metadata(d.secrets.join("token"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o400);
        d.wipe().unwrap();
        assert_eq!(std::fs::read_dir(&d.state).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(&d.secrets).unwrap().count(), 0);
        d.remove().unwrap();
        assert!(!d.state.exists() && !d.secrets.exists());
    }

    #[test]
    fn secret_names_cannot_leave_the_dir() {
        for bad in ["../x", "a/b", ".hidden", "", "a\0b"] {
            assert!(check_secret_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_secret_name("api_key.txt").is_ok());
    }
}
