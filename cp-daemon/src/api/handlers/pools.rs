//! Workload specs and tenants' claims on warm pools. A tenant from the path
//! is checked before the body is decoded, so a bad one is named first.

use http::StatusCode;

use super::super::context::AgentContext;
use super::super::decode;
use super::super::dispatch::{Input, Reply};
use super::super::error::ApiError;
use crate::pools::{verbs, workloads};

type Answer = Result<Reply, ApiError>;

pub async fn workload_put(ctx: &AgentContext, input: &Input) -> Answer {
    let (view, replaced) = workloads::put(&ctx.pools, &input.body)?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Reply::with_status(status, view)
}

pub async fn workload_list(ctx: &AgentContext, _: &Input) -> Answer {
    Reply::ok(workloads::list(&ctx.pools))
}

pub async fn workload_get(ctx: &AgentContext, _: &Input, id: String) -> Answer {
    Reply::ok(workloads::get(&ctx.pools, &id)?)
}

pub async fn workload_delete(ctx: &AgentContext, _: &Input, id: String) -> Answer {
    workloads::delete(&ctx.pools, &id)?;
    Reply::no_content()
}

pub async fn claim(ctx: &AgentContext, input: &Input, tenant: String) -> Answer {
    verbs::check_tenant(&tenant)?;
    let req: verbs::ClaimRequest = decode::json(&input.body)?;
    Reply::ok(verbs::claim(&ctx.pools, &tenant, &req).await?)
}

pub async fn release(ctx: &AgentContext, input: &Input, tenant: String) -> Answer {
    verbs::check_tenant(&tenant)?;
    let req: verbs::ReleaseRequest = decode::json(&input.body)?;
    Reply::ok(verbs::release(&ctx.pools, &tenant, &req).await?)
}

pub async fn status(ctx: &AgentContext, _: &Input, tenant: String) -> Answer {
    Reply::ok(verbs::status(&ctx.pools, &tenant)?)
}

pub async fn sync(ctx: &AgentContext, input: &Input, tenant: String) -> Answer {
    verbs::check_tenant(&tenant)?;
    let req: verbs::SyncRequest = decode::json(&input.body)?;
    Reply::ok(verbs::sync(&ctx.pools, &tenant, &req).await?)
}
