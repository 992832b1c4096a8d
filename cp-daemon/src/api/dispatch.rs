//! The one dispatcher every transport calls: a [`Verb`] in, a [`Reply`] or an
//! [`ApiError`] out.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;
use super::verbs::Verb;
use crate::agent::AgentContext;
use crate::host;

/// A successful answer: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn ok(body: impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Reply {
            status: StatusCode::OK,
            body,
        })
    }
}

/// A decoded request: the verb, its raw query string and body.
#[derive(Debug)]
pub struct VerbRequest {
    pub verb: Verb,
    pub query: Option<String>,
    pub body: Bytes,
}

pub async fn dispatch(ctx: &AgentContext, req: VerbRequest) -> Result<Reply, ApiError> {
    match req.verb {
        Verb::HostInfo => Reply::ok(host::info(ctx).await?),
        Verb::HostContainers => Reply::ok(host::containers(&ctx.engine).await?),
        Verb::HostStats => Reply::ok(host::stats(&ctx.engine).await?),
    }
}
