//! `coold`, the per-host coolify agent.
//!
//! It runs as PID 1 of the privileged `coolify-cp` appliance container, with
//! the host network and the Podman socket. Data flows one way: transport
//! (`api`) → verb table (`api::verbs`) → concern (`host`, …) → Podman or the
//! kernel. See ARCHITECTURE.md for the map.

pub mod agent;
pub mod api;
pub mod broker_client;
pub mod builds;
pub use coolify_agent_config as config;
pub mod containers;
pub mod discovery;
pub mod dns;
pub mod firewall;
pub mod health;
pub mod host;
pub mod hosttools;
pub mod images;
pub mod init;
pub mod labels;
pub mod metrics;
pub mod networks;
pub mod podman;
pub mod pools;
pub mod runtimes;
pub mod tenant_sync;
pub mod volumes;
pub mod workloads;
