//! Service discovery, cluster DNS and the API's own document.

use http::StatusCode;

use super::super::context::AgentContext;
use super::super::decode;
use super::super::dispatch::{Input, Reply};
use super::super::error::ApiError;
use crate::{discovery, dns};

type Answer = Result<Reply, ApiError>;

pub async fn register(ctx: &AgentContext, input: &Input) -> Answer {
    let body: discovery::verbs::RegisterRequest = decode::json(&input.body)?;
    let row =
        discovery::verbs::register(&ctx.engine, &ctx.discovery, &ctx.config.namespaces, &body)
            .await?;
    Reply::with_status(StatusCode::CREATED, row)
}

pub async fn endpoints(ctx: &AgentContext, _: &Input, service_id: String) -> Answer {
    Reply::ok(discovery::verbs::endpoints(&ctx.discovery, &service_id).await?)
}

pub async fn deregister(
    ctx: &AgentContext,
    _: &Input,
    service_id: String,
    container_id: String,
) -> Answer {
    discovery::verbs::deregister(&ctx.engine, &ctx.discovery, &service_id, &container_id).await?;
    Reply::no_content()
}

pub async fn dns_lookup(ctx: &AgentContext, input: &Input, name: String) -> Answer {
    let qtype = decode::dns_lookup_query(input.query.as_deref())?;
    Reply::ok(dns::verbs::lookup(&ctx.dns, &name, qtype)?)
}

pub async fn dns_stats(ctx: &AgentContext, _: &Input) -> Answer {
    Reply::ok(dns::verbs::stats(&ctx.dns, &ctx.health))
}

pub async fn openapi(_: &AgentContext, _: &Input) -> Answer {
    Reply::ok(super::super::openapi::document_json())
}
