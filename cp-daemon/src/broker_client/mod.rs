//! The agent's outbound stream to the broker (seed 000, "Transport"): dial
//! `COOLD_BROKER_URL` with this host's JWT and the broker CA, send Hello,
//! answer every frame through the verb table, reconnect with capped
//! exponential backoff and jitter.
//!
//! Invariant: a verb that started runs to completion even if the stream
//! drops meanwhile (it may be a firewall write half-way through); only its
//! answer is dropped, with a log line. The broker answers the caller 503.

mod backoff;
mod frames;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use coolify_proto::v1::agent_client::AgentClient;
use coolify_proto::v1::{client_msg, ClientMsg, Hello};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

pub use backoff::Backoff;
pub use frames::{answer, to_response};

use crate::api::AgentContext;
use crate::config::BrokerLink;
use crate::health::Status;

/// The `/healthz` component; not required, so a broker outage never marks
/// the host itself unhealthy (its local REST API still works).
pub use coolify_api_types::health::BROKER as COMPONENT;

const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Answers queued towards the broker before handlers wait.
const OUTBOUND_QUEUE: usize = 1024;

/// Why one connection attempt or stream ended.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("COOLD_BROKER_TOKEN_FILE={path}: {reason}")]
    Token { path: String, reason: String },
    #[error("COOLD_BROKER_CA={path}: {reason}")]
    Ca { path: String, reason: String },
    #[error("COOLD_BROKER_URL={url}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot connect to the broker: {0}")]
    Connect(String),
    #[error("the broker refused the stream: {0}")]
    Refused(tonic::Status),
    #[error("stream ended: {0}")]
    Ended(String),
}

/// Runs until `stop`, reconnecting forever.
pub async fn run(ctx: Arc<AgentContext>, link: BrokerLink, stop: CancellationToken) {
    let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_CAP);
    loop {
        let started = Instant::now();
        let err = tokio::select! {
            _ = stop.cancelled() => return,
            r = session(&ctx, &link, &stop) => r,
        };
        if stop.is_cancelled() {
            return;
        }
        // A stream that stayed up a while was healthy; start over quickly.
        if started.elapsed() > Duration::from_secs(10) {
            backoff.reset();
        }
        let delay = backoff.next(rand::random::<f64>());
        tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "broker stream down");
        ctx.health.set(
            COMPONENT,
            Status::Degraded,
            format!("{err}; retrying in {}ms", delay.as_millis()),
        );
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// `sub` of the token, read without verifying (the broker verifies): the
/// host id the Hello must carry.
pub fn token_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("sub")?.as_str().map(str::to_string)
}

/// `grpcs://host:port/…` → (`https://host:port`, host, tls).
fn endpoint_of(url: &str) -> Result<(String, String, bool), StreamError> {
    let bad = |reason: &str| StreamError::Url {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let (tls, rest) = if let Some(r) = url
        .strip_prefix("grpcs://")
        .or(url.strip_prefix("https://"))
    {
        (true, r)
    } else if let Some(r) = url.strip_prefix("grpc://").or(url.strip_prefix("http://")) {
        (false, r)
    } else {
        return Err(bad("unsupported scheme"));
    };
    // The path (/v1/agent) is informational: gRPC routes by service name.
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => authority,
    };
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    let scheme = if tls { "https" } else { "http" };
    Ok((format!("{scheme}://{authority}"), host.to_string(), tls))
}

async fn session(
    ctx: &Arc<AgentContext>,
    link: &BrokerLink,
    stop: &CancellationToken,
) -> StreamError {
    match session_inner(ctx, link, stop).await {
        Ok(()) => StreamError::Ended("closed by the broker".into()),
        Err(e) => e,
    }
}

async fn session_inner(
    ctx: &Arc<AgentContext>,
    link: &BrokerLink,
    stop: &CancellationToken,
) -> Result<(), StreamError> {
    // Re-read on every attempt so a renewed token needs no restart.
    let token = std::fs::read_to_string(&link.token_file)
        .map_err(|e| StreamError::Token {
            path: link.token_file.display().to_string(),
            reason: e.to_string(),
        })?
        .trim()
        .to_string();
    let host_id = token_subject(&token).ok_or_else(|| StreamError::Token {
        path: link.token_file.display().to_string(),
        reason: "not a JWT with a `sub` claim; `coolify broker enroll` prints one".into(),
    })?;
    let (uri, host, tls) = endpoint_of(&link.url)?;
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(|e| StreamError::Url {
            url: link.url.clone(),
            reason: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    if tls {
        let ca_path = link.ca.as_ref().ok_or_else(|| StreamError::Ca {
            path: String::new(),
            reason: "not set".into(),
        })?;
        let ca = std::fs::read(ca_path).map_err(|e| StreamError::Ca {
            path: ca_path.display().to_string(),
            reason: e.to_string(),
        })?;
        endpoint = endpoint
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(ca))
                    .domain_name(host),
            )
            .map_err(|e| StreamError::Ca {
                path: ca_path.display().to_string(),
                reason: e.to_string(),
            })?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| StreamError::Connect(error_chain(&e)))?;
    let mut client = AgentClient::new(channel);

    let (out_tx, out_rx) = mpsc::channel::<ClientMsg>(OUTBOUND_QUEUE);
    let mut capabilities = Vec::new();
    if ctx.config.builder_enabled {
        capabilities.push(coolify_proto::CAP_BUILDER.to_string());
    }
    let hello = Hello {
        host_id: host_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        builder_capacity: if ctx.config.builder_enabled {
            link.builder_capacity
        } else {
            0
        },
        capabilities,
    };
    // The channel is fresh and larger than one message: this cannot wait.
    let _ = out_tx
        .send(ClientMsg {
            msg: Some(client_msg::Msg::Hello(hello)),
        })
        .await;
    let mut request = tonic::Request::new(ReceiverStream::new(out_rx));
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| StreamError::Token {
            path: link.token_file.display().to_string(),
            reason: "holds characters not allowed in a header".into(),
        })?;
    request.metadata_mut().insert("authorization", bearer);
    let mut inbound = client
        .stream(request)
        .await
        .map_err(StreamError::Refused)?
        .into_inner();

    tracing::info!(host = %host_id, url = %link.url, "broker stream open");
    ctx.health.set(
        COMPONENT,
        Status::Healthy,
        format!("connected to {} as {host_id}", link.url),
    );
    // Cancelled when this session ends, so handlers that finish later know
    // their answer has nowhere to go.
    let session_over = CancellationToken::new();
    let _guard = session_over.clone().drop_guard();
    // Builds send their events and answers through whichever session is
    // open; this one until it ends.
    let _builds_session = ctx.builds.as_ref().map(|b| {
        b.on_session(out_tx.clone());
        BuildsSession(b.clone())
    });
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            m = inbound.message() => m,
        };
        match msg {
            Ok(Some(msg)) => {
                let (ctx, tx, over) = (ctx.clone(), out_tx.clone(), session_over.clone());
                // Detached on purpose: the verb must finish even if the
                // stream drops (see the module invariant).
                tokio::spawn(async move {
                    let Some(resp) = answer(&ctx, msg).await else {
                        return;
                    };
                    let id = resp.request_id.clone();
                    let sent = !over.is_cancelled()
                        && tx
                            .send(ClientMsg {
                                msg: Some(client_msg::Msg::Response(resp)),
                            })
                            .await
                            .is_ok();
                    if !sent {
                        tracing::warn!(request_id = %id, "broker stream dropped before the answer was sent; answer discarded");
                    }
                });
            }
            Ok(None) => return Ok(()),
            Err(status) => return Err(StreamError::Ended(status.to_string())),
        }
    }
}

/// Closes the build outbox when a session ends, however it ends.
struct BuildsSession(Arc<crate::builds::Builds>);

impl Drop for BuildsSession {
    fn drop(&mut self) {
        self.0.outbox.close();
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_drops_the_path_and_maps_the_scheme() {
        assert_eq!(
            endpoint_of("grpcs://broker:6443/v1/agent").expect("ok"),
            ("https://broker:6443".into(), "broker".into(), true)
        );
        assert_eq!(
            endpoint_of("grpc://127.0.0.1:7000").expect("ok"),
            ("http://127.0.0.1:7000".into(), "127.0.0.1".into(), false)
        );
        assert!(endpoint_of("ftp://x:1").is_err());
    }

    #[test]
    fn token_subject_reads_the_payload() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let t = format!(
            "{}.{}.sig",
            b64("{\"alg\":\"ES256\"}"),
            b64("{\"sub\":\"host-7\"}")
        );
        assert_eq!(token_subject(&t).as_deref(), Some("host-7"));
        assert_eq!(token_subject("garbage"), None);
    }
}
