//! Unit tests of the `sync:` types: parsing, validation, tenant paths.
//! JSON stands in for YAML here: both go through the same serde types.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;

fn s3_spec() -> Value {
    json!({
        "sink": {
            "type": "s3",
            "endpoint": "http://127.0.0.1:9000",
            "region": "us-east-1",
            "bucket": "state",
            "prefix": "tenants/${tenantId}/",
            "access_key_id_env": "SYNC_KEY_ID",
            "secret_access_key_env": "SYNC_SECRET",
            "rclone_flags": ["--s3-no-check-bucket"]
        },
        "mappings": [
            {"path": "/credentials", "direction": "bidirectional", "mode": "sync"},
            {"path": "cache", "direction": "upload", "mode": "copy"}
        ],
        "policy": {"on_claim": true, "on_release": true, "manual": false, "periodic": "5m"}
    })
}

/// Parses like the pools concern will: serde_path_to_error names the key.
fn parse(v: Value) -> Result<SyncSpec, String> {
    serde_path_to_error::deserialize(v).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

fn with(mut v: Value, pointer: &str, new: Value) -> Value {
    *v.pointer_mut(pointer)
        .expect("pointer into the sample spec") = new;
    v
}

fn without(mut v: Value, pointer: &str, field: &str) -> Value {
    v.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .expect("object in the sample spec")
        .remove(field);
    v
}

#[test]
fn the_seed_example_parses_and_validates() {
    let spec = parse(s3_spec()).unwrap();
    spec.validate().unwrap();
    let Sink::S3(s3) = &spec.sink else {
        panic!("s3 sink expected")
    };
    assert_eq!(s3.bucket, "state");
    assert_eq!(spec.mappings[1].direction, Direction::Upload);
    assert_eq!(spec.mappings[1].mode, Mode::Copy);
    assert_eq!(spec.policy.periodic, Some(Period(Duration::from_secs(300))));
    assert!(!spec.policy.manual);
}

#[test]
fn a_local_sink_parses_and_validates() {
    let spec = parse(json!({
        "sink": {"type": "local", "path": "/srv/state/${tenantId}"},
        "mappings": [{"path": "/"}]
    }))
    .unwrap();
    spec.validate().unwrap();
    assert_eq!(spec.mappings[0].direction, Direction::Bidirectional);
    assert_eq!(spec.mappings[0].mode, Mode::Sync);
    assert_eq!(spec.policy, SyncPolicy::default());
}

#[test]
fn a_spec_survives_a_round_trip() {
    let spec = parse(s3_spec()).unwrap();
    let again = parse(serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(spec, again);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let v = with_key(
        without(
            without(s3_spec(), "/sink", "access_key_id_env"),
            "/sink",
            "secret_access_key_env",
        ),
        "/sink/secret_access_key",
        json!("hunter2-very-secret"),
    );
    let v = with_key(v, "/sink/access_key_id", json!("AKIDVISIBLE"));
    let spec = parse(v).unwrap();
    spec.validate().unwrap();
    let shown = format!("{spec:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("AKIDVISIBLE"), "{shown}");
}

fn with_key(mut v: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a key");
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("object in the sample spec")
        .insert(key.to_owned(), new);
    v
}

/// Keys serde itself refuses: the parse error names the key.
#[test]
fn each_unparseable_key_is_refused_by_name() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown top key",
            with_key(s3_spec(), "/schedule", json!(1)),
            "schedule",
        ),
        (
            "unknown sink key",
            with_key(s3_spec(), "/sink/buckett", json!("x")),
            "buckett",
        ),
        (
            "unknown mapping key",
            with_key(s3_spec(), "/mappings/0/dir", json!("x")),
            "dir",
        ),
        (
            "unknown policy key",
            with_key(s3_spec(), "/policy/on_start", json!(true)),
            "on_start",
        ),
        (
            "unknown sink type",
            with(s3_spec(), "/sink/type", json!("gcs")),
            "gcs",
        ),
        (
            "bad direction",
            with(s3_spec(), "/mappings/0/direction", json!("both")),
            "mappings[0].direction",
        ),
        (
            "bad mode",
            with(s3_spec(), "/mappings/1/mode", json!("mirror")),
            "mappings[1].mode",
        ),
        (
            "bad duration",
            with(s3_spec(), "/policy/periodic", json!("5 fortnights")),
            "policy.periodic",
        ),
        (
            "missing bucket",
            without(s3_spec(), "/sink", "bucket"),
            "bucket",
        ),
        (
            "missing prefix",
            without(s3_spec(), "/sink", "prefix"),
            "prefix",
        ),
        (
            "missing mappings",
            without(s3_spec(), "", "mappings"),
            "mappings",
        ),
        (
            "local sink with an s3 key",
            json!({
                "sink": {"type": "local", "path": "/srv/${tenantId}", "bucket": "b"},
                "mappings": [{"path": "/"}]
            }),
            "bucket",
        ),
    ];
    for (what, spec, named) in cases {
        let err = parse(spec).expect_err(what);
        assert!(err.contains(named), "{what}: {err:?} should name {named}");
    }
}

/// Keys that parse but break a rule: `validate` names the key.
#[test]
fn each_invalid_key_is_refused_by_name() {
    let local =
        |path: &str| json!({"sink": {"type": "local", "path": path}, "mappings": [{"path": "/"}]});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "empty bucket",
            with(s3_spec(), "/sink/bucket", json!("")),
            "sync.sink.bucket",
        ),
        (
            "bucket with a path",
            with(s3_spec(), "/sink/bucket", json!("b/x")),
            "sync.sink.bucket",
        ),
        (
            "prefix without tenant",
            with(s3_spec(), "/sink/prefix", json!("tenants/")),
            "sync.sink.prefix",
        ),
        (
            "prefix climbing out",
            with(s3_spec(), "/sink/prefix", json!("t/../${tenantId}")),
            "sync.sink.prefix",
        ),
        (
            "prefix with a dot part",
            with(s3_spec(), "/sink/prefix", json!("./${tenantId}")),
            "sync.sink.prefix",
        ),
        (
            "prefix with another placeholder",
            with(s3_spec(), "/sink/prefix", json!("${hostId}/${tenantId}")),
            "sync.sink.prefix",
        ),
        (
            "endpoint not a URL",
            with(s3_spec(), "/sink/endpoint", json!("minio:9000")),
            "sync.sink.endpoint",
        ),
        (
            "empty endpoint host",
            with(s3_spec(), "/sink/endpoint", json!("http://")),
            "sync.sink.endpoint",
        ),
        (
            "bad region",
            with(s3_spec(), "/sink/region", json!("us east")),
            "sync.sink.region",
        ),
        (
            "bad provider",
            with_key(s3_spec(), "/sink/provider", json!("Mini o")),
            "sync.sink.provider",
        ),
        (
            "inline and env key id",
            with_key(s3_spec(), "/sink/access_key_id", json!("A")),
            "sync.sink.access_key_id_env",
        ),
        (
            "bad env var name",
            with(s3_spec(), "/sink/secret_access_key_env", json!("1-SECRET")),
            "sync.sink.secret_access_key_env",
        ),
        (
            "key id without secret",
            without(s3_spec(), "/sink", "secret_access_key_env"),
            "sync.sink.secret_access_key",
        ),
        (
            "secret without key id",
            without(s3_spec(), "/sink", "access_key_id_env"),
            "sync.sink.access_key_id",
        ),
        (
            "flag not a flag",
            with(s3_spec(), "/sink/rclone_flags", json!(["-v"])),
            "sync.sink.rclone_flags[0]",
        ),
        (
            "flag with separate value",
            with(
                s3_spec(),
                "/sink/rclone_flags",
                json!(["--s3-no-check-bucket", "--transfers 4"]),
            ),
            "sync.sink.rclone_flags[1]",
        ),
        (
            "secret on argv",
            with(
                s3_spec(),
                "/sink/rclone_flags",
                json!(["--s3-secret-access-key=x"]),
            ),
            "sync.sink.rclone_flags[0]",
        ),
        (
            "flag leaving the prefix",
            with(
                s3_spec(),
                "/sink/rclone_flags",
                json!(["--backup-dir=s:other"]),
            ),
            "sync.sink.rclone_flags[0]",
        ),
        (
            "flag following symlinks",
            with(s3_spec(), "/sink/rclone_flags", json!(["--copy-links"])),
            "sync.sink.rclone_flags[0]",
        ),
        (
            "no mappings",
            with(s3_spec(), "/mappings", json!([])),
            "sync.mappings",
        ),
        (
            "empty mapping path",
            with(s3_spec(), "/mappings/1/path", json!("")),
            "sync.mappings[1].path",
        ),
        (
            "mapping escaping",
            with(s3_spec(), "/mappings/1/path", json!("../etc")),
            "sync.mappings[1].path",
        ),
        (
            "mapping escaping deep",
            with(s3_spec(), "/mappings/1/path", json!("cache/../../x")),
            "sync.mappings[1].path",
        ),
        (
            "mapping with a glob",
            with(s3_spec(), "/mappings/1/path", json!("cache/*")),
            "sync.mappings[1].path",
        ),
        (
            "mapping overlapping root",
            with(s3_spec(), "/mappings/1/path", json!("/")),
            "sync.mappings[1].path",
        ),
        (
            "mapping inside another",
            with(s3_spec(), "/mappings/1/path", json!("credentials/aws")),
            "sync.mappings[1].path",
        ),
        (
            "same mapping twice",
            with(s3_spec(), "/mappings/1/path", json!("credentials/")),
            "sync.mappings[1].path",
        ),
        (
            "zero period",
            with(s3_spec(), "/policy/periodic", json!("0s")),
            "sync.policy.periodic",
        ),
        (
            "period with nothing to upload",
            with(
                with(
                    s3_spec(),
                    "/mappings",
                    json!([{"path": "/", "direction": "download"}]),
                ),
                "/policy/periodic",
                json!("1m"),
            ),
            "sync.policy.periodic",
        ),
        (
            "relative local path",
            local("srv/${tenantId}"),
            "sync.sink.path",
        ),
        (
            "local path without tenant",
            local("/srv/state"),
            "sync.sink.path",
        ),
        (
            "local path climbing out",
            local("/srv/${tenantId}/.."),
            "sync.sink.path",
        ),
    ];
    for (what, spec, key) in cases {
        let spec = parse(spec).unwrap_or_else(|e| panic!("{what}: should parse: {e}"));
        let err = spec.validate().expect_err(what);
        assert_eq!(err.key, key, "{what}: {err}");
        assert!(err.to_string().starts_with(key), "{what}: {err}");
    }
}

#[test]
fn sibling_mappings_with_a_common_name_start_do_not_overlap() {
    let spec = with(
        s3_spec(),
        "/mappings",
        json!([{"path": "cache"}, {"path": "cache2"}, {"path": "data/cache"}]),
    );
    parse(spec).unwrap().validate().unwrap();
}

#[test]
fn mapping_paths_normalise_to_relative() {
    let rel = |p: &str| {
        Mapping {
            path: p.into(),
            direction: Direction::Upload,
            mode: Mode::Copy,
        }
        .relative_path()
    };
    assert_eq!(rel("/").unwrap(), "");
    assert_eq!(rel("/credentials/").unwrap(), "credentials");
    assert_eq!(rel("a//b").unwrap(), "a/b");
    assert!(rel("a/./b").is_err());
}

#[test]
fn tenant_ids_with_path_characters_are_refused() {
    for good in ["a", "tenant-1", "T_2.x", "0"] {
        check_tenant_id(good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    let long = "a".repeat(129);
    for bad in [
        "",
        ".",
        "..",
        ".hidden",
        "a/b",
        "a\\b",
        "a b",
        "-x",
        "a\0",
        "é",
        long.as_str(),
    ] {
        assert!(check_tenant_id(bad).is_err(), "{bad:?} should be refused");
        assert!(substitute("t/${tenantId}", bad).is_err());
    }
}

#[test]
fn two_tenants_prefixes_never_overlap() {
    let ids = ["a", "ab", "a.b", "a-b", "b", "A"];
    for template in [
        "tenants/${tenantId}/",
        "x${tenantId}y",
        "${tenantId}/${tenantId}",
    ] {
        let paths: Vec<String> = ids
            .iter()
            .map(|id| {
                substitute(template, id)
                    .unwrap()
                    .trim_end_matches('/')
                    .to_owned()
            })
            .collect();
        for (i, a) in paths.iter().enumerate() {
            for (j, b) in paths.iter().enumerate() {
                if i != j {
                    assert_ne!(a, b, "{template}");
                    assert!(!b.starts_with(&format!("{a}/")), "{a} contains {b}");
                }
            }
        }
    }
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    fn spec_with(prefix: String, path: String) -> SyncSpec {
        SyncSpec {
            sink: Sink::S3(S3Sink {
                bucket: "b".into(),
                prefix,
                ..S3Sink::default()
            }),
            mappings: vec![Mapping {
                path,
                direction: Direction::Bidirectional,
                mode: Mode::Sync,
            }],
            policy: SyncPolicy::default(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever a spec holds, validation answers without panicking, and
        /// an accepted spec keeps every tenant inside its own place and
        /// every mapping inside the state dir.
        #[test]
        fn accepted_specs_never_leave_their_places(
            prefix in "(\\$\\{tenantId\\}|[a-z]|\\.|/|\\$|\\{|\\}){0,12}",
            path in "([a-z]|\\.|/|\\*|\\\\){0,12}",
            tenant in "[a-z0-9./-]{0,6}",
        ) {
            let spec = spec_with(prefix.clone(), path);
            if spec.validate().is_ok() {
                let rel = spec.mappings[0].relative_path().expect("validated");
                prop_assert!(!rel.starts_with('/'));
                prop_assert!(rel.split('/').all(|c| c != ".." && c != "."));
                if let Ok(place) = substitute(&prefix, &tenant) {
                    prop_assert!(place.split('/').all(|c| c != ".." && c != "."), "{place}");
                    prop_assert!(place.contains(&tenant));
                }
            }
        }
    }
}
