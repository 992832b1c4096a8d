//! The closed verb set (DESIGN.md decision 1): one enum, one router from
//! `(method, path)` to a verb. The REST server and the broker stream both
//! decode into [`Verb`] and call the same dispatcher; a path outside the set
//! is 404, whatever the transport.
//!
//! Pure: no I/O here.

use http::Method;

/// Every path of the agent surface lives under this prefix.
pub const API_PREFIX: &str = "/api/v1";

/// One verb of the agent's wire surface, with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
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
    /// `GET /api/v1/dns/lookup/{name}[?type=]`
    DnsLookup { name: String },
    /// `GET /api/v1/dns/stats`
    DnsStats,
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
            Verb::DnsLookup { .. } => "dns.lookup",
            Verb::DnsStats => "dns.stats",
        }
    }

    /// Maps a method and path (without query) to a verb.
    pub fn route(method: &Method, path: &str) -> Result<Verb, RouteError> {
        let not_found = || RouteError::NotFound {
            path: path.to_string(),
        };
        let rest = path.strip_prefix(API_PREFIX).ok_or_else(not_found)?;
        let segments: Vec<&str> = rest
            .trim_end_matches('/')
            .split('/')
            .skip(1) // the empty segment before the leading '/'
            .collect();
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
        match segments.as_slice() {
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
            ["dns", "lookup", name] if !name.is_empty() => only(
                Method::GET,
                Verb::DnsLookup {
                    name: name.to_string(),
                },
            ),
            ["dns", "stats"] => only(Method::GET, Verb::DnsStats),
            _ => Err(not_found()),
        }
    }
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
    fn wrong_method_is_method_not_allowed() {
        assert!(matches!(
            Verb::route(&Method::POST, "/api/v1/host/info"),
            Err(RouteError::MethodNotAllowed { allowed: "GET", .. })
        ));
    }
}
