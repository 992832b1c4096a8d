//! Namespace provisioning (`coolify init --namespaces …`, and the same flags
//! on `cp up`): one DNS-disabled Podman bridge per namespace, handed to the
//! appliance as `COOLD_NAMESPACES`. `plan` is pure; `provision` is the edge.

mod plan;
mod provision;

pub use plan::{coold_namespaces, parse_namespaces, Cidr, NetworkPlan, PlanError, DEFAULT_POOL};
pub use provision::{provision, ProvisionError};
