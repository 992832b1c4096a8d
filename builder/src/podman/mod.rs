//! The `build` and `store` stages' edge: Podman's (Docker-compatible) build
//! API over its Unix socket, through bollard. Images land in the engine's own
//! containers-storage; nothing is pushed.

mod build_log;

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptions, TagImageOptions};
use bollard::Docker;
use futures_util::StreamExt;

pub use build_log::BuildLog;

use crate::error::{BuildError, ErrorCode, Stage};
use crate::stack::BuildPlan;

/// A build may run for as long as the driver's run-time limit allows; that
/// limit (on the build container) is the one that counts, not ours.
const REQUEST_TIMEOUT_SECS: u64 = 24 * 3600;

/// How many times a build is begun again after the engine killed a step's
/// runtime on its own (see [`PodmanClient::build`]).
pub const ENGINE_KILL_RETRIES: u32 = 2;

/// How one build request ended when it did not give an image.
enum Attempt {
    /// The step's OCI runtime died of SIGKILL that nobody sent: the engine
    /// bug a retry gets past.
    EngineKilledRuntime(BuildError),
    Failed(BuildError),
}

/// Buildah's words when the `runc` it started ended by SIGKILL. A step's
/// own process killed (by the OOM killer, say) ends `runc` with an exit
/// status instead ("exit status 137"), so this names the runtime's death
/// alone, not the user's command failing.
fn engine_killed_runtime(message: &str) -> bool {
    message.contains("while running runtime: signal: killed")
}

pub struct PodmanClient {
    docker: Docker,
    socket: String,
}

/// What the store stage reads back from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    pub image_id: String,
    pub digest: String,
    pub tags: Vec<String>,
}

impl PodmanClient {
    pub async fn connect(socket: &str) -> Result<Self, BuildError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            BuildError::io(
                Stage::Build,
                format!("podman socket {socket} does not answer ({e}); start it with `podman system service --time=0 unix://{socket}` and mount it into the build container"),
            )
        };
        let docker =
            Docker::connect_with_unix(socket, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                .map_err(|e| unreachable(&e))?;
        docker.ping().await.map_err(|e| unreachable(&e))?;
        Ok(PodmanClient {
            docker,
            socket: socket.to_owned(),
        })
    }

    /// Runs the build, calling `on_line` with each log line and the share of
    /// steps begun. Returns the image id. Dropping the returned future drops
    /// the request's connection, which makes Podman stop the build.
    ///
    /// A step whose OCI runtime the engine itself killed is built again,
    /// at most [`ENGINE_KILL_RETRIES`] times: Podman before 4.6 starts
    /// `runc` with a parent-death signal tied to the Go thread that forked
    /// it, and the Go runtime retires threads at will, so a long RUN step
    /// dies now and then with "while running runtime: signal: killed"
    /// although nothing asked for it (buildah PR 4790, podman issue 17918;
    /// seen here under parallel load). The layers before that step come
    /// from the engine's cache, so the retry resumes at the step that died.
    pub async fn build(
        &self,
        plan: &BuildPlan,
        tag: &str,
        mut on_line: impl FnMut(&str, u8),
    ) -> Result<String, BuildError> {
        let mut attempt = 0;
        // Progress never runs backwards: the retry's early steps come from
        // the cache and report the share reached so far.
        let mut reached = 0u8;
        let mut report = |line: &str, percent: u8| {
            reached = reached.max(percent);
            on_line(line, reached);
        };
        loop {
            match self.build_once(plan, tag, &mut report).await {
                Err(Attempt::EngineKilledRuntime(e)) if attempt < ENGINE_KILL_RETRIES => {
                    attempt += 1;
                    report(
                        &format!(
                            "the engine killed a step's runtime ({}); a Podman before 4.6 does this on its own, so the build begins again from the layer cache, retry {attempt} of {ENGINE_KILL_RETRIES}",
                            e.message.lines().next().unwrap_or_default()
                        ),
                        0,
                    );
                }
                Err(Attempt::EngineKilledRuntime(e) | Attempt::Failed(e)) => return Err(e),
                Ok(id) => return Ok(id),
            }
        }
    }

    async fn build_once(
        &self,
        plan: &BuildPlan,
        tag: &str,
        on_line: &mut impl FnMut(&str, u8),
    ) -> Result<String, Attempt> {
        let options = BuildImageOptions {
            dockerfile: plan.containerfile.clone(),
            t: Some(tag.to_owned()),
            rm: true,
            forcerm: true,
            buildargs: Some(
                plan.build_args
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            ),
            ..Default::default()
        };
        let body = bollard::body_full(plan.context_tar.clone());
        let mut stream = self.docker.build_image(options, None, Some(body));
        let mut log = BuildLog::default();
        let mut image_id = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                        for line in log.feed(text) {
                            on_line(&line, log.step_percent());
                        }
                    }
                    if let Some(id) = info.aux.and_then(|aux| aux.id) {
                        image_id = Some(id);
                    }
                }
                Err(e) => {
                    if let Some(rest) = log.flush() {
                        on_line(&rest, log.step_percent());
                    }
                    let killed = matches!(&e, bollard::errors::Error::DockerStreamError { error } if engine_killed_runtime(error));
                    let e = self.build_error(e, &log);
                    return Err(if killed {
                        Attempt::EngineKilledRuntime(e)
                    } else {
                        Attempt::Failed(e)
                    });
                }
            }
        }
        if let Some(rest) = log.flush() {
            on_line(&rest, log.step_percent());
        }
        match image_id {
            Some(id) => Ok(id),
            // Older engines name the image only in the log; ask by tag.
            None => Ok(self.inspect(tag).await.map_err(Attempt::Failed)?.image_id),
        }
    }

    fn build_error(&self, e: bollard::errors::Error, log: &BuildLog) -> BuildError {
        use bollard::errors::Error as E;
        let tail = log.tail().join("\n");
        let with_tail = |what: String| {
            if tail.is_empty() {
                what
            } else {
                format!("{what}\nlast build output:\n{tail}")
            }
        };
        match e {
            E::DockerStreamError { error } => {
                BuildError::new(ErrorCode::BuildFailed, Stage::Build, with_tail(error))
            }
            E::DockerResponseServerError {
                status_code,
                message,
            } => BuildError::new(
                ErrorCode::BuildFailed,
                Stage::Build,
                with_tail(format!(
                    "podman refused the build (HTTP {status_code}): {message}"
                )),
            ),
            other => BuildError::io(
                Stage::Build,
                with_tail(format!(
                    "podman socket {}: build request broke off: {other}",
                    self.socket
                )),
            ),
        }
    }

    /// Adds `tag` to an image.
    pub async fn tag(&self, image_id: &str, tag: &str) -> Result<(), BuildError> {
        let (repo, version) = split_tag(tag);
        self.docker
            .tag_image(
                image_id,
                Some(TagImageOptions {
                    repo: Some(repo.to_owned()),
                    tag: Some(version.to_owned()),
                }),
            )
            .await
            .map_err(|e| BuildError::io(Stage::Store, format!("tagging {image_id} as {tag}: {e}")))
    }

    /// Reads back id, digest and tags of an image.
    pub async fn inspect(&self, image: &str) -> Result<StoredImage, BuildError> {
        let info =
            self.docker.inspect_image(image).await.map_err(|e| {
                BuildError::io(Stage::Store, format!("inspecting image {image}: {e}"))
            })?;
        let image_id = info.id.unwrap_or_default();
        // A locally built image has no registry digest; Podman reports the
        // manifest digest of local storage as a repo digest. Fall back to the
        // image id, which is a content digest too.
        let digest = info
            .repo_digests
            .unwrap_or_default()
            .iter()
            .find_map(|d| d.split_once('@').map(|(_, digest)| digest.to_owned()))
            .unwrap_or_else(|| image_id.clone());
        Ok(StoredImage {
            image_id,
            digest,
            tags: info.repo_tags.unwrap_or_default(),
        })
    }
}

/// `localhost/app:1` → (`localhost/app`, `1`); no tag means `latest`.
fn split_tag(reference: &str) -> (&str, &str) {
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::{engine_killed_runtime, split_tag};

    #[test]
    fn only_the_runtime_killed_by_signal_counts_as_the_engine_bug() {
        assert!(engine_killed_runtime(
            "building at STEP \"RUN sleep 30\": while running runtime: signal: killed"
        ));
        // The step's own process killed: runc reports its exit status.
        assert!(!engine_killed_runtime(
            "building at STEP \"RUN big\": while running runtime: exit status 137"
        ));
        assert!(!engine_killed_runtime(
            "building at STEP \"RUN false\": while running runtime: exit status 1"
        ));
    }

    #[test]
    fn split_tag_keeps_registry_port() {
        assert_eq!(
            split_tag("localhost:5000/app:1"),
            ("localhost:5000/app", "1")
        );
        assert_eq!(
            split_tag("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(split_tag("app"), ("app", "latest"));
    }
}
