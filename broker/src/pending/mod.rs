//! Pending: request id → `Waiting | Landed` (seed 000, "Broker").
//!
//! Invariants:
//! - At most `max` entries, waiting and landed together; one more is
//!   refused (the UDS lane answers 503) instead of growing without bound.
//! - A request lands once. Later answers (an agent answering after the
//!   timeout, a second poller) never overwrite a landed outcome.
//! - Only the host a request was sent to can land it.
//! - Build entries are never swept while they wait: a build may run for
//!   many minutes; only coold-lane entries time out (504).
//!
//! No I/O and no clock of its own: callers pass `now`, so every rule is
//! unit-tested with made-up instants.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dashmap::mapref::entry::Entry as MapEntry;
use dashmap::DashMap;
use tokio::sync::oneshot;

/// Waiting coold-lane entries older than this are answered 504.
pub const SWEEP_AFTER: Duration = Duration::from_secs(10);
/// Landed entries are kept this long for late pollers.
pub const LANDED_TTL: Duration = Duration::from_secs(30);
/// How often the sweeper runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Which lane a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Coold,
    Build,
}

/// How a request ended: the agent's answer or the broker's own verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    /// JSON body (may be empty, e.g. 204).
    pub body: Bytes,
    /// Human-readable error, empty on success.
    pub error: String,
    /// True when the broker decided it (timeout, dropped stream), not the
    /// agent; the UDS lane says so in `x-coolify-source`.
    pub by_broker: bool,
}

impl Outcome {
    /// An outcome decided by the broker (timeout, dropped stream).
    pub fn broker(status: u16, error: impl Into<String>) -> Outcome {
        let error = error.into();
        let body = serde_json::json!({ "error": error, "source": "broker" }).to_string();
        Outcome {
            status,
            body: Bytes::from(body),
            error,
            by_broker: true,
        }
    }
}

#[derive(Debug)]
struct Waiting {
    host: String,
    generation: u64,
    lane: Lane,
    since: Instant,
    waiters: Vec<oneshot::Sender<Outcome>>,
    /// The host's running-builds counter, released when a build lands.
    builds_running: Option<Arc<AtomicU32>>,
}

#[derive(Debug)]
enum Entry {
    Waiting(Waiting),
    Landed { outcome: Outcome, at: Instant },
}

/// Why a request could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PendingError {
    #[error("too many pending requests (BROKER_PENDING_MAX={0}); retry later")]
    Full(usize),
    #[error("request_id {0:?} is already in use")]
    Duplicate(String),
}

/// What landing an answer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    Landed,
    Unknown,
    AlreadyLanded,
    NotOwner,
}

/// What a poller sees.
#[derive(Debug)]
pub enum Poll {
    Landed(Outcome),
    Waiting(oneshot::Receiver<Outcome>),
    Unknown,
}

/// Who owns a request, for cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub lane: Lane,
    pub landed: bool,
}

/// Counts from one sweep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub timed_out: usize,
    pub expired: usize,
}

#[derive(Debug)]
pub struct PendingMap {
    map: DashMap<String, Entry>,
    count: AtomicUsize,
    max: usize,
}

impl PendingMap {
    pub fn new(max: usize) -> Self {
        PendingMap {
            map: DashMap::new(),
            count: AtomicUsize::new(0),
            max,
        }
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Registers a request sent to `host`'s stream `generation` and returns
    /// the receiver its outcome will be sent to.
    pub fn insert_waiting(
        &self,
        id: &str,
        host: &str,
        generation: u64,
        lane: Lane,
        builds_running: Option<Arc<AtomicU32>>,
        now: Instant,
    ) -> Result<oneshot::Receiver<Outcome>, PendingError> {
        let (tx, rx) = oneshot::channel();
        self.insert(id, || {
            if let Some(b) = &builds_running {
                b.fetch_add(1, Ordering::AcqRel);
            }
            Entry::Waiting(Waiting {
                host: host.to_string(),
                generation,
                lane,
                since: now,
                waiters: vec![tx],
                builds_running,
            })
        })?;
        Ok(rx)
    }

    /// Reserves a slot (first, so concurrent inserts can never overshoot the
    /// cap), then inserts `make()` under a new `id`.
    fn insert(&self, id: &str, make: impl FnOnce() -> Entry) -> Result<(), PendingError> {
        if self.count.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return Err(PendingError::Full(self.max));
        }
        match self.map.entry(id.to_string()) {
            MapEntry::Occupied(_) => {
                self.count.fetch_sub(1, Ordering::AcqRel);
                Err(PendingError::Duplicate(id.to_string()))
            }
            MapEntry::Vacant(v) => {
                v.insert(make());
                Ok(())
            }
        }
    }

    /// Registers a result that landed `age` ago (a build result a previous
    /// broker recorded): polls get it until [`LANDED_TTL`] after it landed.
    pub fn insert_landed(
        &self,
        id: &str,
        outcome: Outcome,
        at: Instant,
    ) -> Result<(), PendingError> {
        self.insert(id, || Entry::Landed { outcome, at })
    }
    /// Forgets a request that was never delivered (its send failed).
    pub fn remove(&self, id: &str) {
        if let Some((_, entry)) = self.map.remove(id) {
            self.count.fetch_sub(1, Ordering::AcqRel);
            if let Entry::Waiting(w) = entry {
                release(&w);
            }
        }
    }

    /// Lands an agent's answer; `from_host` must own the request.
    pub fn land(&self, id: &str, from_host: &str, outcome: Outcome, now: Instant) -> Landing {
        self.land_inner(id, Some(from_host), outcome, now)
    }

    /// Lands the broker's own verdict (a dispatch timeout).
    pub fn land_broker(&self, id: &str, outcome: Outcome, now: Instant) -> Landing {
        self.land_inner(id, None, outcome, now)
    }

    fn land_inner(
        &self,
        id: &str,
        from_host: Option<&str>,
        outcome: Outcome,
        now: Instant,
    ) -> Landing {
        let Some(mut entry) = self.map.get_mut(id) else {
            return Landing::Unknown;
        };
        match &*entry {
            Entry::Landed { .. } => return Landing::AlreadyLanded,
            Entry::Waiting(w) => {
                if from_host.is_some_and(|h| h != w.host) {
                    return Landing::NotOwner;
                }
            }
        }
        let old = std::mem::replace(
            &mut *entry,
            Entry::Landed {
                outcome: outcome.clone(),
                at: now,
            },
        );
        if let Entry::Waiting(w) = old {
            fire(w, &outcome);
        }
        Landing::Landed
    }

    /// A landed outcome, or a receiver that fires when it lands.
    pub fn poll(&self, id: &str) -> Poll {
        let Some(mut entry) = self.map.get_mut(id) else {
            return Poll::Unknown;
        };
        match &mut *entry {
            Entry::Landed { outcome, .. } => Poll::Landed(outcome.clone()),
            Entry::Waiting(w) => {
                let (tx, rx) = oneshot::channel();
                w.waiters.push(tx);
                Poll::Waiting(rx)
            }
        }
    }

    pub fn owner(&self, id: &str) -> Option<Owner> {
        self.map.get(id).map(|e| match &*e {
            Entry::Waiting(w) => Owner {
                host: w.host.clone(),
                lane: w.lane,
                landed: false,
            },
            Entry::Landed { .. } => Owner {
                host: String::new(),
                lane: Lane::Coold,
                landed: true,
            },
        })
    }

    /// The stream `generation` of `host` ended: its waiting coold-lane
    /// requests land as `outcome` (503). Builds keep waiting: the build
    /// container outlives the stream (DESIGN.md decision 5).
    pub fn fail_stream(
        &self,
        host: &str,
        generation: u64,
        outcome: &Outcome,
        now: Instant,
    ) -> usize {
        let mut failed = 0;
        for mut entry in self.map.iter_mut() {
            let hit = matches!(&*entry, Entry::Waiting(w)
                if w.lane == Lane::Coold && w.host == host && w.generation == generation);
            if hit {
                let old = std::mem::replace(
                    &mut *entry,
                    Entry::Landed {
                        outcome: outcome.clone(),
                        at: now,
                    },
                );
                if let Entry::Waiting(w) = old {
                    fire(w, outcome);
                }
                failed += 1;
            }
        }
        failed
    }

    /// A host's new stream (`generation`) takes over the accounting of its
    /// waiting builds: they keep running across the reconnect (the agent
    /// re-attaches to them), so the new stream's running-builds counter
    /// must count them or the router would overfill the host. Returns how
    /// many moved.
    pub fn rebind_builds(&self, host: &str, generation: u64, counter: &Arc<AtomicU32>) -> usize {
        let mut moved = 0;
        for mut entry in self.map.iter_mut() {
            if let Entry::Waiting(w) = &mut *entry {
                if w.lane == Lane::Build && w.host == host && w.generation != generation {
                    release(w);
                    counter.fetch_add(1, Ordering::AcqRel);
                    w.builds_running = Some(counter.clone());
                    w.generation = generation;
                    moved += 1;
                }
            }
        }
        moved
    }

    /// Waiting coold-lane entries older than `waiting_after` land as 504;
    /// landed entries older than `landed_ttl` are dropped.
    pub fn sweep(
        &self,
        now: Instant,
        waiting_after: Duration,
        landed_ttl: Duration,
    ) -> SweepReport {
        let mut report = SweepReport::default();
        let timeout = Outcome::broker(
            504,
            format!(
                "the host did not answer within {}s",
                waiting_after.as_secs()
            ),
        );
        self.map.retain(|_, entry| match entry {
            Entry::Landed { at, .. } => {
                if now.saturating_duration_since(*at) >= landed_ttl {
                    report.expired += 1;
                    false
                } else {
                    true
                }
            }
            Entry::Waiting(w) => {
                if w.lane == Lane::Coold && now.saturating_duration_since(w.since) >= waiting_after
                {
                    let old = std::mem::replace(
                        entry,
                        Entry::Landed {
                            outcome: timeout.clone(),
                            at: now,
                        },
                    );
                    if let Entry::Waiting(w) = old {
                        fire(w, &timeout);
                    }
                    report.timed_out += 1;
                }
                true
            }
        });
        self.count.fetch_sub(report.expired, Ordering::AcqRel);
        report
    }
}

fn release(w: &Waiting) {
    if let Some(b) = &w.builds_running {
        // Saturating: never wrap below zero whatever the order of events.
        let _ = b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

fn fire(w: Waiting, outcome: &Outcome) {
    release(&w);
    for tx in w.waiters {
        // A waiter that gave up (dropped receiver) is fine to skip.
        let _ = tx.send(outcome.clone());
    }
}

/// A caller-supplied request id: 1–64 characters of `[A-Za-z0-9_-]`.
pub fn validate_request_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err(format!(
            "request_id must be 1-64 characters, got {}",
            id.len()
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("request_id may hold only A-Z a-z 0-9 - _".to_string());
    }
    Ok(())
}

/// A fresh random request id (128 bits, hex).
pub fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests;
