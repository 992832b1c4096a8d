//! The `git` stage: the tree of one commit, written as plain files to a
//! checkout dir. Blocking (gix is synchronous); run it on a blocking thread
//! and raise `interrupt` to stop a fetch in flight.

mod export;
mod local;
mod remote;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::error::BuildError;
use crate::spec::RepoUrl;
use coolify_build_contract::Credentials;

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

/// An error and its sources, joined: gix's top-level messages ("connection
/// failed") say little without the cause beneath them.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    // Bounded: a cyclic source chain must not loop forever.
    for _ in 0..8 {
        let Some(inner) = source else { break };
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}
