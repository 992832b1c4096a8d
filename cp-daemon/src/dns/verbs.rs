//! The DNS verbs: `GET /api/v1/dns/lookup/{name}[?type=]` (what the server
//! would answer, and why) and `GET /api/v1/dns/stats`.

use hickory_proto::rr::{Name, RecordType};
use serde::Serialize;
use std::collections::BTreeMap;

use super::resolver::Explanation;
use super::{DnsHandle, NamespaceSnapshot};
use crate::health::Health;

/// Why a lookup could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("name: {0:?} is not a DNS name")]
    NotAName(String),
}

/// What the server would answer for `name` and `qtype`, and why; the
/// transport decodes `qtype` from the query.
pub fn lookup(dns: &DnsHandle, name: &str, qtype: RecordType) -> Result<Explanation, LookupError> {
    let parsed = Name::from_utf8(name)
        .ok()
        .filter(|n| !n.is_root() || name == ".")
        .ok_or_else(|| LookupError::NotAName(name.to_string()))?;
    let mut fqdn = parsed;
    fqdn.set_fqdn(true);
    let table = dns.table.borrow().clone();
    Ok(dns.resolver.explain(&fqdn, qtype, &table))
}

/// `GET /dns/stats`.
#[derive(Debug, Serialize)]
pub struct StatsBody {
    upstream: String,
    port: u16,
    names: usize,
    namespaces: BTreeMap<String, NamespaceStatsBody>,
}

#[derive(Debug, Serialize)]
pub struct NamespaceStatsBody {
    /// `healthy` (bound), `degraded` (waiting or disabled), `unhealthy`
    /// (failing), with the detail `/healthz` shows.
    server: String,
    detail: String,
    #[serde(flatten)]
    counters: NamespaceSnapshot,
}

pub fn stats(dns: &DnsHandle, health: &Health) -> StatsBody {
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
    StatsBody {
        upstream: dns.upstream.to_string(),
        port: dns.port,
        names: dns.table.borrow().len(),
        namespaces,
    }
}
