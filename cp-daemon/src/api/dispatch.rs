//! The one dispatcher every transport calls: a [`Verb`] in, a [`Reply`] or an
//! [`ApiError`] out.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;
use super::verbs::Verb;
use crate::agent::AgentContext;
use crate::{discovery, host};

/// A successful answer: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn ok(body: impl Serialize) -> Result<Reply, ApiError> {
        Self::with_status(StatusCode::OK, body)
    }

    pub fn with_status(status: StatusCode, body: impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Reply { status, body })
    }

    /// 204: written without a body.
    pub fn no_content() -> Result<Reply, ApiError> {
        Ok(Reply {
            status: StatusCode::NO_CONTENT,
            body: serde_json::Value::Null,
        })
    }
}

/// Decodes a JSON body; an error names the offending field (or `body`).
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            // serde names a missing or unknown field only in the message.
            let msg = e.inner().to_string();
            msg.split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_else(|| "body".into())
        } else {
            path
        };
        ApiError::BadRequest {
            message: format!("{field}: {}", e.inner()),
            field,
        }
    })
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
        Verb::ServicesRegister => discovery::verbs::register(ctx, &req.body).await,
        Verb::ServiceEndpoints { service_id } => {
            discovery::verbs::endpoints(ctx, &service_id).await
        }
        Verb::ServiceEndpointDelete {
            service_id,
            container_id,
        } => discovery::verbs::deregister(ctx, &service_id, &container_id).await,
    }
}
