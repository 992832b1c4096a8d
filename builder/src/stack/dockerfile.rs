//! DOCKERFILE: the repo's own Containerfile, built on a context dir of the
//! repo with the spec's build args.

use std::collections::BTreeMap;
use std::path::Path;

use super::context_tar::ContextTar;
use super::inside::{resolve_inside, Want};
use super::BuildPlan;
use crate::error::{BuildError, Stage};
use crate::spec::RepoPath;

/// Name given to a Containerfile that lives outside the context dir, when we
/// add it to the tar root ourselves.
const OUTSIDE_CONTAINERFILE: &str = ".coolify-builder.Containerfile";

pub fn plan(
    checkout: &Path,
    dockerfile: Option<&RepoPath>,
    context: &RepoPath,
    build_args: &BTreeMap<String, String>,
) -> Result<BuildPlan, BuildError> {
    let context_real = resolve_inside(checkout, "context", context, Want::Dir)?;
    let (dockerfile_shown, dockerfile_real) = match dockerfile {
        Some(path) => (
            path.display(),
            resolve_inside(checkout, "dockerfile", path, Want::File)?,
        ),
        None => default_containerfile(checkout, context)?,
    };
    let mut tar = ContextTar::new();
    tar.add_dir(&context_real, "")?;
    let containerfile = match dockerfile_real.strip_prefix(&context_real) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => {
            let body = std::fs::read(&dockerfile_real).map_err(|e| {
                BuildError::io(Stage::Detect, format!("reading {dockerfile_shown}: {e}"))
            })?;
            tar.add_file(OUTSIDE_CONTAINERFILE, &body)?;
            OUTSIDE_CONTAINERFILE.into()
        }
    };
    Ok(BuildPlan {
        context_tar: tar.finish()?,
        containerfile,
        build_args: build_args.clone(),
        stack_used: "DOCKERFILE",
        summary: format!(
            "DOCKERFILE: {dockerfile_shown} on context {} with {} build arg(s)",
            context.display(),
            build_args.len()
        ),
    })
}

/// `Containerfile`, then `Dockerfile`, in the context dir (as `podman build`).
fn default_containerfile(
    checkout: &Path,
    context: &RepoPath,
) -> Result<(String, std::path::PathBuf), BuildError> {
    for name in ["Containerfile", "Dockerfile"] {
        let candidate = RepoPath::parse(
            "dockerfile",
            &context.as_path().join(name).display().to_string(),
        )
        .map_err(BuildError::bad_spec)?;
        // A missing one is not an error yet; one that escapes is.
        if checkout
            .join(candidate.as_path())
            .symlink_metadata()
            .is_err()
        {
            continue;
        }
        let real = resolve_inside(checkout, "dockerfile", &candidate, Want::File)?;
        return Ok((candidate.display(), real));
    }
    Err(BuildError::bad_spec(format!(
        "dockerfile: neither Containerfile nor Dockerfile exists in context {}; name one with \"dockerfile\"",
        context.display()
    )))
}
