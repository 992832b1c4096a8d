//! `coolify cp up|down|status|rotate`: the appliance lifecycle on this host.
//!
//! `up` is idempotent and safe to run twice at once (a file lock): PKI →
//! image → container → health gate, each step reusing what is already right.
//! With `--with-broker` the broker's keys and this host's token, then the
//! broker container and its UDS health come before the agent, and the
//! agent's stream to it is awaited after.
//!
//! One file per job: `up.rs` (the steps in order), `up_broker.rs` (its
//! broker wiring), `down.rs`, `rotate.rs` (and `served.rs`, which watches the agent take new material), `status.rs` (and its text), `stream.rs` (the
//! agent's broker stream as `/healthz` shows it), `error.rs`; below them
//! the engine work: `image.rs`, `container.rs`, `local_broker.rs`,
//! `runtimes.rs`, `health_gate.rs`, `probe.rs`, `lock.rs`.

mod agent_file;
mod agent_settings;
mod container;
mod down;
mod embedded;
mod error;
mod health_gate;
mod host_root;
mod image;
mod labels;
mod local_broker;
mod lock;
mod probe;
mod rotate;
mod runtimes;
mod served;
mod settings;
mod status;
mod stream;
mod up;
mod up_broker;

pub use down::down;

/// The agent's settings from its config file with `cp up`'s flags on top.
pub fn agent_settings(
    file: &std::path::Path,
    flags: Vec<(&'static str, &'static str, String)>,
) -> Result<Vec<agent_settings::AgentVar>, ApplianceError> {
    Ok(agent_settings::gather(file, flags)?)
}

/// Checks everything the agent will be started with, as coold would.
pub fn check_agent_settings(s: &CpSettings) -> Result<(), ApplianceError> {
    Ok(agent_settings::check(&container::env(s), &s.agent)?)
}
pub use error::ApplianceError;
pub use rotate::{rotate, RotateRequest};
pub use settings::{default_mgmt_ip, CpSettings, LocalBroker};
pub use status::{api_addr, status};
pub use up::up;
