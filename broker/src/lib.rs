//! `coolify-broker`: the gRPC listener coold dials and the UDS lane the central
//! app calls.
//!
//! Not built yet (broker issue). This crate holds no binary on purpose, so
//! nothing can be mistaken for a working broker.
