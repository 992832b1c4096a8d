//! events.ndjson: one contract `Event` per line, appended and flushed per line so
//! the driver can tail it from the host while the build runs.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use coolify_build_contract::{BuildResult, Event, EVENTS_FILE};

use crate::error::{BuildError, Stage};
use crate::secrets::Scrubber;

/// Appends events. Every text passes the scrubber first, so no credential
/// reaches the file whatever a lower layer put in a message.
pub struct EventLog {
    file: std::fs::File,
    scrubber: Scrubber,
    stage: Stage,
}

impl EventLog {
    pub fn open(work_dir: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(work_dir.join(EVENTS_FILE))?;
        Ok(EventLog {
            file,
            scrubber: Scrubber::default(),
            stage: Stage::Detect,
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
        self.stage = stage;
        let _ = self.write_line(Event::Progress {
            stage,
            log: self.scrubber.scrub(log),
            percent: percent.min(100),
        });
    }

    /// The stage of the last progress event: where a cancel caught us.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    pub fn result(&mut self, ok: &BuildResult) -> std::io::Result<()> {
        self.write_line(Event::Result { ok: ok.clone() })
    }

    pub fn error(&mut self, err: &BuildError) -> std::io::Result<()> {
        self.write_line(Event::Error { err: err.file() })
    }

    fn write_line(&mut self, event: Event) -> std::io::Result<()> {
        // Through a `Value`: its keys are sorted, so a line's bytes do not
        // depend on the order of fields in the contract's types.
        let mut line = serde_json::to_vec(&serde_json::to_value(event)?)?;
        line.push(b'\n');
        // One write per line: O_APPEND keeps lines whole for a tailing reader.
        self.file.write_all(&line)?;
        self.file.flush()
    }
}
