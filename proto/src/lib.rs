//! Wire types shared by coold and the broker: the `coolify.agent.v1` package
//! (service `Agent` with its bidirectional `Stream`), generated from
//! `proto/agent.proto` at build time.

#![allow(clippy::all, clippy::unwrap_used)] // generated code

pub mod codec;

pub mod agent {
    pub mod v1 {
        tonic::include_proto!("coolify.agent.v1");
    }
}

pub use agent::v1;

/// The capability a host advertises when it runs image builds.
pub const CAP_BUILDER: &str = "builder";
