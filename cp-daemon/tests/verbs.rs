//! The Podman verbs through the real coold binary against the real Podman:
//! seed 000's deploy flow (T3-T6, T10) over REST alone, errors, the deny
//! filter over the wire, managed-only mutations, networks.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{unique, wait_for_state, Coold, PodmanGuard, TEST_IMAGE};

#[test]
fn deploy_flow_through_rest_only() {
    let c = Coold::start(&[]);
    let mut guard = PodmanGuard::default();
    let volume = guard.volume(&unique("t3-web-data"));
    let name = guard.container(&unique("t4-web"));

    // T3: volume
    let (code, v) = c.json(
        "POST",
        "/api/v1/volumes",
        Some(&json!({"name": volume, "namespace": "alpha"}).to_string()),
    );
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["managed"], true);
    assert_eq!(v["namespace"], "alpha");
    let (code, v) = c.json("GET", &format!("/api/v1/volumes/{volume}"), None);
    assert_eq!(
        (code, v["name"].as_str()),
        (200, Some(volume.as_str())),
        "{v}"
    );

    // T4: create, writing into the volume and logging until stopped
    let body = json!({
        "name": name,
        "image": TEST_IMAGE,
        "cmd": ["sh", "-c", "echo hello from $GREETING; echo data > /data/file; trap 'echo bye; exit 0' TERM; while true; do sleep 1; done"],
        "env": {"GREETING": "coolify"},
        "mounts": [{"type": "volume", "source": volume, "target": "/data"}],
        "namespace": "alpha",
        "labels": {"app": "web"}
    });
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(v["runtime"], "runc");

    // T5: start; T6: poll until running
    let (code, v) = c.json("POST", &format!("/api/v1/containers/{id}/start"), None);
    assert_eq!(code, 204, "{v}");
    let info = wait_for_state(&c, &id, Duration::from_secs(20), |v| {
        v["state"]["running"] == true
    });
    assert_eq!(info["name"], name.as_str());
    assert_eq!(info["managed"], true);
    assert_eq!(info["namespace"], "alpha");
    assert_eq!(info["labels"]["app"], "web");
    assert_eq!(info["image"], TEST_IMAGE);

    // exec (T9's primitive): read what the container wrote into the volume
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{id}/exec"),
        Some(&json!({"cmd": ["cat", "/data/file"]}).to_string()),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["stdout"], "data\n");
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{id}/exec"),
        Some(&json!({"cmd": ["sh", "-c", "echo oops >&2; exit 3"]}).to_string()),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (v["exit_code"].as_i64(), v["stderr"].as_str()),
        (Some(3), Some("oops\n"))
    );

    // exec, streamed: NDJSON lines, then the exit code
    let (code, text) = c.request(
        "POST",
        &format!("/api/v1/containers/{id}/exec"),
        Some(
            &json!({"cmd": ["sh", "-c", "echo one; echo two >&2; exit 4"], "stream": true})
                .to_string(),
        ),
    );
    assert_eq!(code, 200, "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stdout" && l["text"] == "one\n"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stderr" && l["text"] == "two\n"),
        "{text}"
    );
    assert_eq!(
        lines.last().map(|l| l["exit_code"].clone()),
        Some(json!(4)),
        "{text}"
    );

    // logs, following; the stream must end when the container exits
    let api = c.api;
    let path = format!("/api/v1/containers/{id}/logs?follow=true");
    let follower = std::thread::spawn(move || {
        let started = Instant::now();
        let r = support::http(
            api,
            "GET",
            &path,
            &[("Authorization", &format!("Bearer {}", support::TOKEN))],
            None,
        );
        (r, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        !follower.is_finished(),
        "follow ended while the container runs"
    );

    // T10: stop, then delete
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{id}/stop"),
        Some(r#"{"timeout": 5}"#),
    );
    assert_eq!(code, 204, "{v}");
    let (result, elapsed) = follower.join().expect("follower thread");
    let (code, text) = result.expect("logs request");
    assert_eq!(code, 200, "{text}");
    assert!(
        elapsed < Duration::from_secs(25),
        "follow outlived the container: {elapsed:?}"
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    assert!(
        lines.iter().any(|l| l["text"]
            .as_str()
            .unwrap_or("")
            .contains("hello from coolify")),
        "{text}"
    );
    assert!(lines
        .iter()
        .all(|l| l["stream"] == "stdout" || l["stream"] == "stderr"));
    let info = wait_for_state(&c, &id, Duration::from_secs(10), |v| {
        v["state"]["running"] == false
    });
    assert_ne!(info["state"]["status"], "running");

    // logs without follow answer at once, with tail and timestamps
    let (code, text) = c.request(
        "GET",
        &format!("/api/v1/containers/{id}/logs?tail=1&timestamps=true"),
        None,
    );
    assert_eq!(code, 200, "{text}");
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("json");
    assert!(
        last["timestamp"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{last}"
    );

    let (code, v) = c.json("DELETE", &format!("/api/v1/containers/{id}"), None);
    assert_eq!(code, 204, "{v}");
    let (code, _) = c.json("GET", &format!("/api/v1/containers/{id}"), None);
    assert_eq!(code, 404);
    let (code, v) = c.json("DELETE", &format!("/api/v1/volumes/{volume}"), None);
    assert_eq!(code, 204, "{v}");
    let (code, _) = c.json("GET", &format!("/api/v1/volumes/{volume}"), None);
    assert_eq!(code, 404);
}

#[test]
fn restart_force_delete_and_healthcheck_run() {
    let c = Coold::start(&[]);
    let mut guard = PodmanGuard::default();
    let name = guard.container(&unique("verbs-hc"));
    let body = json!({
        "name": name, "image": TEST_IMAGE, "cmd": ["sleep", "600"],
        "healthcheck": {"test": ["CMD", "true"], "interval_ms": 30000}
    });
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 201, "{v}");
    // the name is taken now
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 409, "{v}");
    assert_eq!(
        c.json("POST", &format!("/api/v1/containers/{name}/start"), None)
            .0,
        204
    );
    wait_for_state(&c, &name, Duration::from_secs(20), |v| {
        v["state"]["running"] == true
    });
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{name}/healthcheck/run"),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "healthy");
    let info = wait_for_state(&c, &name, Duration::from_secs(5), |v| {
        v["state"]["health"] == "healthy"
    });
    assert_eq!(info["state"]["health"], "healthy");

    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{name}/restart"),
        Some(r#"{"timeout":0}"#),
    );
    assert_eq!(code, 204, "{v}");
    wait_for_state(&c, &name, Duration::from_secs(20), |v| {
        v["state"]["running"] == true
    });
    // a running container is not removed without force
    let (code, v) = c.json("DELETE", &format!("/api/v1/containers/{name}"), None);
    assert_eq!(code, 409, "{v}");
    let (code, v) = c.json(
        "DELETE",
        &format!("/api/v1/containers/{name}?force=true"),
        None,
    );
    assert_eq!(code, 204, "{v}");
}

#[test]
fn errors_name_the_field_or_say_what_is_missing() {
    let c = Coold::start(&[]);
    let cases: &[(&str, &str, &str, u16, Option<&str>)] = &[
        ("POST", "/api/v1/containers", "{not json", 400, Some("body")),
        ("POST", "/api/v1/containers", "{}", 400, Some("image")),
        (
            "POST",
            "/api/v1/containers",
            r#"{"image": 5}"#,
            400,
            Some("image"),
        ),
        (
            "POST",
            "/api/v1/containers",
            r#"{"image": "x", "privilegd": true}"#,
            400,
            Some("privilegd"),
        ),
        (
            "POST",
            "/api/v1/containers",
            r#"{"image": "x", "ports": [{"container_port": "80"}]}"#,
            400,
            Some("ports[0].container_port"),
        ),
        (
            "POST",
            "/api/v1/containers",
            r#"{"image": "x", "env": {"A": 1}}"#,
            400,
            Some("env.A"),
        ),
        (
            "POST",
            "/api/v1/containers/nope-404/stop",
            r#"{"timeout": "soon"}"#,
            400,
            Some("timeout"),
        ),
        (
            "POST",
            "/api/v1/volumes",
            r#"{"name": "../etc"}"#,
            400,
            Some("name"),
        ),
        (
            "POST",
            "/api/v1/networks",
            r#"{"name": "n", "subnet": "198.18.0.0/33"}"#,
            400,
            Some("subnet"),
        ),
        (
            "POST",
            "/api/v1/images/pull",
            r#"{"reference": "x"}"#,
            400,
            Some("reference"),
        ),
        (
            "GET",
            "/api/v1/containers/nope-404/logs?tail=lots",
            "",
            400,
            Some("tail"),
        ),
    ];
    for (method, path, body, status, field) in cases {
        let (code, v) = c.json(method, path, Some(body));
        assert_eq!(code, *status, "{method} {path} {body}: {v}");
        assert_eq!(v["field"].as_str(), *field, "{method} {path} {body}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let missing = unique("missing");
    for (method, path) in [
        ("GET", format!("/api/v1/containers/{missing}")),
        ("POST", format!("/api/v1/containers/{missing}/start")),
        ("POST", format!("/api/v1/containers/{missing}/exec")),
        ("DELETE", format!("/api/v1/containers/{missing}")),
        ("GET", format!("/api/v1/volumes/{missing}")),
        ("DELETE", format!("/api/v1/networks/{missing}")),
        ("DELETE", format!("/api/v1/images/localhost/{missing}:v1")),
    ] {
        let body = if path.ends_with("exec") {
            Some(r#"{"cmd":["true"]}"#)
        } else {
            None
        };
        let (code, v) = c.json(method, &path, body);
        assert_eq!(code, 404, "{method} {path}: {v}");
    }
    // An image that is not in local storage is a 404 on create.
    let (code, v) = c.json(
        "POST",
        "/api/v1/containers",
        Some(&json!({"image": format!("localhost/{missing}:v1")}).to_string()),
    );
    assert_eq!(code, 404, "{v}");
    // Raw Podman paths are not passed through.
    assert_eq!(c.request("GET", "/api/v1/containers/json", None).0, 404);
    assert_eq!(
        c.request("POST", "/api/v1/containers/x/attach", None).0,
        404
    );
}

#[test]
fn pull_from_an_unreachable_registry_is_502_with_its_error() {
    let c = Coold::start(&[]);
    // A loopback port nobody listens on: the registry is unreachable.
    let port = support::free_port();
    let (code, v) = c.json(
        "POST",
        "/api/v1/images/pull",
        Some(&json!({"ref": format!("127.0.0.1:{port}/coolify/none:v1")}).to_string()),
    );
    assert_eq!(code, 502, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains(&port.to_string()),
        "{v}"
    );
}

#[test]
fn engine_down_is_503_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dead.sock");
    // The file exists but nobody listens: every engine call is refused.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let c = Coold::start_unhealthy(&[("COOLD_PODMAN_SOCKET", sock.to_str().unwrap())]);
    for (method, path, body) in [
        ("GET", "/api/v1/containers/web-1", None),
        (
            "POST",
            "/api/v1/containers",
            Some(r#"{"image":"localhost/x:v1"}"#),
        ),
        ("GET", "/api/v1/networks", None),
        ("POST", "/api/v1/volumes", Some(r#"{"name":"v1"}"#)),
    ] {
        let (code, v) = c.json(method, path, body);
        assert_eq!(code, 503, "{method} {path}: {v}");
        assert!(
            v["error"].as_str().unwrap_or("").contains("dead.sock")
                || v["error"].as_str().unwrap_or("").contains("unreachable"),
            "{v}"
        );
    }
}

#[test]
fn deny_filter_refuses_over_rest_and_allows_the_allowlisted_bind() {
    let allow = tempfile::tempdir().unwrap();
    let apps = allow.path().canonicalize().unwrap().join("apps");
    std::fs::create_dir_all(apps.join("web")).unwrap();
    std::fs::create_dir_all(allow.path().join("secret")).unwrap();
    let c = Coold::start(&[("COOLD_BIND_ALLOWLIST", apps.to_str().unwrap())]);
    let mut guard = PodmanGuard::default();
    let base = |extra: serde_json::Value| {
        let mut b = json!({"image": TEST_IMAGE, "cmd": ["true"]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b.to_string()
    };
    let escape = format!("{}/web/../../secret", apps.display());
    let cases = [
        (json!({"privileged": true}), "privileged"),
        (json!({"cap_add": ["NET_ADMIN"]}), "cap_add[0]"),
        (json!({"network": "host"}), "network"),
        (json!({"pid_mode": "host"}), "pid_mode"),
        (json!({"devices": ["/dev/sda"]}), "devices"),
        (
            json!({"security_opt": ["seccomp=unconfined"]}),
            "security_opt[0]",
        ),
        (
            json!({"mounts": [{"type": "bind", "source": "/etc", "target": "/x"}]}),
            "mounts[0].source",
        ),
        (
            json!({"mounts": [{"type": "bind", "source": escape, "target": "/x"}]}),
            "mounts[0].source",
        ),
    ];
    for (extra, field) in cases {
        let body = base(extra);
        let (code, v) = c.json("POST", "/api/v1/containers", Some(&body));
        assert_eq!(code, 403, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
    }
    let name = guard.container(&unique("verbs-bind"));
    let body = json!({"name": name, "image": TEST_IMAGE, "cmd": ["true"],
        "mounts": [{"type": "bind", "source": format!("{}/web/", apps.display()), "target": "/x", "read_only": true}]});
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 201, "{v}");
}

#[test]
fn mutations_refuse_containers_the_agent_does_not_manage() {
    let c = Coold::start(&[]);
    let mut guard = PodmanGuard::default();
    let name = guard.container(&unique("verbs-unmanaged"));
    let out = std::process::Command::new("podman")
        .args(["create", "--name", &name, TEST_IMAGE, "sleep", "60"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // readable …
    let (code, v) = c.json("GET", &format!("/api/v1/containers/{name}"), None);
    assert_eq!((code, v["managed"].as_bool()), (200, Some(false)), "{v}");
    // … but not to be started, stopped, removed, exec'd or read from
    for (method, path) in [
        ("POST", format!("/api/v1/containers/{name}/start")),
        ("POST", format!("/api/v1/containers/{name}/stop")),
        ("DELETE", format!("/api/v1/containers/{name}?force=true")),
        ("GET", format!("/api/v1/containers/{name}/logs")),
    ] {
        let (code, v) = c.json(method, &path, None);
        assert_eq!(code, 403, "{method} {path}: {v}");
        assert_eq!(v["field"], "id");
    }
}

#[test]
fn networks_create_list_delete_managed_only() {
    let c = Coold::start(&[]);
    let mut guard = PodmanGuard::default();
    let name = guard.network(&unique("verbs-net"));
    // 198.18.0.0/15 only (DESIGN.md); a /24 picked from the pid and time.
    let third = (std::process::id() as u8) ^ (Instant::now().elapsed().subsec_nanos() as u8);
    let subnet = format!("198.19.{third}.0/24");
    let gateway = format!("198.19.{third}.1");
    let body = json!({"name": name, "subnet": subnet, "gateway": gateway, "internal": true, "namespace": "alpha", "labels": {"tier": "db"}});
    let (code, v) = c.json("POST", "/api/v1/networks", Some(&body.to_string()));
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["dns_enabled"], false);
    assert_eq!(v["internal"], true);
    assert_eq!(v["subnets"][0]["subnet"], subnet.as_str());
    let (code, v) = c.json("POST", "/api/v1/networks", Some(&body.to_string()));
    assert_eq!(code, 409, "{v}");
    let (code, v) = c.json("GET", "/api/v1/networks", None);
    assert_eq!(code, 200);
    let list = v.as_array().expect("array");
    assert!(
        list.iter()
            .any(|n| n["name"] == name.as_str() && n["namespace"] == "alpha"),
        "{v}"
    );
    assert!(
        list.iter().all(|n| n["managed"] == true),
        "unmanaged network listed: {v}"
    );
    // Podman's default network exists and is not the agent's.
    let (code, v) = c.json("DELETE", "/api/v1/networks/podman", None);
    assert_eq!(code, 403, "{v}");
    let (code, v) = c.json("DELETE", &format!("/api/v1/networks/{name}"), None);
    assert_eq!(code, 204, "{v}");
}

#[test]
fn images_list_and_openapi_are_served() {
    let c = Coold::start(&[]);
    let (code, v) = c.json("GET", "/api/v1/images", None);
    assert_eq!(code, 200);
    assert!(
        v.as_array().unwrap().iter().any(|i| i["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == TEST_IMAGE)),
        "{v}"
    );
    let (code, v) = c.json("GET", "/api/v1/openapi.json", None);
    assert_eq!(code, 200);
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    assert!(
        v["paths"]["/api/v1/containers/{id}/logs"]["get"].is_object(),
        "{v}"
    );
}

/// Sockets coold holds open (TCP and unix), from /proc.
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .map(|t| t.to_string_lossy().starts_with("socket:"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn logs_follow_stops_when_the_client_goes() {
    use std::io::{Read, Write};
    // The count of coold's sockets is the measure here, so nothing else may
    // open engine connections meanwhile: no periodic reconcile, no
    // healthcheck runner (a reconcile overlapping a test request once left
    // one more pooled connection and failed the count).
    let c = Coold::start(&[
        ("COOLD_RECONCILE_INTERVAL", "1h"),
        ("COOLD_HEALTHCHECKS", "engine"),
    ]);
    let mut guard = PodmanGuard::default();
    let name = guard.container(&unique("verbs-follow"));
    let body = json!({"name": name, "image": TEST_IMAGE,
        "cmd": ["sh", "-c", "while true; do echo tick; sleep 1; done"]});
    assert_eq!(
        c.json("POST", "/api/v1/containers", Some(&body.to_string()))
            .0,
        201
    );
    assert_eq!(
        c.json("POST", &format!("/api/v1/containers/{name}/start"), None)
            .0,
        204
    );
    wait_for_state(&c, &name, Duration::from_secs(20), |v| {
        v["state"]["running"] == true
    });
    let pid = c.child.id();
    std::thread::sleep(Duration::from_millis(300));
    let baseline = open_sockets(pid);

    let mut s = std::net::TcpStream::connect(c.api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/v1/containers/{name}/logs?follow=true HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\r\n",
        support::TOKEN
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("tick") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream closed early");
        got.extend_from_slice(&buf[..n]);
    }
    // While following: the client's connection and one to the engine.
    let during = open_sockets(pid);
    assert!(during >= baseline + 2, "baseline {baseline}, now {during}");
    drop(s);
    // The engine request goes with the client, while the container runs on:
    // both the client's socket and the engine stream close. (Compared with
    // the count while following, not the baseline: the logs verb's own
    // ownership read may have parked one more pooled engine connection.)
    let started = Instant::now();
    while open_sockets(pid) > during - 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "coold still holds {} sockets ({during} while following) after the client went",
            open_sockets(pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let info = wait_for_state(&c, &name, Duration::from_secs(1), |_| true);
    assert_eq!(info["state"]["running"], true);
}
