//! What a build leaves in its work dir: `events.ndjson` while it runs, then
//! exactly one of `result.json` / `error.json`. The names and shapes are
//! the contract's (`coolify-build-contract`); this module writes them.

mod atomic;
mod events;

pub use atomic::write_atomic_json;
pub use events::EventLog;
