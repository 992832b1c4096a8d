//! The `detect` stage: from a checkout and the spec's stack, the build
//! context (a tar) and the Containerfile path inside it.

mod context_tar;
mod dockerfile;
mod inside;
mod static_site;

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::BuildError;
use crate::spec::StackSpec;

/// Everything the build stage sends to Podman.
#[derive(Debug)]
pub struct BuildPlan {
    pub context_tar: Vec<u8>,
    /// Path of the Containerfile inside the tar.
    pub containerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub stack_used: &'static str,
    /// One line for the events log.
    pub summary: String,
}

/// `default_base_image` is the configured STATIC base (flag, env, or the
/// built-in default); the spec's own `base_image` wins over it.
pub fn plan(
    stack: &StackSpec,
    checkout: &Path,
    default_base_image: &str,
) -> Result<BuildPlan, BuildError> {
    match stack {
        StackSpec::Static {
            publish_dir,
            base_image,
            static_root,
        } => static_site::plan(
            checkout,
            publish_dir,
            base_image.as_deref().unwrap_or(default_base_image),
            static_root,
        ),
        StackSpec::Dockerfile {
            dockerfile,
            context,
            build_args,
        } => dockerfile::plan(checkout, dockerfile.as_ref(), context, build_args),
    }
}
