//! STATIC: the repo's publish dir served by a static-file server image. We
//! generate the Containerfile; the repo needs none.

use std::collections::BTreeMap;
use std::path::Path;

use super::context_tar::ContextTar;
use super::inside::{resolve_inside, Want};
use super::BuildPlan;
use crate::error::BuildError;
use crate::spec::RepoPath;

/// Where the publish dir sits in the context tar, beside the Containerfile.
const PUBLISH_IN_TAR: &str = "public";
const CONTAINERFILE: &str = "Containerfile";

pub fn plan(
    checkout: &Path,
    publish_dir: &RepoPath,
    base_image: &str,
    static_root: &str,
) -> Result<BuildPlan, BuildError> {
    let publish = resolve_inside(checkout, "publish_dir", publish_dir, Want::Dir)?;
    let mut tar = ContextTar::new();
    tar.add_dir(&publish, PUBLISH_IN_TAR)?;
    tar.add_file(
        CONTAINERFILE,
        containerfile(base_image, static_root).as_bytes(),
    )?;
    Ok(BuildPlan {
        context_tar: tar.finish()?,
        containerfile: CONTAINERFILE.into(),
        build_args: BTreeMap::new(),
        stack_used: "STATIC",
        summary: format!(
            "STATIC: {} served from {static_root} on {base_image}",
            publish_dir.display()
        ),
    })
}

/// Both inputs were validated by `spec` (image grammar, path charset), so
/// neither can inject an instruction.
fn containerfile(base_image: &str, static_root: &str) -> String {
    let root = static_root.trim_end_matches('/');
    format!("FROM {base_image}\nCOPY {PUBLISH_IN_TAR}/ {root}/\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_containerfile_copies_publish_dir_to_root() {
        assert_eq!(
            containerfile("nginx:alpine", "/usr/share/nginx/html/"),
            "FROM nginx:alpine\nCOPY public/ /usr/share/nginx/html/\n"
        );
    }
}
