//! The agent's API errors and their one mapping to HTTP status codes
//! (DESIGN.md decision 10). The broker stream reuses the same codes.

use http::StatusCode;
use serde::Serialize;

use super::verbs::RouteError;
use crate::firewall::{FirewallError, RuleError};
use crate::podman::EngineError;

/// An error a verb returns to its caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Route(#[from] RouteError),
    #[error("{message}")]
    BadRequest { field: String, message: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Unprocessable { field: String, message: String },
    #[error("{0}")]
    Unavailable(String),
    /// A frame this agent version cannot serve yet (e.g. builds).
    #[error("{0}")]
    NotImplemented(String),
    #[error("container engine unavailable: {0}")]
    Engine(#[from] EngineError),
    #[error("internal error: {0}")]
    Internal(String),
    /// A kernel write failed; the message carries every plane's outcome.
    #[error("firewall: {0}")]
    Firewall(String),
}

impl From<FirewallError> for ApiError {
    fn from(e: FirewallError) -> Self {
        match e {
            FirewallError::Invalid(RuleError { field, message }) => ApiError::BadRequest {
                message: format!("{field}: {message}"),
                field,
            },
            other => ApiError::Firewall(other.to_string()),
        }
    }
}

/// The JSON body of every error answer: `{error, field?}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Route(RouteError::NotFound { .. }) => StatusCode::NOT_FOUND,
            ApiError::Route(RouteError::MethodNotAllowed { .. }) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Engine(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::Firewall(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.to_string(),
            field: match self {
                ApiError::BadRequest { field, .. } | ApiError::Unprocessable { field, .. } => {
                    Some(field.clone())
                }
                _ => None,
            },
        }
    }
}
