//! The serde types of a workload spec's `sync:` section (seed 001).
//!
//! Pure data: parsing is strict (`deny_unknown_fields` everywhere, so a
//! misspelt key is an error naming it) and [`SyncSpec::validate`] checks the
//! rules serde cannot express. The pools concern parses the whole workload
//! spec with the YAML crate of its choice and calls `validate` on this part.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `sync:` — where a tenant's state lives between claims, what of it moves,
/// and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// `sink`: the remote (or local) store of every tenant's state.
    pub sink: Sink,
    /// `mappings`: the parts of the state dir that move, each with its own
    /// direction and mode. At least one; no two may overlap.
    pub mappings: Vec<Mapping>,
    /// `policy`: when syncs run.
    #[serde(default)]
    pub policy: SyncPolicy,
}

/// `sync.sink`, chosen by its `type` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Sink {
    /// `type: s3`: AWS S3 or any S3-compatible store (MinIO, R2, …).
    S3(S3Sink),
    /// `type: local`: a directory on the host (a mounted NFS share, a disk).
    Local(LocalSink),
}

/// `sync.sink` with `type: s3`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Sink {
    /// `endpoint`: URL of an S3-compatible store (`http://minio:9000`).
    /// Unset = AWS. When set, requests use path-style addressing, which
    /// MinIO, R2 and other S3 clones expect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `region` (default `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `provider`: rclone's S3 provider name (`AWS`, `Minio`, `Cloudflare`,
    /// …). Default: `AWS` without an endpoint, `Other` with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `bucket` (required, non-empty).
    pub bucket: String,
    /// `prefix`: key prefix of one tenant's state inside the bucket; must
    /// contain `${tenantId}` so that no two tenants share it.
    pub prefix: String,
    /// `access_key_id`: inline key id. Prefer `access_key_id_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Secret>,
    /// `secret_access_key`: inline secret. Prefer `secret_access_key_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    /// `access_key_id_env`: name of the agent's environment variable that
    /// holds the key id, so the secret stays out of spec files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id_env: Option<String>,
    /// `secret_access_key_env`: as `access_key_id_env`, for the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_env: Option<String>,
    /// `rclone_flags`: extra `--flags` for every rclone run against this
    /// sink (e.g. `--s3-no-check-bucket`). Credentials are refused here:
    /// argv is visible to every user of the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rclone_flags: Vec<String>,
}

/// `sync.sink` with `type: local`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSink {
    /// `path`: absolute directory of one tenant's state; must contain
    /// `${tenantId}`.
    pub path: String,
    /// `rclone_flags`: as for S3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rclone_flags: Vec<String>,
}

/// One entry of `sync.mappings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// `path`: a file or directory relative to the state dir; `/` is all of
    /// it. A leading `/` is allowed and means the same as without.
    pub path: String,
    /// `direction` (default `bidirectional`).
    #[serde(default)]
    pub direction: Direction,
    /// `mode` (default `sync`).
    #[serde(default)]
    pub mode: Mode,
}

/// `mappings[].direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Remote → state dir only (on claim or a manual download).
    Download,
    /// State dir → remote only (on release, periodic or a manual upload).
    Upload,
    /// Download on claim, upload on release and periodically. Not rclone
    /// bisync: the container is the only writer while it is claimed.
    #[default]
    Bidirectional,
}

impl Direction {
    /// Whether a download moves this mapping.
    pub fn downloads(self) -> bool {
        matches!(self, Direction::Download | Direction::Bidirectional)
    }

    /// Whether an upload moves this mapping.
    pub fn uploads(self) -> bool {
        matches!(self, Direction::Upload | Direction::Bidirectional)
    }
}

/// `mappings[].mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Mirror: the destination ends equal to the source, files missing
    /// from the source are deleted from the destination.
    #[default]
    Sync,
    /// Add and update only; nothing is deleted at the destination.
    Copy,
}

/// `sync.policy`: when syncs run. Defaults: on claim, on release and on
/// manual request; no periodic upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncPolicy {
    /// `on_claim`: download when a tenant claims a container.
    #[serde(default = "yes")]
    pub on_claim: bool,
    /// `on_release`: upload when a tenant releases its container.
    #[serde(default = "yes")]
    pub on_release: bool,
    /// `manual`: allow syncs on request (`POST …/sync`).
    #[serde(default = "yes")]
    pub manual: bool,
    /// `periodic`: upload at this period while claimed (`5m`, `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic: Option<Period>,
}

fn yes() -> bool {
    true
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            on_claim: true,
            on_release: true,
            manual: true,
            periodic: None,
        }
    }
}

/// A duration written the human way (`30s`, `5m`, `1h 30m`), parsed with
/// humantime so a bad one fails at parse time with the text it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period(pub Duration);

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Period)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?} ({e}): write it like 30s, 5m or 1h"
                ))
            })
    }
}

/// A credential from a spec: kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret value, for the one place that hands it to rclone.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}
