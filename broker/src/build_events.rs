//! Build progress kept per request id: the agent's BuildEvent lines, so a
//! caller can read what a build did so far (`GET /v1/build/events/:id`)
//! and follow it until its result lands.
//!
//! Invariants:
//! - Bounded: at most `max_builds` logs, each at most [`MAX_LINES`] lines
//!   and [`MAX_BYTES`] bytes; past that lines are dropped and the log says
//!   it was truncated.
//! - Each line number (`seq`) is kept once: an agent that re-attaches to
//!   a build replays its events file from the start, and the replay only
//!   fills lines the broker does not have.
//!
//! No I/O; the lane decides which requests may record (a waiting build
//! owned by the sending host) and when logs go (with their pending entry).

use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::Notify;

pub const MAX_LINES: usize = 10_000;
pub const MAX_BYTES: usize = 4 << 20;

#[derive(Debug, Default)]
struct Log {
    lines: Vec<Bytes>,
    bytes: usize,
    truncated: bool,
}

#[derive(Debug)]
struct Entry {
    log: std::sync::Mutex<Log>,
    grew: Arc<Notify>,
}

/// Why a line was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Kept,
    /// Already have this line number.
    Duplicate,
    /// A line number past the end: a line before it is missing (sent on a
    /// session that dropped); the replay on the next session fills it.
    Gap,
    /// The log or the map is full.
    Full,
}

#[derive(Debug)]
pub struct BuildEvents {
    map: DashMap<String, Entry>,
    max_builds: usize,
}

/// Lines from an offset, and whether the log was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub lines: Vec<Bytes>,
    pub truncated: bool,
}

impl BuildEvents {
    pub fn new(max_builds: usize) -> Self {
        BuildEvents {
            map: DashMap::new(),
            max_builds,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn record(&self, id: &str, seq: u64, line: Bytes) -> Record {
        if !self.map.contains_key(id) && self.map.len() >= self.max_builds {
            return Record::Full;
        }
        let entry = self.map.entry(id.to_string()).or_insert_with(|| Entry {
            log: Default::default(),
            grew: Arc::new(Notify::new()),
        });
        let mut log = entry.log.lock().unwrap_or_else(|p| p.into_inner());
        let have = log.lines.len() as u64;
        if seq < have {
            return Record::Duplicate;
        }
        if seq > have {
            return Record::Gap;
        }
        if log.lines.len() >= MAX_LINES || log.bytes + line.len() > MAX_BYTES {
            log.truncated = true;
            return Record::Full;
        }
        log.bytes += line.len();
        log.lines.push(line);
        drop(log);
        entry.grew.notify_waiters();
        Record::Kept
    }

    /// Lines from `from` on, plus a handle that fires when more arrive.
    pub fn read_from(&self, id: &str, from: usize) -> (Slice, Option<Arc<Notify>>) {
        match self.map.get(id) {
            Some(e) => {
                let log = e.log.lock().unwrap_or_else(|p| p.into_inner());
                let lines = log
                    .lines
                    .get(from..)
                    .map(<[Bytes]>::to_vec)
                    .unwrap_or_default();
                (
                    Slice {
                        lines,
                        truncated: log.truncated,
                    },
                    Some(e.grew.clone()),
                )
            }
            None => (
                Slice {
                    lines: Vec::new(),
                    truncated: false,
                },
                None,
            ),
        }
    }

    /// Drops the logs `keep` says no; returns how many.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|id, _| keep(id));
        before - self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn a_replay_from_the_first_line_duplicates_nothing() {
        let e = BuildEvents::new(10);
        assert_eq!(e.record("r", 0, b("a")), Record::Kept);
        assert_eq!(e.record("r", 1, b("b")), Record::Kept);
        // Re-attached agent replays the whole file.
        assert_eq!(e.record("r", 0, b("a")), Record::Duplicate);
        assert_eq!(e.record("r", 1, b("b")), Record::Duplicate);
        assert_eq!(e.record("r", 2, b("c")), Record::Kept);
        assert_eq!(e.read_from("r", 0).0.lines, vec![b("a"), b("b"), b("c")]);
        assert_eq!(e.read_from("r", 2).0.lines, vec![b("c")]);
        assert!(e.read_from("r", 9).0.lines.is_empty());
    }

    #[test]
    fn a_gap_is_refused_until_the_replay_fills_it() {
        let e = BuildEvents::new(10);
        assert_eq!(e.record("r", 1, b("b")), Record::Gap);
        assert_eq!(e.record("r", 0, b("a")), Record::Kept);
        assert_eq!(e.record("r", 1, b("b")), Record::Kept);
    }

    #[test]
    fn logs_and_the_map_are_bounded() {
        let e = BuildEvents::new(1);
        assert_eq!(e.record("r", 0, b("a")), Record::Kept);
        assert_eq!(e.record("other", 0, b("a")), Record::Full);
        let big = Bytes::from(vec![b'x'; MAX_BYTES]);
        assert_eq!(e.record("r", 1, big), Record::Full);
        assert!(e.read_from("r", 0).0.truncated);
        assert_eq!(e.retain(|id| id != "r"), 1);
        assert!(e.is_empty());
    }
}
