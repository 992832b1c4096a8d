//! Streams: host id → the handle of its one open agent stream.
//!
//! Invariant: a host has at most one handle. A second stream for the same
//! host replaces the first, and the first stream's cleanup can never remove
//! the second's handle: removal is conditional on the generation the stream
//! was registered with (`remove_if_current`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use coolify_proto::v1::ServerMsg;
use dashmap::DashMap;
use tokio::sync::mpsc;

use crate::routing::Candidate;

/// Frames to one host. Boxed because tokio's channel allocates its slots
/// 32 at a time up front and keeps the first block for the channel's life:
/// 32 inline `ServerMsg`s are ~4 KiB per connected host, 32 boxes 256 bytes.
pub type HostQueue = mpsc::Sender<Box<ServerMsg>>;

/// A new host queue holding at most `capacity` frames (BROKER_HOST_QUEUE).
pub fn host_queue(capacity: usize) -> (HostQueue, mpsc::Receiver<Box<ServerMsg>>) {
    mpsc::channel(capacity)
}

/// What the broker holds for one connected host.
#[derive(Debug, Clone)]
pub struct StreamHandle {
    /// Frames to the host. Bounded: senders use `try_send` so a slow host
    /// never blocks the broker (a full queue is answered 503 at once).
    pub tx: HostQueue,
    pub caps: Arc<[String]>,
    pub builder_capacity: u32,
    /// Builds routed to this stream that have not landed.
    pub builds_running: Arc<AtomicU32>,
    pub generation: u64,
    pub version: Arc<str>,
    /// When the stream was registered (Unix seconds).
    pub connected_at: u64,
    /// When the host last sent a frame (Unix milliseconds); the stream's
    /// reader stores it.
    pub last_frame_ms: Arc<AtomicU64>,
}

impl StreamHandle {
    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    /// Hands `msg` to this stream without waiting; `host_id` names it in
    /// the error.
    pub fn try_send(&self, host_id: &str, msg: ServerMsg) -> Result<(), SendError> {
        self.tx.try_send(Box::new(msg)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::QueueFull(host_id.to_string()),
            mpsc::error::TrySendError::Closed(_) => SendError::Closed(host_id.to_string()),
        })
    }
}

/// Why a frame could not be handed to a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("host {0} is not connected")]
    NotConnected(String),
    #[error("host {0}'s queue is full; retry later")]
    QueueFull(String),
    #[error("host {0}'s stream closed")]
    Closed(String),
}

#[derive(Debug, Default)]
pub struct Streams {
    map: DashMap<String, StreamHandle>,
    next_generation: AtomicU64,
}

impl Streams {
    /// Registers a host's new stream and returns its generation. A previous
    /// handle for the host is dropped, which ends that stream's outbound half.
    pub fn register(
        &self,
        host_id: &str,
        tx: HostQueue,
        caps: Vec<String>,
        builder_capacity: u32,
        version: String,
    ) -> (u64, Option<StreamHandle>) {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = StreamHandle {
            tx,
            caps: caps.into(),
            builder_capacity,
            builds_running: Arc::new(AtomicU32::new(0)),
            generation,
            version: version.into(),
            connected_at: now_ms() / 1000,
            last_frame_ms: Arc::new(AtomicU64::new(now_ms())),
        };
        let old = self.map.insert(host_id.to_string(), handle);
        (generation, old)
    }

    pub fn get(&self, host_id: &str) -> Option<StreamHandle> {
        self.map.get(host_id).map(|h| h.value().clone())
    }

    /// Removes the host's handle only if it is still the one registered with
    /// `generation`. Returns whether it removed anything.
    pub fn remove_if_current(&self, host_id: &str, generation: u64) -> bool {
        self.map
            .remove_if(host_id, |_, h| h.generation == generation)
            .is_some()
    }

    /// Drops the host's handle whatever its generation (revocation), which
    /// ends its stream's outbound half. Returns whether there was one.
    pub fn remove(&self, host_id: &str) -> bool {
        self.map.remove(host_id).is_some()
    }

    /// Drops every handle, which ends each stream's outbound half: on
    /// shutdown, tonic's graceful stop waits for open streams to finish,
    /// and an agent stream otherwise never does.
    pub fn close_all(&self) {
        self.map.clear();
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Hands `msg` to the host's stream without waiting.
    pub fn try_send(&self, host_id: &str, msg: ServerMsg) -> Result<StreamHandle, SendError> {
        let handle = self
            .get(host_id)
            .ok_or_else(|| SendError::NotConnected(host_id.to_string()))?;
        handle.try_send(host_id, msg)?;
        Ok(handle)
    }

    /// Every connected host as the lane lists it, sorted by host id.
    pub fn hosts(&self) -> Vec<HostView> {
        let mut hosts: Vec<HostView> = self
            .map
            .iter()
            .map(|e| {
                let h = e.value();
                let running = h.builds_running.load(Ordering::Relaxed);
                HostView {
                    host_id: e.key().clone(),
                    capabilities: h.caps.to_vec(),
                    agent_version: h.version.to_string(),
                    connected_since: h.connected_at,
                    last_frame_ms: h.last_frame_ms.load(Ordering::Relaxed),
                    builder_slots_free: h
                        .has_cap(coolify_proto::CAP_BUILDER)
                        .then(|| h.builder_capacity.saturating_sub(running)),
                }
            })
            .collect();
        hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
        hosts
    }

    /// Snapshot of every builder host for [`crate::routing::pick_builder`].
    pub fn builders(&self) -> Vec<(String, StreamHandle)> {
        self.map
            .iter()
            .filter(|e| e.value().has_cap(coolify_proto::CAP_BUILDER))
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }
}

/// One connected host, as `GET /v1/hosts` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostView {
    pub host_id: String,
    pub capabilities: Vec<String>,
    pub agent_version: String,
    /// When its current stream opened (Unix seconds).
    pub connected_since: u64,
    /// When it last sent a frame (Unix milliseconds).
    pub last_frame_ms: u64,
    /// Free build slots, for hosts that advertise `builder`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder_slots_free: Option<u32>,
}

/// The wall clock in Unix milliseconds (0 before the epoch).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Router view of a snapshot from [`Streams::builders`].
pub fn candidates(snapshot: &[(String, StreamHandle)]) -> Vec<Candidate<'_>> {
    snapshot
        .iter()
        .map(|(id, h)| Candidate {
            host_id: id,
            has_builder: h.has_cap(coolify_proto::CAP_BUILDER),
            capacity: h.builder_capacity,
            running: h.builds_running.load(Ordering::Relaxed),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_streams_cleanup_never_removes_the_new_handle() {
        let streams = Streams::default();
        let (tx1, _rx1) = host_queue(1);
        let (tx2, _rx2) = host_queue(1);
        let (g1, none) = streams.register("h", tx1, vec![], 0, "v".into());
        assert!(none.is_none());
        let (g2, old) = streams.register("h", tx2, vec![], 0, "v".into());
        assert_eq!(old.map(|h| h.generation), Some(g1));
        assert!(
            !streams.remove_if_current("h", g1),
            "stale cleanup must be a no-op"
        );
        assert_eq!(streams.get("h").map(|h| h.generation), Some(g2));
        assert!(streams.remove_if_current("h", g2));
        assert!(streams.get("h").is_none());
    }

    #[test]
    fn full_queue_is_refused_at_once() {
        let streams = Streams::default();
        let (tx, _rx) = host_queue(1);
        streams.register("h", tx, vec![], 0, "v".into());
        assert!(streams.try_send("h", ServerMsg::default()).is_ok());
        assert_eq!(
            streams.try_send("h", ServerMsg::default()).err(),
            Some(SendError::QueueFull("h".into()))
        );
        assert_eq!(
            streams.try_send("x", ServerMsg::default()).err(),
            Some(SendError::NotConnected("x".into()))
        );
    }

    #[test]
    fn close_all_ends_every_outbound_half() {
        let streams = Streams::default();
        let (tx, mut rx) = host_queue(1);
        streams.register("h", tx, Vec::new(), 0, String::new());
        streams.close_all();
        assert!(streams.is_empty());
        assert!(rx.try_recv().is_err());
        assert!(rx.blocking_recv().is_none(), "the sender must be gone");
    }

    #[test]
    fn closed_stream_is_reported() {
        let streams = Streams::default();
        let (tx, rx) = host_queue(1);
        streams.register("h", tx, vec![], 0, "v".into());
        drop(rx);
        assert_eq!(
            streams.try_send("h", ServerMsg::default()).err(),
            Some(SendError::Closed("h".into()))
        );
    }
}
