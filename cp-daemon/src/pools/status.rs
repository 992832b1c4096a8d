//! What the pools hold, for the status verbs and `/metrics`.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::claim::ClaimView;
use super::Pools;
use crate::workloads::StoredSpec;

/// One workload's pool, for status and metrics.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PoolView {
    pub workload: String,
    pub idle: u32,
    pub claimed: u32,
    /// Being made, claimed cold or released right now.
    pub pending: u32,
    pub min_size: u32,
    pub max_size: u32,
}

impl Pools {
    /// Every claim a tenant holds.
    pub fn tenant_claims(
        &self,
        tenant: &str,
        spec_of: impl Fn(&str) -> Option<Arc<StoredSpec>>,
    ) -> Vec<ClaimView> {
        let book = self.book();
        book.pools
            .iter()
            .filter_map(|(w, p)| Some((w, p.claimed.get(tenant)?)))
            .filter_map(|(w, held)| Some(self.view(spec_of(w)?.as_ref(), tenant, held, false)))
            .collect()
    }

    pub fn pool_views(&self, specs: &[Arc<StoredSpec>]) -> Vec<PoolView> {
        let book = self.book();
        specs
            .iter()
            .map(|s| {
                let p = book.pools.get(&s.spec.id);
                PoolView {
                    workload: s.spec.id.clone(),
                    idle: p.map(|p| p.idle.len() as u32).unwrap_or(0),
                    claimed: p.map(|p| p.claimed.len() as u32).unwrap_or(0),
                    pending: p.map(|p| p.making + p.busy).unwrap_or(0),
                    min_size: s.spec.pool.min_size,
                    max_size: s.spec.pool.max_size,
                }
            })
            .collect()
    }

    /// Whether any tenant holds a container of `workload`.
    pub fn has_claims(&self, workload: &str) -> bool {
        self.book()
            .pools
            .get(workload)
            .is_some_and(|p| !p.claimed.is_empty() || p.busy > 0)
    }

    /// Prometheus text: pool sizes and claim counters.
    pub fn render_metrics(&self, specs: &[Arc<StoredSpec>]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP coold_pool_containers Pool containers by workload and state.\n# TYPE coold_pool_containers gauge");
        for v in self.pool_views(specs) {
            for (state, n) in [
                ("idle", v.idle),
                ("claimed", v.claimed),
                ("pending", v.pending),
            ] {
                let _ = writeln!(
                    out,
                    "coold_pool_containers{{workload=\"{}\",state=\"{state}\"}} {n}",
                    v.workload
                );
            }
        }
        let c = &self.counters;
        for (name, help, v) in [
            (
                "coold_pool_claims_total",
                "Claims answered with a container.",
                &c.claims,
            ),
            (
                "coold_pool_cold_starts_total",
                "Claims that had to create a container.",
                &c.cold_starts,
            ),
            (
                "coold_pool_releases_total",
                "Releases completed.",
                &c.releases,
            ),
            (
                "coold_pool_full_total",
                "Claims refused at max_size (429).",
                &c.rejected_full,
            ),
            (
                "coold_pool_warm_failures_total",
                "Pool containers that failed to become ready.",
                &c.warm_failures,
            ),
            (
                "coold_pool_sync_failures_total",
                "State syncs that failed.",
                &c.sync_failures,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        out
    }
}
