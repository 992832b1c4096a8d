//! The gRPC side: `coolify.agent.v1.Agent/Stream`, one per host.
//!
//! Order on open: bearer JWT (refused → UNAUTHENTICATED, before reading a
//! byte of the stream), then the first message must be a Hello for the
//! token's `sub` advertising only granted capabilities (else
//! PERMISSION_DENIED / INVALID_ARGUMENT), then the stream is registered.
//! When it ends, its waiting coold-lane requests land as 503 and its handle
//! is removed only if no newer stream replaced it.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use coolify_proto::v1::agent_server::Agent;
use coolify_proto::v1::{client_msg, ClientMsg, ServerMsg};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::jwt::JwtError;
use crate::lane::Broker;
use crate::pending::{Landing, Outcome};

/// How long a freshly opened stream may take to send its Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct AgentService {
    broker: Arc<Broker>,
}

impl AgentService {
    pub fn new(broker: Arc<Broker>) -> Self {
        AgentService { broker }
    }
}

type Outbound = Pin<Box<dyn Stream<Item = Result<ServerMsg, Status>> + Send>>;

fn bearer(meta: &tonic::metadata::MetadataMap) -> Result<&str, JwtError> {
    meta.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(JwtError::Missing)
}

#[tonic::async_trait]
impl Agent for AgentService {
    type StreamStream = Outbound;

    async fn stream(
        &self,
        request: Request<Streaming<ClientMsg>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let broker = &self.broker;
        let claims = match bearer(request.metadata()).and_then(|t| broker.verify_token(t)) {
            Ok(c) => c,
            Err(e) => {
                broker.metrics.stream_refused();
                tracing::warn!(error = %e, "agent stream refused");
                return Err(Status::unauthenticated(e.to_string()));
            }
        };
        let mut inbound = request.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(ClientMsg {
                msg: Some(client_msg::Msg::Hello(h)),
            }))) => h,
            _ => {
                broker.metrics.stream_refused();
                return Err(Status::invalid_argument(
                    "the first message on the stream must be a Hello",
                ));
            }
        };
        if hello.host_id != claims.sub {
            broker.metrics.stream_refused();
            return Err(Status::permission_denied(format!(
                "Hello names host {:?} but the token is for {:?}",
                hello.host_id, claims.sub
            )));
        }
        if let Err(e) = claims.grants(&hello.capabilities) {
            broker.metrics.stream_refused();
            tracing::warn!(host = %claims.sub, error = %e, "agent stream refused");
            return Err(Status::permission_denied(e.to_string()));
        }

        let host = claims.sub;
        let (tx, rx) = crate::streams::host_queue(broker.host_queue);
        let (generation, replaced) = broker.streams.register(
            &host,
            tx,
            hello.capabilities.clone(),
            hello.builder_capacity,
            hello.version.clone(),
        );
        if let Some(handle) = broker.streams.get(&host) {
            let moved = broker
                .pending
                .rebind_builds(&host, generation, &handle.builds_running);
            if moved > 0 {
                tracing::info!(%host, moved, "builds still running carried over to the new stream");
            }
        }
        broker.metrics.stream_opened();
        tracing::info!(%host, generation, version = %hello.version, caps = ?hello.capabilities,
            jti = claims.jti.as_deref().unwrap_or("-"), replaced = replaced.is_some(), "agent stream open");

        let broker = self.broker.clone();
        let last_frame = broker.streams.get(&host).map(|h| h.last_frame_ms);
        tokio::spawn(async move {
            read_answers(&broker, &host, &mut inbound, last_frame.as_deref()).await;
            let removed = broker.streams.remove_if_current(&host, generation);
            let failed = broker.pending.fail_stream(
                &host,
                generation,
                &Outcome::broker(
                    503,
                    format!("the stream to host {host} dropped mid-dispatch"),
                ),
                Instant::now(),
            );
            tracing::info!(%host, generation, removed, failed, "agent stream closed");
        });
        let out: Outbound = Box::pin(ReceiverStream::new(rx).map(|msg| Ok(*msg)));
        Ok(Response::new(out))
    }
}

async fn read_answers(
    broker: &Broker,
    host: &str,
    inbound: &mut Streaming<ClientMsg>,
    last_frame_ms: Option<&std::sync::atomic::AtomicU64>,
) {
    loop {
        let msg = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(status) => {
                tracing::debug!(%host, %status, "agent stream error");
                return;
            }
        };
        if let Some(t) = last_frame_ms {
            t.store(
                crate::streams::now_ms(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        match msg.msg {
            Some(client_msg::Msg::Response(r)) => {
                let outcome = Outcome {
                    status: u16::try_from(r.status).unwrap_or(502),
                    body: Bytes::from(r.body),
                    error: r.error,
                    by_broker: false,
                };
                match broker
                    .pending
                    .land(&r.request_id, host, outcome.clone(), Instant::now())
                {
                    Landing::Landed => broker.journal_landing(&r.request_id, &outcome),
                    Landing::NotOwner => {
                        tracing::warn!(%host, request_id = %r.request_id, "answer for a request sent to another host ignored")
                    }
                    other => {
                        tracing::debug!(%host, request_id = %r.request_id, ?other, "late answer ignored")
                    }
                }
            }
            Some(client_msg::Msg::BuildEvent(e)) => {
                let kept = broker.record_event(host, &e.request_id, e.seq, Bytes::from(e.event));
                tracing::debug!(%host, request_id = %e.request_id, seq = e.seq, ?kept, "build event");
            }
            Some(client_msg::Msg::Hello(_)) | None => {
                tracing::warn!(%host, "unexpected message after Hello ignored");
            }
        }
    }
}
