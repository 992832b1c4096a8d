//! The closed verb set (DESIGN.md decision 1): one enum, one router from
//! `(method, path)` to a verb. The REST server and the broker stream both
//! decode into [`Verb`] and call the same dispatcher; a path outside the set
//! is 404, whatever the transport.
//!
//! Pure: no I/O here.

use http::Method;

/// Every path of the agent surface lives under this prefix.
pub const API_PREFIX: &str = "/api/v1";

/// One verb of the agent's wire surface, with its path parameters (already
/// percent-decoded; checked by the concern that uses them).
/// `strum::EnumCount` gives `Verb::COUNT`, so the OpenAPI test notices a
/// verb that is routed but not documented.
#[derive(Debug, Clone, PartialEq, Eq, strum::EnumCount)]
pub enum Verb {
    /// `POST /api/v1/images/pull`
    ImagePull,
    /// `GET /api/v1/images`
    ImageList,
    /// `DELETE /api/v1/images/{ref}` (the reference may hold `/`)
    ImageDelete { reference: String },
    /// `POST /api/v1/containers`
    ContainerCreate,
    /// `POST /api/v1/containers/{id}/start`
    ContainerStart { id: String },
    /// `POST /api/v1/containers/{id}/stop`
    ContainerStop { id: String },
    /// `POST /api/v1/containers/{id}/restart`
    ContainerRestart { id: String },
    /// `DELETE /api/v1/containers/{id}`
    ContainerDelete { id: String },
    /// `GET /api/v1/containers/{id}`
    ContainerInspect { id: String },
    /// `GET /api/v1/containers/{id}/logs`
    ContainerLogs { id: String },
    /// `POST /api/v1/containers/{id}/exec`
    ContainerExec { id: String },
    /// `POST /api/v1/containers/{id}/healthcheck/run`
    ContainerHealthcheck { id: String },
    /// `POST /api/v1/volumes`
    VolumeCreate,
    /// `DELETE /api/v1/volumes/{name}`
    VolumeDelete { name: String },
    /// `GET /api/v1/volumes/{name}`
    VolumeInspect { name: String },
    /// `POST /api/v1/networks`
    NetworkCreate,
    /// `DELETE /api/v1/networks/{name}`
    NetworkDelete { name: String },
    /// `GET /api/v1/networks`
    NetworkList,
    /// `GET /api/v1/host/info`
    HostInfo,
    /// `GET /api/v1/host/containers`
    HostContainers,
    /// `GET /api/v1/host/stats`
    HostStats,
    /// `POST /api/v1/firewall/allow`
    FirewallAllow,
    /// `GET /api/v1/firewall/allow[?namespace=]`
    FirewallList,
    /// `DELETE /api/v1/firewall/allow/{id}` (the id is validated by the
    /// handler, so a bad one is a 400 naming `id`, not a 404)
    FirewallDelete { id: String },
    /// `POST /api/v1/firewall/allow/bulk`
    FirewallBulk,
    /// `POST /api/v1/firewall/reconcile`
    FirewallReconcile,
    /// `POST /api/v1/services/register`
    ServicesRegister,
    /// `GET /api/v1/services/{id}/endpoints`
    ServiceEndpoints { service_id: String },
    /// `DELETE /api/v1/services/{id}/endpoints/{container_id}`
    ServiceEndpointDelete {
        service_id: String,
        container_id: String,
    },
    /// `GET /api/v1/openapi.json`
    OpenApi,
    /// `GET /api/v1/dns/lookup/{name}[?type=]`
    DnsLookup { name: String },
    /// `GET /api/v1/dns/stats`
    DnsStats,
    /// `POST /api/v1/workloads` (YAML or JSON spec)
    WorkloadPut,
    /// `GET /api/v1/workloads`
    WorkloadList,
    /// `GET /api/v1/workloads/{id}`
    WorkloadGet { id: String },
    /// `DELETE /api/v1/workloads/{id}`
    WorkloadDelete { id: String },
    /// `POST /api/v1/tenants/{tenant}/claim`
    TenantClaim { tenant: String },
    /// `POST /api/v1/tenants/{tenant}/release`
    TenantRelease { tenant: String },
    /// `GET /api/v1/tenants/{tenant}/status`
    TenantStatus { tenant: String },
    /// `POST /api/v1/tenants/{tenant}/sync`
    TenantSync { tenant: String },
}

/// Why a request matched no verb.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no such verb: {path}")]
    NotFound { path: String },
    #[error("{method} is not allowed on {path} (allowed: {allowed})")]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: &'static str,
    },
}

impl Verb {
    /// Stable name for logs and metrics; never contains request data.
    pub fn name(&self) -> &'static str {
        match self {
            Verb::ImagePull => "images.pull",
            Verb::ImageList => "images.list",
            Verb::ImageDelete { .. } => "images.delete",
            Verb::ContainerCreate => "containers.create",
            Verb::ContainerStart { .. } => "containers.start",
            Verb::ContainerStop { .. } => "containers.stop",
            Verb::ContainerRestart { .. } => "containers.restart",
            Verb::ContainerDelete { .. } => "containers.delete",
            Verb::ContainerInspect { .. } => "containers.inspect",
            Verb::ContainerLogs { .. } => "containers.logs",
            Verb::ContainerExec { .. } => "containers.exec",
            Verb::ContainerHealthcheck { .. } => "containers.healthcheck",
            Verb::VolumeCreate => "volumes.create",
            Verb::VolumeDelete { .. } => "volumes.delete",
            Verb::VolumeInspect { .. } => "volumes.inspect",
            Verb::NetworkCreate => "networks.create",
            Verb::NetworkDelete { .. } => "networks.delete",
            Verb::NetworkList => "networks.list",
            Verb::HostInfo => "host.info",
            Verb::HostContainers => "host.containers",
            Verb::HostStats => "host.stats",
            Verb::FirewallAllow => "firewall.allow",
            Verb::FirewallList => "firewall.list",
            Verb::FirewallDelete { .. } => "firewall.delete",
            Verb::FirewallBulk => "firewall.bulk",
            Verb::FirewallReconcile => "firewall.reconcile",
            Verb::ServicesRegister => "services.register",
            Verb::ServiceEndpoints { .. } => "services.endpoints",
            Verb::ServiceEndpointDelete { .. } => "services.endpoint.delete",
            Verb::OpenApi => "openapi",
            Verb::DnsLookup { .. } => "dns.lookup",
            Verb::DnsStats => "dns.stats",
            Verb::WorkloadPut => "workloads.put",
            Verb::WorkloadList => "workloads.list",
            Verb::WorkloadGet { .. } => "workloads.get",
            Verb::WorkloadDelete { .. } => "workloads.delete",
            Verb::TenantClaim { .. } => "tenants.claim",
            Verb::TenantRelease { .. } => "tenants.release",
            Verb::TenantStatus { .. } => "tenants.status",
            Verb::TenantSync { .. } => "tenants.sync",
        }
    }

    /// Maps a method and path (without query) to a verb.
    pub fn route(method: &Method, path: &str) -> Result<Verb, RouteError> {
        let not_found = || RouteError::NotFound {
            path: path.to_string(),
        };
        let rest = path.strip_prefix(API_PREFIX).ok_or_else(not_found)?;
        let raw: Vec<&str> = rest
            .trim_end_matches('/')
            .split('/')
            .skip(1) // the empty segment before the leading '/'
            .collect();
        // Decoded segments: a `%2F` inside an id stays inside that id.
        let mut segments = Vec::with_capacity(raw.len());
        for seg in &raw {
            let decoded = percent_decode(seg).ok_or_else(not_found)?;
            // Empty, `.` and `..` segments name nothing in the closed set.
            if decoded.is_empty() || decoded == "." || decoded == ".." {
                return Err(not_found());
            }
            segments.push(decoded);
        }
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let only = |allowed: Method, verb: Verb| {
            if *method == allowed {
                Ok(verb)
            } else {
                Err(RouteError::MethodNotAllowed {
                    method: method.to_string(),
                    path: path.to_string(),
                    allowed: allowed_name(&allowed),
                })
            }
        };
        let either = |a: (Method, Verb), b: (Method, Verb)| {
            if *method == a.0 {
                Ok(a.1)
            } else if *method == b.0 {
                Ok(b.1)
            } else {
                Err(RouteError::MethodNotAllowed {
                    method: method.to_string(),
                    path: path.to_string(),
                    allowed: if a.0 == Method::GET {
                        "GET, DELETE"
                    } else {
                        "POST, GET"
                    },
                })
            }
        };
        let id = |s: &str| s.to_string();
        match segs.as_slice() {
            ["images", "pull"] => only(Method::POST, Verb::ImagePull),
            ["images"] => only(Method::GET, Verb::ImageList),
            ["images", reference @ ..] if !reference.is_empty() => only(
                Method::DELETE,
                Verb::ImageDelete {
                    reference: reference.join("/"),
                },
            ),
            ["containers"] => only(Method::POST, Verb::ContainerCreate),
            ["containers", c] => either(
                (Method::GET, Verb::ContainerInspect { id: id(c) }),
                (Method::DELETE, Verb::ContainerDelete { id: id(c) }),
            ),
            ["containers", c, "start"] => only(Method::POST, Verb::ContainerStart { id: id(c) }),
            ["containers", c, "stop"] => only(Method::POST, Verb::ContainerStop { id: id(c) }),
            ["containers", c, "restart"] => {
                only(Method::POST, Verb::ContainerRestart { id: id(c) })
            }
            ["containers", c, "logs"] => only(Method::GET, Verb::ContainerLogs { id: id(c) }),
            ["containers", c, "exec"] => only(Method::POST, Verb::ContainerExec { id: id(c) }),
            ["containers", c, "healthcheck", "run"] => {
                only(Method::POST, Verb::ContainerHealthcheck { id: id(c) })
            }
            ["volumes"] => only(Method::POST, Verb::VolumeCreate),
            ["volumes", n] => either(
                (Method::GET, Verb::VolumeInspect { name: id(n) }),
                (Method::DELETE, Verb::VolumeDelete { name: id(n) }),
            ),
            ["networks"] => either(
                (Method::POST, Verb::NetworkCreate),
                (Method::GET, Verb::NetworkList),
            ),
            ["networks", n] => only(Method::DELETE, Verb::NetworkDelete { name: id(n) }),
            ["host", "info"] => only(Method::GET, Verb::HostInfo),
            ["host", "containers"] => only(Method::GET, Verb::HostContainers),
            ["host", "stats"] => only(Method::GET, Verb::HostStats),
            ["firewall", "allow"] => match *method {
                Method::GET => Ok(Verb::FirewallList),
                Method::POST => Ok(Verb::FirewallAllow),
                _ => Err(RouteError::MethodNotAllowed {
                    method: method.to_string(),
                    path: path.to_string(),
                    allowed: "GET, POST",
                }),
            },
            ["firewall", "allow", "bulk"] if *method == Method::POST => Ok(Verb::FirewallBulk),
            ["firewall", "allow", id] if !id.is_empty() => {
                only(Method::DELETE, Verb::FirewallDelete { id: id.to_string() })
            }
            ["firewall", "reconcile"] => only(Method::POST, Verb::FirewallReconcile),
            ["services", "register"] => only(Method::POST, Verb::ServicesRegister),
            ["services", id, "endpoints"] => only(
                Method::GET,
                Verb::ServiceEndpoints {
                    service_id: id.to_string(),
                },
            ),
            ["services", id, "endpoints", cid] => only(
                Method::DELETE,
                Verb::ServiceEndpointDelete {
                    service_id: id.to_string(),
                    container_id: cid.to_string(),
                },
            ),
            ["openapi.json"] => only(Method::GET, Verb::OpenApi),
            ["dns", "lookup", name] if !name.is_empty() => only(
                Method::GET,
                Verb::DnsLookup {
                    name: name.to_string(),
                },
            ),
            ["dns", "stats"] => only(Method::GET, Verb::DnsStats),
            ["workloads"] => either(
                (Method::POST, Verb::WorkloadPut),
                (Method::GET, Verb::WorkloadList),
            ),
            ["workloads", w] => either(
                (Method::GET, Verb::WorkloadGet { id: id(w) }),
                (Method::DELETE, Verb::WorkloadDelete { id: id(w) }),
            ),
            ["tenants", t, "claim"] => only(Method::POST, Verb::TenantClaim { tenant: id(t) }),
            ["tenants", t, "release"] => only(Method::POST, Verb::TenantRelease { tenant: id(t) }),
            ["tenants", t, "status"] => only(Method::GET, Verb::TenantStatus { tenant: id(t) }),
            ["tenants", t, "sync"] => only(Method::POST, Verb::TenantSync { tenant: id(t) }),
            _ => Err(not_found()),
        }
    }
}

/// Decodes `%XX` escapes; `None` for a broken escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn allowed_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_verbs_route() {
        assert_eq!(
            Verb::route(&Method::GET, "/api/v1/host/info"),
            Ok(Verb::HostInfo)
        );
        assert_eq!(
            Verb::route(&Method::GET, "/api/v1/host/containers"),
            Ok(Verb::HostContainers)
        );
        assert_eq!(
            Verb::route(&Method::GET, "/api/v1/host/stats/"),
            Ok(Verb::HostStats)
        );
    }

    #[test]
    fn service_verbs_route_with_their_parameters() {
        assert_eq!(
            Verb::route(&Method::POST, "/api/v1/services/register"),
            Ok(Verb::ServicesRegister)
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
            Ok(Verb::FirewallAllow)
        );
        assert_eq!(
            r(Method::GET, "/api/v1/firewall/allow"),
            Ok(Verb::FirewallList)
        );
        assert_eq!(
            r(Method::DELETE, "/api/v1/firewall/allow/0123456789ab"),
            Ok(Verb::FirewallDelete {
                id: "0123456789ab".into()
            })
        );
        assert_eq!(
            r(Method::POST, "/api/v1/firewall/allow/bulk"),
            Ok(Verb::FirewallBulk)
        );
        assert_eq!(
            r(Method::POST, "/api/v1/firewall/reconcile"),
            Ok(Verb::FirewallReconcile)
        );
        assert!(matches!(
            r(Method::PUT, "/api/v1/firewall/allow"),
            Err(RouteError::MethodNotAllowed {
                allowed: "GET, POST",
                ..
            })
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
            (Method::POST, "/api/v1/images/pull", Verb::ImagePull),
            (Method::GET, "/api/v1/images", Verb::ImageList),
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
            (Method::POST, "/api/v1/containers", Verb::ContainerCreate),
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
            (Method::POST, "/api/v1/networks", Verb::NetworkCreate),
            (Method::GET, "/api/v1/networks", Verb::NetworkList),
            (
                Method::GET,
                "/api/v1/volumes/web-data",
                Verb::VolumeInspect {
                    name: "web-data".into(),
                },
            ),
            (Method::GET, "/api/v1/openapi.json", Verb::OpenApi),
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
            Ok(Verb::DnsStats)
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
        assert_eq!(r(Method::POST, "/api/v1/workloads"), Ok(Verb::WorkloadPut));
        assert_eq!(r(Method::GET, "/api/v1/workloads"), Ok(Verb::WorkloadList));
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
            Err(RouteError::MethodNotAllowed { allowed: "GET", .. })
        ));
    }
}
