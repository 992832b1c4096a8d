//! The allow-list verbs: the rule is validated (pure) before the store
//! takes its lock.

use http::StatusCode;

use super::super::context::AgentContext;
use super::super::decode;
use super::super::dispatch::{Input, Reply};
use super::super::error::ApiError;
use crate::firewall::{
    self, BulkRequest, FirewallError, FirewallStore, ReconcileRequest, RuleId, RuleList,
    RuleRequest,
};

type Answer = Result<Reply, ApiError>;

fn store(ctx: &AgentContext) -> Result<&FirewallStore, ApiError> {
    ctx.firewall.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the firewall is disabled on this agent (COOLD_FIREWALL=off)".into())
    })
}

pub async fn allow(ctx: &AgentContext, input: &Input) -> Answer {
    let rule = decode::json::<RuleRequest>(&input.body)?
        .validate()
        .map_err(FirewallError::from)?;
    let (view, created) = store(ctx)?.allow(rule).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Reply::with_status(status, view)
}

pub async fn list(ctx: &AgentContext, input: &Input) -> Answer {
    let namespace = namespace_query(input.query())?;
    let rules = store(ctx)?.list(namespace.as_deref()).await;
    Reply::ok(RuleList { rules })
}

pub async fn delete(ctx: &AgentContext, _: &Input, id: String) -> Answer {
    let id = RuleId::parse("id", &id).map_err(FirewallError::from)?;
    // 204 whether it existed or not: a reconciling caller may retry.
    store(ctx)?.delete(&id).await?;
    Reply::no_content()
}

pub async fn bulk(ctx: &AgentContext, input: &Input) -> Answer {
    let body = decode::json::<BulkRequest>(&input.body)?;
    let rules = firewall::validate_all(&body.rules).map_err(FirewallError::from)?;
    Reply::ok(store(ctx)?.bulk(rules).await?)
}

pub async fn reconcile(ctx: &AgentContext, input: &Input) -> Answer {
    let body = decode::json::<ReconcileRequest>(&input.body)?;
    let namespace = body
        .namespace
        .as_deref()
        .map(firewall::validate_namespace)
        .transpose()
        .map_err(FirewallError::from)?;
    let rules = firewall::validate_all(&body.rules).map_err(FirewallError::from)?;
    Reply::ok(store(ctx)?.reconcile(namespace.as_deref(), rules).await?)
}

/// `namespace=<ns>` is the only query the list takes.
fn namespace_query(query: &str) -> Result<Option<String>, ApiError> {
    let mut namespace = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("namespace", v)) => {
                namespace = Some(firewall::validate_namespace(v).map_err(FirewallError::from)?)
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
