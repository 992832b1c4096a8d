//! The `coolify.*` labels the agent stamps on the engine objects it makes.
//! They are a contract with what is already running on a host and with the
//! CLI, so they live in `coolify-api-types`; the build containers' labels
//! stay with `builds`.

pub use coolify_api_types::labels::{
    MANAGED_LABEL, NAMESPACE_LABEL, POOL_AGENT_LABEL, POOL_HASH_LABEL, POOL_WORKLOAD_LABEL,
};
