//! What one rclone run gets: its argv and its environment. Pure: the
//! runner ([`super::runner`]) only spawns what this module builds, so the
//! rule "credentials go in the environment, never argv" is unit-tested here.

use std::ffi::OsString;
use std::path::Path;

use super::spec::{Mode, S3Sink, Sink};

/// The name of the rclone remote an S3 sink is defined as, through
/// `RCLONE_CONFIG_<NAME>_*` variables.
const REMOTE: &str = "coolifysink";
const REMOTE_ENV: &str = "RCLONE_CONFIG_COOLIFYSINK_";

/// Flags on every run. `--config ""` keeps rclone off any config file (the
/// sink is defined wholly by the environment). Retries are few because a
/// failed sync is returned to the caller, which owns the retry policy.
const BASE_FLAGS: &[&str] = &[
    "--config",
    "",
    "--retries",
    "1",
    "--low-level-retries",
    "3",
    "--contimeout",
    "10s",
    "--timeout",
    "60s",
];

/// An S3 sink's credentials, resolved from the spec or the agent's
/// environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// One rclone process to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Everything after the program name.
    pub args: Vec<OsString>,
    /// The whole environment (the child's is cleared first, so nothing of
    /// the agent's own environment leaks into rclone or changes it).
    pub env: Vec<(String, String)>,
}

/// Where a tenant's state lives, as an rclone path: `coolifysink:bucket/…`
/// for S3, a plain directory for a local sink. `place` is the prefix or
/// path with the tenant id already put in.
pub fn remote_root(sink: &Sink, place: &str) -> OsString {
    let trimmed = place.trim_matches('/');
    match sink {
        Sink::S3(s3) => format!("{REMOTE}:{}/{trimmed}", s3.bucket).into(),
        Sink::Local(_) => format!("/{trimmed}").into(),
    }
}

/// The environment defining the S3 remote. Path-style addressing whenever
/// an endpoint is set: MinIO, R2 and other S3 clones expect it.
pub fn sink_env(sink: &Sink, creds: Option<&Credentials>) -> Vec<(String, String)> {
    let Sink::S3(s3) = sink else {
        return Vec::new();
    };
    let mut env = vec![
        var("TYPE", "s3"),
        var("PROVIDER", provider(s3)),
        var("REGION", s3.region.as_deref().unwrap_or("us-east-1")),
        var("ENV_AUTH", "false"),
    ];
    if let Some(endpoint) = &s3.endpoint {
        env.push(var("ENDPOINT", endpoint));
        env.push(var("FORCE_PATH_STYLE", "true"));
    }
    if let Some(c) = creds {
        env.push(var("ACCESS_KEY_ID", &c.access_key_id));
        env.push(var("SECRET_ACCESS_KEY", &c.secret_access_key));
    }
    env
}

fn var(name: &str, value: &str) -> (String, String) {
    (format!("{REMOTE_ENV}{name}"), value.to_owned())
}

fn provider(s3: &S3Sink) -> &str {
    match (&s3.provider, &s3.endpoint) {
        (Some(p), _) => p,
        (None, Some(_)) => "Other",
        (None, None) => "AWS",
    }
}

/// `rclone sync|copy <src> <dst>` for one mapping. `rel` is the mapping's
/// normalised path (`""` = the whole dir): other paths are filtered out,
/// so a `sync` deletes only inside its own mapping.
pub fn transfer_args(
    mode: Mode,
    src: &Path,
    dst: &Path,
    rel: &str,
    sink_flags: &[String],
) -> Vec<OsString> {
    let verb = match mode {
        Mode::Sync => "sync",
        Mode::Copy => "copy",
    };
    let mut args: Vec<OsString> = vec![verb.into(), src.into(), dst.into()];
    if !rel.is_empty() {
        // The path itself (a file or a directory) and everything under it.
        for rule in [format!("+ /{rel}"), format!("+ /{rel}/**"), "- **".into()] {
            args.push("--filter".into());
            args.push(rule.into());
        }
    }
    args.extend(BASE_FLAGS.iter().map(OsString::from));
    args.extend(sink_flags.iter().map(OsString::from));
    args
}

/// The `rclone_flags` of a sink.
pub fn sink_flags(sink: &Sink) -> &[String] {
    match sink {
        Sink::S3(s3) => &s3.rclone_flags,
        Sink::Local(local) => &local.rclone_flags,
    }
}

/// rclone's exit code for "directory not found": on a download, the
/// tenant has nothing stored yet (or the bucket does not exist yet).
pub const EXIT_DIRECTORY_NOT_FOUND: i32 = 3;

/// `text` with every secret replaced, for error messages and logs.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |t, s| t.replace(s, "[redacted]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant_sync::spec::LocalSink;

    fn s3(endpoint: Option<&str>) -> Sink {
        Sink::S3(S3Sink {
            endpoint: endpoint.map(str::to_owned),
            bucket: "state".into(),
            prefix: "t/${tenantId}/".into(),
            rclone_flags: vec!["--s3-no-check-bucket".into()],
            ..S3Sink::default()
        })
    }

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "AKID-in-env-only".into(),
            secret_access_key: "s3cr3t-in-env-only".into(),
        }
    }

    #[test]
    fn credentials_go_in_the_environment_never_argv() {
        let sink = s3(Some("http://127.0.0.1:9000"));
        let env = sink_env(&sink, Some(&creds()));
        let args = transfer_args(
            Mode::Sync,
            Path::new("/state/x"),
            Path::new("coolifysink:state/t/a"),
            "",
            sink_flags(&sink),
        );
        let argv = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!argv.contains("AKID-in-env-only"), "{argv}");
        assert!(!argv.contains("s3cr3t-in-env-only"), "{argv}");
        assert!(env.contains(&(
            "RCLONE_CONFIG_COOLIFYSINK_SECRET_ACCESS_KEY".into(),
            "s3cr3t-in-env-only".into()
        )));
        assert!(env.contains(&(
            "RCLONE_CONFIG_COOLIFYSINK_ACCESS_KEY_ID".into(),
            "AKID-in-env-only".into()
        )));
    }

    #[test]
    fn a_custom_endpoint_is_honoured_with_path_style() {
        let env = sink_env(&s3(Some("http://127.0.0.1:9000")), None);
        assert!(env.contains(&(
            "RCLONE_CONFIG_COOLIFYSINK_ENDPOINT".into(),
            "http://127.0.0.1:9000".into()
        )));
        assert!(env.contains(&(
            "RCLONE_CONFIG_COOLIFYSINK_FORCE_PATH_STYLE".into(),
            "true".into()
        )));
        assert!(env.contains(&("RCLONE_CONFIG_COOLIFYSINK_PROVIDER".into(), "Other".into())));
        let aws = sink_env(&s3(None), None);
        assert!(aws.contains(&("RCLONE_CONFIG_COOLIFYSINK_PROVIDER".into(), "AWS".into())));
        assert!(!aws.iter().any(|(k, _)| k.ends_with("_ENDPOINT")));
    }

    #[test]
    fn a_local_sink_needs_no_environment() {
        let sink = Sink::Local(LocalSink {
            path: "/srv/${tenantId}".into(),
            rclone_flags: vec![],
        });
        assert!(sink_env(&sink, None).is_empty());
        assert_eq!(remote_root(&sink, "/srv/a/"), OsString::from("/srv/a"));
    }

    #[test]
    fn the_remote_root_joins_bucket_and_prefix() {
        assert_eq!(
            remote_root(&s3(None), "tenants/a/"),
            OsString::from("coolifysink:state/tenants/a")
        );
    }

    #[test]
    fn a_sub_path_mapping_filters_to_itself() {
        let args = transfer_args(Mode::Copy, Path::new("/s"), Path::new("/d"), "cache", &[]);
        let text: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&text[..3], ["copy", "/s", "/d"]);
        assert_eq!(
            &text[3..9],
            [
                "--filter",
                "+ /cache",
                "--filter",
                "+ /cache/**",
                "--filter",
                "- **"
            ]
        );
    }

    #[test]
    fn scrub_removes_every_secret() {
        assert_eq!(
            scrub("key AK and SK here, AK again", &["AK", "SK", ""]),
            "key [redacted] and [redacted] here, [redacted] again"
        );
    }
}
