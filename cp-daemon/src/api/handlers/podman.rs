//! Images, containers, volumes, networks and the host's facts.

use super::super::context::AgentContext;
use super::super::decode;
use super::super::dispatch::{Input, Reply};
use super::super::error::ApiError;
use crate::{containers, host, images, networks, volumes};

type Answer = Result<Reply, ApiError>;

pub async fn image_pull(ctx: &AgentContext, input: &Input) -> Answer {
    let req: images::PullRequest = decode::json(&input.body)?;
    Reply::ok(images::pull(&ctx.engine, &req).await?)
}

pub async fn image_list(ctx: &AgentContext, _: &Input) -> Answer {
    Reply::ok(images::list(&ctx.engine).await?)
}

pub async fn image_delete(ctx: &AgentContext, input: &Input, reference: String) -> Answer {
    // The reference is judged before the query, so a bad one is named first.
    images::check_ref("ref", &reference)?;
    let force = decode::query_flag(&decode::query_pairs(input.query())?, "force")?;
    images::delete(&ctx.engine, &reference, force).await?;
    Reply::no_content()
}

pub async fn container_create(ctx: &AgentContext, input: &Input) -> Answer {
    let req: containers::types::CreateContainer = decode::json(&input.body)?;
    Reply::created(containers::create(&ctx.engine, &ctx.runtimes, &ctx.deny, &req).await?)
}

pub async fn container_start(ctx: &AgentContext, _: &Input, id: String) -> Answer {
    containers::start(&ctx.engine, &ctx.runtimes, &id).await?;
    Reply::no_content()
}

pub async fn container_stop(ctx: &AgentContext, input: &Input, id: String) -> Answer {
    let req: containers::types::StopRequest = decode::json(&input.body)?;
    containers::stop(&ctx.engine, &ctx.runtimes, &id, &req).await?;
    Reply::no_content()
}

pub async fn container_restart(ctx: &AgentContext, input: &Input, id: String) -> Answer {
    let req: containers::types::StopRequest = decode::json(&input.body)?;
    containers::restart(&ctx.engine, &ctx.runtimes, &id, &req).await?;
    Reply::no_content()
}

pub async fn container_delete(ctx: &AgentContext, input: &Input, id: String) -> Answer {
    // `force` from the body or `?force=true`.
    let req: containers::types::DeleteRequest = decode::json(&input.body)?;
    let force = req.force || decode::query_flag(&decode::query_pairs(input.query())?, "force")?;
    containers::delete(&ctx.engine, &ctx.runtimes, &id, force).await?;
    Reply::no_content()
}

pub async fn container_inspect(ctx: &AgentContext, _: &Input, id: String) -> Answer {
    Reply::ok(containers::inspect(&ctx.engine, &id).await?)
}

pub async fn container_logs(ctx: &AgentContext, input: &Input, id: String) -> Answer {
    let q = decode::logs_query(input.query())?;
    Reply::stream(containers::logs(&ctx.engine, &ctx.runtimes, &id, &q).await?)
}

pub async fn container_exec(ctx: &AgentContext, input: &Input, id: String) -> Answer {
    let req: containers::types::ExecRequest = decode::json(&input.body)?;
    match containers::exec(&ctx.engine, &ctx.runtimes, &id, &req).await? {
        containers::ExecReply::Done(out) => Reply::ok(out),
        containers::ExecReply::Streaming(s) => Reply::stream(s),
    }
}

pub async fn container_healthcheck(ctx: &AgentContext, _: &Input, id: String) -> Answer {
    Reply::ok(containers::healthcheck(&ctx.engine, &ctx.runtimes, &id).await?)
}

pub async fn volume_create(ctx: &AgentContext, input: &Input) -> Answer {
    let req: volumes::CreateVolume = decode::json(&input.body)?;
    Reply::created(volumes::create(&ctx.engine, &req).await?)
}

pub async fn volume_delete(ctx: &AgentContext, input: &Input, name: String) -> Answer {
    let force = decode::query_flag(&decode::query_pairs(input.query())?, "force")?;
    volumes::delete(&ctx.engine, &name, force).await?;
    Reply::no_content()
}

pub async fn volume_inspect(ctx: &AgentContext, _: &Input, name: String) -> Answer {
    Reply::ok(volumes::inspect(&ctx.engine, &name).await?)
}

pub async fn network_create(ctx: &AgentContext, input: &Input) -> Answer {
    let req: networks::CreateNetwork = decode::json(&input.body)?;
    Reply::created(networks::create(&ctx.engine, &req).await?)
}

pub async fn network_delete(ctx: &AgentContext, _: &Input, name: String) -> Answer {
    networks::delete(&ctx.engine, &name).await?;
    Reply::no_content()
}

pub async fn network_list(ctx: &AgentContext, _: &Input) -> Answer {
    Reply::ok(networks::list(&ctx.engine).await?)
}

pub async fn host_info(ctx: &AgentContext, _: &Input) -> Answer {
    Reply::ok(host::info(&ctx.engine, &ctx.config).await?)
}

pub async fn host_containers(ctx: &AgentContext, _: &Input) -> Answer {
    Reply::ok(host::containers(&ctx.engine).await?)
}

pub async fn host_stats(ctx: &AgentContext, _: &Input) -> Answer {
    Reply::ok(host::stats(&ctx.engine).await?)
}
