//! A BuildRequest's pure side: the request id (it names a container and a
//! directory), the credentials split off the spec, the builder's argv, and
//! how a finished build's files map to a Response. No I/O.

use std::path::Path;

use coolify_build_contract::{Credentials, ErrorCode, ErrorFile, CREDENTIALS_FILE, SPEC_FILE};

use crate::config::BuildsConfig;

/// Label keys on a build container (DESIGN.md decision 5).
pub const LABEL_BUILD: &str = "coolify.build";
pub const LABEL_REQUEST_ID: &str = "coolify.build.request_id";
pub const LABEL_WORK_DIR: &str = "coolify.build.work_dir";
/// Name prefix of build containers.
pub const CONTAINER_PREFIX: &str = "coolify-build-";
/// Entrypoint of the builder inside its image.
pub const BUILDER_BIN: &str = "/coolify-builder";

/// Why a BuildRequest is refused before any container exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request_id: {0}")]
    RequestId(String),
    #[error("spec: {0}")]
    Spec(String),
    #[error("spec.git_credentials: {0}")]
    Credentials(String),
}

/// The same rule as the broker's: 1–64 characters of `[A-Za-z0-9_-]`, so
/// the id is safe as a container name suffix and a directory name.
pub fn validate_request_id(id: &str) -> Result<(), RequestError> {
    if id.is_empty() || id.len() > 64 {
        return Err(RequestError::RequestId(format!(
            "must be 1-64 characters, got {}",
            id.len()
        )));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(RequestError::RequestId(
            "may hold only A-Z a-z 0-9 - _".into(),
        ));
    }
    Ok(())
}

/// A BuildRequest made ready for the builder.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedSpec {
    /// `spec.json` as the builder reads it (credentials removed).
    pub spec_json: Vec<u8>,
    pub credentials: Option<Credentials>,
}

/// Splits `git_credentials` off the spec. Everything else is the builder's
/// to validate (it answers `bad_spec` in error.json, naming the field).
pub fn prepare(spec: &[u8]) -> Result<PreparedSpec, RequestError> {
    let mut value: serde_json::Value = serde_json::from_slice(spec)
        .map_err(|e| RequestError::Spec(format!("not valid JSON: {e}")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| RequestError::Spec("must be a JSON object".into()))?;
    let credentials = match obj.remove("git_credentials") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<Credentials>(v).map_err(|e| {
            RequestError::Credentials(format!("expected {{username, password}}: {e}"))
        })?),
    };
    let spec_json =
        serde_json::to_vec_pretty(&value).map_err(|e| RequestError::Spec(e.to_string()))?;
    Ok(PreparedSpec {
        spec_json,
        credentials,
    })
}

pub fn container_name(request_id: &str) -> String {
    format!("{CONTAINER_PREFIX}{request_id}")
}

/// The builder's arguments (after the entrypoint), per its fixed contract.
pub fn builder_args(
    cfg: &BuildsConfig,
    work_dir: &Path,
    podman_socket: &Path,
    with_credentials: bool,
) -> Vec<String> {
    let mut args = vec![
        "--spec".to_string(),
        work_dir.join(SPEC_FILE).display().to_string(),
        "--work-dir".to_string(),
        work_dir.display().to_string(),
        "--podman-socket".to_string(),
        podman_socket.display().to_string(),
    ];
    if with_credentials {
        args.push("--credentials-file".into());
        args.push(work_dir.join(CREDENTIALS_FILE).display().to_string());
    }
    if let Some(img) = &cfg.static_base_image {
        args.push("--static-base-image".into());
        args.push(img.clone());
    }
    args
}

/// What a finished build answers: HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: u16,
    pub body: serde_json::Value,
    /// `ok` or the error code, for metrics and logs.
    pub outcome: String,
}

/// The builder's error codes → statuses; the driver's own codes
/// (`timeout`) beside them; anything else is 500.
pub fn status_of(code: &str) -> u16 {
    match ErrorCode::from_name(code) {
        Some(ErrorCode::BadSpec) => 400,
        Some(ErrorCode::Git | ErrorCode::BuildFailed) => 422,
        Some(ErrorCode::Cancelled) => 409,
        Some(ErrorCode::Io) => 500,
        None if code == "timeout" => 504,
        None => 500,
    }
}

/// `result.json` → 200 with it.
pub fn verdict_ok(result: serde_json::Value) -> Verdict {
    Verdict {
        status: 200,
        body: result,
        outcome: "ok".into(),
    }
}

/// `error.json` (`{code, message, stage}`) → the code's status with it.
pub fn verdict_err(err: serde_json::Value) -> Verdict {
    let code = err
        .get("code")
        .and_then(|c| c.as_str())
        .unwrap_or("io")
        .to_string();
    Verdict {
        status: status_of(&code),
        body: err,
        outcome: code,
    }
}

/// An error body in the contract's error.json shape, for verdicts the agent
/// itself reaches (no result file, a lost queued build, a refused request).
pub fn error_body(code: &str, message: impl Into<String>, stage: &str) -> serde_json::Value {
    serde_json::to_value(ErrorFile::new(code, message, stage)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_that_could_escape_are_refused() {
        for bad in ["", "../x", "a/b", "a b", "x;rm", &"a".repeat(65)] {
            assert!(validate_request_id(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "build-1_A", &"f".repeat(64)] {
            assert!(validate_request_id(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn credentials_are_split_off_the_spec() {
        let p = prepare(
            br#"{"repo":"file:///r","ref":"main","stack":"STATIC","tags":["t"],"git_credentials":{"username":"u","password":"s3cret"}}"#,
        )
        .expect("prepare");
        let text = String::from_utf8(p.spec_json).expect("utf8");
        assert!(
            !text.contains("s3cret") && !text.contains("git_credentials"),
            "{text}"
        );
        assert!(text.contains("\"repo\""));
        assert_eq!(
            p.credentials,
            Some(Credentials {
                username: "u".into(),
                password: "s3cret".into()
            })
        );
        assert!(!format!("{:?}", p.credentials).contains("s3cret"));
    }

    #[test]
    fn bad_specs_name_the_field() {
        assert!(matches!(prepare(b"nope"), Err(RequestError::Spec(_))));
        assert!(matches!(prepare(b"[1]"), Err(RequestError::Spec(_))));
        let e = prepare(br#"{"git_credentials":{"username":"u"}}"#).expect_err("missing password");
        assert!(e.to_string().starts_with("spec.git_credentials"), "{e}");
    }

    #[test]
    fn error_codes_map_to_the_contract_statuses() {
        for (code, status) in [
            ("bad_spec", 400),
            ("git", 422),
            ("build_failed", 422),
            ("cancelled", 409),
            ("io", 500),
            ("timeout", 504),
            ("something_new", 500),
        ] {
            assert_eq!(status_of(code), status, "{code}");
        }
        let v = verdict_err(error_body("cancelled", "stopped", "build"));
        assert_eq!((v.status, v.outcome.as_str()), (409, "cancelled"));
    }

    #[test]
    fn credentials_reach_the_builder_only_as_a_file_path() {
        let cfg =
            crate::config::BuildsConfig::from_lookup(|_| None, std::net::Ipv4Addr::LOCALHOST, &[])
                .expect("cfg");
        let args = builder_args(&cfg, Path::new("/b/r1"), Path::new("/run/p.sock"), true);
        assert_eq!(
            args,
            [
                "--spec",
                "/b/r1/spec.json",
                "--work-dir",
                "/b/r1",
                "--podman-socket",
                "/run/p.sock",
                "--credentials-file",
                "/b/r1/credentials.json"
            ]
        );
    }
}
