//! Labels on the appliance image and container. The CLI finds, reuses and
//! prunes by these, never by guessing from names.

/// Marks objects of the appliance (`cp`).
pub const COMPONENT: &str = "coolify.component";
pub const COMPONENT_CP: &str = "cp";
/// The single-host broker container of `cp up --with-broker`.
pub const COMPONENT_BROKER: &str = "broker";
/// sha256 of the embedded coold binary.
pub const COOLD_SHA256: &str = "coolify.coold.sha256";
/// sha256 over every embedded binary (coold, coolify-broker, …): the image
/// and its containers are made anew when any of them changes.
pub const BUNDLE_SHA256: &str = "coolify.cp.bundle-sha256";
/// sha256 of the container's settings (ports, dirs, mgmt IP): a change
/// replaces the container like a new binary does.
pub const SPEC_SHA256: &str = "coolify.cp.spec-sha256";
/// The image repository without tag, so prune only touches its own kind.
pub const IMAGE_REPO: &str = "coolify.cp.image-repo";
/// The CLI version that built the object.
pub const VERSION: &str = "coolify.version";
/// Loopback port of `/healthz`, read back by `cp status`.
pub const HEALTH_PORT: &str = "coolify.cp.health-port";
/// The REST API address, for `cp status` and the other commands.
pub const API_ADDR: &str = "coolify.cp.api";
/// The broker's UDS path on the host, read back by `cp status`.
pub const BROKER_SOCKET: &str = "coolify.broker.socket";
