//! The closed verb set (DESIGN.md decision 1), declared once: each entry
//! of the table below carries the verb's variant and path parameters, its
//! method and path, its stable name, its handler and its OpenAPI entry. The
//! enum, the router, the dispatcher and the document are all generated from
//! it (`api/verb_table.rs`), so the compiler keeps them in step: a verb
//! cannot be routed without a handler, nor documented without a route.
//!
//! The REST server and the broker stream both route into [`Verb`] and run
//! the same dispatcher; a path outside the set is 404, whatever the
//! transport. Build and cancel frames are the one other door: they exist
//! only on the broker stream, answer when the build ends rather than per
//! request, and go to the build driver (`broker_client/frames.rs`).

use super::error::ErrorBody;
use super::handlers::{firewall, podman, pools, services};
use crate::containers::types::{
    ContainerInfo, CreateContainer, Created, DeleteRequest, ExecOutput, ExecRequest,
    HealthcheckResult, LogLine, StopRequest,
};
use crate::discovery::verbs::RegisterRequest;
use crate::discovery::Endpoint;
use crate::firewall::{
    BulkOutcome, BulkRequest, ReconcileOutcome, ReconcileRequest, RuleList, RuleRequest, RuleView,
};
use crate::images::{ImageInfo, PullRequest, Pulled};
use crate::networks::{CreateNetwork, NetworkInfo};
use crate::pools::verbs::{
    ClaimRequest, ClaimView, ReleaseRequest, ReleaseView, SyncRequest, SyncView, TenantStatus,
};
use crate::pools::workloads::{WorkloadList, WorkloadView};
use crate::volumes::{CreateVolume, VolumeInfo};
use crate::workloads::spec::WorkloadSpec;

pub use super::verb_table::{RouteError, API_PREFIX};

super::verb_table::verb_table! {
    /// `POST /api/v1/images/pull`
    ImagePull {  } = post "/api/v1/images/pull" => "images.pull", podman::image_pull,
        (tag = "images", request_body = PullRequest,
        responses((status = 200, body = Pulled), (status = 400, body = ErrorBody),
        (status = 502, description = "registry unreachable or refused", body = ErrorBody),
        (status = 503, body = ErrorBody)));
    /// `GET /api/v1/images`
    ImageList {  } = get "/api/v1/images" => "images.list", podman::image_list,
        (tag = "images",
        responses((status = 200, body = Vec<ImageInfo>), (status = 503, body = ErrorBody)));
    /// `DELETE /api/v1/images/{ref}`
    ImageDelete { reference } = delete "/api/v1/images/{ref}" + tail => "images.delete", podman::image_delete,
        (tag = "images",
        params(("ref" = String, Path, description = "image reference; may contain `/`"),
        ("force" = Option<bool>, Query)),
        responses((status = 204), (status = 404, body = ErrorBody), (status = 409, description = "in use", body = ErrorBody)));
    /// `POST /api/v1/containers`
    ContainerCreate {  } = post "/api/v1/containers" => "containers.create", podman::container_create,
        (tag = "containers", request_body = CreateContainer,
        responses((status = 201, body = Created),
        (status = 400, description = "malformed body; `field` names it", body = ErrorBody),
        (status = 403, description = "deny filter or runtime not allowed; `field` names it", body = ErrorBody),
        (status = 404, description = "image not found", body = ErrorBody),
        (status = 409, description = "name in use", body = ErrorBody),
        (status = 422, description = "runtime not installed", body = ErrorBody),
        (status = 503, body = ErrorBody)));
    /// `POST /api/v1/containers/{id}/start`
    ContainerStart { id } = post "/api/v1/containers/{id}/start" => "containers.start", podman::container_start,
        (tag = "containers",
        params(("id" = String, Path)),
        responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)));
    /// `POST /api/v1/containers/{id}/stop`
    ContainerStop { id } = post "/api/v1/containers/{id}/stop" => "containers.stop", podman::container_stop,
        (tag = "containers",
        params(("id" = String, Path)), request_body(content = StopRequest, description = "optional"),
        responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)));
    /// `POST /api/v1/containers/{id}/restart`
    ContainerRestart { id } = post "/api/v1/containers/{id}/restart" => "containers.restart", podman::container_restart,
        (tag = "containers",
        params(("id" = String, Path)), request_body(content = StopRequest, description = "optional"),
        responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)));
    /// `DELETE /api/v1/containers/{id}`
    ContainerDelete { id } = delete "/api/v1/containers/{id}" => "containers.delete", podman::container_delete,
        (tag = "containers",
        params(("id" = String, Path), ("force" = Option<bool>, Query)),
        request_body(content = DeleteRequest, description = "optional"),
        responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "running; use force", body = ErrorBody)));
    /// `GET /api/v1/containers/{id}`
    ContainerInspect { id } = get "/api/v1/containers/{id}" => "containers.inspect", podman::container_inspect,
        (tag = "containers",
        params(("id" = String, Path)),
        responses((status = 200, body = ContainerInfo), (status = 404, body = ErrorBody)));
    /// `GET /api/v1/containers/{id}/logs`
    ContainerLogs { id } = get "/api/v1/containers/{id}/logs" => "containers.logs", podman::container_logs,
        (tag = "containers",
        params(("id" = String, Path), ("follow" = Option<bool>, Query, description = "stream until the container ends or the client goes"),
        ("tail" = Option<String>, Query, description = "line count or `all`"),
        ("since" = Option<i32>, Query, description = "unix seconds"),
        ("timestamps" = Option<bool>, Query)),
        responses((status = 200, description = "NDJSON, one LogLine per line", content_type = "application/x-ndjson", body = LogLine),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)));
    /// `POST /api/v1/containers/{id}/exec`
    ContainerExec { id } = post "/api/v1/containers/{id}/exec" => "containers.exec", podman::container_exec,
        (tag = "containers",
        params(("id" = String, Path)), request_body = ExecRequest,
        responses((status = 200, description = "ExecOutput, or NDJSON LogLines and a last {\"exit_code\": n} line with stream=true", body = ExecOutput),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not running", body = ErrorBody)));
    /// `POST /api/v1/containers/{id}/healthcheck/run`
    ContainerHealthcheck { id } = post "/api/v1/containers/{id}/healthcheck/run" => "containers.healthcheck", podman::container_healthcheck,
        (tag = "containers",
        params(("id" = String, Path)),
        responses((status = 200, body = HealthcheckResult), (status = 404, body = ErrorBody),
        (status = 409, description = "no healthcheck defined", body = ErrorBody)));
    /// `POST /api/v1/volumes`
    VolumeCreate {  } = post "/api/v1/volumes" => "volumes.create", podman::volume_create,
        (tag = "volumes", request_body = CreateVolume,
        responses((status = 201, body = VolumeInfo), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)));
    /// `DELETE /api/v1/volumes/{name}`
    VolumeDelete { name } = delete "/api/v1/volumes/{name}" => "volumes.delete", podman::volume_delete,
        (tag = "volumes",
        params(("name" = String, Path), ("force" = Option<bool>, Query)),
        responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)));
    /// `GET /api/v1/volumes/{name}`
    VolumeInspect { name } = get "/api/v1/volumes/{name}" => "volumes.inspect", podman::volume_inspect,
        (tag = "volumes",
        params(("name" = String, Path)),
        responses((status = 200, body = VolumeInfo), (status = 404, body = ErrorBody)));
    /// `POST /api/v1/networks`
    NetworkCreate {  } = post "/api/v1/networks" => "networks.create", podman::network_create,
        (tag = "networks", request_body = CreateNetwork,
        responses((status = 201, body = NetworkInfo), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)));
    /// `DELETE /api/v1/networks/{name}`
    NetworkDelete { name } = delete "/api/v1/networks/{name}" => "networks.delete", podman::network_delete,
        (tag = "networks",
        params(("name" = String, Path)),
        responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)));
    /// `GET /api/v1/networks`
    NetworkList {  } = get "/api/v1/networks" => "networks.list", podman::network_list,
        (tag = "networks",
        responses((status = 200, description = "managed networks", body = Vec<NetworkInfo>)));
    /// `GET /api/v1/host/info`
    HostInfo {  } = get "/api/v1/host/info" => "host.info", podman::host_info,
        (tag = "host",
        responses((status = 200, description = "host facts")));
    /// `GET /api/v1/host/containers`
    HostContainers {  } = get "/api/v1/host/containers" => "host.containers", podman::host_containers,
        (tag = "host",
        responses((status = 200, description = "every container on the host, managed or not")));
    /// `GET /api/v1/host/stats`
    HostStats {  } = get "/api/v1/host/stats" => "host.stats", podman::host_stats,
        (tag = "host",
        responses((status = 200, description = "load, memory, container counts")));
    /// `POST /api/v1/firewall/allow`
    FirewallAllow {  } = post "/api/v1/firewall/allow" => "firewall.allow", firewall::allow,
        (tag = "firewall", request_body = RuleRequest,
        responses((status = 201, description = "added to both planes", body = RuleView),
        (status = 200, description = "the tuple already existed (same id)", body = RuleView),
        (status = 400, description = "bad field or an id that does not match the tuple; `field` names it", body = ErrorBody),
        (status = 500, description = "a plane failed; the other was rolled back; both errors", body = ErrorBody),
        (status = 503, description = "firewall disabled on this agent", body = ErrorBody)));
    /// `GET /api/v1/firewall/allow`
    FirewallList {  } = get "/api/v1/firewall/allow" => "firewall.list", firewall::list,
        (tag = "firewall",
        params(("namespace" = Option<String>, Query)),
        responses((status = 200, body = RuleList), (status = 400, body = ErrorBody)));
    /// `POST /api/v1/firewall/allow/bulk`
    FirewallBulk {  } = post "/api/v1/firewall/allow/bulk" => "firewall.bulk", firewall::bulk,
        (tag = "firewall", request_body = BulkRequest,
        responses((status = 200, description = "all added in one batch per plane, or none", body = BulkOutcome),
        (status = 400, description = "`field` names the item, e.g. rules[3].src", body = ErrorBody),
        (status = 500, body = ErrorBody)));
    /// `DELETE /api/v1/firewall/allow/{id}`
    FirewallDelete { id } = delete "/api/v1/firewall/allow/{id}" => "firewall.delete", firewall::delete,
        (tag = "firewall",
        params(("id" = String, Path, description = "12 lowercase hex characters")),
        responses((status = 204, description = "deleted, or already absent"), (status = 400, body = ErrorBody),
        (status = 500, body = ErrorBody)));
    /// `POST /api/v1/firewall/reconcile`
    FirewallReconcile {  } = post "/api/v1/firewall/reconcile" => "firewall.reconcile", firewall::reconcile,
        (tag = "firewall", request_body = ReconcileRequest,
        responses((status = 200, description = "the kernel now equals the desired set; never an empty chain", body = ReconcileOutcome),
        (status = 400, body = ErrorBody), (status = 500, body = ErrorBody)));
    /// `POST /api/v1/services/register`
    ServicesRegister {  } = post "/api/v1/services/register" => "services.register", services::register,
        (tag = "services", request_body = RegisterRequest,
        responses((status = 201, body = Endpoint), (status = 400, body = ErrorBody),
        (status = 404, description = "no such container on this host", body = ErrorBody),
        (status = 422, description = "container not managed by coolify", body = ErrorBody),
        (status = 503, description = "endpoint store down", body = ErrorBody)));
    /// `GET /api/v1/services/{id}/endpoints`
    ServiceEndpoints { service_id } = get "/api/v1/services/{id}/endpoints" => "services.endpoints", services::endpoints,
        (tag = "services",
        params(("id" = String, Path, description = "service id")),
        responses((status = 200, description = "every host's rows of the service", body = Vec<Endpoint>),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)));
    /// `DELETE /api/v1/services/{id}/endpoints/{container_id}`
    ServiceEndpointDelete { service_id, container_id } = delete "/api/v1/services/{id}/endpoints/{container_id}" => "services.endpoint.delete", services::deregister,
        (tag = "services",
        params(("id" = String, Path, description = "service id"), ("container_id" = String, Path)),
        responses((status = 204, description = "removed, or already absent"), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)));
    /// `GET /api/v1/openapi.json`
    OpenApi {  } = get "/api/v1/openapi.json" => "openapi", services::openapi,
        (tag = "meta",
        responses((status = 200, description = "this document")));
    /// `GET /api/v1/dns/lookup/{name}`
    DnsLookup { name } = get "/api/v1/dns/lookup/{name}" => "dns.lookup", services::dns_lookup,
        (tag = "dns",
        params(("name" = String, Path, description = "e.g. web.alpha.coolify.internal"),
        ("type" = Option<String>, Query, description = "record type, default A")),
        responses((status = 200, description = "what the namespace server would answer (rcode, records, TTL) and why", content_type = "application/json"),
        (status = 400, description = "not a DNS name, or an unknown type; `field` names it", body = ErrorBody)));
    /// `GET /api/v1/dns/stats`
    DnsStats {  } = get "/api/v1/dns/stats" => "dns.stats", services::dns_stats,
        (tag = "dns",
        responses((status = 200, description = "upstream, port, names served, and per namespace: server state, queries, answers by rcode, forwarded, upstream errors, dropped", content_type = "application/json")));
    /// `POST /api/v1/workloads`
    WorkloadPut {  } = post "/api/v1/workloads" => "workloads.put", pools::workload_put,
        (tag = "pools",
        request_body(content = WorkloadSpec, description = "the spec as YAML or JSON (seed 001's format); refused keys name key and line", content_type = "application/yaml"),
        responses((status = 201, description = "added", body = WorkloadView),
        (status = 200, description = "replaced; idle containers of the old spec are retired", body = WorkloadView),
        (status = 400, description = "invalid spec; `field` names the key, the message its line", body = ErrorBody),
        (status = 403, description = "refused by the deny filter (privileged, host network, …)", body = ErrorBody)));
    /// `GET /api/v1/workloads`
    WorkloadList {  } = get "/api/v1/workloads" => "workloads.list", pools::workload_list,
        (tag = "pools",
        responses((status = 200, description = "every spec with its pool", body = WorkloadList)));
    /// `GET /api/v1/workloads/{id}`
    WorkloadGet { id } = get "/api/v1/workloads/{id}" => "workloads.get", pools::workload_get,
        (tag = "pools",
        params(("id" = String, Path, description = "workload id")),
        responses((status = 200, description = "the spec with its pool", body = WorkloadView),
        (status = 404, description = "no such workload", body = ErrorBody)));
    /// `DELETE /api/v1/workloads/{id}`
    WorkloadDelete { id } = delete "/api/v1/workloads/{id}" => "workloads.delete", pools::workload_delete,
        (tag = "pools",
        params(("id" = String, Path, description = "workload id")),
        responses((status = 204, description = "removed; its idle containers are retired"),
        (status = 404, description = "no such workload", body = ErrorBody),
        (status = 409, description = "tenants still hold containers of it", body = ErrorBody)));
    /// `POST /api/v1/tenants/{tenant}/claim`
    TenantClaim { tenant } = post "/api/v1/tenants/{tenant}/claim" => "tenants.claim", pools::claim,
        (tag = "pools",
        params(("tenant" = String, Path, description = "[a-z0-9][a-z0-9-_.]{0,62}")),
        request_body = ClaimRequest,
        responses((status = 200, description = "the tenant's container (the same one on every claim until release); `cold` when made on demand", body = ClaimView),
        (status = 400, description = "bad tenant, workload or secret name; `field` names it", body = ErrorBody),
        (status = 404, description = "no such workload", body = ErrorBody),
        (status = 409, description = "a claim or release of this tenant is in progress", body = ErrorBody),
        (status = 502, description = "the state download failed; the claim was undone", body = ErrorBody),
        (status = 429, description = "the pool is at max_size with nothing idle", body = ErrorBody)));
    /// `POST /api/v1/tenants/{tenant}/release`
    TenantRelease { tenant } = post "/api/v1/tenants/{tenant}/release" => "tenants.release", pools::release,
        (tag = "pools",
        params(("tenant" = String, Path, description = "tenant id")),
        request_body = ReleaseRequest,
        responses((status = 200, description = "state and secrets wiped from disk; container destroyed (or returned with on_release: reuse)", body = ReleaseView),
        (status = 404, description = "the tenant holds no claim", body = ErrorBody),
        (status = 502, description = "the state upload failed: nothing was wiped, the tenant still holds the container; retry", body = ErrorBody)));
    /// `GET /api/v1/tenants/{tenant}/status`
    TenantStatus { tenant } = get "/api/v1/tenants/{tenant}/status" => "tenants.status", pools::status,
        (tag = "pools",
        params(("tenant" = String, Path, description = "tenant id")),
        responses((status = 200, description = "the tenant's claims", body = TenantStatus)));
    /// `POST /api/v1/tenants/{tenant}/sync`
    TenantSync { tenant } = post "/api/v1/tenants/{tenant}/sync" => "tenants.sync", pools::sync,
        (tag = "pools",
        params(("tenant" = String, Path, description = "tenant id")),
        request_body = SyncRequest,
        responses((status = 200, description = "what each mapping did", body = SyncView),
        (status = 403, description = "sync.policy.manual is off", body = ErrorBody),
        (status = 404, description = "the tenant holds no claim", body = ErrorBody),
        (status = 422, description = "the workload has no sync section", body = ErrorBody),
        (status = 502, description = "rclone failed; the message names the mapping", body = ErrorBody)));
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    #[test]
    fn host_verbs_route() {
        assert_eq!(
            Verb::route(&Method::GET, "/api/v1/host/info"),
            Ok(Verb::HostInfo {})
        );
        assert_eq!(
            Verb::route(&Method::GET, "/api/v1/host/containers"),
            Ok(Verb::HostContainers {})
        );
        assert_eq!(
            Verb::route(&Method::GET, "/api/v1/host/stats/"),
            Ok(Verb::HostStats {})
        );
    }

    #[test]
    fn service_verbs_route_with_their_parameters() {
        assert_eq!(
            Verb::route(&Method::POST, "/api/v1/services/register"),
            Ok(Verb::ServicesRegister {})
        );
        assert_eq!(
            Verb::route(&Method::GET, "/api/v1/services/web/endpoints"),
            Ok(Verb::ServiceEndpoints {
                service_id: "web".into()
            })
        );
        assert_eq!(
            Verb::route(&Method::DELETE, "/api/v1/services/web/endpoints/abc123"),
            Ok(Verb::ServiceEndpointDelete {
                service_id: "web".into(),
                container_id: "abc123".into()
            })
        );
    }

    #[test]
    fn paths_outside_the_closed_set_are_not_found() {
        for p in [
            "/api/v1/host",
            "/api/v1/host/info/extra",
            "/api/v1/containers/x/attach",
            "/api/v1/containers/x/archive",
            "/api/v1/containers/%2E%2E/start",
            "/api/v1/containers//start",
            "/api/v1/containers/x/bad%zz",
            "/api/v1/volumes/a/b",
            "/api/v2/host/info",
            "/v1.41/containers/json",
            "/api/v1/../host/info",
            "/",
            "",
        ] {
            assert!(
                matches!(
                    Verb::route(&Method::GET, p),
                    Err(RouteError::NotFound { .. })
                ),
                "{p}"
            );
        }
    }

    #[test]
    fn firewall_verbs_route() {
        let r = |m: Method, p: &str| Verb::route(&m, p);
        assert_eq!(
            r(Method::POST, "/api/v1/firewall/allow"),
            Ok(Verb::FirewallAllow {})
        );
        assert_eq!(
            r(Method::GET, "/api/v1/firewall/allow"),
            Ok(Verb::FirewallList {})
        );
        assert_eq!(
            r(Method::DELETE, "/api/v1/firewall/allow/0123456789ab"),
            Ok(Verb::FirewallDelete {
                id: "0123456789ab".into()
            })
        );
        assert_eq!(
            r(Method::POST, "/api/v1/firewall/allow/bulk"),
            Ok(Verb::FirewallBulk {})
        );
        assert_eq!(
            r(Method::POST, "/api/v1/firewall/reconcile"),
            Ok(Verb::FirewallReconcile {})
        );
        assert!(matches!(
            r(Method::PUT, "/api/v1/firewall/allow"),
            Err(RouteError::MethodNotAllowed { allowed, .. }) if allowed == "GET, POST"
        ));
        assert!(matches!(
            r(Method::GET, "/api/v1/firewall/reconcile"),
            Err(RouteError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            r(Method::DELETE, "/api/v1/firewall/allow/a/b"),
            Err(RouteError::NotFound { .. })
        ));
    }

    #[test]
    fn podman_verbs_route_with_their_ids() {
        let cases = [
            (Method::POST, "/api/v1/images/pull", Verb::ImagePull {}),
            (Method::GET, "/api/v1/images", Verb::ImageList {}),
            (
                Method::DELETE,
                "/api/v1/images/localhost/tenant/web:v2",
                Verb::ImageDelete {
                    reference: "localhost/tenant/web:v2".into(),
                },
            ),
            (
                Method::DELETE,
                "/api/v1/images/localhost%2Fweb%3Av2",
                Verb::ImageDelete {
                    reference: "localhost/web:v2".into(),
                },
            ),
            (Method::POST, "/api/v1/containers", Verb::ContainerCreate {}),
            (
                Method::GET,
                "/api/v1/containers/web-1",
                Verb::ContainerInspect { id: "web-1".into() },
            ),
            (
                Method::DELETE,
                "/api/v1/containers/web-1",
                Verb::ContainerDelete { id: "web-1".into() },
            ),
            (
                Method::POST,
                "/api/v1/containers/web-1/healthcheck/run",
                Verb::ContainerHealthcheck { id: "web-1".into() },
            ),
            (
                Method::GET,
                "/api/v1/containers/web-1/logs",
                Verb::ContainerLogs { id: "web-1".into() },
            ),
            (Method::POST, "/api/v1/networks", Verb::NetworkCreate {}),
            (Method::GET, "/api/v1/networks", Verb::NetworkList {}),
            (
                Method::GET,
                "/api/v1/volumes/web-data",
                Verb::VolumeInspect {
                    name: "web-data".into(),
                },
            ),
            (Method::GET, "/api/v1/openapi.json", Verb::OpenApi {}),
        ];
        for (m, p, want) in cases {
            assert_eq!(Verb::route(&m, p), Ok(want), "{m} {p}");
        }
    }

    #[test]
    fn dns_verbs_route() {
        assert_eq!(
            Verb::route(
                &Method::GET,
                "/api/v1/dns/lookup/web.alpha.coolify.internal"
            ),
            Ok(Verb::DnsLookup {
                name: "web.alpha.coolify.internal".into()
            })
        );
        assert_eq!(
            Verb::route(&Method::GET, "/api/v1/dns/stats"),
            Ok(Verb::DnsStats {})
        );
        assert!(matches!(
            Verb::route(&Method::POST, "/api/v1/dns/stats"),
            Err(RouteError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            Verb::route(&Method::GET, "/api/v1/dns/lookup/"),
            Err(RouteError::NotFound { .. })
        ));
    }

    #[test]
    fn pool_verbs_route() {
        let r = |m: Method, p: &str| Verb::route(&m, p);
        assert_eq!(
            r(Method::POST, "/api/v1/workloads"),
            Ok(Verb::WorkloadPut {})
        );
        assert_eq!(
            r(Method::GET, "/api/v1/workloads"),
            Ok(Verb::WorkloadList {})
        );
        assert_eq!(
            r(Method::DELETE, "/api/v1/workloads/w1"),
            Ok(Verb::WorkloadDelete { id: "w1".into() })
        );
        assert_eq!(
            r(Method::POST, "/api/v1/tenants/t-1/claim"),
            Ok(Verb::TenantClaim {
                tenant: "t-1".into()
            })
        );
        assert_eq!(
            r(Method::GET, "/api/v1/tenants/t-1/status"),
            Ok(Verb::TenantStatus {
                tenant: "t-1".into()
            })
        );
        assert!(matches!(
            r(Method::GET, "/api/v1/tenants/t-1/claim"),
            Err(RouteError::MethodNotAllowed { .. })
        ));
        // A tenant id cannot smuggle a path: `%2F` stays in the id, which
        // the handler then refuses as 400 naming `tenant`.
        assert_eq!(
            r(Method::GET, "/api/v1/tenants/a%2Fb/status"),
            Ok(Verb::TenantStatus {
                tenant: "a/b".into()
            })
        );
    }

    #[test]
    fn wrong_method_is_method_not_allowed() {
        assert!(matches!(
            Verb::route(&Method::PUT, "/api/v1/containers/x"),
            Err(RouteError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            Verb::route(&Method::POST, "/api/v1/host/info"),
            Err(RouteError::MethodNotAllowed { allowed, .. }) if allowed == "GET"
        ));
    }

    #[test]
    fn the_most_literal_path_wins_over_a_parameter() {
        // `images/pull` is POST only: a DELETE there is not an image named
        // "pull".
        assert!(matches!(
            Verb::route(&Method::DELETE, "/api/v1/images/pull"),
            Err(RouteError::MethodNotAllowed { allowed, .. }) if allowed == "POST"
        ));
        assert!(matches!(
            Verb::route(&Method::GET, "/api/v1/firewall/allow/bulk"),
            Err(RouteError::MethodNotAllowed { allowed, .. }) if allowed == "POST"
        ));
        assert_eq!(
            Verb::route(&Method::DELETE, "/api/v1/firewall/allow/bulky"),
            Ok(Verb::FirewallDelete { id: "bulky".into() })
        );
        assert_eq!(
            Verb::route(&Method::DELETE, "/api/v1/images/pull/x"),
            Ok(Verb::ImageDelete {
                reference: "pull/x".into()
            })
        );
    }

    #[test]
    fn every_verb_has_a_distinct_name() {
        let names: std::collections::BTreeSet<_> = TABLE
            .iter()
            .map(|e| (e.make)(vec!["p".into(), "q".into()]).name())
            .collect();
        assert_eq!(names.len(), TABLE.len());
    }
}
