//! Protobuf wire types shared by `coold` and `coolify-broker`.
//!
//! Empty on purpose: `agent.proto` (Agent.Stream, Hello, ServerMsg, ClientMsg,
//! Response, BuildRequest, CancelBuild) lands with the broker issue. Nothing in
//! the workspace depends on this crate yet.
