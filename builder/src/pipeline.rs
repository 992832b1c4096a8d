//! The four stages in order: git → detect → build → store. Each reports
//! progress to the events log; the first error ends the build.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{BuildError, Stage};
use crate::git;
use coolify_build_contract::{BuildResult, Credentials, ResultFile};

use crate::output::EventLog;
use crate::podman::PodmanClient;
use crate::secrets::{read_credentials, Scrubber};
use crate::spec::{self, BuildSpec};
use crate::stack;

/// Everything a build needs besides the spec itself.
#[derive(Debug, Clone)]
pub struct BuilderConfig {
    pub spec_path: PathBuf,
    pub work_dir: PathBuf,
    pub podman_socket: String,
    pub credentials_file: Option<PathBuf>,
    /// STATIC base when the spec names none (flag, env, or built-in default).
    pub static_base_image: String,
}

/// Scratch dirs inside the work dir, removed when the build ends.
pub const CHECKOUT_DIR: &str = "checkout";
pub const CLONE_DIR: &str = "clone.git";

/// Share of the whole build each stage starts at, for `percent`.
const GIT_START: u8 = 0;
const DETECT_START: u8 = 20;
const BUILD_START: u8 = 25;
const STORE_START: u8 = 90;

pub async fn run(
    config: &BuilderConfig,
    events: &mut EventLog,
    interrupt: Arc<AtomicBool>,
) -> Result<ResultFile, BuildError> {
    let started = Instant::now();
    spec::check_image_ref(&config.static_base_image, true).map_err(|e| {
        BuildError::bad_spec(format!(
            "--static-base-image {:?} {e}",
            config.static_base_image
        ))
    })?;
    let spec = read_spec(&config.spec_path)?;
    let credentials = credentials(config, &spec)?;
    events.set_scrubber(scrubber(&spec, credentials.as_ref()));

    // git
    events.progress(
        Stage::Git,
        &format!("fetching {} at {}", spec.repo.url.shown(), spec.git_ref),
        GIT_START,
    );
    let checkout = config.work_dir.join(CHECKOUT_DIR);
    let scratch = config.work_dir.join(CLONE_DIR);
    remove_scratch(&config.work_dir);
    let fetched = {
        let (url, git_ref, checkout, scratch) = (
            spec.repo.url.clone(),
            spec.git_ref.clone(),
            checkout.clone(),
            scratch.clone(),
        );
        tokio::task::spawn_blocking(move || {
            git::checkout(
                &url,
                &git_ref,
                credentials.as_ref(),
                &scratch,
                &checkout,
                &interrupt,
            )
        })
        .await
        .map_err(|e| BuildError::io(Stage::Git, format!("clone task failed: {e}")))??
    };
    events.progress(
        Stage::Git,
        &format!("checked out commit {}", fetched.commit),
        DETECT_START,
    );

    // detect
    let plan = {
        let (stack, checkout, base) = (
            spec.stack.clone(),
            checkout.clone(),
            config.static_base_image.clone(),
        );
        tokio::task::spawn_blocking(move || stack::plan(&stack, &checkout, &base))
            .await
            .map_err(|e| BuildError::io(Stage::Detect, format!("detect task failed: {e}")))??
    };
    events.progress(
        Stage::Detect,
        &format!("{}; context {} bytes", plan.summary, plan.context_tar.len()),
        BUILD_START,
    );

    // build
    let podman = PodmanClient::connect(&config.podman_socket).await?;
    let first_tag = &spec.tags[0];
    let image_id = podman
        .build(&plan, first_tag, |line, step_percent| {
            let span = u16::from(STORE_START - BUILD_START);
            let percent = BUILD_START + (span * u16::from(step_percent) / 100) as u8;
            events.progress(Stage::Build, line, percent);
        })
        .await?;

    // store
    events.progress(
        Stage::Store,
        &format!("built image {image_id}"),
        STORE_START,
    );
    for tag in &spec.tags[1..] {
        podman.tag(&image_id, tag).await?;
    }
    let stored = podman.inspect(&image_id).await?;
    events.progress(
        Stage::Store,
        &format!("stored as {}", spec.tags.join(", ")),
        100,
    );
    Ok(ResultFile {
        ok: BuildResult {
            digest: stored.digest,
            registry_ref: first_tag.clone(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            stack_used: plan.stack_used.to_owned(),
        },
        image_id: stored.image_id,
        tags: spec.tags.clone(),
    })
}

/// Removes the checkout and clone dirs (left by this or an earlier run).
pub fn remove_scratch(work_dir: &Path) {
    let _ = std::fs::remove_dir_all(work_dir.join(CHECKOUT_DIR));
    let _ = std::fs::remove_dir_all(work_dir.join(CLONE_DIR));
}

fn read_spec(path: &Path) -> Result<BuildSpec, BuildError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BuildError::io(
            Stage::Detect,
            format!("spec file {}: cannot read it: {e}", path.display()),
        )
    })?;
    spec::parse_spec(&text).map_err(BuildError::bad_spec)
}

/// The credentials file wins over a `user:pass@` in the URL.
fn credentials(
    config: &BuilderConfig,
    spec: &BuildSpec,
) -> Result<Option<Credentials>, BuildError> {
    match &config.credentials_file {
        Some(path) => read_credentials(path).map(Some),
        None => Ok(spec.repo.embedded.clone()),
    }
}

fn scrubber(spec: &BuildSpec, credentials: Option<&Credentials>) -> Scrubber {
    let mut scrubber = Scrubber::default();
    for c in credentials.into_iter().chain(spec.repo.embedded.as_ref()) {
        scrubber.add(&c.password);
        scrubber.add(&format!("{}:{}", c.username, c.password));
    }
    if let Some(userinfo) = &spec.repo.raw_userinfo {
        scrubber.add(userinfo);
        if let Some((_, pass)) = userinfo.split_once(':') {
            scrubber.add(pass);
        }
    }
    scrubber
}
