//! `coolify-builder`: clone, pick a stack, build into local containers-storage,
//! write NDJSON events and a result file.
//!
//! Not built yet (builds issue). This crate holds no binary on purpose, so
//! nothing can be mistaken for a working builder.
