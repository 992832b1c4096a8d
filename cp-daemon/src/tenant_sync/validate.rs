//! The rules of a `sync:` section that serde cannot express. Pure.

use super::spec::{LocalSink, Mapping, S3Sink, Sink, SyncSpec};
use super::tenant::{template_components, TENANT_PLACEHOLDER};

/// A rule a `sync:` section breaks, naming the key (`sync.sink.bucket`,
/// `sync.mappings[1].path`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SpecError {
    /// The offending key, from `sync.` down.
    pub key: String,
    /// What is wrong and what to write instead.
    pub reason: String,
}

fn bad(key: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Glob characters of rclone's filter syntax: mapping paths become filter
/// rules, so these would widen what a mapping matches.
const FILTER_METACHARS: &[char] = &['*', '?', '[', ']', '{', '}', '\\'];

/// rclone flags that would put a credential on argv (visible in `ps`) or
/// make rclone read or write outside the tenant's prefix and state dir.
const REFUSED_FLAGS: &[&str] = &[
    "--config",
    "--backup-dir",
    "--compare-dest",
    "--copy-dest",
    "--files-from",
    "--files-from-raw",
    "--filter-from",
    "--include-from",
    "--exclude-from",
    "--log-file",
    "--cache-dir",
    "--temp-dir",
    "--password-command",
];

/// Words in a flag name that mean it carries a credential.
const SECRET_WORDS: &[&str] = &["key", "secret", "token", "pass", "auth"];

impl SyncSpec {
    /// Checks every rule; the first broken one is returned, naming its key.
    pub fn validate(&self) -> Result<(), SpecError> {
        match &self.sink {
            Sink::S3(s3) => validate_s3(s3)?,
            Sink::Local(local) => validate_local(local)?,
        }
        validate_mappings(&self.mappings)?;
        if let Some(period) = self.policy.periodic {
            if period.0.is_zero() {
                return Err(bad("sync.policy.periodic", "must be longer than 0s"));
            }
            if !self.mappings.iter().any(|m| m.direction.uploads()) {
                return Err(bad(
                    "sync.policy.periodic",
                    "set, but no mapping uploads (direction upload or bidirectional)",
                ));
            }
        }
        Ok(())
    }
}

fn validate_s3(s3: &S3Sink) -> Result<(), SpecError> {
    if let Some(endpoint) = &s3.endpoint {
        let rest = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {}
            _ => {
                return Err(bad(
                    "sync.sink.endpoint",
                    format!("{endpoint:?} is not an http:// or https:// URL"),
                ))
            }
        }
    }
    if let Some(region) = &s3.region {
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad(
                "sync.sink.region",
                format!("{region:?} is not a region name (like us-east-1)"),
            ));
        }
    }
    if let Some(provider) = &s3.provider {
        if provider.is_empty() || !provider.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad(
                "sync.sink.provider",
                format!("{provider:?} is not an rclone S3 provider name (like AWS, Minio)"),
            ));
        }
    }
    if s3.bucket.is_empty() {
        return Err(bad("sync.sink.bucket", "must not be empty"));
    }
    if !s3
        .bucket
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(bad(
            "sync.sink.bucket",
            format!(
                "{:?} is not a bucket name (letters, digits, '-', '.', '_'; the key path goes in prefix)",
                s3.bucket
            ),
        ));
    }
    validate_template("sync.sink.prefix", &s3.prefix)?;
    validate_credential_pair(s3)?;
    validate_flags("sync.sink.rclone_flags", &s3.rclone_flags)
}

fn validate_local(local: &LocalSink) -> Result<(), SpecError> {
    if !local.path.starts_with('/') {
        return Err(bad(
            "sync.sink.path",
            format!("{:?} must be an absolute path", local.path),
        ));
    }
    validate_template("sync.sink.path", &local.path)?;
    validate_flags("sync.sink.rclone_flags", &local.rclone_flags)
}

/// A prefix or path template: holds `${tenantId}` (so tenants never share
/// it), no other placeholder, and no `.`/`..` component that could climb
/// out of it once the tenant id is put in.
fn validate_template(key: &str, template: &str) -> Result<(), SpecError> {
    if !template.contains(TENANT_PLACEHOLDER) {
        return Err(bad(
            key,
            format!(
                "{template:?} must contain {TENANT_PLACEHOLDER}, or every tenant would share one place"
            ),
        ));
    }
    if template.replace(TENANT_PLACEHOLDER, "").contains("${") {
        return Err(bad(
            key,
            format!("{template:?} has a placeholder other than {TENANT_PLACEHOLDER}"),
        ));
    }
    if template.chars().any(char::is_control) {
        return Err(bad(key, "must not contain control characters"));
    }
    if template_components(template).any(|c| c == "." || c == "..") {
        return Err(bad(
            key,
            format!("{template:?} must not contain '.' or '..' components"),
        ));
    }
    Ok(())
}

fn validate_credential_pair(s3: &S3Sink) -> Result<(), SpecError> {
    let pairs = [
        (
            "access_key_id",
            s3.access_key_id.is_some(),
            &s3.access_key_id_env,
        ),
        (
            "secret_access_key",
            s3.secret_access_key.is_some(),
            &s3.secret_access_key_env,
        ),
    ];
    for (name, inline, env) in &pairs {
        if *inline && env.is_some() {
            return Err(bad(
                format!("sync.sink.{name}_env"),
                format!("set both {name} and {name}_env: keep one"),
            ));
        }
        if let Some(var) = env {
            let mut chars = var.chars();
            let first_ok = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(
                    format!("sync.sink.{name}_env"),
                    format!("{var:?} is not an environment variable name"),
                ));
            }
        }
    }
    let has_id = pairs[0].1 || pairs[0].2.is_some();
    let has_secret = pairs[1].1 || pairs[1].2.is_some();
    if has_id != has_secret {
        let missing = if has_id {
            "secret_access_key"
        } else {
            "access_key_id"
        };
        return Err(bad(
            format!("sync.sink.{missing}"),
            format!("missing: give {missing} (or {missing}_env) with its pair, or neither for anonymous access"),
        ));
    }
    Ok(())
}

fn validate_flags(key: &str, flags: &[String]) -> Result<(), SpecError> {
    for (i, flag) in flags.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let name = flag.split('=').next().unwrap_or(flag);
        if !name.starts_with("--") || name.len() < 3 || name.contains(char::is_whitespace) {
            return Err(bad(
                key,
                format!("{flag:?} must be one --name or --name=value token"),
            ));
        }
        if REFUSED_FLAGS.contains(&name) {
            return Err(bad(
                key,
                format!(
                    "{name} is not allowed: it reaches outside the tenant's prefix or state dir"
                ),
            ));
        }
        // A tenant's container writes the state dir: following its
        // symlinks would upload host files into the tenant's sink.
        if name.contains("link") && name != "--skip-links" {
            return Err(bad(
                key,
                format!("{name} is not allowed: symlinks in a state dir are never followed"),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
            return Err(bad(
                key,
                format!(
                    "{name} looks like a credential, and argv is visible to every user of the host: use access_key_id_env / secret_access_key_env"
                ),
            ));
        }
    }
    Ok(())
}

fn validate_mappings(mappings: &[Mapping]) -> Result<(), SpecError> {
    if mappings.is_empty() {
        return Err(bad(
            "sync.mappings",
            "at least one mapping is required (path: / syncs the whole state dir)",
        ));
    }
    let mut seen: Vec<(usize, String)> = Vec::with_capacity(mappings.len());
    for (i, m) in mappings.iter().enumerate() {
        let key = format!("sync.mappings[{i}].path");
        let rel = m.relative_path().map_err(|reason| bad(&key, reason))?;
        for (j, other) in &seen {
            if overlaps(&rel, other) {
                return Err(bad(
                    key,
                    format!(
                        "{:?} overlaps sync.mappings[{j}].path {:?}: a file must belong to one mapping",
                        m.path, mappings[*j].path
                    ),
                ));
            }
        }
        seen.push((i, rel));
    }
    Ok(())
}

/// Whether one relative path is the other or lies inside it (`""` is the
/// whole state dir).
fn overlaps(a: &str, b: &str) -> bool {
    let inside = |x: &str, y: &str| y.is_empty() || x == y || x.starts_with(&format!("{y}/"));
    inside(a, b) || inside(b, a)
}

impl Mapping {
    /// The mapping's path relative to the state dir, normalised: no
    /// leading or trailing `/`, `""` for the whole dir. Refuses anything
    /// that could leave the state dir or widen an rclone filter.
    pub fn relative_path(&self) -> Result<String, String> {
        let path = self.path.as_str();
        if path.is_empty() {
            return Err("must not be empty (write / for the whole state dir)".into());
        }
        if path.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        if path.contains(FILTER_METACHARS) {
            return Err(format!(
                "{path:?} must not contain any of * ? [ ] {{ }} \\ (mappings name files and directories, not patterns)"
            ));
        }
        let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        if parts.iter().any(|c| *c == "." || *c == "..") {
            return Err(format!(
                "{path:?} must not contain '.' or '..' components: mappings stay inside the state dir"
            ));
        }
        Ok(parts.join("/"))
    }
}
