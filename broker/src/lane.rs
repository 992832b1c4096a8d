//! The central app's operations, independent of the UDS transport: sync
//! coold dispatch, build dispatch, result polling, cancel. Implements seed
//! 000's "Coold dispatch flow": Streams::get (miss → 404) →
//! Pending::insert_waiting (cap → 503) → park a oneshot → push the frame
//! onto the host's queue without waiting (full → 503) → the agent's Response
//! lands it → the parked waiter answers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use coolify_proto::v1::{server_msg, BuildRequest, CancelBuild, ServerMsg, VerbFrame};
use serde::Deserialize;

use crate::build_events::{BuildEvents, Record, Slice};
use crate::build_journal::{BuildJournal, Restore};
use crate::jwt::{Claims, JwtError, JwtVerifier};
use crate::metrics::{DispatchResult, Metrics};
use crate::pending::{self, Lane, Outcome, PendingError, PendingMap, Poll};
use crate::revocations::Revocations;
use crate::routing;
use crate::streams::{self, SendError, Streams};

/// Shared state of one broker.
#[derive(Debug)]
pub struct Broker {
    pub streams: Streams,
    pub pending: PendingMap,
    /// Progress lines of builds, kept as long as their pending entry.
    pub build_events: BuildEvents,
    pub metrics: Metrics,
    pub verifier: JwtVerifier,
    pub revocations: Revocations,
    /// Builds not landed yet, on disk (`build_journal`).
    pub builds: BuildJournal,
    pub dispatch_timeout: Duration,
    pub host_queue: usize,
}

/// The answer to `POST /v1/hosts/{host_id}/revoke`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Revoked {
    pub host_id: String,
    /// Tokens issued at or before this Unix second are refused.
    pub revoked_before: u64,
    /// Whether the host had an open stream, now closed.
    pub stream_closed: bool,
}

/// `POST /v1/coold/dispatch` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchRequest {
    pub host_id: String,
    pub method: String,
    /// Agent path, e.g. `/api/v1/host/info`, optionally with `?query`.
    pub path: String,
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `POST /v1/build/dispatch` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDispatchRequest {
    pub spec: serde_json::Value,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A lane request the broker itself refuses or gives up on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaneError {
    #[error("{0}")]
    BadRequest(String),
    #[error("host {0:?} has no open stream")]
    UnknownHost(String),
    #[error("no request {0:?} (unknown, or landed more than 30 s ago)")]
    UnknownRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    /// The broker could not do its own part (write its revocation record).
    #[error("{0}")]
    Internal(String),
}

impl LaneError {
    pub fn status(&self) -> u16 {
        match self {
            LaneError::BadRequest(_) => 400,
            LaneError::UnknownHost(_) | LaneError::UnknownRequest(_) => 404,
            LaneError::Conflict(_) => 409,
            LaneError::Unavailable(_) => 503,
            LaneError::Internal(_) => 500,
        }
    }
}

impl From<PendingError> for LaneError {
    fn from(e: PendingError) -> Self {
        match e {
            PendingError::Full(_) => LaneError::Unavailable(e.to_string()),
            PendingError::Duplicate(_) => LaneError::Conflict(e.to_string()),
        }
    }
}

impl From<SendError> for LaneError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::NotConnected(h) => LaneError::UnknownHost(h),
            other => LaneError::Unavailable(other.to_string()),
        }
    }
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Longest agent path (with query) the lane forwards.
const MAX_PATH: usize = 2048;

/// Checks a dispatch request and splits path and query. Pure.
pub fn frame_for(req: &DispatchRequest) -> Result<VerbFrame, LaneError> {
    crate::jwt::validate_host_id(&req.host_id)
        .map_err(|e| LaneError::BadRequest(format!("host_id: {e}")))?;
    let method = req.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(LaneError::BadRequest(format!(
            "method: {:?} is not one of {}",
            req.method,
            METHODS.join(", ")
        )));
    }
    if !req.path.starts_with('/')
        || req.path.len() > MAX_PATH
        || req.path.contains(['\r', '\n', ' '])
    {
        return Err(LaneError::BadRequest(format!(
            "path: must start with '/', hold no spaces and be at most {MAX_PATH} bytes"
        )));
    }
    let (path, query) = match req.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (req.path.clone(), String::new()),
    };
    let body = match &req.body {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(v) => {
            serde_json::to_vec(v).map_err(|e| LaneError::BadRequest(format!("body: {e}")))?
        }
    };
    Ok(VerbFrame {
        method,
        path,
        query,
        body,
    })
}

fn request_id(given: Option<String>) -> Result<String, LaneError> {
    match given {
        Some(id) => {
            pending::validate_request_id(&id).map_err(LaneError::BadRequest)?;
            Ok(id)
        }
        None => Ok(pending::new_request_id()),
    }
}

impl Broker {
    pub fn new(
        verifier: JwtVerifier,
        revocations: Revocations,
        builds: BuildJournal,
        pending_max: usize,
        dispatch_timeout: Duration,
        host_queue: usize,
    ) -> Self {
        Broker {
            streams: Streams::default(),
            pending: PendingMap::new(pending_max),
            build_events: BuildEvents::new(pending_max),
            metrics: Metrics::default(),
            verifier,
            revocations,
            builds,
            dispatch_timeout,
            host_queue,
        }
    }

    /// Takes over the builds a previous broker recorded: those not landed
    /// are waited for again (their host's next stream takes them over),
    /// landed ones are served until their time is up. Returns how many.
    pub fn restore_builds(&self) -> usize {
        let now = Instant::now();
        let mut restored = 0;
        for (id, restore) in self.builds.entries() {
            let r = match restore {
                // No stream generation yet: `rebind_builds` takes any other.
                Restore::Waiting { host } => self
                    .pending
                    .insert_waiting(&id, &host, u64::MAX, Lane::Build, None, now)
                    .map(|_| ()),
                Restore::Landed { result, age } => self.pending.insert_landed(
                    &id,
                    Outcome {
                        status: result.status,
                        body: Bytes::from(result.body),
                        error: result.error,
                        by_broker: false,
                    },
                    now.checked_sub(age).unwrap_or(now),
                ),
            };
            if r.is_ok() {
                restored += 1;
            }
        }
        restored
    }

    /// Records a build's result in the journal (a coold dispatch is not
    /// in it); a failed write is logged.
    pub fn journal_landing(&self, id: &str, outcome: &Outcome) {
        if let Err(e) = self
            .builds
            .land(id, outcome.status, &outcome.body, &outcome.error)
        {
            tracing::warn!(request_id = %id, error = %e, "build journal not updated");
        }
    }

    /// Drops a build from the journal; a failed write is logged (the entry
    /// only ages out).
    pub fn forget_build(&self, id: &str) {
        if let Err(e) = self.builds.forget(id) {
            tracing::warn!(request_id = %id, error = %e, "build journal not updated");
        }
    }

    /// Verifies a host token: signature and claims, then revocation.
    pub fn verify_token(&self, token: &str) -> Result<Claims, JwtError> {
        let claims = self.verifier.verify(token)?;
        match self.revocations.revoking(&claims) {
            Some(r) => Err(JwtError::Revoked {
                host: claims.sub,
                revoked_before: r.revoked_before,
            }),
            None => Ok(claims),
        }
    }

    /// Revokes `host`'s tokens (issued up to now), recorded before this
    /// returns, then closes its open stream, if any: dropping the handle
    /// ends the stream's outbound half, and its waiting requests land 503.
    pub fn revoke(&self, host: &str) -> Result<Revoked, LaneError> {
        crate::jwt::validate_host_id(host)
            .map_err(|e| LaneError::BadRequest(format!("host_id: {e}")))?;
        let revocation = self
            .revocations
            .revoke(host, streams::now_ms() / 1000)
            .map_err(|e| LaneError::Internal(e.to_string()))?;
        let stream_closed = self.streams.remove(host);
        tracing::warn!(%host, revoked_before = revocation.revoked_before, stream_closed, "host token revoked");
        Ok(Revoked {
            host_id: host.to_string(),
            revoked_before: revocation.revoked_before,
            stream_closed,
        })
    }

    /// Sync dispatch: returns the request id and the agent's outcome (or the
    /// broker's 503/504 outcome).
    pub async fn dispatch(&self, req: DispatchRequest) -> Result<(String, Outcome), LaneError> {
        let result = self.dispatch_inner(req).await;
        self.metrics.dispatch(match &result {
            Ok((_, o)) if o.by_broker && o.status == 504 => DispatchResult::Timeout,
            Ok((_, o)) if o.by_broker => DispatchResult::Unavailable,
            Ok(_) => DispatchResult::Answered,
            Err(LaneError::UnknownHost(_)) => DispatchResult::UnknownHost,
            Err(LaneError::BadRequest(_) | LaneError::Conflict(_)) => DispatchResult::BadRequest,
            Err(_) => DispatchResult::Unavailable,
        });
        result
    }

    async fn dispatch_inner(&self, req: DispatchRequest) -> Result<(String, Outcome), LaneError> {
        let frame = frame_for(&req)?;
        let keep = req.request_id.is_some();
        let id = request_id(req.request_id)?;
        let handle = self
            .streams
            .get(&req.host_id)
            .ok_or_else(|| LaneError::UnknownHost(req.host_id.clone()))?;
        let rx = self.pending.insert_waiting(
            &id,
            &req.host_id,
            handle.generation,
            Lane::Coold,
            None,
            Instant::now(),
        )?;
        let msg = ServerMsg {
            request_id: id.clone(),
            msg: Some(server_msg::Msg::Verb(frame)),
        };
        // Send on the handle we registered the entry against, so a stream
        // replaced in between cannot receive a frame the old generation owns.
        if let Err(e) = handle.try_send(&req.host_id, msg) {
            self.pending.remove(&id);
            return Err(e.into());
        }
        match tokio::time::timeout(self.dispatch_timeout, rx).await {
            Ok(Ok(outcome)) => {
                // The caller has its answer: unless it named the request
                // (asking to poll it again), the entry is claimed now.
                // Holding every sync answer 30 s would fill BROKER_PENDING_MAX
                // at a few hundred dispatches per second.
                if !keep {
                    self.pending.remove(&id);
                }
                Ok((id, outcome))
            }
            // The entry vanished without landing (cannot happen while the
            // map owns the sender); answer as a dropped stream.
            Ok(Err(_)) => Ok((id, Outcome::broker(503, "the request was dropped"))),
            // The entry stays Waiting: a late answer still lands for pollers
            // of the request id (x-request-id), and the sweeper answers 504
            // if none comes.
            Err(_) => Ok((
                id,
                Outcome::broker(
                    504,
                    format!(
                        "host {} did not answer within BROKER_DISPATCH_TIMEOUT_SECS={}",
                        req.host_id,
                        self.dispatch_timeout.as_secs()
                    ),
                ),
            )),
        }
    }

    /// Build dispatch: routes to the builder host with the most free
    /// capacity and returns `(request_id, host_id)` at once (202).
    pub fn dispatch_build(&self, req: BuildDispatchRequest) -> Result<(String, String), LaneError> {
        let id = request_id(req.request_id)?;
        let spec = serde_json::to_vec(&req.spec)
            .map_err(|e| LaneError::BadRequest(format!("spec: {e}")))?;
        let snapshot = self.streams.builders();
        let host = routing::pick_builder(&streams::candidates(&snapshot))
            .ok_or_else(|| {
                LaneError::Unavailable(
                    "no connected host with the builder capability has a free slot".into(),
                )
            })?
            .to_string();
        let Some((_, handle)) = snapshot.into_iter().find(|(h, _)| *h == host) else {
            return Err(LaneError::Unavailable("builder host vanished".into()));
        };
        self.pending.insert_waiting(
            &id,
            &host,
            handle.generation,
            Lane::Build,
            Some(handle.builds_running.clone()),
            Instant::now(),
        )?;
        // On disk before the 202: a broker restarted from here on still
        // takes the build's result.
        if let Err(e) = self.builds.record(&id, &host) {
            self.pending.remove(&id);
            return Err(LaneError::Unavailable(format!(
                "cannot record the build: {e}"
            )));
        }
        let msg = ServerMsg {
            request_id: id.clone(),
            msg: Some(server_msg::Msg::Build(BuildRequest { spec })),
        };
        if let Err(e) = handle.try_send(&host, msg) {
            self.pending.remove(&id);
            self.forget_build(&id);
            return Err(LaneError::Unavailable(format!(
                "builder host {host} cannot take the build now: {e}"
            )));
        }
        Ok((id, host))
    }

    /// Long poll: the landed outcome, or `None` if still waiting after
    /// `timeout`.
    pub async fn result(&self, id: &str, timeout: Duration) -> Result<Option<Outcome>, LaneError> {
        pending::validate_request_id(id).map_err(LaneError::BadRequest)?;
        match self.pending.poll(id) {
            Poll::Unknown => Err(LaneError::UnknownRequest(id.to_string())),
            Poll::Landed(o) => Ok(Some(o)),
            Poll::Waiting(rx) => match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(o)) => Ok(Some(o)),
                Ok(Err(_)) | Err(_) => Ok(None),
            },
        }
    }

    /// Cancel: pushes CancelBuild to the owning host. Landed → nothing to do.
    pub fn cancel(&self, id: &str) -> Result<(), LaneError> {
        pending::validate_request_id(id).map_err(LaneError::BadRequest)?;
        let owner = self
            .pending
            .owner(id)
            .ok_or_else(|| LaneError::UnknownRequest(id.to_string()))?;
        if owner.landed {
            return Ok(());
        }
        if owner.lane != Lane::Build {
            return Err(LaneError::Conflict(format!(
                "request {id} is a coold dispatch, not a build"
            )));
        }
        let msg = ServerMsg {
            request_id: id.to_string(),
            msg: Some(server_msg::Msg::Cancel(CancelBuild {})),
        };
        self.streams
            .try_send(&owner.host, msg)
            .map(|_| ())
            .map_err(|e| match e {
                SendError::NotConnected(h) => {
                    LaneError::Unavailable(format!("builder host {h} is not connected"))
                }
                other => other.into(),
            })
    }

    /// One sweeper pass (seed 000: waiting coold entries → 504 after 10 s,
    /// landed entries dropped after 30 s).
    pub fn sweep(&self, now: Instant) {
        let r = self
            .pending
            .sweep(now, pending::SWEEP_AFTER, pending::LANDED_TTL);
        if r.timed_out > 0 {
            tracing::warn!(
                count = r.timed_out,
                "requests timed out waiting for their host (504)"
            );
        }
        self.metrics.swept(r.timed_out);
        // A build's events go with its pending entry (landed + 30 s).
        self.build_events
            .retain(|id| self.pending.owner(id).is_some());
    }

    /// A BuildEvent from `host`: kept only for a build that host owns and
    /// that has not landed (a replay after landing adds nothing new).
    pub fn record_event(&self, host: &str, id: &str, seq: u64, line: Bytes) -> Record {
        match self.pending.owner(id) {
            Some(o) if !o.landed && o.lane == Lane::Build && o.host == host => {
                self.build_events.record(id, seq, line)
            }
            _ => Record::Duplicate,
        }
    }

    /// Events of build `id` from line `from`, whether the build has landed
    /// (no more will come), and a handle that fires when lines arrive.
    pub fn events(
        &self,
        id: &str,
        from: usize,
    ) -> Result<(Slice, bool, Option<std::sync::Arc<tokio::sync::Notify>>), LaneError> {
        pending::validate_request_id(id).map_err(LaneError::BadRequest)?;
        let owner = self
            .pending
            .owner(id)
            .ok_or_else(|| LaneError::UnknownRequest(id.to_string()))?;
        if !owner.landed && owner.lane != Lane::Build {
            return Err(LaneError::Conflict(format!(
                "request {id} is a coold dispatch, not a build"
            )));
        }
        let (slice, grew) = self.build_events.read_from(id, from);
        Ok((slice, owner.landed, grew))
    }

    /// Prometheus text for /metrics.
    pub fn render_metrics(&self) -> String {
        self.metrics
            .render(self.streams.len(), self.pending.len(), self.pending.max())
    }
}

/// A landed outcome's body as JSON, for result polling.
pub fn body_json(body: &Bytes) -> serde_json::Value {
    if body.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str) -> DispatchRequest {
        DispatchRequest {
            host_id: "h1".into(),
            method: method.into(),
            path: path.into(),
            body: None,
            request_id: None,
        }
    }

    #[test]
    fn frame_splits_query_and_uppercases_method() {
        let f = frame_for(&req("get", "/api/v1/firewall/allow?namespace=a")).expect("frame");
        assert_eq!(f.method, "GET");
        assert_eq!(f.path, "/api/v1/firewall/allow");
        assert_eq!(f.query, "namespace=a");
    }

    #[test]
    fn bad_dispatch_requests_name_the_field() {
        for (r, field) in [
            (req("TRACE", "/api/v1/host/info"), "method"),
            (req("GET", "api/v1/host/info"), "path"),
            (req("GET", "/a b"), "path"),
            (
                DispatchRequest {
                    host_id: "a/b".into(),
                    ..req("GET", "/x")
                },
                "host_id",
            ),
        ] {
            let e = frame_for(&r).expect_err(field);
            assert!(e.to_string().starts_with(field), "{e}");
        }
    }
}
