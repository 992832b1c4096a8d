//! `coolify-broker`: the central connection holder (seed 000, "Broker").
//!
//! Every host's coold dials in over one gRPC stream (TLS, per-host JWT);
//! the central app talks HTTP over a Unix socket. A request flows
//! `uds` → `lane` (Streams lookup, Pending insert, non-blocking send) →
//! `grpc` stream → agent → `grpc` reader lands the answer in `pending` →
//! the parked `lane` waiter answers the UDS request.
//!
//! | module | concern |
//! |---|---|
//! | `jwt` | host token verification (pure) |
//! | `revocations` | revoked hosts' token cutoffs, kept in a file across restarts |
//! | `build_journal` | builds dispatched and not landed, kept in a file so a restarted broker still takes their results |
//! | `streams` | host id → stream handle, generation-checked removal |
//! | `pending` | request id → Waiting/Landed, cap, sweep rules (pure) |
//! | `routing` | build capacity routing (pure) |
//! | `build_events` | per-build progress lines, bounded, kept once per line number (pure) |
//! | `lane` | the central app's operations, transport-free |
//! | `uds` | the HTTP-over-UDS transport and socket creation |
//! | `grpc` | the tonic `Agent` service |
//! | `server` | wiring and lifecycle |

pub mod build_events;
pub mod build_journal;
pub mod config;
pub mod grpc;
pub mod jwt;
pub mod lane;
pub mod metrics;
pub mod pending;
pub mod revocations;
pub mod routing;
pub mod server;
mod state_file;
pub mod streams;
pub mod uds;
