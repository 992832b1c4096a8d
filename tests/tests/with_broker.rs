//! `coolify cp up --with-broker` (single-host install) against the real
//! Podman: the broker container from the appliance image, the agent's
//! stream to it, and `coolify dispatch` through UDS → broker → agent → back.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Output;
use std::time::{Duration, Instant};

use coolify_tests::*;

fn container_count(name: &str) -> usize {
    let ps = podman(&["ps", "-a", "-q", "--filter", &format!("name=^{name}$")]);
    String::from_utf8_lossy(&ps.stdout).lines().count()
}

/// Runs `dispatch` until it exits 0, for at most `limit`; returns the last
/// output either way.
fn dispatch_until_ok(inst: &Instance, verb: &str, path: &str, limit: Duration) -> Output {
    let started = Instant::now();
    loop {
        let out = run(inst.dispatch(verb, path, None));
        if out.status.success() || started.elapsed() >= limit {
            return out;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn with_broker_dispatch_reaches_the_agent_and_a_second_up_reuses_both() {
    let inst = Instance::new();
    let up = ok_json(run(inst.up_with_broker(&["-o", "json"])));
    assert_eq!(field(&up, "container_action"), "created", "{up}");
    let broker = &up["broker"];
    assert_eq!(field(broker, "container_action"), "created", "{up}");
    assert_eq!(field(broker, "host_id"), inst.host_id);
    assert_eq!(field(broker, "token"), "minted");
    assert_eq!(broker["health"]["status"], "ok", "{up}");
    assert_eq!(
        up["health"]["components"]["broker"]["status"], "healthy",
        "cp up waits for the stream: {up}"
    );

    // The lane is the broker's, owner-only by default; the token is 0600.
    let socket = std::fs::metadata(inst.broker_socket()).expect("broker socket");
    assert_eq!(socket.permissions().mode() & 0o777, 0o600);
    let token = std::fs::metadata(inst.config_dir().join("broker/host.jwt")).expect("token");
    assert_eq!(token.permissions().mode() & 0o777, 0o600);

    // UDS → broker → agent → back: the agent's real answer.
    let info = ok_json(run(inst.dispatch("GET", "/api/v1/host/info", None)));
    assert_eq!(info["mgmt_ip"], "127.0.0.1", "{info}");
    assert!(
        info["engine"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{info}"
    );

    // A container verb gets Podman's real result.
    let name = unique("via-broker");
    let _cleanup = Cleanup(name.clone());
    let body = format!(
        r#"{{"name":"{name}","image":"localhost/coolify-test-busybox:latest","cmd":["sleep","60"]}}"#
    );
    let created = run(inst.dispatch("POST", "/api/v1/containers", Some(&body)));
    assert!(created.status.success(), "{}", stderr(&created));
    let started = run(inst.dispatch("POST", &format!("/api/v1/containers/{name}/start"), None));
    assert!(started.status.success(), "{}", stderr(&started));
    let inspected = ok_json(run(inst.dispatch(
        "GET",
        &format!("/api/v1/containers/{name}"),
        None,
    )));
    let state = podman(&["inspect", "-f", "{{.State.Status}}", &name]);
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "running");
    assert!(
        inspected.to_string().contains("running"),
        "the agent reports Podman's state: {inspected}"
    );
    let missing = run(inst.dispatch("GET", "/api/v1/containers/no-such-container-x", None));
    assert_eq!(missing.status.code(), Some(1), "404 is not success");
    assert!(stderr(&missing).contains("404"), "{}", stderr(&missing));

    // Status shows both, and the stream.
    let status = run(inst.cmd(&["cp", "status", "-o", "json"]));
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let status = json(&status);
    assert_eq!(status["broker"]["healthy"], true, "{status}");
    assert_eq!(status["broker"]["streams"], 1, "{status}");
    assert!(
        field(&status, "broker_stream").starts_with("healthy"),
        "{status}"
    );

    // Second run: both kept, same ids, token and keys kept.
    let again = ok_json(run(inst.up_with_broker(&["-o", "json"])));
    assert_eq!(field(&again, "container_action"), "running", "{again}");
    assert_eq!(field(&again["broker"], "container_action"), "running");
    assert_eq!(field(&again["broker"], "token"), "kept");
    assert_eq!(field(&again, "container_id"), field(&up, "container_id"));
    assert_eq!(
        field(&again["broker"], "container_id"),
        field(broker, "container_id")
    );
    assert_eq!(container_count(&inst.broker_name), 1);

    // Two at once serialise on the lock: both succeed, nothing is doubled.
    let (mut a, mut b) = (
        inst.up_with_broker(&["-o", "json"]),
        inst.up_with_broker(&["-o", "json"]),
    );
    let a = std::thread::spawn(move || a.output().expect("spawn"));
    let b = std::thread::spawn(move || b.output().expect("spawn"));
    let (a, b) = (
        ok_json(a.join().expect("thread a")),
        ok_json(b.join().expect("thread b")),
    );
    assert_eq!(
        field(&a["broker"], "container_id"),
        field(&b["broker"], "container_id")
    );
    assert_eq!(field(&a, "container_id"), field(&b, "container_id"));
    assert_eq!(container_count(&inst.broker_name), 1);

    // Down stops and removes both; keys stay.
    let down = ok_json(run(inst.cmd(&["cp", "down", "-o", "json"])));
    assert_eq!(down["was_present"], true);
    assert_eq!(down["broker_was_present"], true);
    assert_eq!(container_count(&inst.name), 0);
    assert_eq!(container_count(&inst.broker_name), 0);
    assert!(inst.config_dir().join("broker/jwt.key").exists());
}

#[test]
fn agent_and_broker_restarts_reconnect_by_themselves() {
    let inst = Instance::new();
    ok_json(run(inst.up_with_broker(&["-o", "json"])));
    let first = run(inst.dispatch("GET", "/api/v1/host/info", None));
    assert!(first.status.success(), "{}", stderr(&first));

    // The agent container restarts: its new process dials in again.
    restart_then_dispatch(&inst, &inst.name);
    // The broker container restarts: the agent's backoff finds it again.
    restart_then_dispatch(&inst, &inst.broker_name);
}

/// Restarts `container`, then dispatches until the agent answers again
/// (bounded). The stop timeout exceeds the 5 s the broker's shutdown may
/// wait for its gRPC server while a stream is open.
fn restart_then_dispatch(inst: &Instance, container: &str) {
    let restart = podman(&["restart", "-t", "15", container]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    let out = dispatch_until_ok(inst, "GET", "/api/v1/host/info", Duration::from_secs(60));
    assert!(
        out.status.success(),
        "after restarting {container}: {}",
        stderr(&out)
    );
}

#[test]
fn fleet_lists_the_host_and_a_revoked_host_stays_out_across_a_broker_restart() {
    let inst = Instance::new();
    ok_json(run(inst.up_with_broker(&["-o", "json"])));
    let fleet = ok_json(run(inst.lane_cmd(&["fleet", "-o", "json"])));
    assert_eq!(fleet["count"], 1, "{fleet}");
    assert_eq!(
        fleet["hosts"][0]["host_id"],
        inst.host_id.as_str(),
        "{fleet}"
    );
    assert_eq!(
        fleet["hosts"][0]["agent_version"],
        env!("CARGO_PKG_VERSION"),
        "{fleet}"
    );
    let table = run(inst.lane_cmd(&["fleet"]));
    assert!(table.status.success(), "{}", stderr(&table));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains(&inst.host_id), "{table}");

    let revoke = run(inst.lane_cmd(&["broker", "revoke", "--host-id", &inst.host_id]));
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    assert!(
        stderr(&revoke).contains("its stream was closed"),
        "{}",
        stderr(&revoke)
    );
    // The stream is gone at once, and the agent's reconnects are refused.
    let gone = run(inst.dispatch("GET", "/api/v1/host/info", None));
    assert!(!gone.status.success(), "a revoked host still answered");
    let fleet = ok_json(run(inst.lane_cmd(&["fleet", "-o", "json"])));
    assert_eq!(fleet["count"], 0, "{fleet}");

    // The record is on the host: a restarted broker still refuses the
    // token while the agent keeps retrying.
    let restart = podman(&["restart", "-t", "15", &inst.broker_name]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let fleet = run(inst.lane_cmd(&["fleet", "-o", "json"]));
        if fleet.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&fleet.stdout).expect("json");
            assert_eq!(v["count"], 0, "the revoked host came back: {v}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let record = inst.dir.path().join("lib/broker/revocations.json");
    assert!(
        record.exists(),
        "no revocation record at {}",
        record.display()
    );
}

#[test]
fn socket_group_makes_the_lane_0660_and_a_new_setting_replaces_the_broker() {
    let inst = Instance::new();
    let first = ok_json(run(inst.up_with_broker(&["-o", "json"])));
    let group = "4242";
    let up = ok_json(run(inst.up_with_broker(&[
        "-o",
        "json",
        "--broker-socket-group",
        group,
    ])));
    let reason = up["broker"]["container_action"]["replaced"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("settings changed"), "{up}");
    assert_ne!(
        field(&up["broker"], "container_id"),
        field(&first["broker"], "container_id")
    );
    // The agent's link did not change: it keeps running and reconnects.
    assert_eq!(field(&up, "container_action"), "running", "{up}");
    let meta = std::fs::metadata(inst.broker_socket()).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 4242);
    let out = dispatch_until_ok(&inst, "GET", "/api/v1/host/info", Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn with_broker_and_broker_url_conflict_naming_both_flags() {
    let inst = Instance::new();
    let out = run(inst.up_with_broker(&["--broker-url", "grpcs://127.0.0.1:1/v1/agent"]));
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = stderr(&out);
    assert!(
        err.contains("--with-broker") && err.contains("--broker-url"),
        "{err}"
    );
    assert_eq!(container_count(&inst.broker_name), 0);
}

#[test]
fn a_bad_host_id_is_refused_naming_the_flag() {
    let inst = Instance::new();
    let mut c = inst.up(&["--with-broker", "--host-id", "web/1"]);
    c.args([
        "--broker-grpc-bind",
        &format!("127.0.0.1:{}", inst.grpc_port),
    ]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("--host-id"), "{err}");
    assert_eq!(container_count(&inst.broker_name), 0);
}

#[test]
fn grpc_port_in_use_fails_fast_naming_the_flag_and_the_variable() {
    let mut inst = Instance::new();
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    inst.grpc_port = squatter.local_addr().unwrap().port();
    let out = run(inst.up_with_broker(&["--timeout", "60s"]));
    drop(squatter);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // Not the timeout: the broker's exit is noticed at once.
    assert!(err.contains("exited while starting"), "{err}");
    assert!(err.contains("BROKER_GRPC_BIND"), "{err}");
    assert!(err.contains("--broker-grpc-bind"), "{err}");
    assert_eq!(container_count(&inst.name), 0, "the agent is not started");
}

#[test]
fn builder_flag_is_granted_by_the_token_so_the_stream_opens() {
    let inst = Instance::new();
    let first = ok_json(run(inst.up_with_broker(&["-o", "json"])));
    assert_eq!(field(&first["broker"], "token"), "minted");
    let up = ok_json(run(inst.up_with_broker(&["-o", "json", "--builder"])));
    let token = &up["broker"]["token"]["renewed"]["reason"];
    assert!(
        token.as_str().is_some_and(|r| r.contains("builder")),
        "{up}"
    );
    // New env and token: the agent is replaced, and its Hello advertising
    // `builder` is accepted (cp up waited for the stream).
    let reason = up["container_action"]["replaced"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("settings changed"), "{up}");
    assert_eq!(
        up["health"]["components"]["broker"]["status"], "healthy",
        "{up}"
    );
    let env = podman(&[
        "inspect",
        "-f",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &inst.name,
    ]);
    assert!(
        String::from_utf8_lossy(&env.stdout).contains("COOLD_BUILDER_ENABLED=1"),
        "{}",
        String::from_utf8_lossy(&env.stdout)
    );
    // The agent makes a warm builder from its own image: create, init, the
    // egress fence through the host's tools inside the builder's netns, and
    // start, all from inside the appliance.
    let started = Instant::now();
    loop {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{}/metrics", inst.health_port))
            .output()
            .expect("curl on PATH");
        if String::from_utf8_lossy(&out.stdout).contains("coold_builds_warm 1\n") {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let logs = podman(&["logs", &inst.name]);
            panic!(
                "no warm builder within 60 s: {}",
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // A build through the appliance lands: broker → the agent inside the
    // appliance → its warm builder (taken after a liveness check in the
    // host's procfs under /host) → the verdict seen from inside the
    // appliance → the answer. A repo that is not there fails in the git
    // stage, touching no network.
    let id = unique("wb");
    let spec = serde_json::json!({
        "request_id": id,
        "spec": {"repo": "file:///nonexistent/coolify-repo", "ref": "main", "stack": "STATIC",
                 "tags": [format!("localhost/{id}:1")], "base_image": "localhost/never:1"}
    });
    let lane = |method: &str, path: &str, body: Option<&str>| -> serde_json::Value {
        let mut c = std::process::Command::new("curl");
        c.args(["-sS", "--max-time", "60", "-X", method, "--unix-socket"])
            .arg(inst.broker_socket())
            .arg(format!("http://broker{path}"));
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        let out = c.output().expect("curl on PATH");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    let accepted = lane("POST", "/v1/build/dispatch", Some(&spec.to_string()));
    assert_eq!(accepted["request_id"], id.as_str(), "{accepted}");
    let landed = lane(
        "GET",
        &format!("/v1/build/result/{id}?timeout_ms=50000"),
        None,
    );
    let logs = podman(&["logs", &inst.name]);
    let logs = String::from_utf8_lossy(&logs.stderr);
    assert_eq!(landed["state"], "landed", "{landed}\n{logs}");
    assert_eq!(landed["status"], 422, "{landed}");
    assert_eq!(landed["body"]["code"], "git", "{landed}");
    assert!(
        logs.lines()
            .any(|l| l.contains("build started in a warm builder") && l.contains(&id)),
        "{logs}"
    );
}
