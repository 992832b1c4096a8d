//! The component names the agent's `/healthz` reports under `components`.
//! The agent registers them; the CLI reads them back (`cp up --with-broker`
//! waits for [`BROKER`], `cp status` shows them all).

/// The engine connection.
pub const PODMAN: &str = "podman";
/// The outbound stream to the broker; not required, so a broker outage
/// never marks the host itself unhealthy.
pub const BROKER: &str = "broker";
/// The service discovery loop.
pub const DISCOVERY: &str = "discovery";
/// The dual-plane firewall.
pub const FIREWALL: &str = "firewall";
/// The warm pools.
pub const POOLS: &str = "pools";
