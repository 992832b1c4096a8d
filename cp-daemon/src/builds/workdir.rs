//! A build's work dir: the durable record of one build (seed 000,
//! "Builder-side persistence"). The builder appends `events.ndjson` and
//! writes `result.json` or `error.json`; the agent writes `spec.json`, the
//! credentials file and, when it stopped the build for its run time, a
//! `timed_out` marker. Everything here is plain file I/O on one directory.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use coolify_build_contract::{CREDENTIALS_FILE, ERROR_FILE, EVENTS_FILE, RESULT_FILE};

use super::request::{error_body, verdict_err, verdict_ok, Verdict};

/// The agent's own marker beside the contract's files: written by the
/// driver before it stops a build for its run time.
pub const TIMED_OUT: &str = "timed_out";

/// Longest events line forwarded; longer ones are cut (a runaway log line
/// must not become one huge frame).
const MAX_LINE: usize = 64 * 1024;

pub fn path(root: &Path, request_id: &str) -> PathBuf {
    root.join(request_id)
}

/// Creates `root` and the build's dir, both 0700.
pub fn create(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes a 0600 file atomically (tmp, fsync, rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub fn remove_credentials(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(CREDENTIALS_FILE));
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether the builder (or the agent) has written its verdict: the files
/// are renamed into place whole, so their presence means the outcome is
/// final, even while the container is still on its way out.
pub fn has_verdict(dir: &Path) -> bool {
    dir.join(RESULT_FILE).exists() || dir.join(ERROR_FILE).exists()
}

/// The build's verdict from its files, `None` while it has none. A build
/// the driver stopped for its run time answers `timeout` whatever the
/// builder wrote on SIGTERM (it says `cancelled`).
pub fn verdict(dir: &Path) -> Option<Verdict> {
    if let Some(ok) = read_json(&dir.join(RESULT_FILE)) {
        return Some(verdict_ok(ok));
    }
    let err = read_json(&dir.join(ERROR_FILE))?;
    if dir.join(TIMED_OUT).exists() {
        let stage = err.get("stage").and_then(|s| s.as_str()).unwrap_or("build");
        let message = std::fs::read_to_string(dir.join(TIMED_OUT)).unwrap_or_default();
        return Some(verdict_err(error_body("timeout", message, stage)));
    }
    Some(verdict_err(err))
}

/// Records a verdict the agent reached itself (the builder left none), so
/// it is as durable as one the builder wrote.
pub fn write_error(dir: &Path, code: &str, message: &str, stage: &str) -> std::io::Result<()> {
    let body = error_body(code, message, stage);
    write_private(&dir.join(ERROR_FILE), body.to_string().as_bytes())
}

/// Reads `events.ndjson` as it grows: complete lines only, each with its
/// 0-based line number (the broker keeps each number once, so replaying
/// the file from the start after a reconnect duplicates nothing).
#[derive(Debug, Default)]
pub struct EventTail {
    offset: u64,
    next_seq: u64,
    partial: Vec<u8>,
}

impl EventTail {
    /// New complete lines since the last call.
    pub fn read_new(&mut self, dir: &Path) -> std::io::Result<Vec<(u64, Vec<u8>)>> {
        let mut f = match std::fs::File::open(dir.join(EVENTS_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        // Bounded per call; the rest is read on the next.
        f.take(4 << 20).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        while let Some(pos) = self.partial.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.partial.drain(..=pos).collect();
            line.pop();
            line.truncate(MAX_LINE);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            out.push((self.next_seq, line));
            self.next_seq += 1;
        }
        Ok(out)
    }
}

/// A finished build's dir found by [`finished`].
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub request_id: String,
    pub dir: PathBuf,
    pub verdict: Verdict,
    pub finished_at: SystemTime,
}

/// Every build dir under `root` that holds a verdict.
pub fn finished(root: &Path) -> Vec<Finished> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let dir = e.path();
        let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if super::request::validate_request_id(&id).is_err() || !dir.is_dir() {
            continue;
        }
        if let Some(verdict) = verdict(&dir) {
            let finished_at = [RESULT_FILE, ERROR_FILE]
                .iter()
                .filter_map(|f| std::fs::metadata(dir.join(f)).ok()?.modified().ok())
                .max()
                .unwrap_or(SystemTime::UNIX_EPOCH);
            out.push(Finished {
                request_id: id,
                dir,
                verdict,
                finished_at,
            });
        }
    }
    out
}

/// Build dirs under `root` that have neither a verdict nor `skip(id)`:
/// builds that never got a container or lost it (queued when the agent
/// restarted).
pub fn orphans(root: &Path, skip: impl Fn(&str) -> bool) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let id = dir.file_name()?.to_str()?.to_string();
            let real = super::request::validate_request_id(&id).is_ok() && dir.is_dir();
            (real && !skip(&id) && verdict(&dir).is_none()).then_some((id, dir))
        })
        .collect()
}

/// Removes finished work dirs older than `keep`; returns how many.
pub fn sweep(root: &Path, keep: Duration, now: SystemTime) -> usize {
    let mut removed = 0;
    for f in finished(root) {
        let age = now.duration_since(f.finished_at).unwrap_or_default();
        if age >= keep && std::fs::remove_dir_all(&f.dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_yields_complete_lines_once_with_their_numbers() {
        let d = tempfile::tempdir().expect("dir");
        let mut tail = EventTail::default();
        assert!(tail.read_new(d.path()).expect("absent").is_empty());
        let mut f = std::fs::File::create(d.path().join(EVENTS_FILE)).expect("create");
        f.write_all(b"{\"a\":1}\n{\"b\":").expect("write");
        let first = tail.read_new(d.path()).expect("read");
        assert_eq!(first, vec![(0, b"{\"a\":1}".to_vec())]);
        f.write_all(b"2}\n\n{\"c\":3}\n").expect("write");
        let next = tail.read_new(d.path()).expect("read");
        assert_eq!(
            next,
            vec![(1, b"{\"b\":2}".to_vec()), (2, b"{\"c\":3}".to_vec())]
        );
        assert!(tail.read_new(d.path()).expect("read").is_empty());
    }

    #[test]
    fn verdicts_come_from_the_result_files() {
        let d = tempfile::tempdir().expect("dir");
        assert_eq!(verdict(d.path()), None);
        write_error(d.path(), "git", "no such ref", "git").expect("write");
        assert_eq!(verdict(d.path()).expect("verdict").status, 422);
        std::fs::write(d.path().join(TIMED_OUT), "ran past 1s").expect("marker");
        let v = verdict(d.path()).expect("verdict");
        assert_eq!(
            (v.status, v.body["message"].as_str()),
            (504, Some("ran past 1s"))
        );
        write_private(&d.path().join(RESULT_FILE), br#"{"digest":"sha256:x"}"#).expect("write");
        assert_eq!(verdict(d.path()).expect("verdict").status, 200);
    }

    #[test]
    fn private_files_are_0600_and_dirs_0700() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("dir");
        let dir = path(root.path(), "r1");
        create(&dir).expect("create");
        write_private(&dir.join(CREDENTIALS_FILE), b"{}").expect("write");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(CREDENTIALS_FILE)), 0o600);
        remove_credentials(&dir);
        assert!(!dir.join(CREDENTIALS_FILE).exists());
    }

    #[test]
    fn sweep_removes_only_finished_dirs_past_keep() {
        let root = tempfile::tempdir().expect("dir");
        let done = path(root.path(), "done");
        let running = path(root.path(), "running");
        create(&done).expect("create");
        create(&running).expect("create");
        write_error(&done, "git", "x", "git").expect("write");
        let now = SystemTime::now();
        assert_eq!(sweep(root.path(), Duration::from_secs(3600), now), 0);
        assert_eq!(
            sweep(
                root.path(),
                Duration::from_secs(1),
                now + Duration::from_secs(5)
            ),
            1
        );
        assert!(!done.exists() && running.exists());
        assert_eq!(orphans(root.path(), |_| false).len(), 1);
        assert!(orphans(root.path(), |id| id == "running").is_empty());
    }
}
