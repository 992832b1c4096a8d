//! git:// and https:// clones: shallow (depth 1) and bare into a scratch dir,
//! credentials only through gix's callback.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::ObjectId;

use crate::error::{BuildError, ErrorCode, Stage};
use coolify_build_contract::Credentials;

// The large error type is gix's credentials-callback signature, not ours.
#[allow(clippy::result_large_err)]
pub fn fetch(
    url: &str,
    git_ref: &str,
    credentials: Option<&Credentials>,
    scratch: &Path,
    interrupt: &AtomicBool,
) -> Result<(gix::Repository, ObjectId), BuildError> {
    let failed = |what: &str, e: &dyn std::error::Error| {
        let mut message = format!(
            "cloning {url} at {git_ref:?}: {what}: {}",
            super::error_chain(e)
        );
        // A FROM scratch build container has no CA bundle of its own.
        if url.starts_with("https://") && message.contains("No CA certificates") {
            message.push_str(
                "; mount the host's CA certificates into the build container (/etc/ssl/certs, read-only) or set SSL_CERT_FILE",
            );
        }
        BuildError::git(message)
    };
    let mut prepare = gix::clone::PrepareFetch::new(
        url,
        scratch,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        gix::open::Options::isolated(),
    )
    .map_err(|e| failed("cannot prepare the clone", &e))?
    .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN));
    prepare = if super::is_full_commit_id(git_ref) {
        prepare
            .with_revision(Some(git_ref))
            .map_err(|e| failed("bad revision", &e))?
    } else {
        // One connection, not two: for a shallow clone of a named ref with
        // no refspecs of its own, gix first asks the server which branch
        // the name means, over a connection of its own, then connects
        // again to fetch (another `upload-pack` started by the server).
        // Naming the ref as the fetch's refspec, and nothing else, fetches
        // the same single tip in one go.
        let refspec = gix::refspec::parse(git_ref.into(), gix::refspec::parse::Operation::Fetch)
            .map_err(|e| failed("bad ref name", &e))?
            .to_owned();
        prepare
            .with_ref_name(Some(git_ref))
            .map_err(|e| failed("bad ref name", &e))?
            .with_fetch_options(gix::remote::ref_map::Options {
                extra_refspecs: vec![refspec],
                ..Default::default()
            })
            .configure_remote(|remote| {
                // Drops the clone's default `refs/heads/*` (every branch)
                // and tag following: the ref alone is fetched.
                let mut remote = remote.with_fetch_tags(gix::remote::fetch::Tags::None);
                remote
                    .replace_refspecs(std::iter::empty::<&str>(), gix::remote::Direction::Fetch)?;
                Ok(remote)
            })
    };
    let account = credentials.map(|c| gix::sec::identity::Account {
        username: c.username.clone(),
        password: c.password.clone(),
        oauth_refresh_token: None,
    });
    // Always install our callback: without it gix would fall back to
    // credential helpers or a terminal prompt, neither of which exists here.
    prepare = prepare.configure_connection(move |connection| {
        let account = account.clone();
        connection.set_credentials(move |action| match (action, &account) {
            (gix::credentials::helper::Action::Get(ctx), Some(account)) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: account.clone(),
                    next: ctx.into(),
                }))
            }
            _ => Ok(None),
        });
        Ok(())
    });
    let (repo, _outcome) = prepare
        .fetch_only(gix::progress::Discard, interrupt)
        .map_err(|e| {
            if interrupt.load(std::sync::atomic::Ordering::Relaxed) {
                BuildError::cancelled(Stage::Git)
            } else {
                failed("fetch failed", &e)
            }
        })?;
    let commit = repo
        .head_id()
        .map_err(|e| failed("the fetched HEAD names no commit", &e))?
        .detach();
    let commit = repo
        .find_commit(commit)
        .map_err(|e| BuildError::new(ErrorCode::Git, Stage::Git, format!("ref {git_ref:?}: {e}")))?
        .id;
    Ok((repo, commit))
}
