//! The agent's REST surface: the closed verb table, its dispatcher, the HTTP
//! server (bearer token, optional TLS) and the loopback health listener.

mod auth;
mod context;
pub mod decode;
mod dispatch;
mod error;
mod handlers;
pub mod openapi;
mod reload;
mod rest;
mod serve;
mod serve_thread;
mod tls;
mod verb_table;
mod verbs;

pub use auth::{BearerToken, SharedToken};
pub use context::AgentContext;
pub use decode::json as parse_body;
pub use dispatch::{dispatch, record, ByteStream, Input, Reply, ReplyBody, VerbRequest};
pub use error::{ApiError, ErrorBody};
pub use reload::{ApiCredentials, ReloadOutcome, RELOAD_POLL};
pub use rest::{api_router, health_router};
pub use serve::{bind, serve, serve_on_thread, ServeError};
pub use serve_thread::ServeThread;
pub use tls::{load_certified_key, load_tls, SwappableCert};
pub use verbs::{RouteError, Verb, API_PREFIX};
