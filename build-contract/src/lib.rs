//! The work-dir file contract between `coolify-builder` and the agent's
//! build driver (`coold`'s `builds/`): the file names, the JSON each file
//! holds, the error codes and the builder's exit codes. Both sides use these
//! definitions, so the contract is written down once. Types and names only,
//! no I/O: each side reads and writes the files its own way.
//!
//! # The builder's command line
//!
//! ```text
//! coolify-builder --spec <work_dir>/spec.json --work-dir <dir>
//!     [--podman-socket /run/podman/podman.sock] [--credentials-file <path>]
//!     [--static-base-image IMG]      (env COOLIFY_BUILDER_STATIC_BASE_IMAGE)
//!     [--await-go]                   (warm start: wait for <work_dir>/go)
//! ```
//!
//! # The files, in the order they appear
//!
//! * [`SPEC_FILE`] (written by the agent): `repo` (https://, git://,
//!   file://), `ref`, `stack` (`STATIC` | `DOCKERFILE`), `tags` (≥ 1);
//!   STATIC: `publish_dir`, `base_image`, `static_root`; DOCKERFILE:
//!   `dockerfile`, `context`, `build_args`. Unknown fields are refused.
//!   See docs/builds.md.
//! * [`CREDENTIALS_FILE`] (written by the agent, mode 0600, optional):
//!   [`Credentials`], `{"username", "password"}` and nothing else. The
//!   builder refuses one readable by group or others. Credentials (this
//!   file or `user:pass@` in an https URL) go to the clone only and are
//!   scrubbed from every text the builder writes.
//! * [`GO_FILE`] (written by the agent, warm start only): a builder started
//!   with `--await-go` waits until it exists; the spec and credentials are
//!   in place before it is.
//! * [`EVENTS_FILE`] (written by the builder): one [`Event`] per line,
//!   flushed per line:
//!   `{"type":"progress","stage":"git|detect|build|store","log","percent"}`,
//!   last `{"type":"result","ok":{digest,registry_ref,duration_ms,stack_used}}`
//!   or `{"type":"error","err":{code,message,stage}}`.
//! * then [`RESULT_FILE`] ([`ResultFile`]: the `ok` object plus `image_id`
//!   and `tags`) or [`ERROR_FILE`] ([`ErrorFile`], the `err` object), each
//!   renamed into place whole, mode 0600: its presence means the outcome is
//!   final. The agent writes an error.json of its own when the builder left
//!   none, with codes and stages of its own beside the builder's.
//!
//! # Codes
//!
//! * error codes ([`ErrorCode`]): `bad_spec`, `git`, `build_failed`,
//!   `cancelled`, `io`.
//! * exit codes ([`exit`]): 0 ok, 1 bad_spec/git/build_failed, 2 usage or
//!   io, 130 cancelled (SIGTERM or SIGINT).

mod credentials;
mod outcome;

pub use credentials::Credentials;
pub use outcome::{exit, BuildResult, ErrorCode, ErrorFile, Event, ResultFile, Stage};

/// The build spec, written by the agent.
pub const SPEC_FILE: &str = "spec.json";
/// Git credentials for an https clone, written by the agent (0600).
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// The file whose creation hands the build to a builder started with
/// `--await-go`.
pub const GO_FILE: &str = "go";
/// The builder's progress, one JSON object per line.
pub const EVENTS_FILE: &str = "events.ndjson";
/// A successful build's outcome.
pub const RESULT_FILE: &str = "result.json";
/// A failed build's outcome.
pub const ERROR_FILE: &str = "error.json";
