//! Builds dispatched and not yet fetched, kept across broker restarts.
//!
//! A build outlives the broker that routed it: the agent keeps following
//! its container through a broker restart (an upgrade replaces both) and
//! sends the result when its stream is back. Pending requests live in
//! memory, so without this record a restarted broker would answer "no
//! request" for the build and drop its result. Each build is recorded
//! before its dispatch is answered (202); when it lands, its result is
//! recorded too and kept as long as the broker keeps landed results in
//! memory ([`crate::pending::LANDED_TTL`]), so a result that landed just
//! before a restart can still be fetched after it. On start the broker
//! waits for the recorded builds again (the owning host's new stream takes
//! them over, `PendingMap::rebind_builds`) and serves the landed ones.
//!
//! Coold dispatches are not recorded: they time out in seconds, and a
//! caller retries them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::pending::LANDED_TTL;

/// A recorded build older than this is not waited for again: the agent
/// stops builds after `COOLD_BUILD_TIMEOUT` (30 min by default), so its
/// result, if any, came long ago; an entry this old was left by a write
/// that failed after the build landed.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("BROKER_BUILDS_PATH={}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
}

/// One build: waiting for its result, or landed and not yet expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The builder host it was routed to.
    pub host: String,
    /// When it was dispatched, Unix seconds.
    pub dispatched_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<Landed>,
}

/// A build's result as the agent sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landed {
    pub status: u16,
    /// The JSON body (build results are JSON text).
    pub body: String,
    pub error: String,
    /// When it landed, Unix milliseconds.
    pub at_ms: u64,
}

/// What a restarted broker does with a recorded build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    Waiting { host: String },
    Landed { result: Landed, age: Duration },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    version: u32,
    builds: BTreeMap<String, JournalEntry>,
}

const VERSION: u32 = 1;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

/// Drops waiting builds older than [`MAX_AGE`] and results older than
/// [`LANDED_TTL`] (the broker would have dropped them from memory too).
fn prune(builds: &mut BTreeMap<String, JournalEntry>) {
    let oldest = now_secs().saturating_sub(MAX_AGE.as_secs());
    let ttl_ms = u64::try_from(LANDED_TTL.as_millis()).unwrap_or(u64::MAX);
    let landed_after = now_ms().saturating_sub(ttl_ms);
    builds.retain(|_, e| match &e.landed {
        None => e.dispatched_at >= oldest,
        Some(l) => l.at_ms >= landed_after,
    });
}

#[derive(Debug)]
pub struct BuildJournal {
    path: PathBuf,
    builds: Mutex<BTreeMap<String, JournalEntry>>,
}

impl BuildJournal {
    /// Reads the record; a missing file is an empty one, a malformed one an
    /// error (the broker must not start having forgotten running builds).
    /// Entries older than [`MAX_AGE`] are dropped.
    pub fn load(path: &Path) -> Result<BuildJournal, JournalError> {
        let err = |reason: String| JournalError::File {
            path: path.to_path_buf(),
            reason,
        };
        let mut builds = match std::fs::read(path) {
            Ok(bytes) => {
                let record: Record = serde_json::from_slice(&bytes)
                    .map_err(|e| err(format!("not a build journal: {e}")))?;
                if record.version != VERSION {
                    return Err(err(format!(
                        "journal version {} is not {VERSION}",
                        record.version
                    )));
                }
                record.builds
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(err(e.to_string())),
        };
        prune(&mut builds);
        Ok(BuildJournal {
            path: path.to_path_buf(),
            builds: Mutex::new(builds),
        })
    }

    /// What a restarted broker restores, per request id.
    pub fn entries(&self) -> Vec<(String, Restore)> {
        let now = now_ms();
        self.lock()
            .iter()
            .map(|(id, e)| {
                let restore = match &e.landed {
                    None => Restore::Waiting {
                        host: e.host.clone(),
                    },
                    Some(l) => Restore::Landed {
                        result: l.clone(),
                        age: Duration::from_millis(now.saturating_sub(l.at_ms)),
                    },
                };
                (id.clone(), restore)
            })
            .collect()
    }

    /// Records a build before its dispatch is answered.
    pub fn record(&self, id: &str, host: &str) -> Result<(), JournalError> {
        let mut builds = self.lock();
        let mut next = builds.clone();
        prune(&mut next);
        next.insert(
            id.to_string(),
            JournalEntry {
                host: host.to_string(),
                dispatched_at: now_secs(),
                landed: None,
            },
        );
        self.write(&next)?;
        *builds = next;
        Ok(())
    }

    /// Records a recorded build's result; nothing is written for an id that
    /// is not recorded (a coold dispatch).
    pub fn land(
        &self,
        id: &str,
        status: u16,
        body: &[u8],
        error: &str,
    ) -> Result<(), JournalError> {
        let mut builds = self.lock();
        let Some(entry) = builds.get(id) else {
            return Ok(());
        };
        let mut entry = entry.clone();
        entry.landed = Some(Landed {
            status,
            body: String::from_utf8_lossy(body).into_owned(),
            error: error.to_string(),
            at_ms: now_ms(),
        });
        let mut next = builds.clone();
        prune(&mut next);
        next.insert(id.to_string(), entry);
        // Kept in memory even if the write fails: a restart would then wait
        // for a build that landed, until MAX_AGE.
        *builds = next.clone();
        self.write(&next)
    }

    /// Forgets a build that was never sent; nothing is written for an id
    /// that is not recorded.
    pub fn forget(&self, id: &str) -> Result<(), JournalError> {
        let mut builds = self.lock();
        if !builds.contains_key(id) {
            return Ok(());
        }
        let mut next = builds.clone();
        next.remove(id);
        // Forgotten in memory even if the write fails: a stale entry only
        // makes a later restart wait for a build that already landed, and
        // MAX_AGE bounds that.
        *builds = next.clone();
        self.write(&next)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, JournalEntry>> {
        self.builds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, builds: &BTreeMap<String, JournalEntry>) -> Result<(), JournalError> {
        let err = |reason: String| JournalError::File {
            path: self.path.clone(),
            reason,
        };
        let record = Record {
            version: VERSION,
            builds: builds.clone(),
        };
        let body = serde_json::to_vec_pretty(&record).map_err(|e| err(e.to_string()))?;
        crate::state_file::write_atomic(&self.path, &body).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_build_is_found_by_the_next_broker_waiting_then_landed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker/builds.json");
        let first = BuildJournal::load(&path).unwrap();
        first.record("b1", "web-1").unwrap();
        first.record("b2", "web-2").unwrap();
        first.forget("b2").unwrap();
        first.land("coold-dispatch", 200, b"{}", "").unwrap();

        let next = BuildJournal::load(&path).unwrap();
        assert_eq!(
            next.entries(),
            [(
                "b1".to_string(),
                Restore::Waiting {
                    host: "web-1".into()
                }
            )]
        );
        next.land("b1", 200, br#"{"image_id":"sha256:x"}"#, "")
            .unwrap();
        match &BuildJournal::load(&path).unwrap().entries()[..] {
            [(id, Restore::Landed { result, age })] => {
                assert_eq!(id, "b1");
                assert_eq!(
                    (result.status, result.body.as_str()),
                    (200, r#"{"image_id":"sha256:x"}"#)
                );
                assert!(*age < LANDED_TTL);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn old_builds_and_expired_results_are_dropped_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("builds.json");
        let old = now_secs() - MAX_AGE.as_secs() - 60;
        let expired_ms = now_ms() - LANDED_TTL.as_millis() as u64 - 1000;
        std::fs::write(
            &path,
            format!(
                r#"{{"version":1,"builds":{{"old":{{"host":"h","dispatched_at":{old}}},"new":{{"host":"h","dispatched_at":{}}},"fetched":{{"host":"h","dispatched_at":{},"landed":{{"status":200,"body":"{{}}","error":"","at_ms":{expired_ms}}}}}}}}}"#,
                now_secs(),
                now_secs()
            ),
        )
        .unwrap();
        let ids: Vec<String> = BuildJournal::load(&path)
            .unwrap()
            .entries()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["new"]);

        std::fs::write(&path, "not json").unwrap();
        let err = BuildJournal::load(&path).unwrap_err().to_string();
        assert!(err.starts_with("BROKER_BUILDS_PATH="), "{err}");
    }
}
