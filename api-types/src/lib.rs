//! The types both sides of the agent API agree on: what `coold` answers
//! and what the `coolify` CLI (and anything else speaking to an agent)
//! reads back. Written down once so the two cannot drift:
//!
//! - [`error`]: the JSON body of every error answer, `{error, field?}`;
//! - [`firewall`]: the allow-rule requests and views, the bulk and
//!   reconcile bodies and outcomes, and the pure rule model they are
//!   validated with (canonical form, [`firewall::RuleId`]);
//! - [`labels`]: the `coolify.*` labels the agent stamps on engine objects;
//! - [`health`]: the component names `/healthz` reports.
//!
//! Types and pure validation only, no I/O: each side does its own
//! transport. The `utoipa::ToSchema` derives feed the agent's OpenAPI
//! document, so a schema's name here is its name there.

pub mod error;
pub mod firewall;
pub mod health;
pub mod labels;
