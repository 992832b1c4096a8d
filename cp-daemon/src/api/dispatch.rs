//! The one dispatcher every transport calls: a [`Verb`] in, a [`Reply`] or an
//! [`ApiError`] out.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use http::StatusCode;
use serde::Serialize;

use super::context::AgentContext;
use super::decode;
use super::error::ApiError;
use super::verbs::Verb;
use crate::firewall::{
    self, BulkRequest, FirewallStore, ReconcileRequest, RuleId, RuleList, RuleRequest,
};
use crate::{containers, discovery, dns, host, images, networks, pools, volumes};

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

/// A decoded request: the verb, its raw query string and body.
#[derive(Debug)]
pub struct VerbRequest {
    pub verb: Verb,
    pub query: Option<String>,
    pub body: Bytes,
}

pub async fn dispatch(ctx: &AgentContext, req: VerbRequest) -> Result<Reply, ApiError> {
    let query = req.query.as_deref().unwrap_or("");
    let body = &req.body;
    match req.verb {
        Verb::ImagePull => {
            let req: images::PullRequest = decode::json(body)?;
            Reply::ok(images::pull(&ctx.engine, &req).await?)
        }
        Verb::ImageList => Reply::ok(images::list(&ctx.engine).await?),
        Verb::ImageDelete { reference } => {
            images::check_ref("ref", &reference)?;
            let force = decode::query_flag(&decode::query_pairs(query)?, "force")?;
            images::delete(&ctx.engine, &reference, force).await?;
            Reply::no_content()
        }
        Verb::ContainerCreate => {
            let req: containers::types::CreateContainer = decode::json(body)?;
            Reply::created(containers::create(&ctx.engine, &ctx.runtimes, &ctx.deny, &req).await?)
        }
        Verb::ContainerStart { id } => {
            containers::start(&ctx.engine, &ctx.runtimes, &id).await?;
            Reply::no_content()
        }
        Verb::ContainerStop { id } => {
            let req: containers::types::StopRequest = decode::json(body)?;
            containers::stop(&ctx.engine, &ctx.runtimes, &id, &req).await?;
            Reply::no_content()
        }
        Verb::ContainerRestart { id } => {
            let req: containers::types::StopRequest = decode::json(body)?;
            containers::restart(&ctx.engine, &ctx.runtimes, &id, &req).await?;
            Reply::no_content()
        }
        Verb::ContainerDelete { id } => {
            // `force` from the body or `?force=true`.
            let req: containers::types::DeleteRequest = decode::json(body)?;
            let force = req.force || decode::query_flag(&decode::query_pairs(query)?, "force")?;
            containers::delete(&ctx.engine, &ctx.runtimes, &id, force).await?;
            Reply::no_content()
        }
        Verb::ContainerInspect { id } => Reply::ok(containers::inspect(&ctx.engine, &id).await?),
        Verb::ContainerLogs { id } => {
            let q = decode::logs_query(query)?;
            Reply::stream(containers::logs(&ctx.engine, &ctx.runtimes, &id, &q).await?)
        }
        Verb::ContainerExec { id } => {
            let req: containers::types::ExecRequest = decode::json(body)?;
            match containers::exec(&ctx.engine, &ctx.runtimes, &id, &req).await? {
                containers::ExecReply::Done(out) => Reply::ok(out),
                containers::ExecReply::Streaming(s) => Reply::stream(s),
            }
        }
        Verb::ContainerHealthcheck { id } => {
            Reply::ok(containers::healthcheck(&ctx.engine, &ctx.runtimes, &id).await?)
        }
        Verb::VolumeCreate => {
            let req: volumes::CreateVolume = decode::json(body)?;
            Reply::created(volumes::create(&ctx.engine, &req).await?)
        }
        Verb::VolumeDelete { name } => {
            let force = decode::query_flag(&decode::query_pairs(query)?, "force")?;
            volumes::delete(&ctx.engine, &name, force).await?;
            Reply::no_content()
        }
        Verb::VolumeInspect { name } => Reply::ok(volumes::inspect(&ctx.engine, &name).await?),
        Verb::NetworkCreate => {
            let req: networks::CreateNetwork = decode::json(body)?;
            Reply::created(networks::create(&ctx.engine, &req).await?)
        }
        Verb::NetworkDelete { name } => {
            networks::delete(&ctx.engine, &name).await?;
            Reply::no_content()
        }
        Verb::NetworkList => Reply::ok(networks::list(&ctx.engine).await?),
        Verb::HostInfo => Reply::ok(host::info(&ctx.engine, &ctx.config).await?),
        Verb::HostContainers => Reply::ok(host::containers(&ctx.engine).await?),
        Verb::HostStats => Reply::ok(host::stats(&ctx.engine).await?),
        Verb::FirewallAllow => {
            let rule = decode::json::<RuleRequest>(&req.body)?
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
            Reply::no_content()
        }
        Verb::FirewallBulk => {
            let body = decode::json::<BulkRequest>(&req.body)?;
            let rules =
                firewall::validate_all(&body.rules).map_err(firewall::FirewallError::from)?;
            Reply::ok(store(ctx)?.bulk(rules).await?)
        }
        Verb::FirewallReconcile => {
            let body = decode::json::<ReconcileRequest>(&req.body)?;
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
        Verb::ServicesRegister => {
            let body: discovery::verbs::RegisterRequest = decode::json(&req.body)?;
            let row = discovery::verbs::register(
                &ctx.engine,
                &ctx.discovery,
                &ctx.config.namespaces,
                &body,
            )
            .await?;
            Reply::with_status(StatusCode::CREATED, row)
        }
        Verb::ServiceEndpoints { service_id } => {
            Reply::ok(discovery::verbs::endpoints(&ctx.discovery, &service_id).await?)
        }
        Verb::ServiceEndpointDelete {
            service_id,
            container_id,
        } => {
            discovery::verbs::deregister(&ctx.engine, &ctx.discovery, &service_id, &container_id)
                .await?;
            Reply::no_content()
        }
        Verb::OpenApi => Reply::ok(super::openapi::document_json()),
        Verb::DnsLookup { name } => {
            let qtype = decode::dns_lookup_query(req.query.as_deref())?;
            Reply::ok(dns::verbs::lookup(&ctx.dns, &name, qtype)?)
        }
        Verb::DnsStats => Reply::ok(dns::verbs::stats(&ctx.dns, &ctx.health)),
        Verb::WorkloadPut => {
            let (view, replaced) = pools::workloads::put(&ctx.pools, body)?;
            let status = if replaced {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Reply::with_status(status, view)
        }
        Verb::WorkloadList => Reply::ok(pools::workloads::list(&ctx.pools)),
        Verb::WorkloadGet { id } => Reply::ok(pools::workloads::get(&ctx.pools, &id)?),
        Verb::WorkloadDelete { id } => {
            pools::workloads::delete(&ctx.pools, &id)?;
            Reply::no_content()
        }
        // The tenant from the path is checked before the body is decoded.
        Verb::TenantClaim { tenant } => {
            pools::verbs::check_tenant(&tenant)?;
            let req: pools::verbs::ClaimRequest = decode::json(body)?;
            Reply::ok(pools::verbs::claim(&ctx.pools, &tenant, &req).await?)
        }
        Verb::TenantRelease { tenant } => {
            pools::verbs::check_tenant(&tenant)?;
            let req: pools::verbs::ReleaseRequest = decode::json(body)?;
            Reply::ok(pools::verbs::release(&ctx.pools, &tenant, &req).await?)
        }
        Verb::TenantStatus { tenant } => Reply::ok(pools::verbs::status(&ctx.pools, &tenant)?),
        Verb::TenantSync { tenant } => {
            pools::verbs::check_tenant(&tenant)?;
            let req: pools::verbs::SyncRequest = decode::json(body)?;
            Reply::ok(pools::verbs::sync(&ctx.pools, &tenant, &req).await?)
        }
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
