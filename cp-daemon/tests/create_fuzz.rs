//! Random and malformed bodies thrown at `POST /containers` through the
//! real agent: every answer is a 4xx with a JSON error, never a 5xx, and
//! the agent stays up.

mod support;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use support::Coold;

const FIELDS: &[&str] = &[
    "name",
    "image",
    "cmd",
    "entrypoint",
    "env",
    "labels",
    "namespace",
    "working_dir",
    "user",
    "hostname",
    "network",
    "ports",
    "mounts",
    "restart_policy",
    "memory_bytes",
    "nano_cpus",
    "healthcheck",
    "runtime",
    "privileged",
    "cap_add",
    "cap_drop",
    "pid_mode",
    "ipc_mode",
    "uts_mode",
    "userns_mode",
    "devices",
    "security_opt",
    "type",
    "source",
    "target",
    "container_port",
    "host_port",
    "test",
    "interval_ms",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(vec![
            "host",
            "runsc",
            "/etc",
            "..",
            "SYS_ADMIN",
            "localhost/nope:v1",
            "bind",
            "volume",
            "tmpfs",
            "\u{0}"
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// A body shaped like a create request: known fields with random values.
fn create_like() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(FIELDS), value()), 0..8).prop_map(|kv| {
        Value::Object(
            kv.into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<Map<_, _>>(),
        )
        .to_string()
    })
}

/// Well-typed bodies with random values, so that many pass decoding and
/// reach validation, the deny filter, the runtime table and the engine.
fn well_typed() -> impl Strategy<Value = String> {
    let text = || {
        prop_oneof![
            ".{0,12}",
            Just("\u{0}".to_string()),
            Just("/etc".to_string()),
            Just("..".to_string())
        ]
    };
    (
        // Podman resolves an image by any prefix of its hex id, so a random
        // all-hex string can name a real local image (seen: "3a" created a
        // busybox container); such strings are left out.
        prop_oneof![3 => Just("localhost/coolify-fuzz-absent:v1".to_string()), 1 => "[a-z0-9][a-z0-9./:@_-]{0,20}", 1 => ".{0,8}"]
            .prop_filter("not an image id prefix", |s| !s.chars().all(|c| c.is_ascii_hexdigit())),
        prop::option::weighted(0.2, text()),
        prop::option::of(prop::collection::vec(text(), 0..3)),
        prop::collection::btree_map("[A-Z_]{1,6}", text(), 0..3),
        prop::option::weighted(0.2, any::<u64>()),
        prop::option::weighted(0.2, any::<u64>()),
        prop::option::of(prop::sample::select(vec!["runc", "runsc", "crun", "kata", ""])),
        prop::option::weighted(0.2, text()),
        prop::collection::vec((any::<u16>(), prop::option::of(any::<u16>()), prop::option::weighted(0.1, text())), 0..2),
        prop::collection::vec((prop::sample::select(vec!["bind", "volume", "tmpfs"]), prop::option::of(text()), text()), 0..2),
    )
        .prop_map(|(image, name, cmd, env, mem, cpus, runtime, network, ports, mounts)| {
            json!({
                "image": image, "name": name, "cmd": cmd, "env": env,
                "memory_bytes": mem, "nano_cpus": cpus, "runtime": runtime, "network": network,
                "ports": ports.into_iter().map(|(c, h, ip)| json!({"container_port": c, "host_port": h, "host_ip": ip})).collect::<Vec<_>>(),
                "mounts": mounts.into_iter().map(|(t, s, d)| json!({"type": t, "source": s, "target": d})).collect::<Vec<_>>(),
            })
            .to_string()
        })
}

/// Bodies whose every value is drawn from its field's legal space, with an
/// image that is not there: these pass decoding, validation and the deny
/// filter, so the engine itself answers (404). `well_typed` alone reached
/// the engine in about 2% of cases, so a run of 160 sometimes never did
/// (seen in CI); with these, about one case in seven does.
fn valid_but_absent_image() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-z0-9][a-z0-9_.-]{0,20}"),
        prop::option::of(prop::collection::vec("[ -~]{0,12}", 0..3)),
        prop::collection::btree_map("[A-Z_]{1,6}", "[ -~]{0,12}", 0..3),
        prop::option::of(6u64 * 1024 * 1024..=1u64 << 40),
        prop::option::of(10_000_000u64..=1_000_000_000),
        prop::option::of(Just("runc")),
        prop::collection::vec((1u16..=65535, prop::option::of(1u16..=65535)), 0..2),
        prop::option::of("/[a-z]{1,8}"),
    )
        .prop_map(|(name, cmd, env, mem, cpus, runtime, ports, working_dir)| {
            json!({
                "image": "localhost/coolify-fuzz-absent:v1", "name": name, "cmd": cmd, "env": env,
                "memory_bytes": mem, "nano_cpus": cpus, "runtime": runtime, "working_dir": working_dir,
                "ports": ports.into_iter().map(|(c, h)| json!({"container_port": c, "host_port": h})).collect::<Vec<_>>(),
            })
            .to_string()
        })
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        well_typed(),
        well_typed(),
        valid_but_absent_image(),
        create_like(),
        value().prop_map(|v| v.to_string()),
        // malformed: cut JSON, random text
        create_like().prop_map(|s| s.chars().take(s.chars().count() / 2).collect()),
        "[ -~]{0,64}",
    ]
}

#[test]
fn random_bodies_get_only_4xx() {
    let c = Coold::start(&[]);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 160,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    runner
        .run(&body(), |b| {
            let (code, text) = c.request("POST", "/api/v1/containers", Some(&b));
            *seen.borrow_mut().entry(code).or_default() += 1;
            if code == 201 {
                // Never leave what a failing case created behind.
                if let Some(id) = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_string))
                {
                    let _ = c.request(
                        "DELETE",
                        &format!("/api/v1/containers/{id}?force=true"),
                        None,
                    );
                }
            }
            prop_assert!((400..500).contains(&code), "{code} for {b:?}: {text}");
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert!(v["error"].is_string(), "{text}");
            Ok(())
        })
        .unwrap();
    // The bodies must get past decoding too, or the engine is never asked.
    let seen = seen.into_inner();
    eprintln!("statuses: {seen:?}");
    assert!(seen.contains_key(&400), "{seen:?}");
    assert!(
        seen.contains_key(&404),
        "no body reached the engine: {seen:?}"
    );
    // still alive and answering
    assert_eq!(c.request("GET", "/api/v1/host/info", None).0, 200);
}
