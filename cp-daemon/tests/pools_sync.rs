//! Pools with state sync through a real rclone: state survives release →
//! claim on a new container (local sink and a local S3 server), a failing upload keeps the state
//! and the claim, a failing download undoes the claim, manual and periodic
//! uploads reach the sink.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use support::pools::{exec, wait_pool, PoolDirs, Workload};
use support::s3::{list_bucket, MotoServer};
use support::Coold;

const WITHIN: Duration = Duration::from_secs(60);

/// The test spec with a sync section appended.
fn spec_with_sync(w: &Workload, min: u32, sink: &str, policy: &str) -> String {
    format!(
        "{}sync:\n  sink:\n{sink}  mappings:\n    - path: /\n      direction: bidirectional\n      mode: sync\n  policy:\n{policy}",
        w.spec(min, 3)
    )
}

fn local_sink(root: &Path) -> String {
    format!(
        "    type: local\n    path: {}/${{tenantId}}\n",
        root.display()
    )
}

fn put(c: &Coold, spec: &str) {
    let (code, v) = c.json("POST", "/api/v1/workloads", Some(spec));
    assert_eq!(code, 201, "{v}");
}

fn claim(c: &Coold, tenant: &str, workload: &str) -> (u16, serde_json::Value) {
    c.json(
        "POST",
        &format!("/api/v1/tenants/{tenant}/claim"),
        Some(&json!({ "workload": workload }).to_string()),
    )
}

fn release(c: &Coold, tenant: &str) -> (u16, serde_json::Value) {
    c.json(
        "POST",
        &format!("/api/v1/tenants/{tenant}/release"),
        Some("{}"),
    )
}

fn container(v: &serde_json::Value) -> String {
    v["container"].as_str().expect("container").to_string()
}

#[test]
fn state_survives_release_and_a_claim_on_a_new_container() {
    let dirs = PoolDirs::new();
    let sink = dirs.path("sink");
    state_survives(dirs, "sync-local", &local_sink(&sink), || {
        assert_eq!(
            std::fs::read_to_string(sink.join("tenant-a/db/file"))
                .ok()
                .as_deref(),
            Some("v1\n")
        );
    });
}

#[test]
fn state_survives_release_and_a_claim_on_a_new_container_through_s3() {
    let moto = MotoServer::start();
    let sink = format!(
        "    type: s3\n    endpoint: {}\n    region: us-east-1\n    bucket: pool-state\n    prefix: tenants/${{tenantId}}/\n    access_key_id: AKIDPOOLS\n    secret_access_key: secret-pools\n",
        moto.endpoint
    );
    state_survives(PoolDirs::new(), "sync-s3", &sink, || {
        // The endpoint is honoured: the state sits under the tenant's
        // prefix of the test's own S3 server.
        let keys = list_bucket(&moto.endpoint, "pool-state");
        assert!(
            keys.iter().any(|k| k == "tenants/tenant-a/db/file"),
            "{keys:?}"
        );
    });
}

/// Claim, write state, release (uploads), claim again on a new container
/// (downloads): the state is back, and another tenant starts empty.
/// `uploaded` checks the sink right after the release.
fn state_survives(dirs: PoolDirs, workload: &str, sink: &str, uploaded: impl Fn()) {
    let w = Workload::new(workload);
    let c = dirs.start();
    put(
        &c,
        &spec_with_sync(&w, 1, sink, "    on_claim: true\n    on_release: true\n"),
    );
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let (code, first) = claim(&c, "tenant-a", &w.id);
    assert_eq!(code, 200, "{first}");
    let first_name = container(&first);
    let (code, _) = exec(
        &c,
        &first_name,
        &["sh", "-c", "mkdir -p /data/db && echo v1 > /data/db/file"],
    );
    assert_eq!(code, 0);
    let (code, r) = release(&c, "tenant-a");
    assert_eq!((code, &r["outcome"]), (200, &json!("destroyed")), "{r}");
    uploaded();
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let (code, second) = claim(&c, "tenant-a", &w.id);
    assert_eq!(code, 200, "{second}");
    let second_name = container(&second);
    assert_ne!(first_name, second_name, "a new container");
    let (_, file) = exec(&c, &second_name, &["cat", "/data/db/file"]);
    assert_eq!(file, "v1\n", "the state came back from the sink");
    // Another tenant starts empty: its own prefix.
    let (code, other) = claim(&c, "tenant-b", &w.id);
    assert_eq!(code, 200, "{other}");
    let (_, ls) = exec(&c, &container(&other), &["ls", "-A", "/data"]);
    assert_eq!(ls, "");
}

#[test]
fn a_failing_upload_keeps_the_state_and_the_claim() {
    let dirs = PoolDirs::new();
    // The sink lies under a regular file: every upload fails.
    let blocker = dirs.path("blocker");
    std::fs::write(&blocker, b"not a dir").expect("blocker");
    let w = Workload::new("sync-fail-up");
    let c = dirs.start();
    put(
        &c,
        &spec_with_sync(
            &w,
            1,
            &local_sink(&blocker),
            "    on_claim: false\n    on_release: true\n",
        ),
    );
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let (code, v) = claim(&c, "tenant-a", &w.id);
    assert_eq!(code, 200, "{v}");
    let name = container(&v);
    exec(&c, &name, &["sh", "-c", "echo precious > /data/file"]);
    let state = PathBuf::from(v["state_dir"].as_str().expect("state_dir"));

    let (code, r) = release(&c, "tenant-a");
    assert_eq!(code, 502, "{r}");
    let error = r["error"].as_str().unwrap_or("");
    assert!(error.contains("state dir is kept"), "{error}");
    assert!(error.contains("mapping"), "names the mapping: {error}");
    assert_eq!(
        std::fs::read_to_string(state.join("file")).ok().as_deref(),
        Some("precious\n")
    );
    let (code, s) = c.json("GET", "/api/v1/tenants/tenant-a/status", None);
    assert_eq!(
        (code, &s["claims"][0]["container"]),
        (200, &json!(name)),
        "{s}"
    );
    let (_, metrics) = support::http(c.health, "GET", "/metrics", &[], None).expect("metrics");
    assert!(
        !metrics.contains("coold_pool_sync_failures_total 0"),
        "{metrics}"
    );

    // The sink comes back: the retried release uploads, then wipes.
    std::fs::remove_file(&blocker).expect("unblock");
    let (code, r) = release(&c, "tenant-a");
    assert_eq!(code, 200, "{r}");
    assert_eq!(
        std::fs::read_to_string(blocker.join("tenant-a/file"))
            .ok()
            .as_deref(),
        Some("precious\n")
    );
    assert!(!state.exists());
}

#[test]
fn a_failing_download_undoes_the_claim() {
    let dirs = PoolDirs::new();
    // An S3 endpoint on a loopback port nothing listens on.
    let port = support::free_port();
    let sink = format!(
        "    type: s3\n    endpoint: http://127.0.0.1:{port}\n    bucket: state\n    prefix: t/${{tenantId}}\n    rclone_flags: ['--retries=1', '--low-level-retries=1', '--contimeout=2s']\n"
    );
    let w = Workload::new("sync-fail-down");
    let c = dirs.start();
    put(
        &c,
        &spec_with_sync(&w, 1, &sink, "    on_claim: true\n    on_release: false\n"),
    );
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let before = w.containers();
    let (code, v) = claim(&c, "tenant-a", &w.id);
    assert_eq!(code, 502, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("claim was undone"),
        "{v}"
    );
    let (code, s) = c.json("GET", "/api/v1/tenants/tenant-a/status", None);
    assert_eq!(
        (code, s["claims"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{s}"
    );
    // The container it had taken is gone, never handed to anyone else.
    let started = Instant::now();
    while w.containers().iter().any(|n| before.contains(n)) {
        assert!(
            started.elapsed() < WITHIN,
            "the failed claim's container is still there"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn manual_and_periodic_uploads_reach_the_sink() {
    let dirs = PoolDirs::new();
    let sink = dirs.path("sink");
    let w = Workload::new("sync-periodic");
    let c = dirs.start();
    put(
        &c,
        &spec_with_sync(
            &w,
            1,
            &local_sink(&sink),
            "    on_claim: true\n    on_release: true\n    manual: true\n    periodic: 1s\n",
        ),
    );
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let (code, v) = claim(&c, "tenant-a", &w.id);
    assert_eq!(code, 200, "{v}");
    let name = container(&v);
    exec(&c, &name, &["sh", "-c", "echo manual > /data/m"]);
    let (code, r) = c.json("POST", "/api/v1/tenants/tenant-a/sync", Some("{}"));
    assert_eq!((code, &r["direction"]), (200, &json!("upload")), "{r}");
    assert_eq!(
        std::fs::read_to_string(sink.join("tenant-a/m"))
            .ok()
            .as_deref(),
        Some("manual\n")
    );
    // Periodic: a new file reaches the sink with no call at all.
    exec(&c, &name, &["sh", "-c", "echo tick > /data/p"]);
    let started = Instant::now();
    while std::fs::read_to_string(sink.join("tenant-a/p"))
        .ok()
        .as_deref()
        != Some("tick\n")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no periodic upload"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, r) = c.json(
        "POST",
        "/api/v1/tenants/tenant-a/sync",
        Some(r#"{"direction": "sideways"}"#),
    );
    assert_eq!((code, &r["field"]), (400, &json!("direction")), "{r}");
}
