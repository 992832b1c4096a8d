//! Warm pools through the real coold binary against the real Podman and
//! the local busybox image: pools fill to min_size with healthy containers,
//! claims take warm ones and the pool refills, claims are idempotent and
//! survive an agent restart, release wipes the tenant's files before it
//! answers, tenants never see each other's files, max_size answers 429.

mod support;

use std::time::Duration;

use serde_json::json;
use support::pools::{exec, wait_pool, PoolDirs, Workload};
use support::Coold;

const WITHIN: Duration = Duration::from_secs(60);

fn put_spec(c: &Coold, spec: &str) {
    let (code, v) = c.json("POST", "/api/v1/workloads", Some(spec));
    assert_eq!(code, 201, "{v}");
}

fn claim(c: &Coold, tenant: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    c.json(
        "POST",
        &format!("/api/v1/tenants/{tenant}/claim"),
        Some(&body.to_string()),
    )
}

fn health_of(c: &Coold, container: &str) -> serde_json::Value {
    let (code, v) = c.json("GET", &format!("/api/v1/containers/{container}"), None);
    assert_eq!(code, 200, "{v}");
    v
}

#[test]
fn pool_reaches_min_size_with_healthy_hardened_containers() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-min");
    let c = dirs.start();
    put_spec(&c, &w.spec(2, 3));
    let pool = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 2);
    assert_eq!(pool["claimed"], 0);
    let names = w.containers();
    assert_eq!(names.len(), 2, "{names:?}");
    for name in &names {
        let info = health_of(&c, name);
        assert_eq!(info["state"]["running"], true, "{info}");
        assert_eq!(info["state"]["health"], "healthy", "{info}");
        assert_eq!(info["labels"]["coolify.managed"], "true");
        assert_eq!(info["labels"]["coolify.pool.workload"], w.id.as_str());
        // Secure defaults: read-only root, no capabilities, capped /tmp.
        let (code, _) = exec(&c, name, &["sh", "-c", "echo x > /etc/x"]);
        assert_ne!(code, 0, "root filesystem must be read-only");
        let (_, caps) = exec(&c, name, &["sh", "-c", "grep CapEff /proc/self/status"]);
        assert!(caps.contains("0000000000000000"), "{caps}");
        let (_, nnp) = exec(&c, name, &["sh", "-c", "grep NoNewPrivs /proc/self/status"]);
        assert!(nnp.contains('1'), "{nnp}");
        let (code, df) = exec(&c, name, &["sh", "-c", "df -k /tmp | tail -1"]);
        assert_eq!(code, 0);
        assert!(df.contains("65536"), "tmpfs /tmp of 64M: {df}");
        // The state and secrets dirs exist empty, private.
        let (_, ls) = exec(&c, name, &["ls", "-A", "/data", "/secrets"]);
        assert_eq!(
            ls.lines()
                .filter(|l| !l.ends_with(':') && !l.is_empty())
                .count(),
            0,
            "{ls}"
        );
    }
    let mode = std::fs::metadata(dirs.path("states").join(&names[0]))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("state dir");
    assert_eq!(mode, 0o700);
    let (code, metrics) = support::http(c.health, "GET", "/metrics", &[], None).expect("metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains(&format!(
            "coold_pool_containers{{workload=\"{}\",state=\"idle\"}} 2",
            w.id
        )),
        "{metrics}"
    );
}

#[test]
fn claim_returns_a_warm_container_and_the_pool_refills() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-claim");
    let c = dirs.start();
    put_spec(&c, &w.spec(1, 3));
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let idle = w.containers();
    let (code, v) = claim(
        &c,
        "tenant-a",
        json!({"workload": w.id, "secrets": {"token": "alpha"}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["cold"], false, "{v}");
    assert_eq!(v["container"], idle[0].as_str(), "{v}");
    assert_eq!(v["state_target"], "/data");
    // The secret is there, read-only, and the pool makes a new idle one.
    let name = v["container"].as_str().expect("container").to_string();
    let (_, token) = exec(&c, &name, &["cat", "/secrets/token"]);
    assert_eq!(token, "alpha");
    let (code, _) = exec(&c, &name, &["sh", "-c", "echo x > /secrets/token"]);
    assert_ne!(code, 0, "secrets must be read-only");
    let pool = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1 && p["claimed"] == 1);
    assert_eq!(pool["pending"], 0);
    let (_, metrics) = support::http(c.health, "GET", "/metrics", &[], None).expect("metrics");
    assert!(metrics.contains("coold_pool_claims_total 1"), "{metrics}");
    assert!(
        metrics.contains("coold_pool_cold_starts_total 0"),
        "{metrics}"
    );
}

#[test]
fn the_same_tenant_gets_the_same_container() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-same");
    let c = dirs.start();
    put_spec(&c, &w.spec(1, 3));
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let (code, first) = claim(&c, "tenant-a", json!({"workload": w.id}));
    assert_eq!(code, 200, "{first}");
    let (code, again) = claim(&c, "tenant-a", json!({"workload": w.id}));
    assert_eq!(code, 200, "{again}");
    assert_eq!(first["container"], again["container"]);
    assert_eq!(first["claimed_at"], again["claimed_at"]);
    let (code, status) = c.json("GET", "/api/v1/tenants/tenant-a/status", None);
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["claims"][0]["container"], first["container"]);
}

#[test]
fn release_wipes_state_and_secrets_before_it_answers() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-release");
    let c = dirs.start();
    put_spec(&c, &w.spec(1, 3));
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let (code, v) = claim(
        &c,
        "tenant-a",
        json!({"workload": w.id, "secrets": {"key": "k1"}}),
    );
    assert_eq!(code, 200, "{v}");
    let name = v["container"].as_str().expect("container").to_string();
    let (code, _) = exec(
        &c,
        &name,
        &[
            "sh",
            "-c",
            "mkdir -p /data/sub && echo mine > /data/sub/file",
        ],
    );
    assert_eq!(code, 0);
    let state = std::path::PathBuf::from(v["state_dir"].as_str().expect("state_dir"));
    let secrets = std::path::PathBuf::from(v["secrets_dir"].as_str().expect("secrets_dir"));
    assert!(state.join("sub/file").exists());
    assert!(secrets.join("key").exists());

    let (code, r) = c.json("POST", "/api/v1/tenants/tenant-a/release", Some("{}"));
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["outcome"], "destroyed");
    assert_eq!(r["wiped"], true);
    // Gone when the release answered: no wait, no next tenant needed.
    assert!(!state.exists(), "state dir still on disk");
    assert!(!secrets.exists(), "secrets dir still on disk");
    assert!(
        !w.containers().contains(&name),
        "released container still exists"
    );
    let (code, status) = c.json("GET", "/api/v1/tenants/tenant-a/status", None);
    assert_eq!(
        (code, status["claims"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (code, again) = c.json("POST", "/api/v1/tenants/tenant-a/release", Some("{}"));
    assert_eq!(code, 404, "{again}");
    // Destroy-and-refill: the pool is back at min_size.
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1 && p["claimed"] == 0);
}

#[test]
fn reuse_returns_a_wiped_container_to_the_pool() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-reuse");
    let c = dirs.start();
    let spec = w.spec(1, 1).replace(
        "  idle_timeout: 10m\n",
        "  idle_timeout: 10m\n  on_release: reuse\n",
    );
    put_spec(&c, &spec);
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let (code, v) = claim(&c, "tenant-a", json!({"workload": w.id}));
    assert_eq!(code, 200, "{v}");
    let name = v["container"].as_str().expect("container").to_string();
    exec(&c, &name, &["sh", "-c", "echo mine > /data/file"]);
    let (code, r) = c.json("POST", "/api/v1/tenants/tenant-a/release", Some("{}"));
    assert_eq!(code, 200, "{r}");
    let log = c.stderr.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(r["outcome"], "returned", "{r}\n{log}");
    let (code, v) = claim(&c, "tenant-b", json!({"workload": w.id}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["container"], name.as_str());
    let (_, ls) = exec(&c, &name, &["ls", "-A", "/data"]);
    assert_eq!(ls, "", "the next tenant sees nothing of the last");
}

#[test]
fn two_tenants_never_see_each_others_files() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-iso");
    let c = dirs.start();
    put_spec(&c, &w.spec(2, 3));
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 2);
    let (_, a) = claim(
        &c,
        "tenant-a",
        json!({"workload": w.id, "secrets": {"token": "for-a"}}),
    );
    let (_, b) = claim(
        &c,
        "tenant-b",
        json!({"workload": w.id, "secrets": {"token": "for-b"}}),
    );
    let (ca, cb) = (
        a["container"].as_str().expect("a").to_string(),
        b["container"].as_str().expect("b").to_string(),
    );
    assert_ne!(ca, cb);
    exec(&c, &ca, &["sh", "-c", "echo a > /data/a-file"]);
    exec(&c, &cb, &["sh", "-c", "echo b > /data/b-file"]);
    for (me, other, mine, theirs, token) in [
        (&ca, &b, "a-file", "b-file", "for-a"),
        (&cb, &a, "b-file", "a-file", "for-b"),
    ] {
        let (_, ls) = exec(&c, me, &["ls", "-A", "/data"]);
        assert_eq!(ls.trim(), mine, "{me} sees only its own state");
        assert!(!ls.contains(theirs));
        let (_, t) = exec(&c, me, &["cat", "/secrets/token"]);
        assert_eq!(t, token);
        // The other's host paths are not reachable from inside at all.
        let (code, _) = exec(
            &c,
            me,
            &["ls", other["state_dir"].as_str().expect("state_dir")],
        );
        assert_ne!(code, 0, "{me} reached another tenant's host path");
    }
    // On the host each dir is 0700 and holds only its own tenant's file.
    for (v, file) in [(&a, "a-file"), (&b, "b-file")] {
        let d = std::path::PathBuf::from(v["state_dir"].as_str().expect("state_dir"));
        let names: Vec<_> = std::fs::read_dir(&d)
            .expect("read state dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, [file]);
    }
}

#[test]
fn claim_at_max_size_with_nothing_idle_is_429_and_a_cold_claim_says_so() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-max");
    let c = dirs.start();
    put_spec(&c, &w.spec(0, 1));
    let (code, v) = claim(&c, "tenant-a", json!({"workload": w.id}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["cold"], true, "min_size 0: made on demand");
    let (code, v) = claim(&c, "tenant-b", json!({"workload": w.id}));
    assert_eq!(code, 429, "{v}");
    assert!(
        v["error"].as_str().unwrap_or("").contains("max_size"),
        "{v}"
    );
    assert_eq!(w.containers().len(), 1, "never more than max_size");
}

#[test]
fn agent_restart_keeps_claims() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-restart");
    let (name, claimed_at) = {
        let mut c = dirs.start();
        put_spec(&c, &w.spec(1, 3));
        let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
        let (code, v) = claim(&c, "tenant-a", json!({"workload": w.id}));
        assert_eq!(code, 200, "{v}");
        let name = v["container"].as_str().expect("container").to_string();
        exec(&c, &name, &["sh", "-c", "echo kept > /data/file"]);
        let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
        // A crash, not a drain: nothing gets to tidy up.
        let _ = c.child.kill();
        let _ = c.child.wait();
        (name, v["claimed_at"].clone())
    };
    let c = dirs.start();
    // The spec came back from its file, the claim from the record.
    let pool = wait_pool(&c, &w.id, WITHIN, |p| p["claimed"] == 1 && p["idle"] == 1);
    assert_eq!(pool["pending"], 0);
    let (code, status) = c.json("GET", "/api/v1/tenants/tenant-a/status", None);
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["claims"][0]["container"], name.as_str(), "{status}");
    let (code, v) = claim(&c, "tenant-a", json!({"workload": w.id}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["container"], name.as_str());
    assert_eq!(v["claimed_at"], claimed_at);
    let (_, file) = exec(&c, &name, &["cat", "/data/file"]);
    assert_eq!(file, "kept\n");
    assert_eq!(
        w.containers().len(),
        2,
        "the idle one was adopted, not doubled"
    );
}

#[test]
fn bad_tenant_ids_are_400_naming_tenant() {
    let dirs = PoolDirs::new();
    let c = dirs.start();
    for bad in [
        "UPPER",
        "-lead",
        "a%2Fb",
        "a..%2F..",
        "a%00",
        &"x".repeat(64),
    ] {
        for (m, verb) in [("POST", "claim"), ("POST", "release"), ("GET", "status")] {
            let (code, v) = c.json(
                m,
                &format!("/api/v1/tenants/{bad}/{verb}"),
                Some(&json!({"workload": "w"}).to_string()),
            );
            assert_eq!(
                (code, v["field"].as_str()),
                (400, Some("tenant")),
                "{bad} {verb}: {v}"
            );
        }
    }
    let (code, v) = claim(
        &c,
        "tenant-a",
        json!({"workload": "w", "secrets": {"../x": "y"}}),
    );
    assert_eq!(
        (code, v["field"].as_str()),
        (400, Some("secrets.../x")),
        "{v}"
    );
    let (code, v) = claim(&c, "tenant-a", json!({"workload": "no-such-workload"}));
    assert_eq!(code, 404, "{v}");
    let (code, v) = c.json("POST", "/api/v1/tenants/tenant-a/sync", None);
    assert_eq!(code, 404, "no claim, nothing to sync: {v}");
}

#[test]
fn workload_claim_status_and_release_work_over_the_broker_stream() {
    use support::broker::{Broker, Pki};
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[]);
    let dirs = PoolDirs::new();
    let mut env = dirs.env();
    env.extend(broker.agent_env(&pki, "pool-host", &[]));
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let w = Workload::new("pool-broker");
    let c = Coold::start(&refs);
    broker.wait_streams(1, Duration::from_secs(10));
    let dispatch = |method: &str, path: &str, body: serde_json::Value| {
        let req = json!({"host_id": "pool-host", "method": method, "path": path, "body": body});
        let (code, text) = broker.request("POST", "/v1/coold/dispatch", Some(&req.to_string()));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(json!(text));
        (code, v)
    };
    // A spec as JSON: the same verb table, the same parser.
    let spec = json!({
        "id": w.id,
        "image": support::TEST_IMAGE,
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
        "volumes": {"state": {"target": "/data"}},
        "pool": {"min_size": 1, "max_size": 2}
    });
    let (code, v) = dispatch("POST", "/api/v1/workloads", spec);
    assert_eq!(code, 201, "{v}");
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let (code, v) = dispatch(
        "POST",
        "/api/v1/tenants/tenant-a/claim",
        json!({"workload": w.id}),
    );
    assert_eq!((code, &v["cold"]), (200, &json!(false)), "{v}");
    let (code, s) = dispatch("GET", "/api/v1/tenants/tenant-a/status", json!(null));
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["claims"][0]["container"], v["container"]);
    let (code, r) = dispatch("POST", "/api/v1/tenants/tenant-a/release", json!({}));
    assert_eq!((code, &r["outcome"]), (200, &json!("destroyed")), "{r}");
    let (code, e) = dispatch(
        "POST",
        "/api/v1/tenants/Bad/claim",
        json!({"workload": w.id}),
    );
    assert_eq!((code, &e["field"]), (400, &json!("tenant")), "{e}");
}

#[test]
fn idle_containers_past_idle_timeout_are_retired_down_to_min() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-idle");
    let c = dirs.start();
    // min 0, and reuse puts the released container back idle: it is then
    // the one idle container above min, retired once idle_timeout passes.
    let spec = w.spec(0, 1).replace(
        "  idle_timeout: 10m\n",
        "  idle_timeout: 2s\n  on_release: reuse\n",
    );
    put_spec(&c, &spec);
    let (code, v) = claim(&c, "tenant-a", json!({"workload": w.id}));
    assert_eq!((code, &v["cold"]), (200, &json!(true)), "{v}");
    let (code, r) = c.json("POST", "/api/v1/tenants/tenant-a/release", Some("{}"));
    assert_eq!((code, &r["outcome"]), (200, &json!("returned")), "{r}");
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 0 && p["pending"] == 0);
    let started = std::time::Instant::now();
    while !w.containers().is_empty() {
        assert!(started.elapsed() < WITHIN, "retired container still exists");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_idle_container_that_stops_is_replaced_and_never_claimed() {
    let dirs = PoolDirs::new();
    let w = Workload::new("pool-dead");
    let c = dirs.start();
    put_spec(&c, &w.spec(1, 3));
    let _ = wait_pool(&c, &w.id, WITHIN, |p| p["idle"] == 1);
    let old = w.containers().pop().expect("idle container");
    support::run_ok("podman", &["kill", &old]);
    let started = std::time::Instant::now();
    loop {
        let now = w.containers();
        let (_, v) = c.json("GET", &format!("/api/v1/workloads/{}", w.id), None);
        if !now.contains(&old) && now.len() == 1 && v["pool"]["idle"] == 1 {
            break;
        }
        assert!(
            started.elapsed() < WITHIN,
            "stopped idle container not replaced: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, v) = claim(&c, "tenant-a", json!({"workload": w.id}));
    assert_eq!(code, 200, "{v}");
    assert_ne!(v["container"], old.as_str());
    let info = health_of(&c, v["container"].as_str().expect("container"));
    assert_eq!(info["state"]["running"], true, "{info}");
}
