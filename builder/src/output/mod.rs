//! What a build leaves in its work dir: `events.ndjson` while it runs, then
//! exactly one of `result.json` / `error.json`. This is the interface the
//! agent's build driver reads (see the crate doc).

mod atomic;
mod events;

pub use atomic::write_atomic_json;
pub use events::{BuildResult, EventLog};

/// File names in the work dir.
pub const EVENTS_FILE: &str = "events.ndjson";
pub const RESULT_FILE: &str = "result.json";
pub const ERROR_FILE: &str = "error.json";
