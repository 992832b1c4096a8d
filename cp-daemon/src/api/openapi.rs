//! The OpenAPI document of the whole REST surface, generated with utoipa
//! from the request/response types. One `#[utoipa::path]` stub per verb;
//! a test checks that the document and the verb table name the same set,
//! and that the checked-in `docs/openapi.json` is current.
#![allow(dead_code)] // the stubs exist for their attributes only

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use crate::containers::types::{
    ContainerInfo, ContainerState, CreateContainer, Created, DeleteRequest, ExecOutput,
    ExecRequest, Healthcheck, HealthcheckResult, LogLine, Mount, MountKind, PortMapping, Protocol,
    RestartPolicy, StopRequest,
};
use crate::discovery::verbs::RegisterRequest;
use crate::discovery::Endpoint;
use crate::firewall::{
    BulkOutcome, BulkRequest, PortValue, ReconcileOutcome, ReconcileRequest, RuleList, RuleRequest,
    RuleView,
};
use crate::images::{ImageInfo, PullRequest, Pulled, RegistryAuth};
use crate::networks::{CreateNetwork, NetworkInfo, Subnet};
use crate::pools::verbs::{
    ClaimRequest, ClaimView, MappingView, PoolView, ReleaseRequest, ReleaseView, SyncRequest,
    SyncView, TenantStatus,
};
use crate::pools::workloads::{WorkloadList, WorkloadView};
use crate::volumes::{CreateVolume, VolumeInfo};
use crate::workloads::spec::{
    Deploy, Limits, OnRelease, PoolSpec, Resources, SpecHealthcheck, SpecPort, VolumeTarget,
    Volumes, WorkloadSpec,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "coold agent API",
        description = "The closed verb set of the per-host coolify agent. Every path needs `Authorization: Bearer <token>`; anything outside this document is 404. Errors are `{error, field?}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        images_pull, images_list, images_delete,
        containers_create, containers_start, containers_stop, containers_restart,
        containers_delete, containers_inspect, containers_logs, containers_exec,
        containers_healthcheck,
        volumes_create, volumes_delete, volumes_inspect,
        networks_create, networks_delete, networks_list,
        host_info, host_containers, host_stats, openapi_json,
        firewall_allow, firewall_delete, firewall_list, firewall_bulk, firewall_reconcile,
        services_register, services_endpoints, services_endpoint_delete,
        dns_lookup, dns_stats,
        workloads_put, workloads_list, workloads_get, workloads_delete,
        tenants_claim, tenants_release, tenants_status, tenants_sync
    ),
    components(schemas(
        ErrorBody, CreateContainer, PortMapping, Protocol, Mount, MountKind, RestartPolicy,
        Healthcheck, Created, StopRequest, DeleteRequest, ContainerInfo, ContainerState,
        ExecRequest, ExecOutput, LogLine, HealthcheckResult, PullRequest, RegistryAuth, Pulled,
        ImageInfo, CreateVolume, VolumeInfo, CreateNetwork, NetworkInfo, Subnet,
        RuleRequest, PortValue, RuleView, RuleList, BulkRequest, BulkOutcome, ReconcileRequest,
        ReconcileOutcome, RegisterRequest, Endpoint,
        WorkloadSpec, Volumes, VolumeTarget, SpecHealthcheck, SpecPort, Deploy, Resources, Limits,
        PoolSpec, OnRelease, WorkloadView, WorkloadList, PoolView, ClaimRequest, ClaimView,
        ReleaseRequest, ReleaseView, TenantStatus, SyncRequest, SyncView, MappingView
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as served at `GET /api/v1/openapi.json`.
pub fn document_json() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

/// The document as checked in under `docs/openapi.json`.
pub fn document_pretty() -> String {
    let mut s = serde_json::to_string_pretty(&document_json()).unwrap_or_default();
    s.push('\n');
    s
}

#[utoipa::path(post, path = "/api/v1/images/pull", tag = "images", request_body = PullRequest,
    responses((status = 200, body = Pulled), (status = 400, body = ErrorBody),
              (status = 502, description = "registry unreachable or refused", body = ErrorBody),
              (status = 503, body = ErrorBody)))]
fn images_pull() {}

#[utoipa::path(get, path = "/api/v1/images", tag = "images",
    responses((status = 200, body = Vec<ImageInfo>), (status = 503, body = ErrorBody)))]
fn images_list() {}

#[utoipa::path(delete, path = "/api/v1/images/{ref}", tag = "images",
    params(("ref" = String, Path, description = "image reference; may contain `/`"),
           ("force" = Option<bool>, Query)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, description = "in use", body = ErrorBody)))]
fn images_delete() {}

#[utoipa::path(post, path = "/api/v1/containers", tag = "containers", request_body = CreateContainer,
    responses((status = 201, body = Created),
              (status = 400, description = "malformed body; `field` names it", body = ErrorBody),
              (status = 403, description = "deny filter or runtime not allowed; `field` names it", body = ErrorBody),
              (status = 404, description = "image not found", body = ErrorBody),
              (status = 409, description = "name in use", body = ErrorBody),
              (status = 422, description = "runtime not installed", body = ErrorBody),
              (status = 503, body = ErrorBody)))]
fn containers_create() {}

#[utoipa::path(post, path = "/api/v1/containers/{id}/start", tag = "containers",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn containers_start() {}

#[utoipa::path(post, path = "/api/v1/containers/{id}/stop", tag = "containers",
    params(("id" = String, Path)), request_body(content = StopRequest, description = "optional"),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn containers_stop() {}

#[utoipa::path(post, path = "/api/v1/containers/{id}/restart", tag = "containers",
    params(("id" = String, Path)), request_body(content = StopRequest, description = "optional"),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn containers_restart() {}

#[utoipa::path(delete, path = "/api/v1/containers/{id}", tag = "containers",
    params(("id" = String, Path), ("force" = Option<bool>, Query)),
    request_body(content = DeleteRequest, description = "optional"),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "running; use force", body = ErrorBody)))]
fn containers_delete() {}

#[utoipa::path(get, path = "/api/v1/containers/{id}", tag = "containers",
    params(("id" = String, Path)),
    responses((status = 200, body = ContainerInfo), (status = 404, body = ErrorBody)))]
fn containers_inspect() {}

#[utoipa::path(get, path = "/api/v1/containers/{id}/logs", tag = "containers",
    params(("id" = String, Path), ("follow" = Option<bool>, Query, description = "stream until the container ends or the client goes"),
           ("tail" = Option<String>, Query, description = "line count or `all`"),
           ("since" = Option<i32>, Query, description = "unix seconds"),
           ("timestamps" = Option<bool>, Query)),
    responses((status = 200, description = "NDJSON, one LogLine per line", content_type = "application/x-ndjson", body = LogLine),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn containers_logs() {}

#[utoipa::path(post, path = "/api/v1/containers/{id}/exec", tag = "containers",
    params(("id" = String, Path)), request_body = ExecRequest,
    responses((status = 200, description = "ExecOutput, or NDJSON LogLines and a last {\"exit_code\": n} line with stream=true", body = ExecOutput),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "not running", body = ErrorBody)))]
fn containers_exec() {}

#[utoipa::path(post, path = "/api/v1/containers/{id}/healthcheck/run", tag = "containers",
    params(("id" = String, Path)),
    responses((status = 200, body = HealthcheckResult), (status = 404, body = ErrorBody),
              (status = 409, description = "no healthcheck defined", body = ErrorBody)))]
fn containers_healthcheck() {}

#[utoipa::path(post, path = "/api/v1/volumes", tag = "volumes", request_body = CreateVolume,
    responses((status = 201, body = VolumeInfo), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
fn volumes_create() {}

#[utoipa::path(delete, path = "/api/v1/volumes/{name}", tag = "volumes",
    params(("name" = String, Path), ("force" = Option<bool>, Query)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
fn volumes_delete() {}

#[utoipa::path(get, path = "/api/v1/volumes/{name}", tag = "volumes",
    params(("name" = String, Path)),
    responses((status = 200, body = VolumeInfo), (status = 404, body = ErrorBody)))]
fn volumes_inspect() {}

#[utoipa::path(post, path = "/api/v1/networks", tag = "networks", request_body = CreateNetwork,
    responses((status = 201, body = NetworkInfo), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
fn networks_create() {}

#[utoipa::path(delete, path = "/api/v1/networks/{name}", tag = "networks",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn networks_delete() {}

#[utoipa::path(get, path = "/api/v1/networks", tag = "networks",
    responses((status = 200, description = "managed networks", body = Vec<NetworkInfo>)))]
fn networks_list() {}

#[utoipa::path(get, path = "/api/v1/host/info", tag = "host",
    responses((status = 200, description = "host facts")))]
fn host_info() {}

#[utoipa::path(get, path = "/api/v1/host/containers", tag = "host",
    responses((status = 200, description = "every container on the host, managed or not")))]
fn host_containers() {}

#[utoipa::path(get, path = "/api/v1/host/stats", tag = "host",
    responses((status = 200, description = "load, memory, container counts")))]
fn host_stats() {}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "this document")))]
fn openapi_json() {}

#[utoipa::path(post, path = "/api/v1/firewall/allow", tag = "firewall", request_body = RuleRequest,
    responses((status = 201, description = "added to both planes", body = RuleView),
              (status = 200, description = "the tuple already existed (same id)", body = RuleView),
              (status = 400, description = "bad field or an id that does not match the tuple; `field` names it", body = ErrorBody),
              (status = 500, description = "a plane failed; the other was rolled back; both errors", body = ErrorBody),
              (status = 503, description = "firewall disabled on this agent", body = ErrorBody)))]
fn firewall_allow() {}

#[utoipa::path(delete, path = "/api/v1/firewall/allow/{id}", tag = "firewall",
    params(("id" = String, Path, description = "12 lowercase hex characters")),
    responses((status = 204, description = "deleted, or already absent"), (status = 400, body = ErrorBody),
              (status = 500, body = ErrorBody)))]
fn firewall_delete() {}

#[utoipa::path(get, path = "/api/v1/firewall/allow", tag = "firewall",
    params(("namespace" = Option<String>, Query)),
    responses((status = 200, body = RuleList), (status = 400, body = ErrorBody)))]
fn firewall_list() {}

#[utoipa::path(post, path = "/api/v1/firewall/allow/bulk", tag = "firewall", request_body = BulkRequest,
    responses((status = 200, description = "all added in one batch per plane, or none", body = BulkOutcome),
              (status = 400, description = "`field` names the item, e.g. rules[3].src", body = ErrorBody),
              (status = 500, body = ErrorBody)))]
fn firewall_bulk() {}

#[utoipa::path(post, path = "/api/v1/firewall/reconcile", tag = "firewall", request_body = ReconcileRequest,
    responses((status = 200, description = "the kernel now equals the desired set; never an empty chain", body = ReconcileOutcome),
              (status = 400, body = ErrorBody), (status = 500, body = ErrorBody)))]
fn firewall_reconcile() {}

#[utoipa::path(post, path = "/api/v1/services/register", tag = "services", request_body = RegisterRequest,
    responses((status = 201, body = Endpoint), (status = 400, body = ErrorBody),
              (status = 404, description = "no such container on this host", body = ErrorBody),
              (status = 422, description = "container not managed by coolify", body = ErrorBody),
              (status = 503, description = "endpoint store down", body = ErrorBody)))]
fn services_register() {}

#[utoipa::path(get, path = "/api/v1/services/{id}/endpoints", tag = "services",
    params(("id" = String, Path, description = "service id")),
    responses((status = 200, description = "every host's rows of the service", body = Vec<Endpoint>),
              (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn services_endpoints() {}

#[utoipa::path(delete, path = "/api/v1/services/{id}/endpoints/{container_id}", tag = "services",
    params(("id" = String, Path, description = "service id"), ("container_id" = String, Path)),
    responses((status = 204, description = "removed, or already absent"), (status = 400, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
fn services_endpoint_delete() {}

#[utoipa::path(get, path = "/api/v1/dns/lookup/{name}", tag = "dns",
    params(("name" = String, Path, description = "e.g. web.alpha.coolify.internal"),
           ("type" = Option<String>, Query, description = "record type, default A")),
    responses((status = 200, description = "what the namespace server would answer (rcode, records, TTL) and why", content_type = "application/json"),
              (status = 400, description = "not a DNS name, or an unknown type; `field` names it", body = ErrorBody)))]
fn dns_lookup() {}

#[utoipa::path(get, path = "/api/v1/dns/stats", tag = "dns",
    responses((status = 200, description = "upstream, port, names served, and per namespace: server state, queries, answers by rcode, forwarded, upstream errors, dropped", content_type = "application/json")))]
fn dns_stats() {}

#[utoipa::path(post, path = "/api/v1/workloads", tag = "pools",
    request_body(content = WorkloadSpec, description = "the spec as YAML or JSON (seed 001's format); refused keys name key and line", content_type = "application/yaml"),
    responses((status = 201, description = "added", body = WorkloadView),
              (status = 200, description = "replaced; idle containers of the old spec are retired", body = WorkloadView),
              (status = 400, description = "invalid spec; `field` names the key, the message its line", body = ErrorBody),
              (status = 403, description = "refused by the deny filter (privileged, host network, …)", body = ErrorBody)))]
fn workloads_put() {}

#[utoipa::path(get, path = "/api/v1/workloads", tag = "pools",
    responses((status = 200, description = "every spec with its pool", body = WorkloadList)))]
fn workloads_list() {}

#[utoipa::path(get, path = "/api/v1/workloads/{id}", tag = "pools",
    params(("id" = String, Path, description = "workload id")),
    responses((status = 200, description = "the spec with its pool", body = WorkloadView),
              (status = 404, description = "no such workload", body = ErrorBody)))]
fn workloads_get() {}

#[utoipa::path(delete, path = "/api/v1/workloads/{id}", tag = "pools",
    params(("id" = String, Path, description = "workload id")),
    responses((status = 204, description = "removed; its idle containers are retired"),
              (status = 404, description = "no such workload", body = ErrorBody),
              (status = 409, description = "tenants still hold containers of it", body = ErrorBody)))]
fn workloads_delete() {}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/claim", tag = "pools",
    params(("tenant" = String, Path, description = "[a-z0-9][a-z0-9-_.]{0,62}")),
    request_body = ClaimRequest,
    responses((status = 200, description = "the tenant's container (the same one on every claim until release); `cold` when made on demand", body = ClaimView),
              (status = 400, description = "bad tenant, workload or secret name; `field` names it", body = ErrorBody),
              (status = 404, description = "no such workload", body = ErrorBody),
              (status = 409, description = "a claim or release of this tenant is in progress", body = ErrorBody),
              (status = 502, description = "the state download failed; the claim was undone", body = ErrorBody),
              (status = 429, description = "the pool is at max_size with nothing idle", body = ErrorBody)))]
fn tenants_claim() {}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/release", tag = "pools",
    params(("tenant" = String, Path, description = "tenant id")),
    request_body = ReleaseRequest,
    responses((status = 200, description = "state and secrets wiped from disk; container destroyed (or returned with on_release: reuse)", body = ReleaseView),
              (status = 404, description = "the tenant holds no claim", body = ErrorBody),
              (status = 502, description = "the state upload failed: nothing was wiped, the tenant still holds the container; retry", body = ErrorBody)))]
fn tenants_release() {}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/status", tag = "pools",
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, description = "the tenant's claims", body = TenantStatus)))]
fn tenants_status() {}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/sync", tag = "pools",
    params(("tenant" = String, Path, description = "tenant id")),
    request_body = SyncRequest,
    responses((status = 200, description = "what each mapping did", body = SyncView),
              (status = 403, description = "sync.policy.manual is off", body = ErrorBody),
              (status = 404, description = "the tenant holds no claim", body = ErrorBody),
              (status = 422, description = "the workload has no sync section", body = ErrorBody),
              (status = 502, description = "rclone failed; the message names the mapping", body = ErrorBody)))]
fn tenants_sync() {}

#[cfg(test)]
mod tests {
    use super::super::verbs::Verb;
    use super::*;

    #[test]
    fn every_documented_path_is_a_verb_and_every_verb_is_documented() {
        let doc = ApiDoc::openapi();
        let mut names = std::collections::BTreeSet::new();
        for (path, item) in doc.paths.paths.iter() {
            let concrete = path
                .replace("{id}", "web-1")
                .replace("{name}", "web-data")
                .replace("{ref}", "localhost/web:v2")
                .replace("{container_id}", "web-1")
                .replace("{tenant}", "t-1");
            let ops = [
                (http::Method::GET, item.get.is_some()),
                (http::Method::POST, item.post.is_some()),
                (http::Method::DELETE, item.delete.is_some()),
                (http::Method::PUT, item.put.is_some()),
            ];
            for (m, present) in ops {
                if present {
                    let verb = Verb::route(&m, &concrete)
                        .unwrap_or_else(|e| panic!("{m} {path} is documented but {e}"));
                    names.insert(verb.name());
                }
            }
        }
        // Every variant of the verb enum, counted by the compiler: a new
        // verb fails here until it is documented.
        assert_eq!(
            names.len(),
            <Verb as strum::EnumCount>::COUNT,
            "documented: {names:?}"
        );
    }

    #[test]
    fn checked_in_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let want = document_pretty();
        if std::env::var_os("COOLD_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &want).expect("write docs/openapi.json");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/openapi.json is stale: run `COOLD_WRITE_OPENAPI=1 cargo test -p coold openapi` and commit it"
        );
    }
}
