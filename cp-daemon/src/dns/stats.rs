//! DNS counters per namespace: lock-free on the packet path (atomics), read
//! by the stats verb and `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use serde::Serialize;

/// The rcodes we count; anything else lands in `other`.
const RCODES: [(&str, ResponseCode); 6] = [
    ("NOERROR", ResponseCode::NoError),
    ("FORMERR", ResponseCode::FormErr),
    ("SERVFAIL", ResponseCode::ServFail),
    ("NXDOMAIN", ResponseCode::NXDomain),
    ("NOTIMP", ResponseCode::NotImp),
    ("REFUSED", ResponseCode::Refused),
];

/// The mnemonic of an rcode (`NOERROR`, `NXDOMAIN`, …), as dig prints it.
pub fn rcode_name(rcode: ResponseCode) -> &'static str {
    RCODES
        .iter()
        .find(|(_, c)| *c == rcode)
        .map(|(n, _)| *n)
        .unwrap_or("other")
}

/// One namespace server's counters.
#[derive(Debug, Default)]
pub struct NamespaceStats {
    queries: AtomicU64,
    by_rcode: [AtomicU64; 7],
    forwarded: AtomicU64,
    upstream_errors: AtomicU64,
    dropped: AtomicU64,
}

impl NamespaceStats {
    pub fn query(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn answered(&self, rcode: ResponseCode) {
        let i = RCODES
            .iter()
            .position(|(_, c)| *c == rcode)
            .unwrap_or(RCODES.len());
        self.by_rcode[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn forwarded(&self) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A packet dropped unanswered (too short, a response, over capacity).
    pub fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> NamespaceSnapshot {
        let mut answers = BTreeMap::new();
        for (i, (name, _)) in RCODES.iter().enumerate() {
            answers.insert(*name, self.by_rcode[i].load(Ordering::Relaxed));
        }
        answers.insert("other", self.by_rcode[RCODES.len()].load(Ordering::Relaxed));
        NamespaceSnapshot {
            queries: self.queries.load(Ordering::Relaxed),
            answers,
            forwarded: self.forwarded.load(Ordering::Relaxed),
            upstream_errors: self.upstream_errors.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy of one namespace's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceSnapshot {
    pub queries: u64,
    /// Replies sent, by rcode (forwarded replies under the upstream's rcode).
    pub answers: BTreeMap<&'static str, u64>,
    pub forwarded: u64,
    pub upstream_errors: u64,
    pub dropped: u64,
}

/// Counters of every namespace server; the set is fixed at start.
#[derive(Debug, Default)]
pub struct DnsStats {
    namespaces: BTreeMap<String, Arc<NamespaceStats>>,
}

impl DnsStats {
    pub fn new<'a>(namespaces: impl IntoIterator<Item = &'a str>) -> DnsStats {
        DnsStats {
            namespaces: namespaces
                .into_iter()
                .map(|n| (n.to_string(), Arc::default()))
                .collect(),
        }
    }

    pub fn namespace(&self, name: &str) -> Option<Arc<NamespaceStats>> {
        self.namespaces.get(name).cloned()
    }

    pub fn snapshot(&self) -> BTreeMap<String, NamespaceSnapshot> {
        self.namespaces
            .iter()
            .map(|(n, s)| (n.clone(), s.snapshot()))
            .collect()
    }

    /// Prometheus text; namespace names are validated config, so labels are
    /// bounded and need no escaping beyond what config allows.
    pub fn render(&self) -> String {
        let snap = self.snapshot();
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(out, "# HELP coold_dns_queries_total DNS queries received per namespace.\n# TYPE coold_dns_queries_total counter");
        for (ns, s) in &snap {
            let _ = writeln!(
                out,
                "coold_dns_queries_total{{namespace=\"{ns}\"}} {}",
                s.queries
            );
        }
        let _ = writeln!(out, "# HELP coold_dns_answers_total DNS replies sent per namespace and rcode.\n# TYPE coold_dns_answers_total counter");
        for (ns, s) in &snap {
            for (rcode, n) in &s.answers {
                let _ = writeln!(
                    out,
                    "coold_dns_answers_total{{namespace=\"{ns}\",rcode=\"{rcode}\"}} {n}"
                );
            }
        }
        for (metric, help, get) in [
            (
                "coold_dns_forwarded_total",
                "Queries forwarded upstream.",
                (|s: &NamespaceSnapshot| s.forwarded) as fn(&NamespaceSnapshot) -> u64,
            ),
            (
                "coold_dns_upstream_errors_total",
                "Forwarded queries that failed (timeout or I/O); answered SERVFAIL.",
                |s| s.upstream_errors,
            ),
            (
                "coold_dns_dropped_total",
                "Packets dropped unanswered (short, responses, over capacity).",
                |s| s.dropped,
            ),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
            for (ns, s) in &snap {
                let _ = writeln!(out, "{metric}{{namespace=\"{ns}\"}} {}", get(s));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_per_namespace_and_rcode() {
        let s = DnsStats::new(["alpha", "default"]);
        let a = s.namespace("alpha").unwrap();
        a.query();
        a.query();
        a.answered(ResponseCode::NoError);
        a.answered(ResponseCode::NXDomain);
        a.forwarded();
        a.upstream_error();
        let text = s.render();
        assert!(text.contains("coold_dns_queries_total{namespace=\"alpha\"} 2"));
        assert!(text.contains("coold_dns_answers_total{namespace=\"alpha\",rcode=\"NXDOMAIN\"} 1"));
        assert!(text.contains("coold_dns_upstream_errors_total{namespace=\"alpha\"} 1"));
        assert!(text.contains("coold_dns_queries_total{namespace=\"default\"} 0"));
        assert_eq!(s.snapshot()["alpha"].forwarded, 1);
    }
}
