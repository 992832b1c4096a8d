//! The agent's REST surface: the closed verb table, its dispatcher, the HTTP
//! server (bearer token, optional TLS) and the loopback health listener.

mod auth;
mod dispatch;
mod error;
mod rest;
mod serve;
mod verbs;

pub use auth::BearerToken;
pub use dispatch::{dispatch, parse_body, Reply, VerbRequest};
pub use error::{ApiError, ErrorBody};
pub use rest::{api_router, health_router};
pub use serve::{bind, load_tls, serve, ServeError};
pub use verbs::{RouteError, Verb, API_PREFIX};
