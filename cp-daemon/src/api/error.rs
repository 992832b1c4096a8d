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
    /// Malformed body or parameter: the caller must fix `field`.
    #[error("{message}")]
    BadRequest { field: String, message: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but policy refuses `field` (deny filter,
    /// runtime not allowed, object not managed by the agent).
    #[error("{message}")]
    Forbidden { field: String, message: String },
    /// Allowed, but this host cannot honour `field` (runtime not installed,
    /// container not managed for a service registration).
    #[error("{message}")]
    Unprocessable { field: String, message: String },
    #[error("{0}")]
    Unavailable(String),
    /// The object is busy or in a state that forbids the change.
    #[error("{0}")]
    Conflict(String),
    /// A limit is reached (a pool at `max_size`); retry later.
    #[error("{0}")]
    TooManyRequests(String),
    /// An upstream the engine reached for (a registry) failed.
    #[error("{0}")]
    BadGateway(String),
    /// A frame this agent version cannot serve yet (e.g. builds).
    #[error("{0}")]
    NotImplemented(String),
    #[error("{}", engine_message(.0))]
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

fn engine_message(e: &EngineError) -> String {
    match e {
        EngineError::NotFound { .. }
        | EngineError::Conflict(_)
        | EngineError::Rejected(_)
        | EngineError::Failed(_) => e.to_string(),
        _ => format!("container engine unavailable: {e}"),
    }
}

/// The JSON body of every error answer: `{error, field?}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub error: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn forbidden(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Forbidden {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Route(RouteError::NotFound { .. }) => StatusCode::NOT_FOUND,
            ApiError::Route(RouteError::MethodNotAllowed { .. }) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Engine(e) => match e {
                EngineError::NotFound { .. } => StatusCode::NOT_FOUND,
                EngineError::Conflict(_) => StatusCode::CONFLICT,
                EngineError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
                EngineError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
                EngineError::SocketMissing { .. }
                | EngineError::Connect { .. }
                | EngineError::Api(_)
                | EngineError::Raw(_)
                | EngineError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Internal(_) | ApiError::Firewall(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.to_string(),
            field: match self {
                ApiError::BadRequest { field, .. }
                | ApiError::Forbidden { field, .. }
                | ApiError::Unprocessable { field, .. } => Some(field.clone()),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_to_its_status_and_names_its_field() {
        let cases: Vec<(ApiError, u16, Option<&str>)> = vec![
            (ApiError::bad_request("image", "x"), 400, Some("image")),
            (
                ApiError::forbidden("privileged", "x"),
                403,
                Some("privileged"),
            ),
            (
                ApiError::Unprocessable {
                    field: "runtime".into(),
                    message: "x".into(),
                },
                422,
                Some("runtime"),
            ),
            (ApiError::BadGateway("registry".into()), 502, None),
            (
                ApiError::Engine(EngineError::NotFound { what: "c".into() }),
                404,
                None,
            ),
            (
                ApiError::Engine(EngineError::Conflict("c".into())),
                409,
                None,
            ),
            (
                ApiError::Engine(EngineError::Unavailable("down".into())),
                503,
                None,
            ),
        ];
        for (e, status, field) in cases {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            assert_eq!(e.body().field.as_deref(), field, "{e:?}");
        }
    }
}
