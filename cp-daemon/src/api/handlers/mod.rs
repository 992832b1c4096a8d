//! One handler per verb, named in the verb table (`api/verbs.rs`): each
//! decodes its query and body into the concern's request type, hands the
//! concern only the handles it needs, and shapes the reply. The concerns
//! never see HTTP; their typed errors become statuses in `api/error.rs`.

pub mod firewall;
pub mod podman;
pub mod pools;
pub mod services;
