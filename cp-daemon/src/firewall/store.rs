//! [`FirewallStore`]: the one writer of both planes.
//!
//! Invariants:
//! - one lock serialises every mutation, so batches never interleave and
//!   the in-memory index always equals what the last batch left;
//! - the kernel is the source of truth: the index is rebuilt from
//!   `iptables-save` and `nft -j list` at [`FirewallStore::open`], then
//!   kept in step with every batch (so a mutation never reads or
//!   re-renders the whole rule set);
//! - a mutation is one batch per plane; when the bridge plane fails after
//!   the iptables plane succeeded, the iptables batch is undone and the
//!   caller gets both outcomes;
//! - snapshots are rewritten after every successful mutation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tokio::sync::Mutex;

use super::iptables::IptablesPlane;
use super::nft::NftPlane;
use super::plan::{self, Plan, Removal};
use super::plane::{FirewallPlane, PlaneError};
use super::rule::{Rule, RuleError, RuleId, RuleView};
use super::snapshot::{SnapshotError, SnapshotPaths};
use super::{BulkOutcome, ReconcileOutcome};

/// Why a firewall operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error(transparent)]
    Invalid(#[from] RuleError),
    #[error("iptables plane: {0}; nothing was changed")]
    Iptables(#[source] PlaneError),
    #[error("nft plane: {nft}; the iptables plane was rolled back, nothing was changed")]
    NftRolledBack { nft: PlaneError },
    #[error("nft plane: {nft}; rolling back the iptables plane also failed: {rollback}; run POST /api/v1/firewall/reconcile to converge")]
    RollbackFailed {
        nft: PlaneError,
        rollback: PlaneError,
    },
    #[error("reading the nft plane: {0}")]
    NftRead(#[source] PlaneError),
    #[error("rules are in the kernel but the snapshot was not written: {0}")]
    Snapshot(#[from] SnapshotError),
}

/// Whether the bridge plane is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BridgeMode {
    /// The scaffold exists; every mutation writes both planes.
    Enforcing,
    /// No `bridge coolify_bridge` table/chain at start (a permissive
    /// host): the bridge plane is skipped, iptables and snapshots still
    /// happen.
    Permissive,
}

/// Where the store writes.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub snapshots: SnapshotPaths,
    pub iptables: IptablesPlane,
    pub nft: NftPlane,
}

/// What boot restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootReport {
    pub rules: usize,
    pub created_chain: bool,
    /// Rules written back into each plane from the snapshots or the
    /// other plane.
    pub restored_iptables: usize,
    pub restored_nft: usize,
    pub bridge: BridgeMode,
    /// Tagged rules that were refused (bad or tampered tags), logged.
    pub skipped: usize,
}

#[derive(Debug)]
struct Entry {
    rule: Rule,
    /// Rendered once at insert: snapshots are rewritten after every
    /// mutation, and copying strings keeps that cheap at 10 000 rules.
    iptables_spec: String,
    nft_spec: String,
    /// Learnt lazily: adding with `nft --echo` would make nft read the
    /// whole ruleset, so handles are fetched in one listing only when a
    /// delete needs them.
    nft_handle: Option<u64>,
}

#[derive(Debug, Default)]
struct Index {
    rules: BTreeMap<RuleId, Entry>,
}

/// The dual-plane writer.
#[derive(Debug)]
pub struct FirewallStore {
    index: Mutex<Index>,
    iptables: IptablesPlane,
    nft: NftPlane,
    snapshots: SnapshotPaths,
    bridge: BridgeMode,
}

/// Permissive mode is logged once per process, not once per mutation.
static PERMISSIVE_WARNED: AtomicBool = AtomicBool::new(false);

impl Entry {
    fn new(rule: Rule, nft_handle: Option<u64>) -> Entry {
        Entry {
            iptables_spec: plan::iptables_spec(&rule),
            nft_spec: plan::nft_spec(&rule),
            rule,
            nft_handle,
        }
    }
}

impl Index {
    fn write_snapshots(&self, paths: &SnapshotPaths) -> Result<(), SnapshotError> {
        paths.write_specs(
            self.rules.values().map(|e| &e.iptables_spec),
            self.rules.values().map(|e| &e.nft_spec),
        )
    }
}

impl FirewallStore {
    /// Boot restore: ensures the iptables chain, reads both planes and both
    /// snapshots, writes what is missing into each plane (so running it
    /// again adds nothing), rebuilds the index and rewrites the snapshots.
    pub async fn open(cfg: StoreConfig) -> Result<(FirewallStore, BootReport), FirewallError> {
        let created_chain = cfg
            .iptables
            .ensure_chain()
            .await
            .map_err(FirewallError::Iptables)?;
        let ipt = cfg.iptables.read().await.map_err(FirewallError::Iptables)?;
        let nft = cfg.nft.read().await.map_err(FirewallError::NftRead)?;
        let bridge = if nft.is_some() {
            BridgeMode::Enforcing
        } else {
            if !PERMISSIVE_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    table = plan::NFT_TABLE,
                    chain = plan::NFT_CHAIN,
                    "bridge scaffold missing: same-bridge rules are not enforced on this host (permissive mode); iptables plane and snapshots still written"
                );
            }
            BridgeMode::Permissive
        };
        let (from_snapshot, bad) = cfg.snapshots.read()?;
        for e in &bad {
            tracing::warn!(error = %e, "snapshot entry skipped");
        }
        if ipt.foreign > 0 {
            tracing::warn!(
                count = ipt.foreign,
                chain = plan::IPT_CHAIN,
                "rules without a coolify tag left untouched"
            );
        }

        // Desired = everything either plane or either snapshot holds.
        let mut desired: BTreeMap<RuleId, Rule> = BTreeMap::new();
        let nft_rules: BTreeMap<RuleId, u64> = nft
            .as_ref()
            .map(|v| v.rules.iter().map(|(r, h)| (r.id(), *h)).collect())
            .unwrap_or_default();
        for r in ipt.rules.iter().chain(from_snapshot.iter()) {
            desired.entry(r.id()).or_insert_with(|| r.clone());
        }
        if let Some(v) = &nft {
            for (r, _) in &v.rules {
                desired.entry(r.id()).or_insert_with(|| r.clone());
            }
        }
        let in_ipt: std::collections::BTreeSet<RuleId> = ipt.rules.iter().map(Rule::id).collect();
        let ipt_missing: Vec<Rule> = desired
            .iter()
            .filter(|(id, _)| !in_ipt.contains(*id))
            .map(|(_, r)| r.clone())
            .collect();
        let nft_missing: Vec<Rule> = match bridge {
            BridgeMode::Enforcing => desired
                .iter()
                .filter(|(id, _)| !nft_rules.contains_key(*id))
                .map(|(_, r)| r.clone())
                .collect(),
            BridgeMode::Permissive => Vec::new(),
        };
        if let Some(batch) = Plan::render(&ipt_missing, &[]).iptables {
            cfg.iptables
                .apply(&batch)
                .await
                .map_err(FirewallError::Iptables)?;
        }
        if let Some(batch) = Plan::render(&nft_missing, &[]).nft {
            // Boot only adds, so a failure here leaves nothing to undo
            // that the next boot would not redo: report it as is.
            cfg.nft
                .apply(&batch)
                .await
                .map_err(|nft| FirewallError::NftRolledBack { nft })?;
        }
        let index = Index {
            rules: desired
                .into_iter()
                .map(|(id, rule)| {
                    let nft_handle = nft_rules.get(&id).copied();
                    (id, Entry::new(rule, nft_handle))
                })
                .collect(),
        };
        index.write_snapshots(&cfg.snapshots)?;
        let report = BootReport {
            rules: index.rules.len(),
            created_chain,
            restored_iptables: ipt_missing.len(),
            restored_nft: nft_missing.len(),
            bridge,
            skipped: bad.len(),
        };
        Ok((
            FirewallStore {
                index: Mutex::new(index),
                iptables: cfg.iptables,
                nft: cfg.nft,
                snapshots: cfg.snapshots,
                bridge,
            },
            report,
        ))
    }

    pub fn bridge_mode(&self) -> BridgeMode {
        self.bridge
    }

    pub async fn len(&self) -> usize {
        self.index.lock().await.rules.len()
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    /// Adds one rule; `Ok((view, false))` when it was already there (no
    /// kernel write at all).
    pub async fn allow(&self, rule: Rule) -> Result<(RuleView, bool), FirewallError> {
        let mut idx = self.index.lock().await;
        let view = rule.view();
        if idx.rules.contains_key(&view.id) {
            return Ok((view, false));
        }
        self.apply(&mut idx, &[rule], &[]).await?;
        Ok((view, true))
    }

    /// Deletes a rule by id; `Ok(false)` when it was not there.
    pub async fn delete(&self, id: &RuleId) -> Result<bool, FirewallError> {
        let mut idx = self.index.lock().await;
        if !idx.rules.contains_key(id) {
            return Ok(false);
        }
        self.apply(&mut idx, &[], std::slice::from_ref(id)).await?;
        Ok(true)
    }

    /// Rules, optionally of one namespace, ordered by id.
    pub async fn list(&self, namespace: Option<&str>) -> Vec<RuleView> {
        let idx = self.index.lock().await;
        idx.rules
            .values()
            .filter(|e| namespace.is_none_or(|ns| e.rule.namespace == ns))
            .map(|e| e.rule.view())
            .collect()
    }

    /// Adds all new rules in one batch per plane, or none of them.
    pub async fn bulk(&self, rules: Vec<Rule>) -> Result<BulkOutcome, FirewallError> {
        let mut idx = self.index.lock().await;
        let mut seen = std::collections::BTreeSet::new();
        let (mut added, mut existing) = (Vec::new(), Vec::new());
        for r in rules {
            let id = r.id();
            if !seen.insert(id.clone()) {
                continue;
            }
            if idx.rules.contains_key(&id) {
                existing.push(r);
            } else {
                added.push(r);
            }
        }
        self.apply(&mut idx, &added, &[]).await?;
        Ok(BulkOutcome {
            added: added.iter().map(Rule::view).collect(),
            existing: existing.iter().map(Rule::view).collect(),
        })
    }

    /// Makes the kernel equal `desired` (within `namespace` when given:
    /// rules of other namespaces are neither removed nor accepted) in one
    /// batch per plane. Removals and additions land in the same
    /// transaction, so the chain is never empty in between.
    pub async fn reconcile(
        &self,
        namespace: Option<&str>,
        desired: Vec<Rule>,
    ) -> Result<ReconcileOutcome, FirewallError> {
        if let Some(ns) = namespace {
            if let Some(r) = desired.iter().find(|r| r.namespace != ns) {
                return Err(RuleError {
                    field: "rules".into(),
                    message: format!(
                        "rule {} is in namespace {:?}, not {ns:?}",
                        r.id(),
                        r.namespace
                    ),
                }
                .into());
            }
        }
        let mut idx = self.index.lock().await;
        let current = idx
            .rules
            .values()
            .filter(|e| namespace.is_none_or(|ns| e.rule.namespace == ns))
            .map(|e| &e.rule);
        let d = plan::diff(current, &desired);
        let removed_ids: Vec<RuleId> = d.removed.iter().map(Rule::id).collect();
        self.apply(&mut idx, &d.added, &removed_ids).await?;
        Ok(ReconcileOutcome {
            added: d.added.iter().map(Rule::view).collect(),
            removed: d.removed.iter().map(Rule::view).collect(),
            kept: d.kept.iter().map(Rule::view).collect(),
        })
    }

    /// One mutation: plan, iptables batch, nft batch (undoing iptables if
    /// it fails), index, snapshots. Callers hold the lock.
    async fn apply(
        &self,
        idx: &mut Index,
        add: &[Rule],
        remove: &[RuleId],
    ) -> Result<(), FirewallError> {
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let enforcing = self.bridge == BridgeMode::Enforcing;
        if enforcing
            && remove
                .iter()
                .any(|id| idx.rules.get(id).is_some_and(|e| e.nft_handle.is_none()))
        {
            self.learn_handles(idx).await?;
        }
        let removals: Vec<Removal> = remove
            .iter()
            .filter_map(|id| idx.rules.get(id))
            .map(|e| Removal {
                rule: e.rule.clone(),
                nft_handle: if enforcing { e.nft_handle } else { None },
            })
            .collect();
        let mut plan = Plan::render(add, &removals);
        if let Some(batch) = &plan.iptables {
            if let Err(e) = self.iptables.apply(batch).await {
                // A rule deleted behind our back makes `-D` fail the whole
                // batch; drop such removals once and retry, so a reconciling
                // caller converges instead of failing forever.
                let present = self
                    .iptables
                    .read()
                    .await
                    .map_err(FirewallError::Iptables)?;
                // The bridge half keeps every removal: only the iptables
                // batch loses the rules iptables no longer has.
                let still: Vec<Removal> = removals
                    .iter()
                    .filter(|r| present.rules.contains(&r.rule))
                    .cloned()
                    .collect();
                if still.len() == removals.len() {
                    return Err(FirewallError::Iptables(e));
                }
                let narrowed = Plan::render(add, &still);
                plan.iptables = narrowed.iptables;
                plan.iptables_undo = narrowed.iptables_undo;
                if let Some(batch) = &plan.iptables {
                    self.iptables
                        .apply(batch)
                        .await
                        .map_err(FirewallError::Iptables)?;
                }
            }
        }
        if enforcing {
            if let Some(batch) = &plan.nft {
                if let Err(nft) = self.nft.apply(batch).await {
                    let rollback = match &plan.iptables_undo {
                        Some(undo) => self.iptables.apply(undo).await.err(),
                        None => None,
                    };
                    let e = match rollback {
                        None => FirewallError::NftRolledBack { nft },
                        Some(rollback) => FirewallError::RollbackFailed { nft, rollback },
                    };
                    tracing::error!(error = %e, "firewall mutation failed");
                    return Err(e);
                }
            }
        }
        for id in remove {
            idx.rules.remove(id);
        }
        for r in add {
            idx.rules.insert(r.id(), Entry::new(r.clone(), None));
        }
        idx.write_snapshots(&self.snapshots)?;
        Ok(())
    }

    /// One `nft -j list chain` fills in every unknown handle.
    async fn learn_handles(&self, idx: &mut Index) -> Result<(), FirewallError> {
        let view = self.nft.read().await.map_err(FirewallError::NftRead)?;
        let handles: BTreeMap<RuleId, u64> = view
            .map(|v| v.rules.into_iter().map(|(r, h)| (r.id(), h)).collect())
            .unwrap_or_default();
        for (id, e) in idx.rules.iter_mut() {
            e.nft_handle = handles.get(id).copied();
        }
        Ok(())
    }
}
