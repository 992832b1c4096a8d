//! Service discovery: the engine's managed containers mirrored into the
//! `service_endpoints` table, one host's rows per host, through an
//! [`EndpointStore`] (embedded SQLite by default, Corrosion for many hosts).
//!
//! Layers: `plan`/`observe` are pure; `sqlite`/`corrosion`/`events`/
//! `healthcheck` are the effect edge; `sync` is the loop; `verbs` serves the
//! service-endpoint verbs.

mod corrosion;
mod endpoint;
mod events;
mod healthcheck;
mod observe;
mod plan;
mod sqlite;
mod store;
mod sync;
pub mod verbs;

pub use crate::labels::NAMESPACE_LABEL;
pub use corrosion::CorrosionStore;
pub use endpoint::{Change, Endpoint, Observed};
pub use plan::plan;
pub use sqlite::{from_sql, to_sql, SqliteStore};
pub use store::{EndpointStore, Statement, StoreError, SCHEMA};
pub use sync::{DiscoveryHandle, ReconcileStats, Sync, COMPONENT};
