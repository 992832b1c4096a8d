//! The agent's API errors and their one mapping to HTTP status codes
//! (DESIGN.md decision 10). The broker stream reuses the same codes.

use http::StatusCode;

use super::verbs::RouteError;
use crate::containers::ContainerError;
use crate::discovery::verbs::DiscoveryError;
use crate::discovery::StoreError;
use crate::dns::verbs::LookupError;
use crate::firewall::{FirewallError, RuleError};
use crate::host::HostError;
use crate::images::ImageError;
use crate::networks::NetworkError;
use crate::podman::{EngineError, InvalidField};
use crate::pools::workloads::WorkloadError;
use crate::pools::PoolError;
use crate::runtimes::RuntimeError;
use crate::volumes::VolumeError;
use crate::workloads::{SpecError, StoreError as SpecStoreError};

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

impl From<InvalidField> for ApiError {
    fn from(InvalidField { field, message }: InvalidField) -> Self {
        ApiError::BadRequest { field, message }
    }
}

/// A policy refusal of `field`: 403 naming it.
fn denied(InvalidField { field, message }: InvalidField) -> ApiError {
    ApiError::Forbidden { field, message }
}

/// A runtime refusal as the API answers it: 403 not allowed, 422 not
/// installed, both naming `runtime`.
impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::NotAllowed { .. } => ApiError::forbidden("runtime", e.to_string()),
            RuntimeError::NotInstalled { .. } => ApiError::Unprocessable {
                field: "runtime".into(),
                message: e.to_string(),
            },
            RuntimeError::Engine(inner) => ApiError::Engine(inner),
        }
    }
}

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> Self {
        match e {
            ContainerError::Invalid(f) => f.into(),
            ContainerError::Denied(f) => denied(f),
            ContainerError::Runtime(e) => e.into(),
            ContainerError::Engine(e) => ApiError::Engine(e),
            ContainerError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::Invalid(f) => f.into(),
            ImageError::Engine(e) => ApiError::Engine(e),
            ImageError::Registry(m) => ApiError::BadGateway(m),
        }
    }
}

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> Self {
        match e {
            VolumeError::Invalid(f) => f.into(),
            VolumeError::Denied(f) => denied(f),
            VolumeError::Engine(e) => ApiError::Engine(e),
        }
    }
}

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> Self {
        match e {
            NetworkError::Invalid(f) => f.into(),
            NetworkError::Denied(f) => denied(f),
            NetworkError::Engine(e) => ApiError::Engine(e),
        }
    }
}

impl From<HostError> for ApiError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Engine(e) => ApiError::Engine(e),
            e @ HostError::Proc(_) => ApiError::Internal(e.to_string()),
            HostError::Uname(m) => ApiError::Internal(m),
        }
    }
}

impl From<DiscoveryError> for ApiError {
    fn from(e: DiscoveryError) -> Self {
        match e {
            DiscoveryError::Invalid(f) => f.into(),
            DiscoveryError::NoContainer(m) => ApiError::NotFound(m),
            DiscoveryError::Unmanaged(InvalidField { field, message }) => {
                ApiError::Unprocessable { field, message }
            }
            DiscoveryError::Engine(e) => ApiError::Engine(e),
            DiscoveryError::Store(StoreError::Unavailable(m)) => ApiError::Unavailable(m),
            DiscoveryError::Store(other) => ApiError::Internal(other.to_string()),
            DiscoveryError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        ApiError::BadRequest {
            field: "name".into(),
            message: e.to_string(),
        }
    }
}

impl From<SpecError> for ApiError {
    fn from(e: SpecError) -> ApiError {
        let message = e.to_string();
        if e.denied {
            ApiError::Forbidden {
                field: e.field,
                message,
            }
        } else {
            ApiError::BadRequest {
                field: e.field,
                message,
            }
        }
    }
}

impl From<SpecStoreError> for ApiError {
    fn from(e: SpecStoreError) -> ApiError {
        match e {
            SpecStoreError::Spec(e) => e.into(),
            SpecStoreError::NotFound(id) => ApiError::NotFound(format!("workload {id} not found")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> ApiError {
        match e {
            PoolError::Container(e) => e.into(),
            PoolError::Name(e) => e.into(),
            PoolError::Invalid(f) => f.into(),
            e @ (PoolError::WorkloadNotFound(_)
            | PoolError::NoClaim(_)
            | PoolError::NoClaimOn { .. }) => ApiError::NotFound(e.to_string()),
            e @ (PoolError::InProgress { .. } | PoolError::WorkloadClaimed(_)) => {
                ApiError::Conflict(e.to_string())
            }
            e @ PoolError::Full { .. } => ApiError::TooManyRequests(e.to_string()),
            e @ PoolError::NoSyncSection(_) => ApiError::Unprocessable {
                field: "workload".into(),
                message: e.to_string(),
            },
            e @ PoolError::ManualSyncOff(_) => {
                ApiError::forbidden("sync.policy.manual", e.to_string())
            }
            PoolError::NotReady(m) => {
                ApiError::Unavailable(format!("pool container not ready: {m}"))
            }
            e @ (PoolError::SyncFailed(_) | PoolError::Download(_) | PoolError::Upload(_)) => {
                ApiError::BadGateway(e.to_string())
            }
            other @ (PoolError::Dirs(_) | PoolError::Claims(_)) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<WorkloadError> for ApiError {
    fn from(e: WorkloadError) -> ApiError {
        match e {
            WorkloadError::Invalid(f) => f.into(),
            WorkloadError::Name(e) => e.into(),
            WorkloadError::Store(e) => e.into(),
            WorkloadError::Pool(e) => e.into(),
        }
    }
}

fn engine_message(e: &EngineError) -> String {
    e.caller_message()
}

/// The JSON body of every error answer, shared with the API's clients.
pub use coolify_api_types::error::ErrorBody;

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

/// The create body's path before any I/O: decode, validation and the deny
/// filter, as the API answers them.
#[cfg(test)]
mod create_fuzz {
    use super::*;
    use crate::containers::deny::DenyPolicy;
    use crate::containers::types::CreateContainer;
    use crate::containers::{check_denied, validate};
    use proptest::prelude::*;

    /// Decoding, validation and the deny filter on one body; the parts of
    /// create that run before any I/O.
    fn judge(body: &[u8]) -> Result<(), ApiError> {
        let req: CreateContainer = super::super::decode::json(body)?;
        validate(&req)?;
        Ok(check_denied(&req, &DenyPolicy::default())?)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_are_a_4xx_naming_a_field_never_a_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Err(e) = judge(&body) {
                prop_assert!(e.status().is_client_error(), "{e:?}");
                prop_assert!(e.body().field.is_some(), "{e:?}");
            }
        }

        #[test]
        fn arbitrary_field_values_are_a_4xx_naming_a_field(
            key in prop::sample::select(vec!["name", "image", "cmd", "env", "labels", "ports", "mounts",
                "memory_bytes", "nano_cpus", "healthcheck", "runtime", "user", "working_dir", "hostname",
                "network", "cap_add", "security_opt", "devices", "pid_mode", "restart_policy"]),
            value in "[ -~]{0,40}",
        ) {
            // The value as JSON when it parses, else as a string.
            let v: serde_json::Value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            let body = serde_json::json!({"image": "localhost/x:v1", key: v}).to_string();
            if let Err(e) = judge(body.as_bytes()) {
                prop_assert!(e.status().is_client_error(), "{e:?}");
                prop_assert!(e.body().field.is_some(), "{body}: {e:?}");
            }
        }
    }
}
