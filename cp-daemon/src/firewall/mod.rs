//! The dual-plane firewall (DESIGN.md decision 7): allow rules as
//! `{namespace, src, dst, proto, port}` tuples, written to the iptables
//! chain `COOLIFY-ALLOW` (cross-host) and the nft chain
//! `bridge coolify_bridge coolify_allow` (same-bridge), one batch per plane
//! per mutation, with snapshots for boot restore.
//!
//! Layers: `rule` and `plan` are pure; `iptables`, `nft` and `snapshot`
//! are the effect edge; `store` ties them under one lock. The REST verbs
//! call [`FirewallStore`] through the verb table.

mod iptables;
mod nft;
mod plan;
mod plane;
mod rule;
mod snapshot;
mod store;

pub use iptables::IptablesPlane;
pub use nft::NftPlane;
pub use plan::{
    comment, iptables_spec, nft_spec, IPT_CHAIN, IPT_TABLE, NFT_CHAIN, NFT_FAMILY, NFT_TABLE,
};
pub use plane::{FirewallPlane, PlaneError};
pub use rule::{
    validate_namespace, PortValue, Rule, RuleError, RuleId, RuleRequest, RuleView,
    DEFAULT_NAMESPACE,
};
pub use snapshot::{write_atomic, SnapshotError, SnapshotPaths};
pub use store::{
    BootReport, BridgeMode, BulkOutcome, FirewallError, FirewallStore, ReconcileOutcome,
    StoreConfig,
};

/// The health component this concern reports as.
pub const COMPONENT: &str = "firewall";

/// Body of `POST /firewall/allow/bulk`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub rules: Vec<RuleRequest>,
}

/// Body of `POST /firewall/reconcile`: the desired set (of one namespace
/// when `namespace` is given, else of the whole host).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub rules: Vec<RuleRequest>,
}

/// Body of `GET /firewall/allow`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RuleList {
    pub rules: Vec<RuleView>,
}

/// Validates a list of rule requests; the error names the item
/// (`rules[3].src`).
pub fn validate_all(items: &[RuleRequest]) -> Result<Vec<Rule>, RuleError> {
    items
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.validate().map_err(|e| RuleError {
                field: format!("rules[{i}].{}", e.field),
                message: e.message,
            })
        })
        .collect()
}
