//! The `coolify.*` labels the agent stamps on the engine objects it makes,
//! in one place: they are what recovery, discovery and the managed-only
//! checks read back, so their names are a contract with what is already
//! running on a host. The build containers' labels stay with coold's `builds`
//! (`builds::request`, `builds::warm_builders`), the only code that reads
//! them.

/// Label every object the agent creates carries.
pub const MANAGED_LABEL: &str = "coolify.managed";

/// Label carrying the tenancy namespace of an object.
pub const NAMESPACE_LABEL: &str = "coolify.namespace";

/// Label naming the workload a pool container belongs to.
pub const POOL_WORKLOAD_LABEL: &str = "coolify.pool.workload";
/// Label with the short hash of the spec the container was made from.
pub const POOL_HASH_LABEL: &str = "coolify.pool.spec";
/// Label naming the agent (by its data) that owns a pool container.
pub const POOL_AGENT_LABEL: &str = "coolify.pool.agent";
