//! The one dispatcher every transport calls: a [`Verb`] in, a [`Reply`] or an
//! [`ApiError`] out.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use http::StatusCode;
use serde::Serialize;

use super::context::AgentContext;
use super::error::ApiError;
use super::verbs::Verb;

/// A body that arrives over time (logs with `follow`, streamed exec). Each
/// item is one NDJSON line; the stream ends when the source ends, and is
/// dropped (closing the engine request) when the client goes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What a successful answer carries.
pub enum ReplyBody {
    /// A JSON document, already encoded: serialised once, straight from
    /// the handler's type (building a `serde_json::Value` first and then
    /// encoding that cost a second pass over every answer).
    Json(Bytes),
    /// `application/x-ndjson`, streamed as it comes.
    Stream(ByteStream),
    Empty,
}

impl std::fmt::Debug for ReplyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyBody::Json(v) => write!(f, "Json({})", String::from_utf8_lossy(v)),
            ReplyBody::Stream(_) => f.write_str("Stream"),
            ReplyBody::Empty => f.write_str("Empty"),
        }
    }
}

/// A successful answer: status and body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: ReplyBody,
}

impl Reply {
    pub fn ok(body: impl Serialize) -> Result<Reply, ApiError> {
        Self::with_status(StatusCode::OK, body)
    }

    pub fn created(body: impl Serialize) -> Result<Reply, ApiError> {
        Self::with_status(StatusCode::CREATED, body)
    }

    pub fn no_content() -> Result<Reply, ApiError> {
        Ok(Reply {
            status: StatusCode::NO_CONTENT,
            body: ReplyBody::Empty,
        })
    }

    pub fn stream(stream: ByteStream) -> Result<Reply, ApiError> {
        Ok(Reply {
            status: StatusCode::OK,
            body: ReplyBody::Stream(stream),
        })
    }

    pub fn with_status(status: StatusCode, body: impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Reply {
            status,
            body: ReplyBody::Json(Bytes::from(body)),
        })
    }
}

/// What a verb's handler reads besides its path parameters.
#[derive(Debug, Default)]
pub struct Input {
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub body: Bytes,
}

impl Input {
    /// The query string, empty when there is none.
    pub fn query(&self) -> &str {
        self.query.as_deref().unwrap_or("")
    }
}

/// A routed request: the verb and what its handler reads.
#[derive(Debug)]
pub struct VerbRequest {
    pub verb: Verb,
    pub input: Input,
}

/// Runs a routed request through the verb table's handler.
pub async fn dispatch(ctx: &AgentContext, req: VerbRequest) -> Result<Reply, ApiError> {
    super::verbs::run(ctx, req.verb, &req.input).await
}

/// The epilogue every transport runs once it has an outcome: metrics by
/// verb name and status, and the ops log line (verb, method, path, status,
/// duration; never bodies, headers or env). The log is written by a task
/// of its own: on the REST API's thread (a current-thread runtime) it runs
/// once the answer is on the wire, off the request's path.
pub fn record(
    ctx: &AgentContext,
    transport: &'static str,
    verb: &'static str,
    method: &str,
    path: &str,
    status: StatusCode,
    elapsed: std::time::Duration,
) {
    let status = status.as_u16();
    ctx.metrics.observe(verb, status, elapsed);
    let (method, path) = (method.to_string(), path.to_string());
    tokio::spawn(async move {
        tracing::info!(verb, transport, %method, path, status,
            duration_ms = elapsed.as_secs_f64() * 1000.0, "request");
    });
}
