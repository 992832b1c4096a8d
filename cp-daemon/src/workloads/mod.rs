//! Workload specs (seed 001, DESIGN.md decision 8): the docker-compose-like
//! YAML that says what a pool's containers run.
//!
//! `spec` holds the strict serde types, `parse` turns text into a spec with
//! errors naming key and line, `validate` applies the cross-field rules and
//! the deny filter of `POST /containers` (pure), `store` keeps them in
//! `COOLD_WORKLOADS_DIR` (the effect edge). Their verbs live in
//! `pools::workloads`, since a workload is shown with its pool.

mod parse;
pub mod spec;
mod store;
mod validate;

pub use parse::{line_of, parse, SpecError};
pub use spec::WorkloadSpec;
pub use store::{load_text, StoreError, StoredSpec, WorkloadStore};
pub use validate::{check, check_name, create_request, validate};
