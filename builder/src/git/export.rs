//! Writes one commit's tree as plain files: no `.git`, nothing outside
//! `dest` (entry names are checked, not trusted).

use std::path::Path;

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::error::{BuildError, Stage};

pub fn write_tree(repo: &gix::Repository, commit: ObjectId, dest: &Path) -> Result<(), BuildError> {
    let io = |e: &dyn std::fmt::Display| {
        BuildError::io(
            Stage::Git,
            format!("writing the checkout to {}: {e}", dest.display()),
        )
    };
    let git = |e: &dyn std::fmt::Display| BuildError::git(format!("reading commit {commit}: {e}"));
    let tree = repo
        .find_commit(commit)
        .map_err(|e| git(&e))?
        .tree_id()
        .map_err(|e| git(&e))?
        .detach();
    std::fs::create_dir(dest).map_err(|e| io(&e))?;
    write_dir(repo, tree, dest, 0)
}

/// Depth bound: a hostile repository cannot recurse us off the stack.
const MAX_DEPTH: usize = 256;

fn write_dir(
    repo: &gix::Repository,
    tree: ObjectId,
    dir: &Path,
    depth: usize,
) -> Result<(), BuildError> {
    if depth > MAX_DEPTH {
        return Err(BuildError::git(format!(
            "tree nesting deeper than {MAX_DEPTH} levels"
        )));
    }
    let io = |e: &dyn std::fmt::Display| {
        BuildError::io(Stage::Git, format!("writing {}: {e}", dir.display()))
    };
    let git = |e: &dyn std::fmt::Display| BuildError::git(format!("reading tree {tree}: {e}"));
    let tree_obj = repo.find_tree(tree).map_err(|e| git(&e))?;
    let entries: Vec<(EntryKind, String, ObjectId)> = tree_obj
        .decode()
        .map_err(|e| git(&e))?
        .entries
        .iter()
        .map(|e| (e.mode.kind(), e.filename.to_string(), e.oid.to_owned()))
        .collect();
    for (kind, name, oid) in entries {
        if !safe_entry_name(&name) {
            return Err(BuildError::git(format!(
                "tree {tree} has an entry named {name:?}, which cannot be checked out safely"
            )));
        }
        let path = dir.join(&name);
        match kind {
            EntryKind::Tree => {
                std::fs::create_dir(&path).map_err(|e| io(&e))?;
                write_dir(repo, oid, &path, depth + 1)?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                use std::os::unix::fs::OpenOptionsExt;
                let blob = repo.find_blob(oid).map_err(|e| git(&e))?;
                let mode = if kind == EntryKind::BlobExecutable {
                    0o755
                } else {
                    0o644
                };
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&path)
                    .map_err(|e| io(&e))?;
                std::io::Write::write_all(&mut file, &blob.data).map_err(|e| io(&e))?;
            }
            EntryKind::Link => {
                // Written as a link; the stack's path checks resolve links
                // against the checkout, and the tar keeps them as links.
                let blob = repo.find_blob(oid).map_err(|e| git(&e))?;
                let target = String::from_utf8_lossy(&blob.data).into_owned();
                std::os::unix::fs::symlink(target, &path).map_err(|e| io(&e))?;
            }
            // Submodules are not fetched: the dir stays empty, as with git.
            EntryKind::Commit => std::fs::create_dir(&path).map_err(|e| io(&e))?,
        }
    }
    Ok(())
}

fn safe_entry_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0')
        && !name.eq_ignore_ascii_case(".git")
}

#[cfg(test)]
mod tests {
    use super::safe_entry_name;

    #[test]
    fn tree_entry_names_that_escape_are_refused() {
        for bad in ["", ".", "..", "a/b", ".git", ".GIT"] {
            assert!(!safe_entry_name(bad), "{bad:?}");
        }
        assert!(safe_entry_name(".gitignore"));
    }
}
