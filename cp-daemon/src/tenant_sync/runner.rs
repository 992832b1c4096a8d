//! The effect edge: runs a real rclone process per mapping.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::error::SyncError;
use super::rclone::{self, Credentials, Invocation, EXIT_DIRECTORY_NOT_FOUND};
use super::spec::{Mode, Sink, SyncSpec};
use super::staging::{self, Staging};
use super::tenant::substitute;
use crate::hosttools::ToolRunner;

/// How much of rclone's stderr an error keeps (its tail: the summary).
const STDERR_KEEP: usize = 2000;

/// A way to read the agent's environment (the process's, or a map in
/// tests), for `*_env` credentials.
pub type EnvLookup = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Runs syncs for any spec and tenant. Cheap to clone.
#[derive(Clone)]
pub struct StateSync {
    rclone: PathBuf,
    tools: ToolRunner,
    timeout: Duration,
    env: EnvLookup,
}

/// Which way a sync moved data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Download,
    Upload,
}

impl Transfer {
    fn name(self) -> &'static str {
        match self {
            Transfer::Download => "download",
            Transfer::Upload => "upload",
        }
    }
}

/// The longest wait between two upload attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How [`StateSync::upload_retrying`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included (0 counts as 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubles after each failure.
    pub backoff: Duration,
}

/// What a successful sync did, per mapping it moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub transfer: Transfer,
    pub mappings: Vec<MappingReport>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingReport {
    /// The mapping's `path` as written in the spec.
    pub path: String,
    pub mode: Mode,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// rclone ran and finished.
    Transferred,
    /// Download only: the sink holds nothing for this tenant yet (a new
    /// tenant), so the state dir was left as it was.
    NothingStored,
}

impl StateSync {
    /// `rclone` is a bare name (searched in `PATH`, or in the host root's
    /// bin dirs) or an absolute path; each run is killed after `timeout`.
    pub fn new(rclone: impl Into<PathBuf>, tools: ToolRunner, timeout: Duration) -> Self {
        StateSync {
            rclone: rclone.into(),
            tools,
            timeout,
            env: std::sync::Arc::new(|name| std::env::var(name).ok()),
        }
    }

    /// From the agent's `COOLD_RCLONE_BIN` and `COOLD_SYNC_TIMEOUT`, with
    /// the agent's tool runner (the host root inside the appliance).
    pub fn from_config(cfg: &crate::config::SyncConfig, tools: ToolRunner) -> Self {
        Self::new(cfg.rclone_bin.clone(), tools, cfg.timeout)
    }

    /// Reads `*_env` credentials through `env` instead of the process
    /// environment.
    pub fn with_env(mut self, env: EnvLookup) -> Self {
        self.env = env;
        self
    }

    /// Sink → `state_dir`, for every mapping whose direction downloads.
    ///
    /// All mappings land in a staging dir beside `state_dir` first; only
    /// when every one arrived are they moved in (`sync` replaces the
    /// mapping's files, `copy` adds and overwrites). On `Err` the state
    /// dir is exactly as it was. A tenant with nothing stored yet is not an
    /// error: its mappings report [`Outcome::NothingStored`] and nothing
    /// changes. `state_dir` is created if missing.
    pub async fn download(
        &self,
        spec: &SyncSpec,
        tenant: &str,
        state_dir: &Path,
    ) -> Result<SyncReport, SyncError> {
        let job = self.prepare(spec, tenant)?;
        let local_err = |mapping: &str, action, path: &Path, source| SyncError::Local {
            mapping: mapping.to_owned(),
            action,
            path: path.to_path_buf(),
            source,
        };
        let all = "/".to_owned();
        tokio::fs::create_dir_all(state_dir)
            .await
            .map_err(|e| local_err(&all, "create state dir", state_dir, e))?;
        let staging = Staging::beside(state_dir)
            .map_err(|e| local_err(&all, "create staging dir beside", state_dir, e))?;
        let mut moved = Vec::new();
        for (m, rel) in selected(spec, Transfer::Download)? {
            // Always copy into the empty staging dir; the mode is applied
            // when moving in.
            let args = rclone::transfer_args(
                Mode::Copy,
                Path::new(&job.remote),
                staging.path(),
                &rel,
                rclone::sink_flags(&spec.sink),
            );
            let outcome = self.run(&job, &m.path, Transfer::Download, args).await?;
            moved.push((m, rel, outcome));
        }
        let staged = staging.path().to_path_buf();
        let state = state_dir.to_path_buf();
        let plan: Vec<(String, String, Mode, Outcome)> = moved
            .iter()
            .map(|(m, rel, o)| (m.path.clone(), rel.clone(), m.mode, *o))
            .collect();
        let applied = tokio::task::spawn_blocking(move || {
            for (path, rel, mode, outcome) in &plan {
                if *outcome == Outcome::Transferred {
                    staging::apply(&staged, &state, rel, *mode).map_err(|e| (path.clone(), e))?;
                }
            }
            Ok::<_, (String, std::io::Error)>(())
        })
        .await;
        match applied {
            Ok(Ok(())) => {}
            Ok(Err((path, e))) => return Err(local_err(&path, "move into", state_dir, e)),
            Err(join) => {
                return Err(local_err(
                    &all,
                    "move into",
                    state_dir,
                    std::io::Error::other(join.to_string()),
                ))
            }
        }
        drop(staging);
        Ok(report(
            Transfer::Download,
            moved.into_iter().map(|(m, _, o)| (m, o)),
        ))
    }

    /// `state_dir` → sink, for every mapping whose direction uploads.
    ///
    /// Never changes the state dir. Idempotent: after an `Err` (the first
    /// failing mapping, named in it) the caller keeps the state dir and
    /// calls again; mappings already uploaded cost only a comparison.
    pub async fn upload(
        &self,
        spec: &SyncSpec,
        tenant: &str,
        state_dir: &Path,
    ) -> Result<SyncReport, SyncError> {
        let job = self.prepare(spec, tenant)?;
        if !tokio::fs::metadata(state_dir)
            .await
            .is_ok_and(|m| m.is_dir())
        {
            return Err(SyncError::NoStateDir(state_dir.to_path_buf()));
        }
        let mut moved = Vec::new();
        for (m, rel) in selected(spec, Transfer::Upload)? {
            let args = rclone::transfer_args(
                m.mode,
                state_dir,
                Path::new(&job.remote),
                &rel,
                rclone::sink_flags(&spec.sink),
            );
            let outcome = self.run(&job, &m.path, Transfer::Upload, args).await?;
            moved.push((m, outcome));
        }
        Ok(report(Transfer::Upload, moved.into_iter()))
    }

    /// [`StateSync::upload`], tried again on a retryable error (a sink
    /// that is down, a timeout) up to `retry.attempts` times in all, the
    /// wait doubling from `retry.backoff` (at most one minute). Input
    /// errors return at once. For releases: the state dir is kept whatever
    /// this returns, and deleted by the caller only after `Ok`.
    pub async fn upload_retrying(
        &self,
        spec: &SyncSpec,
        tenant: &str,
        state_dir: &Path,
        retry: Retry,
    ) -> Result<SyncReport, SyncError> {
        let mut wait = retry.backoff;
        let mut attempt = 1;
        loop {
            match self.upload(spec, tenant, state_dir).await {
                Err(error) if error.is_retryable() && attempt < retry.attempts => {
                    tracing::warn!(%tenant, attempt, %error, "state upload failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    /// Checks the spec and tenant, resolves credentials, and builds what
    /// every run of this sync shares.
    fn prepare(&self, spec: &SyncSpec, tenant: &str) -> Result<Job, SyncError> {
        spec.validate()?;
        let (place, creds) = match &spec.sink {
            Sink::S3(s3) => (substitute(&s3.prefix, tenant)?, self.credentials(s3)?),
            Sink::Local(local) => (substitute(&local.path, tenant)?, None),
        };
        let secrets = creds
            .as_ref()
            .map(|c| vec![c.access_key_id.clone(), c.secret_access_key.clone()])
            .unwrap_or_default();
        Ok(Job {
            remote: rclone::remote_root(&spec.sink, &place),
            env: rclone::sink_env(&spec.sink, creds.as_ref()),
            secrets,
        })
    }

    fn credentials(&self, s3: &super::spec::S3Sink) -> Result<Option<Credentials>, SyncError> {
        let pick = |inline: &Option<super::spec::Secret>,
                    env: &Option<String>,
                    key: &'static str|
         -> Result<Option<String>, SyncError> {
            match (inline, env) {
                (Some(s), _) => Ok(Some(s.expose().to_owned())),
                (None, Some(var)) => {
                    (self.env)(var)
                        .map(Some)
                        .ok_or_else(|| SyncError::MissingCredential {
                            key,
                            var: var.clone(),
                        })
                }
                (None, None) => Ok(None),
            }
        };
        let id = pick(
            &s3.access_key_id,
            &s3.access_key_id_env,
            "sync.sink.access_key_id_env",
        )?;
        let secret = pick(
            &s3.secret_access_key,
            &s3.secret_access_key_env,
            "sync.sink.secret_access_key_env",
        )?;
        Ok(match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
                access_key_id,
                secret_access_key,
            }),
            // validate() refuses half a pair; none = anonymous access.
            _ => None,
        })
    }

    /// Runs one rclone process with a cleared environment and a bounded
    /// run time.
    async fn run(
        &self,
        job: &Job,
        mapping: &str,
        transfer: Transfer,
        args: Vec<OsString>,
    ) -> Result<Outcome, SyncError> {
        let invocation = Invocation {
            args,
            env: job.env.clone(),
        };
        let spawn_err = |source| SyncError::Spawn {
            mapping: mapping.to_owned(),
            direction: transfer.name(),
            program: self.rclone.clone(),
            source,
        };
        let mut cmd = self.tools.command(&self.rclone).map_err(spawn_err)?;
        cmd.args(&invocation.args)
            .env_clear()
            .envs(invocation.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // A timeout drops the child: it must not outlive the sync.
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(spawn_err)?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(out) => out.map_err(spawn_err)?,
            Err(_) => {
                return Err(SyncError::Timeout {
                    mapping: mapping.to_owned(),
                    direction: transfer.name(),
                    timeout: self.timeout,
                })
            }
        };
        if out.status.success() {
            return Ok(Outcome::Transferred);
        }
        if transfer == Transfer::Download && out.status.code() == Some(EXIT_DIRECTORY_NOT_FOUND) {
            return Ok(Outcome::NothingStored);
        }
        let secrets: Vec<&str> = job.secrets.iter().map(String::as_str).collect();
        let stderr = rclone::scrub(&String::from_utf8_lossy(&out.stderr), &secrets);
        let tail = tail(stderr.trim(), STDERR_KEEP);
        Err(SyncError::Rclone {
            mapping: mapping.to_owned(),
            direction: transfer.name(),
            status: out.status.to_string(),
            stderr: tail.to_owned(),
        })
    }
}

/// What every rclone run of one sync shares.
struct Job {
    remote: OsString,
    env: Vec<(String, String)>,
    secrets: Vec<String>,
}

/// The mappings a transfer moves, each with its normalised path.
fn selected(
    spec: &SyncSpec,
    transfer: Transfer,
) -> Result<Vec<(&super::spec::Mapping, String)>, SyncError> {
    spec.mappings
        .iter()
        .enumerate()
        .filter(|(_, m)| match transfer {
            Transfer::Download => m.direction.downloads(),
            Transfer::Upload => m.direction.uploads(),
        })
        .map(|(i, m)| {
            let rel = m.relative_path().map_err(|reason| {
                SyncError::Spec(super::validate::SpecError {
                    key: format!("sync.mappings[{i}].path"),
                    reason,
                })
            })?;
            Ok((m, rel))
        })
        .collect()
}

fn report<'a>(
    transfer: Transfer,
    moved: impl Iterator<Item = (&'a super::spec::Mapping, Outcome)>,
) -> SyncReport {
    SyncReport {
        transfer,
        mappings: moved
            .map(|(m, outcome)| MappingReport {
                path: m.path.clone(),
                mode: m.mode,
                outcome,
            })
            .collect(),
    }
}

/// The last `max` bytes of `text`, cut at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
