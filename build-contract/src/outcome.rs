//! What a build records: its events, and the one outcome file it ends with.

use serde::{Deserialize, Serialize};

/// The builder's exit codes.
pub mod exit {
    pub const OK: i32 = 0;
    /// `bad_spec`, `git` or `build_failed`.
    pub const BUILD_ERROR: i32 = 1;
    /// Bad argv (clap's own code), or `io`.
    pub const USAGE_OR_IO: i32 = 2;
    /// SIGTERM or SIGINT.
    pub const CANCELLED: i32 = 130;
}

/// The builder's closed set of error codes. The agent answers each with a
/// status of its own choosing and adds codes the builder never writes
/// (`timeout`, `bad_request`), so [`ErrorFile::code`] is a plain string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadSpec,
    Git,
    BuildFailed,
    Cancelled,
    Io,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 5] = [
        ErrorCode::BadSpec,
        ErrorCode::Git,
        ErrorCode::BuildFailed,
        ErrorCode::Cancelled,
        ErrorCode::Io,
    ];

    /// The name written in error.json.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadSpec => "bad_spec",
            ErrorCode::Git => "git",
            ErrorCode::BuildFailed => "build_failed",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Io => "io",
        }
    }

    /// The code named `name`, `None` for a code the builder never writes.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The builder's exit code when it ends with this error.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::BadSpec | ErrorCode::Git | ErrorCode::BuildFailed => exit::BUILD_ERROR,
            ErrorCode::Io => exit::USAGE_OR_IO,
            ErrorCode::Cancelled => exit::CANCELLED,
        }
    }
}

/// The builder's stages, in order. Spec and path validation count as
/// `detect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Git,
    Detect,
    Build,
    Store,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Git => "git",
            Stage::Detect => "detect",
            Stage::Build => "build",
            Stage::Store => "store",
        }
    }
}

/// The `ok` object of the last event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildResult {
    pub digest: String,
    pub registry_ref: String,
    pub duration_ms: u64,
    pub stack_used: String,
}

/// result.json: the `ok` object plus the image id and every tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultFile {
    #[serde(flatten)]
    pub ok: BuildResult,
    pub image_id: String,
    pub tags: Vec<String>,
}

/// error.json, and the `err` object of the last event. The builder writes
/// an [`ErrorCode`] and a [`Stage`]; the agent, for verdicts it reaches
/// itself, codes and stages of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFile {
    pub code: String,
    pub message: String,
    pub stage: String,
}

impl ErrorFile {
    pub fn new(code: &str, message: impl Into<String>, stage: &str) -> ErrorFile {
        ErrorFile {
            code: code.to_string(),
            message: message.into(),
            stage: stage.to_string(),
        }
    }
}

/// One line of events.ndjson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    Progress {
        stage: Stage,
        log: String,
        percent: u8,
    },
    Result {
        ok: BuildResult,
    },
    Error {
        err: ErrorFile,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_code_names_round_trip_through_their_serde_form() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).expect("ser"),
                json!(code.as_str())
            );
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::from_name("timeout"), None);
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(ErrorCode::BadSpec.exit_code(), 1);
        assert_eq!(ErrorCode::Git.exit_code(), 1);
        assert_eq!(ErrorCode::BuildFailed.exit_code(), 1);
        assert_eq!(ErrorCode::Io.exit_code(), 2);
        assert_eq!(ErrorCode::Cancelled.exit_code(), 130);
    }

    #[test]
    fn events_have_the_documented_shapes() {
        let ok = BuildResult {
            digest: "sha256:d".into(),
            registry_ref: "localhost/a:1".into(),
            duration_ms: 5,
            stack_used: "STATIC".into(),
        };
        let progress = Event::Progress {
            stage: Stage::Git,
            log: "fetching".into(),
            percent: 0,
        };
        assert_eq!(
            serde_json::to_value(&progress).expect("ser"),
            json!({"type": "progress", "stage": "git", "log": "fetching", "percent": 0})
        );
        assert_eq!(
            serde_json::to_value(Event::Result { ok: ok.clone() }).expect("ser"),
            json!({"type": "result", "ok": {"digest": "sha256:d", "registry_ref": "localhost/a:1", "duration_ms": 5, "stack_used": "STATIC"}})
        );
        let err = ErrorFile::new("git", "no such ref", "git");
        assert_eq!(
            serde_json::to_value(Event::Error { err }).expect("ser"),
            json!({"type": "error", "err": {"code": "git", "message": "no such ref", "stage": "git"}})
        );
        let file = ResultFile {
            ok,
            image_id: "abc".into(),
            tags: vec!["localhost/a:1".into()],
        };
        assert_eq!(
            serde_json::to_value(&file).expect("ser"),
            json!({"digest": "sha256:d", "registry_ref": "localhost/a:1", "duration_ms": 5,
                   "stack_used": "STATIC", "image_id": "abc", "tags": ["localhost/a:1"]})
        );
    }
}
