//! The `git` stage: the tree of one commit, written as plain files to a
//! checkout dir. Blocking (gix is synchronous); run it on a blocking thread
//! and raise `interrupt` to stop a fetch in flight.

mod export;
mod local;
mod remote;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::error::BuildError;
use crate::secrets::Credentials;
use crate::spec::RepoUrl;

/// What was checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub commit: String,
}

/// Fetches `git_ref` of `url` and writes its tree into `dest` (which must not
/// exist). `scratch` is where a network clone keeps its objects.
pub fn checkout(
    url: &RepoUrl,
    git_ref: &str,
    credentials: Option<&Credentials>,
    scratch: &Path,
    dest: &Path,
    interrupt: &AtomicBool,
) -> Result<Checkout, BuildError> {
    let (repo, commit) = match url {
        RepoUrl::File(path) => local::resolve(path, git_ref)?,
        RepoUrl::Remote(url) => remote::fetch(url, git_ref, credentials, scratch, interrupt)?,
    };
    export::write_tree(&repo, commit, dest)?;
    Ok(Checkout {
        commit: commit.to_string(),
    })
}

/// A full (40 hex) commit id: fetched by id rather than by name.
fn is_full_commit_id(r: &str) -> bool {
    r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit())
}
