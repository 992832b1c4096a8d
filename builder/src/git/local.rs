//! file:// repositories: opened in place and read in-process, so the builder
//! needs no git binary and copies no more than the one tree it builds.

use std::path::Path;

use gix::ObjectId;

use crate::error::BuildError;

pub fn resolve(path: &Path, git_ref: &str) -> Result<(gix::Repository, ObjectId), BuildError> {
    // Isolated: no system or user git config (credential helpers, hooks, url
    // rewrites) may change what a build reads.
    let repo = gix::open_opts(path, gix::open::Options::isolated()).map_err(|e| {
        BuildError::git(format!(
            "repo file://{}: not a readable git repository: {e}",
            path.display()
        ))
    })?;
    let commit = resolve_ref(&repo, git_ref)?;
    Ok((repo, commit))
}

/// Resolves a branch, tag or full commit id to a commit, the way git does
/// for a partial name (refs/<n>, refs/tags/<n>, refs/heads/<n>, …).
pub fn resolve_ref(repo: &gix::Repository, git_ref: &str) -> Result<ObjectId, BuildError> {
    let not_found = || BuildError::git(format!("ref {git_ref:?} not found in the repository"));
    let object = if super::is_full_commit_id(git_ref) {
        let id = ObjectId::from_hex(git_ref.as_bytes()).map_err(|_| not_found())?;
        repo.find_object(id).map_err(|_| not_found())?
    } else {
        let mut reference = repo.find_reference(git_ref).map_err(|_| not_found())?;
        reference
            .peel_to_id()
            .map_err(|_| not_found())?
            .object()
            .map_err(|_| not_found())?
    };
    let commit = object
        .peel_to_commit()
        .map_err(|_| BuildError::git(format!("ref {git_ref:?} does not point to a commit")))?;
    Ok(commit.id)
}
