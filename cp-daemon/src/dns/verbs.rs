//! The DNS verbs: `GET /api/v1/dns/lookup/{name}[?type=]` (what the server
//! would answer, and why) and `GET /api/v1/dns/stats`.

use std::collections::BTreeMap;
use std::str::FromStr;

use hickory_proto::rr::{Name, RecordType};
use serde::Serialize;

use super::{DnsHandle, NamespaceSnapshot};
use crate::api::{ApiError, Reply};
use crate::health::Health;

pub fn lookup(dns: &DnsHandle, name: &str, query: Option<&str>) -> Result<Reply, ApiError> {
    let mut qtype = RecordType::A;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("type", v)) => {
                qtype = RecordType::from_str(&v.to_ascii_uppercase()).map_err(|_| {
                    ApiError::BadRequest {
                        field: "type".into(),
                        message: format!("type: unknown record type {v:?} (A, AAAA, …)"),
                    }
                })?
            }
            _ => {
                return Err(ApiError::BadRequest {
                    field: "query".into(),
                    message: format!("query: unknown parameter {pair:?}; only type= is accepted"),
                })
            }
        }
    }
    let parsed = Name::from_utf8(name)
        .ok()
        .filter(|n| !n.is_root() || name == ".")
        .ok_or_else(|| ApiError::BadRequest {
            field: "name".into(),
            message: format!("name: {name:?} is not a DNS name"),
        })?;
    let mut fqdn = parsed;
    fqdn.set_fqdn(true);
    let table = dns.table.borrow().clone();
    Reply::ok(dns.resolver.explain(&fqdn, qtype, &table))
}

#[derive(Debug, Serialize)]
struct StatsBody {
    upstream: String,
    port: u16,
    names: usize,
    namespaces: BTreeMap<String, NamespaceStatsBody>,
}

#[derive(Debug, Serialize)]
struct NamespaceStatsBody {
    /// `healthy` (bound), `degraded` (waiting or disabled), `unhealthy`
    /// (failing), with the detail `/healthz` shows.
    server: String,
    detail: String,
    #[serde(flatten)]
    counters: NamespaceSnapshot,
}

pub fn stats(dns: &DnsHandle, health: &Health) -> Result<Reply, ApiError> {
    let report = health.report();
    let mut snap = dns.stats.snapshot();
    let mut namespaces = BTreeMap::new();
    for (ns, component) in &dns.servers {
        let (server, detail) = report
            .components
            .get(component)
            .map(|c| {
                (
                    serde_json::to_value(c.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    c.detail.clone(),
                )
            })
            .unwrap_or_default();
        if let Some(counters) = snap.remove(ns) {
            namespaces.insert(
                ns.clone(),
                NamespaceStatsBody {
                    server,
                    detail,
                    counters,
                },
            );
        }
    }
    Reply::ok(StatsBody {
        upstream: dns.upstream.to_string(),
        port: dns.port,
        names: dns.table.borrow().len(),
        namespaces,
    })
}
