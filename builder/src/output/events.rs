//! events.ndjson: one JSON object per line, appended and flushed per line so
//! the driver can tail it from the host while the build runs.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::error::{BuildError, Stage};
use crate::secrets::Scrubber;

/// The `ok` object of the final event; result.json adds `image_id` and `tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildResult {
    pub digest: String,
    pub registry_ref: String,
    pub duration_ms: u64,
    pub stack_used: String,
    #[serde(skip)]
    pub image_id: String,
    #[serde(skip)]
    pub tags: Vec<String>,
}

impl BuildResult {
    /// result.json's shape: the `ok` object plus image id and tags.
    pub fn file_value(&self) -> serde_json::Value {
        json!({
            "digest": self.digest,
            "registry_ref": self.registry_ref,
            "duration_ms": self.duration_ms,
            "stack_used": self.stack_used,
            "image_id": self.image_id,
            "tags": self.tags,
        })
    }
}

/// Appends events. Every text passes the scrubber first, so no credential
/// reaches the file whatever a lower layer put in a message.
pub struct EventLog {
    file: std::fs::File,
    scrubber: Scrubber,
}

impl EventLog {
    pub fn open(work_dir: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(work_dir.join(super::EVENTS_FILE))?;
        Ok(EventLog {
            file,
            scrubber: Scrubber::default(),
        })
    }

    pub fn set_scrubber(&mut self, scrubber: Scrubber) {
        self.scrubber = scrubber;
    }

    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// A progress line. Write failures are ignored: losing a log line must
    /// not fail a build; the result file is what counts.
    pub fn progress(&mut self, stage: Stage, log: &str, percent: u8) {
        let line = json!({
            "type": "progress",
            "stage": stage,
            "log": self.scrubber.scrub(log),
            "percent": percent.min(100),
        });
        let _ = self.write_line(&line);
    }

    pub fn result(&mut self, ok: &BuildResult) -> std::io::Result<()> {
        self.write_line(&json!({"type": "result", "ok": ok}))
    }

    pub fn error(&mut self, err: &BuildError) -> std::io::Result<()> {
        self.write_line(&json!({"type": "error", "err": err}))
    }

    fn write_line(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        // One write per line: O_APPEND keeps lines whole for a tailing reader.
        self.file.write_all(&line)?;
        self.file.flush()
    }
}
