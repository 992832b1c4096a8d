//! HTTP routers: the authenticated agent API and the loopback health
//! listener. Every `/api/v1/*` request goes through one handler that routes
//! into the verb table, so the REST surface can never grow a path the table
//! does not have.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::auth::SharedToken;
use super::context::AgentContext;
use super::dispatch::{dispatch, record, Input, ReplyBody, VerbRequest};
use super::error::ApiError;
use super::verbs::Verb;

/// Most a request body may carry; larger bodies are refused before parsing.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
struct ApiState {
    ctx: Arc<AgentContext>,
    token: SharedToken,
}

/// The agent REST API: every path goes through the verb table.
pub fn api_router(ctx: Arc<AgentContext>, token: SharedToken) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ApiState { ctx, token })
}

async fn handle(
    State(state): State<ApiState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let (name, result) = match authorize_and_route(&state.token, &method, &uri, &headers) {
        Ok(verb) => {
            let name = verb.name();
            let input = Input {
                query: uri.query().map(str::to_string),
                body,
            };
            (
                name,
                dispatch(&state.ctx, VerbRequest { verb, input }).await,
            )
        }
        Err(e) => ("unrouted", Err(e)),
    };
    let status = match &result {
        Ok(reply) => reply.status,
        Err(e) => e.status(),
    };
    record(
        &state.ctx,
        "rest",
        name,
        method.as_str(),
        uri.path(),
        status,
        started.elapsed(),
    );
    match result {
        Ok(reply) => match reply.body {
            ReplyBody::Json(v) => (
                reply.status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                v,
            )
                .into_response(),
            ReplyBody::Stream(s) => (
                reply.status,
                [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
                axum::body::Body::from_stream(s),
            )
                .into_response(),
            ReplyBody::Empty => reply.status.into_response(),
        },
        Err(e) => error_response(&e),
    }
}

fn authorize_and_route(
    token: &SharedToken,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Verb, ApiError> {
    // Authenticate before routing, so an unauthenticated caller cannot map
    // the surface by probing for 404s.
    token.check(headers)?;
    Ok(Verb::route(method, uri.path())?)
}

fn error_response(e: &ApiError) -> Response {
    let mut resp = (e.status(), Json(e.body())).into_response();
    if e.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

/// The loopback health listener: `/healthz` (JSON, 200 only when every
/// required component is healthy, else 503) and `/metrics` (Prometheus text).
pub fn health_router(ctx: Arc<AgentContext>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(ctx)
}

async fn healthz(State(ctx): State<Arc<AgentContext>>) -> Response {
    let report = ctx.health.report();
    let status = if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

async fn metrics(State(ctx): State<Arc<AgentContext>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        ctx.metrics.render(&ctx.health.report())
            + &ctx.dns.stats.render()
            + &ctx.pools.render_metrics(&ctx.workloads.all())
            + &ctx
                .builds
                .as_ref()
                .map(|b| b.render_metrics())
                .unwrap_or_default(),
    )
        .into_response()
}
