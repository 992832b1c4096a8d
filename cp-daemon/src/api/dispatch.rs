//! The one dispatcher every transport calls: a [`Verb`] in, a [`Reply`] or an
//! [`ApiError`] out.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;
use super::verbs::Verb;
use crate::agent::AgentContext;
use crate::firewall::{
    self, BulkRequest, FirewallStore, ReconcileRequest, RuleId, RuleList, RuleRequest,
};
use crate::{discovery, dns, host};

/// A successful answer: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn ok(body: impl Serialize) -> Result<Reply, ApiError> {
        Reply::with_status(StatusCode::OK, body)
    }

    pub fn with_status(status: StatusCode, body: impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Reply { status, body })
    }

    /// 204: transports send no body.
    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: serde_json::Value::Null,
        }
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
        Verb::FirewallAllow => {
            let rule = parse_body::<RuleRequest>(&req.body)?
                .validate()
                .map_err(firewall::FirewallError::from)?;
            let (view, created) = store(ctx)?.allow(rule).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Reply::with_status(status, view)
        }
        Verb::FirewallList => {
            let namespace = namespace_query(req.query.as_deref())?;
            let rules = store(ctx)?.list(namespace.as_deref()).await;
            Reply::ok(RuleList { rules })
        }
        Verb::FirewallDelete { id } => {
            let id = RuleId::parse("id", &id).map_err(firewall::FirewallError::from)?;
            // 204 whether it existed or not: a reconciling caller may retry.
            store(ctx)?.delete(&id).await?;
            Ok(Reply::no_content())
        }
        Verb::FirewallBulk => {
            let body = parse_body::<BulkRequest>(&req.body)?;
            let rules =
                firewall::validate_all(&body.rules).map_err(firewall::FirewallError::from)?;
            Reply::ok(store(ctx)?.bulk(rules).await?)
        }
        Verb::FirewallReconcile => {
            let body = parse_body::<ReconcileRequest>(&req.body)?;
            let namespace = body
                .namespace
                .as_deref()
                .map(firewall::validate_namespace)
                .transpose()
                .map_err(firewall::FirewallError::from)?;
            let rules =
                firewall::validate_all(&body.rules).map_err(firewall::FirewallError::from)?;
            Reply::ok(store(ctx)?.reconcile(namespace.as_deref(), rules).await?)
        }
        Verb::ServicesRegister => discovery::verbs::register(ctx, &req.body).await,
        Verb::ServiceEndpoints { service_id } => {
            discovery::verbs::endpoints(ctx, &service_id).await
        }
        Verb::ServiceEndpointDelete {
            service_id,
            container_id,
        } => discovery::verbs::deregister(ctx, &service_id, &container_id).await,
        Verb::DnsLookup { name } => dns::verbs::lookup(&ctx.dns, &name, req.query.as_deref()),
        Verb::DnsStats => dns::verbs::stats(&ctx.dns, &ctx.health),
    }
}

fn store(ctx: &AgentContext) -> Result<&FirewallStore, ApiError> {
    ctx.firewall.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the firewall is disabled on this agent (COOLD_FIREWALL=off)".into())
    })
}

/// `namespace=<ns>` is the only query this verb takes.
fn namespace_query(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let mut namespace = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("namespace", v)) => {
                namespace =
                    Some(firewall::validate_namespace(v).map_err(firewall::FirewallError::from)?)
            }
            _ => {
                return Err(ApiError::BadRequest {
                    field: "query".into(),
                    message: format!(
                        "query: unknown parameter {pair:?}; only namespace= is accepted"
                    ),
                })
            }
        }
    }
    Ok(namespace)
}
