//! The dual-plane firewall (DESIGN.md decision 7): allow rules as
//! `{namespace, src, dst, proto, port}` tuples, written to the iptables
//! chain `COOLIFY-ALLOW` (cross-host) and the nft chain
//! `bridge coolify_bridge coolify_allow` (same-bridge), one batch per plane
//! per mutation, with snapshots for boot restore.
//!
//! Layers: `rule` (the rule model, in `coolify-api-types` with the verbs'
//! request and outcome types) and `plan` are pure; `iptables`, `nft` and `snapshot`
//! are the effect edge; `store` ties them under one lock. The REST verbs
//! call [`FirewallStore`] through the verb table.

mod iptables;
mod nft;
mod plan;
mod plane;
mod snapshot;
mod store;

pub use iptables::IptablesPlane;
pub use nft::NftPlane;
pub use plan::{
    comment, iptables_spec, nft_spec, IPT_CHAIN, IPT_TABLE, NFT_CHAIN, NFT_FAMILY, NFT_TABLE,
};
pub use plane::{FirewallPlane, PlaneError};
// The rule model and the verbs' wire types live in `coolify-api-types`,
// shared with the CLI; `rule` stays importable as `super::rule` here.
use coolify_api_types::firewall::rule;
pub use coolify_api_types::firewall::{
    validate_all, validate_namespace, BulkOutcome, BulkRequest, PortValue, ReconcileOutcome,
    ReconcileRequest, Rule, RuleError, RuleId, RuleList, RuleRequest, RuleView, DEFAULT_NAMESPACE,
};
pub use snapshot::{write_atomic, SnapshotError, SnapshotPaths};
pub use store::{BootReport, BridgeMode, FirewallError, FirewallStore, StoreConfig};

/// The health component this concern reports as.
pub use coolify_api_types::health::FIREWALL as COMPONENT;
