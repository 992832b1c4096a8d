//! `coolify-builder`: one build per process. Clone a repo at a ref, turn the
//! stack into a Containerfile and context, build it through Podman's build API
//! into local containers-storage, and record what happened in the work dir.
//!
//! # The file contract (read by the agent's build driver)
//!
//! ```text
//! coolify-builder --spec <work_dir>/spec.json --work-dir <dir>
//!     [--podman-socket /run/podman/podman.sock] [--credentials-file <path>]
//!     [--static-base-image IMG]      (env COOLIFY_BUILDER_STATIC_BASE_IMAGE)
//!     [--await-go]                   (warm start: wait for <work_dir>/go)
//! ```
//!
//! * spec.json: `repo` (https://, git://, file://), `ref`, `stack`
//!   (`STATIC` | `DOCKERFILE`), `tags` (≥ 1), STATIC: `publish_dir`,
//!   `base_image`, `static_root`; DOCKERFILE: `dockerfile`, `context`,
//!   `build_args`. Unknown fields are refused. See docs/builds.md.
//! * `<work_dir>/events.ndjson`: one object per line, flushed per line:
//!   `{"type":"progress","stage":"git|detect|build|store","log","percent"}`,
//!   last `{"type":"result","ok":{digest,registry_ref,duration_ms,stack_used}}`
//!   or `{"type":"error","err":{code,message,stage}}`.
//! * then `result.json` (the ok object plus `image_id`, `tags`) or
//!   `error.json` (the err object), each written atomically, mode 0600.
//! * error codes: `bad_spec`, `git`, `build_failed`, `cancelled`, `io`.
//! * exit codes: 0 ok, 1 bad_spec/git/build_failed, 2 usage or io,
//!   130 cancelled (SIGTERM or SIGINT).
//!
//! Credentials (file or `user:pass@` in an https URL) go to the clone only
//! through gix's credentials callback and are scrubbed from every text we
//! write.

mod error;
mod git;
mod output;
mod pipeline;
mod podman;
mod run;
mod secrets;
mod spec;
mod stack;
mod warm;

pub use error::{BuildError, ErrorCode, Stage};
pub use output::{ERROR_FILE, EVENTS_FILE, RESULT_FILE};
pub use pipeline::BuilderConfig;
pub use run::run_build;
pub use spec::DEFAULT_STATIC_BASE_IMAGE;
pub use warm::{wait_for_go, WaitError, GO_FILE};
