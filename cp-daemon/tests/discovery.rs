//! Service discovery against the real Podman: rows follow containers,
//! healthchecks run without systemd, the verbs work, and a stopped
//! Corrosion agent degrades /healthz without stopping coold.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use coolify_tests::corrosion::{AgentSpec, CorrosionAgent};
use support::{http, Coold};

const IMAGE: &str = "localhost/coolify-test-busybox:latest";

/// Removes the test's containers even when it fails.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", name])
                .output();
        }
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    t ^ std::process::id().rotate_left(16)
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().expect("podman");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn run_managed(name: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "coolify.managed=true",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sleep", "300"]);
    podman(&args)
}

/// (state, health) of a container's row in the SQLite store, if present.
fn row(db: &std::path::Path, id: &str) -> Option<(String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.query_row(
        "SELECT state, health FROM service_endpoints WHERE container_id = ?",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .ok()
}

fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn coold_sqlite() -> Coold {
    Coold::start(&[("COOLD_RECONCILE_INTERVAL", "500ms")])
}

#[test]
fn rows_follow_a_labelled_container_through_start_kill_and_remove() {
    let c = coold_sqlite();
    let db = c.path("data/endpoints.db");
    let name = unique("disc-life");
    let mut guard = Containers(vec![name.clone()]);
    let id = run_managed(&name, &[]);
    let (state, health) = wait_for(
        "row of the started container",
        Duration::from_secs(10),
        || row(&db, &id),
    );
    assert_eq!((state.as_str(), health.as_str()), ("running", "unknown"));

    podman(&["kill", &name]);
    wait_for("state to leave running", Duration::from_secs(10), || {
        row(&db, &id).filter(|(s, _)| s != "running")
    });

    podman(&["rm", "-f", &name]);
    guard.0.clear();
    wait_for("row to go", Duration::from_secs(10), || {
        row(&db, &id).is_none().then_some(())
    });
}

#[test]
fn unlabelled_containers_are_not_synced() {
    let c = coold_sqlite();
    let db = c.path("data/endpoints.db");
    let name = unique("disc-plain");
    let _guard = Containers(vec![name.clone()]);
    let id = podman(&["run", "-d", "--name", &name, IMAGE, "sleep", "300"]);
    // Two reconcile intervals and an event later, still absent.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(row(&db, &id).is_none());
}

#[test]
fn healthchecks_run_without_systemd() {
    let c = coold_sqlite();
    let db = c.path("data/endpoints.db");
    let (good, bad) = (unique("disc-healthy"), unique("disc-unhealthy"));
    let _guard = Containers(vec![good.clone(), bad.clone()]);
    let good_id = run_managed(
        &good,
        &[
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
    );
    let bad_id = run_managed(
        &bad,
        &[
            "--health-cmd",
            "false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
    );
    wait_for("healthy", Duration::from_secs(15), || {
        row(&db, &good_id).filter(|(_, h)| h == "healthy")
    });
    wait_for("unhealthy", Duration::from_secs(15), || {
        row(&db, &bad_id).filter(|(_, h)| h == "unhealthy")
    });
}

#[test]
fn register_list_and_deregister_a_service_endpoint() {
    let c = coold_sqlite();
    let (managed, plain) = (unique("disc-svc"), unique("disc-unmanaged"));
    let _guard = Containers(vec![managed.clone(), plain.clone()]);
    let id = run_managed(&managed, &[]);
    podman(&["run", "-d", "--name", &plain, IMAGE, "sleep", "300"]);
    let svc = unique("web");

    let body = format!(r#"{{"service_id":"{svc}","container_id":"{managed}","ports":[8080]}}"#);
    let (code, text) = c.request("POST", "/api/v1/services/register", Some(&body));
    assert_eq!(code, 201, "{text}");
    let row: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(row["container_id"], id.as_str());
    assert_eq!(row["ports"], serde_json::json!([8080]));
    assert_eq!(row["state"], "running");

    let (code, text) = c.request("GET", &format!("/api/v1/services/{svc}/endpoints"), None);
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (code, _) = c.request(
        "DELETE",
        &format!("/api/v1/services/{svc}/endpoints/{managed}"),
        None,
    );
    assert_eq!(code, 204);
    let (code, _) = c.request(
        "DELETE",
        &format!("/api/v1/services/{svc}/endpoints/{managed}"),
        None,
    );
    assert_eq!(code, 204, "idempotent");
    let (_, text) = c.request("GET", &format!("/api/v1/services/{svc}/endpoints"), None);
    assert_eq!(text.trim(), "[]");

    let body = format!(r#"{{"service_id":"{svc}","container_id":"{plain}"}}"#);
    let (code, text) = c.request("POST", "/api/v1/services/register", Some(&body));
    assert_eq!(code, 422, "{text}");
    assert!(text.contains("\"field\":\"container_id\""), "{text}");

    let body = format!(r#"{{"service_id":"{svc}","container_id":"no-such-container-{svc}"}}"#);
    assert_eq!(
        c.request("POST", "/api/v1/services/register", Some(&body))
            .0,
        404
    );

    let (code, text) = c.request(
        "POST",
        "/api/v1/services/register",
        Some(r#"{"service_id":"Bad/Id","container_id":"x"}"#),
    );
    assert_eq!(code, 400);
    assert!(text.contains("\"field\":\"service_id\""), "{text}");
    let (code, text) = c.request(
        "POST",
        "/api/v1/services/register",
        Some(r#"{"service_id":"web"}"#),
    );
    assert_eq!(code, 400);
    assert!(text.contains("container_id"), "{text}");
}

/// Rows the store loses while coold does not see it down (a Corrosion agent
/// restored from an older database between two ticks; played here by
/// deleting the row from the SQLite file behind coold's back, since the
/// sync is the same for both stores) are written again: each reconcile
/// plans against what the store holds, not what coold last wrote.
#[test]
fn a_row_lost_in_the_store_is_written_again() {
    let c = coold_sqlite();
    let db = c.path("data/endpoints.db");
    let name = unique("disc-lost");
    let _guard = Containers(vec![name.clone()]);
    let id = run_managed(&name, &[]);
    wait_for(
        "row of the started container",
        Duration::from_secs(10),
        || row(&db, &id),
    );
    let deleted = rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "DELETE FROM service_endpoints WHERE container_id = ?",
            [&id],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    wait_for(
        "the lost row written again",
        Duration::from_secs(10),
        || row(&db, &id),
    );
}

/// Seed 000's fault "B's Corrosion agent stopped", with the real agent:
/// discovery turns degraded, the agent keeps serving its verbs, and what
/// changed meanwhile reaches the agent's database once it is back.
#[test]
fn corrosion_agent_stopped_degrades_discovery_and_rows_catch_up() {
    let mut agent = CorrosionAgent::start_loopback();
    let c = Coold::start(&[
        ("COOLD_RECONCILE_INTERVAL", "300ms"),
        ("COOLD_ENDPOINT_STORE", "corrosion"),
        ("COOLD_CORROSION_API", &agent.api().to_string()),
    ]);
    let discovery_status = || {
        let (code, body) = http(c.health, "GET", "/healthz", &[], None).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        (
            code,
            v["components"]["discovery"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    };
    wait_for("discovery healthy", Duration::from_secs(10), || {
        (discovery_status().1 == "healthy").then_some(())
    });
    let mut guard = Containers(Vec::new());
    let before = unique("disc-before");
    guard.0.push(before.clone());
    let before_id = run_managed(&before, &[]);
    wait_for(
        "row of a container started before",
        Duration::from_secs(10),
        || agent.has_row(&before_id).then_some(()),
    );

    agent.stop();
    wait_for("discovery degraded", Duration::from_secs(10), || {
        (discovery_status().1 == "degraded").then_some(())
    });
    assert_eq!(discovery_status().0, 200, "/healthz stays 200");

    // The agent keeps serving: a container is created and started through
    // its REST API while the store is down.
    let during = unique("disc-during");
    guard.0.push(during.clone());
    let body = serde_json::json!({"name": during, "image": IMAGE, "cmd": ["sleep", "300"]});
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 201, "{v}");
    let (code, v) = c.json("POST", &format!("/api/v1/containers/{during}/start"), None);
    assert_eq!(code, 204, "{v}");
    let during_id = podman(&["inspect", "--format", "{{.Id}}", &during]);
    // A verb that needs the store says so, and names it.
    let svc = unique("svc");
    let register = format!(r#"{{"service_id":"{svc}","container_id":"{during}"}}"#);
    let (code, text) = c.request("POST", "/api/v1/services/register", Some(&register));
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("corrosion"), "{text}");
    // And the container started before the outage goes away meanwhile.
    podman(&["rm", "-f", "-t", "0", &before]);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(discovery_status().1, "degraded", "still down");

    agent.start();
    wait_for("discovery healthy again", Duration::from_secs(15), || {
        (discovery_status().1 == "healthy").then_some(())
    });
    wait_for(
        "row of the container started during the outage",
        Duration::from_secs(10),
        || agent.has_row(&during_id).then_some(()),
    );
    wait_for(
        "row of the container removed during the outage to go",
        Duration::from_secs(10),
        || (!agent.has_row(&before_id)).then_some(()),
    );
    let (code, text) = c.request("POST", "/api/v1/services/register", Some(&register));
    assert_eq!(code, 201, "{text}");
    let rows = agent
        .query(
            "SELECT service_id FROM service_endpoints WHERE container_id = ?",
            &[serde_json::json!(during_id)],
        )
        .unwrap();
    assert_eq!(rows, vec![vec![serde_json::json!(svc)]]);
}

/// Another host's row, gossiped into this host's Corrosion agent, is
/// answered by this host's DNS without waiting for its reconcile tick
/// (here an hour away): the view follows the store's change marker.
#[test]
fn another_hosts_row_is_answered_without_waiting_for_the_reconcile_tick() {
    let mine = CorrosionAgent::start_loopback();
    let theirs = CorrosionAgent::start_with(AgentSpec::loopback_joining(&[mine.gossip()]));
    let c = Coold::start(&[
        ("COOLD_RECONCILE_INTERVAL", "1h"),
        ("COOLD_ENDPOINT_STORE", "corrosion"),
        ("COOLD_CORROSION_API", &mine.api().to_string()),
    ]);
    // Written on the other host, after this host's first reconcile.
    std::thread::sleep(Duration::from_millis(500));
    let name = unique("far");
    theirs
        .execute(
            "INSERT INTO service_endpoints (container_id, container_name, namespace, host_mgmt_ip, container_ip, state, health, updated_at) VALUES (?, ?, 'default', '198.18.9.9', '198.18.200.7', 'running', 'unknown', 1)",
            &[serde_json::json!(format!("id-{name}")), serde_json::json!(name)],
        )
        .expect("insert on the other host");
    wait_for(
        "the row gossiped to this host's agent",
        Duration::from_secs(20),
        || {
            let rows = mine
                .query(
                    "SELECT container_id FROM service_endpoints WHERE container_name = ?",
                    &[serde_json::json!(name)],
                )
                .unwrap_or_default();
            (!rows.is_empty()).then_some(())
        },
    );
    let path = format!("/api/v1/dns/lookup/{name}.default.coolify.internal");
    let started = Instant::now();
    loop {
        let (code, v) = c.json("GET", &path, None);
        if code == 200 && v["answers"] == serde_json::json!(["198.18.200.7"]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not answered within 5 s of reaching this host's agent: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
