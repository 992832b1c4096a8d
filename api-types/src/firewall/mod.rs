//! The firewall verbs' wire types: allow-rule requests and views, the bulk
//! and reconcile bodies and their outcomes, and [`rule`], the pure rule
//! model both sides validate them with (the CLI checks a rule before it
//! sends it; the agent checks it again before it touches a plane).

pub mod rule;

use serde::{Deserialize, Serialize};

pub use rule::{
    validate_namespace, PortValue, Rule, RuleError, RuleId, RuleRequest, RuleView,
    DEFAULT_NAMESPACE,
};

/// Body of `POST /firewall/allow/bulk`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub rules: Vec<RuleRequest>,
}

/// Body of `POST /firewall/reconcile`: the desired set (of one namespace
/// when `namespace` is given, else of the whole host).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub rules: Vec<RuleRequest>,
}

/// Body of `GET /firewall/allow`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleList {
    pub rules: Vec<RuleView>,
}

/// `POST /firewall/allow/bulk` outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkOutcome {
    pub added: Vec<RuleView>,
    pub existing: Vec<RuleView>,
}

/// `POST /firewall/reconcile` outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReconcileOutcome {
    pub added: Vec<RuleView>,
    pub removed: Vec<RuleView>,
    pub kept: Vec<RuleView>,
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
