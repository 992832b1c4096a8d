//! Downloads land in a staging dir first and move into the state dir only
//! when every mapping has arrived, so a failed download leaves the state
//! dir as it was. The staging dir sits beside the state dir (same
//! filesystem), so moving in is rename(2), not a second copy.
//!
//! The state dir belongs to a tenant's container, which may have planted
//! symlinks in it: nothing here follows one. Parents are made real
//! directories and symlinks are removed, never written through.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::spec::Mode;

/// A fresh private dir beside the state dir, removed when dropped.
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
}

impl Staging {
    /// Creates `.<state dir name>.sync-<pid>-<random>` beside `state_dir`,
    /// mode 0700.
    pub fn beside(state_dir: &Path) -> io::Result<Staging> {
        use std::os::unix::fs::DirBuilderExt;
        let parent = state_dir.parent().unwrap_or(Path::new("/"));
        let name = state_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".into());
        let path = parent.join(format!(
            ".{name}.sync-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Staging { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Best effort: a leftover is a hidden dir of already-synced copies,
        // harmless and named for the state dir it belonged to.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Moves the staged copy of the mapping at `rel` (`""` = the whole dir)
/// into `state_dir`. `Sync` replaces what is there; `Copy` adds and
/// overwrites, deleting nothing.
pub fn apply(staged: &Path, state_dir: &Path, rel: &str, mode: Mode) -> io::Result<()> {
    let src = staged.join(rel);
    let dst = if rel.is_empty() {
        state_dir.to_path_buf()
    } else {
        real_parents(state_dir, rel)?
    };
    if mode == Mode::Sync {
        if rel.is_empty() {
            clear_dir(state_dir)?;
        } else {
            remove_any(&dst)?;
        }
    }
    if src.symlink_metadata().is_ok() {
        merge_move(&src, &dst)?;
    }
    Ok(())
}

/// `state_dir/rel`, after making every parent of it a real directory
/// (a symlink or file in the way is removed, never followed).
fn real_parents(state_dir: &Path, rel: &str) -> io::Result<PathBuf> {
    let mut at = state_dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    let (last, parents) = parts.split_last().unwrap_or((&"", &[]));
    for part in parents {
        at.push(part);
        match at.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                fs::remove_file(&at)?;
                fs::create_dir(&at)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&at)?,
            Err(e) => return Err(e),
        }
    }
    at.push(last);
    Ok(at)
}

/// Moves `src` onto `dst`: directories merge, anything else replaces.
fn merge_move(src: &Path, dst: &Path) -> io::Result<()> {
    let meta = src.symlink_metadata()?;
    let existing = dst.symlink_metadata().ok();
    if !meta.is_dir() {
        if existing.is_some_and(|m| m.is_dir()) {
            fs::remove_dir_all(dst)?;
        }
        return fs::rename(src, dst);
    }
    match existing {
        None => return fs::rename(src, dst),
        Some(m) if !m.is_dir() => {
            fs::remove_file(dst)?;
            return fs::rename(src, dst);
        }
        Some(_) => {}
    }
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        merge_move(&entry.path(), &dst.join(entry.file_name()))?;
    }
    Ok(())
}

/// Removes a file, symlink or directory tree; absent is fine.
fn remove_any(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Empties a directory without removing it: the state dir may be a bind
/// mount source of a running container.
fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        remove_any(&entry?.path())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn sync_replaces_the_mapping_and_only_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (staged, state) = (tmp.path().join("staged"), tmp.path().join("state"));
        write(&staged.join("cache/new"), "new");
        write(&state.join("cache/old"), "old");
        write(&state.join("other/keep"), "keep");
        apply(&staged, &state, "cache", Mode::Sync).unwrap();
        assert_eq!(read(&state.join("cache/new")), "new");
        assert!(!state.join("cache/old").exists());
        assert_eq!(read(&state.join("other/keep")), "keep");
    }

    #[test]
    fn copy_adds_and_overwrites_but_deletes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (staged, state) = (tmp.path().join("staged"), tmp.path().join("state"));
        write(&staged.join("a"), "remote");
        write(&staged.join("d/b"), "remote-b");
        write(&state.join("a"), "local");
        write(&state.join("d/c"), "local-c");
        apply(&staged, &state, "", Mode::Copy).unwrap();
        assert_eq!(read(&state.join("a")), "remote");
        assert_eq!(read(&state.join("d/b")), "remote-b");
        assert_eq!(read(&state.join("d/c")), "local-c");
    }

    #[test]
    fn a_whole_dir_sync_empties_the_dir_but_keeps_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (staged, state) = (tmp.path().join("staged"), tmp.path().join("state"));
        write(&staged.join("x"), "x");
        write(&state.join("gone/y"), "y");
        apply(&staged, &state, "", Mode::Sync).unwrap();
        assert_eq!(read(&state.join("x")), "x");
        assert!(!state.join("gone").exists());
    }

    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let (staged, state, outside) = (
            tmp.path().join("staged"),
            tmp.path().join("state"),
            tmp.path().join("outside"),
        );
        write(&outside.join("victim"), "untouched");
        write(&staged.join("cfg/creds/victim"), "tenant data");
        fs::create_dir_all(&state).unwrap();
        std::os::unix::fs::symlink(&outside, state.join("cfg")).unwrap();
        apply(&staged, &state, "cfg/creds", Mode::Sync).unwrap();
        assert_eq!(read(&outside.join("victim")), "untouched");
        assert!(state.join("cfg").symlink_metadata().unwrap().is_dir());
        assert_eq!(read(&state.join("cfg/creds/victim")), "tenant data");
    }

    #[test]
    fn staging_is_private_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("c1");
        let path = {
            let staging = Staging::beside(&state).unwrap();
            let mode = staging.path().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
            assert_eq!(staging.path().parent(), Some(tmp.path()));
            staging.path().to_path_buf()
        };
        assert!(!path.exists());
    }
}
