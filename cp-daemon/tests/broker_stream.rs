//! End to end through the broker with real processes: the `coolify-broker`
//! binary, real `coold` agents dialing it over TLS with their JWTs, and
//! fake agents (speaking the proto from the test) where a real agent
//! cannot misbehave on demand.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use support::broker::{Broker, FakeAgent, FakeMode, Pki};
use support::Coold;

fn agent(broker: &Broker, pki: &Pki, host: &str, mgmt_ip: &str, extra: &[(&str, &str)]) -> Coold {
    let env = broker.agent_env(pki, host, &["builder"]);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.push(("COOLD_HOST_MGMT_IP", mgmt_ip));
    all.extend_from_slice(extra);
    Coold::start(&all)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn dispatch_reaches_each_host_and_returns_the_real_result() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[]);
    let a = agent(&broker, &pki, "host-a", "127.0.0.2", &[]);
    let b = agent(&broker, &pki, "host-b", "127.0.0.3", &[]);
    broker.wait_streams(2, Duration::from_secs(10));

    for (host, ip, coold) in [("host-a", "127.0.0.2", &a), ("host-b", "127.0.0.3", &b)] {
        let (status, body) = broker.dispatch(host, "GET", "/api/v1/host/info");
        assert_eq!(status, 200, "{body}");
        let via_broker = json(&body);
        assert_eq!(via_broker["mgmt_ip"], ip, "answer came from the wrong host");
        let (_, rest) = coold.request("GET", "/api/v1/host/info", None);
        assert_eq!(via_broker["hostname"], json(&rest)["hostname"]);
        assert_eq!(via_broker["engine"], json(&rest)["engine"]);

        // A container verb: Podman's real list, as REST would answer it.
        let (status, body) = broker.dispatch(host, "GET", "/api/v1/host/containers");
        assert_eq!(status, 200, "{body}");
        assert!(json(&body).is_array() || json(&body).is_object(), "{body}");
    }

    // The verb table is the same on both transports: unknown paths are the
    // agent's own 404, wrong methods its 405.
    let (status, body) = broker.dispatch("host-a", "GET", "/api/v1/nope");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no such verb"), "{body}");
    let (status, _) = broker.dispatch("host-a", "DELETE", "/api/v1/host/info");
    assert_eq!(status, 405);

    // Answered sync dispatches are claimed at once: nothing stays pending
    // to fill BROKER_PENDING_MAX.
    let (_, health) = broker.request("GET", "/v1/health", None);
    assert_eq!(json(&health)["pending"], 0, "{health}");
}

#[test]
fn unknown_host_is_404() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[]);
    let (status, body) = broker.dispatch("nobody", "GET", "/api/v1/host/info");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("nobody"), "{body}");
    // Bad request ids and bodies are 400 naming the field.
    let (status, body) = broker.request(
        "POST",
        "/v1/coold/dispatch",
        Some(r#"{"host_id":"h","method":"GET","path":"/x","request_id":"../etc"}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("request_id"), "{body}");
}

#[test]
fn agent_killed_mid_dispatch_is_503() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[("BROKER_DISPATCH_TIMEOUT_SECS", "30")]);
    let mut a = agent(&broker, &pki, "host-a", "127.0.0.2", &[]);
    broker.wait_streams(1, Duration::from_secs(10));
    // Freeze the agent so the dispatch is surely in flight, then kill it.
    let pid = nix::unistd::Pid::from_raw(a.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let socket = broker.socket.clone();
    let started = Instant::now();
    let pending = std::thread::spawn(move || {
        let body = r#"{"host_id":"host-a","method":"GET","path":"/api/v1/host/info"}"#;
        support::broker::uds_http(&socket, "POST", "/v1/coold/dispatch", Some(body)).unwrap()
    });
    std::thread::sleep(Duration::from_millis(500));
    a.child.kill().unwrap();
    let (status, body) = pending.join().unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("dropped"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "503 must not wait for the sweeper"
    );
}

#[test]
fn agent_that_never_answers_is_504_after_the_sweep() {
    let pki = Pki::new();
    // The sync timeout is longer than the sweep, so the 504 must come from
    // the sweeper (10 s), not from the waiting handler.
    let broker = Broker::start(&pki, &[("BROKER_DISPATCH_TIMEOUT_SECS", "60")]);
    let silent = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &pki.token("mute", &[]),
        FakeAgent::hello("mute", &[], 0),
        FakeMode::Silent,
    )
    .unwrap();
    broker.wait_streams(1, Duration::from_secs(5));
    let started = Instant::now();
    let (status, body) = broker.dispatch("mute", "GET", "/api/v1/host/info");
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("within 10s"), "{body}");
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(13),
        "{took:?}"
    );
    assert_eq!(silent.frame_count(), 1, "the frame did reach the agent");
}

#[test]
fn dispatch_timeout_is_honoured() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[("BROKER_DISPATCH_TIMEOUT_SECS", "1")]);
    let _silent = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &pki.token("mute", &[]),
        FakeAgent::hello("mute", &[], 0),
        FakeMode::Silent,
    )
    .unwrap();
    broker.wait_streams(1, Duration::from_secs(5));
    let started = Instant::now();
    let (status, body) = broker.dispatch("mute", "GET", "/api/v1/host/info");
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("BROKER_DISPATCH_TIMEOUT_SECS=1"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn answer_after_the_dispatch_timeout_lands_for_a_late_poller() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[("BROKER_DISPATCH_TIMEOUT_SECS", "1")]);
    let _slow = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &pki.token("slow", &[]),
        FakeAgent::hello("slow", &[], 0),
        FakeMode::Slow(2500),
    )
    .unwrap();
    broker.wait_streams(1, Duration::from_secs(5));
    let body =
        r#"{"host_id":"slow","method":"GET","path":"/api/v1/host/info","request_id":"slow-1"}"#;
    let (status, _) = broker.request("POST", "/v1/coold/dispatch", Some(body));
    assert_eq!(status, 504);
    // Long poll: parks until the agent's late answer lands.
    let (status, polled) = broker.request("GET", "/v1/build/result/slow-1?timeout_ms=5000", None);
    assert_eq!(status, 200, "{polled}");
    let polled = json(&polled);
    assert_eq!(polled["status"], 200);
    assert_eq!(polled["source"], "agent");
    assert_eq!(polled["body"]["fake"], true);
}

#[test]
fn pending_cap_overflow_is_503_at_once() {
    let pki = Pki::new();
    let broker = Broker::start(
        &pki,
        &[
            ("BROKER_PENDING_MAX", "2"),
            ("BROKER_DISPATCH_TIMEOUT_SECS", "5"),
        ],
    );
    let silent = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &pki.token("mute", &[]),
        FakeAgent::hello("mute", &[], 0),
        FakeMode::Silent,
    )
    .unwrap();
    broker.wait_streams(1, Duration::from_secs(5));
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let socket = broker.socket.clone();
            std::thread::spawn(move || {
                let body = r#"{"host_id":"mute","method":"GET","path":"/api/v1/host/info"}"#;
                support::broker::uds_http(&socket, "POST", "/v1/coold/dispatch", Some(body))
                    .unwrap()
            })
        })
        .collect();
    let started = Instant::now();
    while silent.frame_count() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "frames not delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    let (status, body) = broker.dispatch("mute", "GET", "/api/v1/host/info");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("BROKER_PENDING_MAX=2"), "{body}");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "overflow must not wait"
    );
    for w in waiting {
        assert_eq!(w.join().unwrap().0, 504);
    }
}

#[test]
fn late_poller_gets_the_landed_result() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[]);
    let builds = tempfile::tempdir().expect("build dir");
    let build_dir = builds.path().display().to_string();
    let _a = agent(
        &broker,
        &pki,
        "host-a",
        "127.0.0.2",
        &[
            ("COOLD_BUILDER_ENABLED", "1"),
            // An image that is not there: the build cannot start, and the
            // agent's answer to it lands for pollers.
            (
                "COOLD_BUILDER_IMAGE",
                "localhost/coolify-test-no-such-builder:none",
            ),
            ("COOLD_BUILD_DIR", &build_dir),
        ],
    );
    broker.wait_streams(1, Duration::from_secs(10));

    // A sync dispatch with a caller-chosen id, polled again later.
    let body =
        r#"{"host_id":"host-a","method":"GET","path":"/api/v1/host/info","request_id":"late-1"}"#;
    let (status, first) = broker.request("POST", "/v1/coold/dispatch", Some(body));
    assert_eq!(status, 200, "{first}");
    std::thread::sleep(Duration::from_secs(2));
    let (status, polled) = broker.request("GET", "/v1/build/result/late-1?timeout_ms=100", None);
    assert_eq!(status, 200, "{polled}");
    let polled = json(&polled);
    assert_eq!(polled["state"], "landed");
    assert_eq!(polled["status"], 200);
    assert_eq!(polled["body"], json(&first));

    // The same request id cannot be reused while it is held.
    let (status, _) = broker.request("POST", "/v1/coold/dispatch", Some(body));
    assert_eq!(status, 409);

    // A build goes to the builder host (202 at once); its container cannot
    // be created here (no such builder image): 500 `io` lands for pollers.
    let (status, accepted) = broker.request(
        "POST",
        "/v1/build/dispatch",
        Some(r#"{"spec":{"stack":"static"}}"#),
    );
    assert_eq!(status, 202, "{accepted}");
    let accepted = json(&accepted);
    assert_eq!(accepted["host_id"], "host-a");
    let id = accepted["request_id"].as_str().unwrap().to_string();
    let (status, polled) = broker.request(
        "GET",
        &format!("/v1/build/result/{id}?timeout_ms=20000"),
        None,
    );
    assert_eq!(status, 200, "{polled}");
    assert_eq!(json(&polled)["status"], 500, "{polled}");
    assert_eq!(json(&polled)["body"]["code"], "io", "{polled}");

    let (status, _) = broker.request("GET", "/v1/build/result/never-issued?timeout_ms=10", None);
    assert_eq!(status, 404);
}

#[test]
fn build_dispatch_without_a_builder_is_503_and_routes_by_free_capacity() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[]);
    let (status, body) = broker.request("POST", "/v1/build/dispatch", Some(r#"{"spec":{}}"#));
    assert_eq!(status, 503, "{body}");

    let small = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &pki.token("small", &["builder"]),
        FakeAgent::hello("small", &["builder"], 1),
        FakeMode::Silent,
    )
    .unwrap();
    let big = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &pki.token("big", &["builder"]),
        FakeAgent::hello("big", &["builder"], 3),
        FakeMode::Silent,
    )
    .unwrap();
    broker.wait_streams(2, Duration::from_secs(5));
    // free: big 3, small 1 → big, big, then tie 1/1 → "big" < "small".
    let mut hosts = Vec::new();
    for _ in 0..4 {
        let (status, body) = broker.request("POST", "/v1/build/dispatch", Some(r#"{"spec":{}}"#));
        assert_eq!(status, 202, "{body}");
        hosts.push(json(&body)["host_id"].as_str().unwrap().to_string());
    }
    assert_eq!(hosts, ["big", "big", "big", "small"]);
    let (status, _) = broker.request("POST", "/v1/build/dispatch", Some(r#"{"spec":{}}"#));
    assert_eq!(status, 503, "every slot is taken");
    // The 202 comes when the frame is queued; give the fake agents a
    // moment to read it off their streams.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while (small.frame_count(), big.frame_count()) != (1, 3) && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(small.frame_count(), 1);
    assert_eq!(big.frame_count(), 3);

    // Cancel reaches the owning host as a CancelBuild frame: 204.
    let (status, body) = broker.request(
        "POST",
        "/v1/build/dispatch",
        Some(r#"{"spec":{},"request_id":"never-routed"}"#),
    );
    assert_eq!(status, 503, "{body}");
    let first = small.frames.lock().unwrap()[0].request_id.clone();
    let (status, _) = broker.request("POST", &format!("/v1/build/{first}/cancel"), None);
    assert_eq!(status, 204);
    std::thread::sleep(Duration::from_millis(300));
    let frames = small.frames.lock().unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].request_id, first);
    assert!(matches!(
        frames[1].msg,
        Some(coolify_proto::v1::server_msg::Msg::Cancel(_))
    ));
    drop(frames);
    let (status, _) = broker.request("POST", "/v1/build/unknown-id/cancel", None);
    assert_eq!(status, 404);
    // Builds are never swept while they wait: still pending, not 504.
    let (status, body) = broker.request(
        "GET",
        &format!("/v1/build/result/{first}?timeout_ms=50"),
        None,
    );
    assert_eq!(status, 202, "{body}");
}

#[test]
fn agent_reconnects_by_itself_after_broker_and_agent_restarts() {
    let pki = Pki::new();
    let mut broker = Broker::start(&pki, &[]);
    let (grpc, env) = (broker.grpc, broker.agent_env(&pki, "host-a", &[]));
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.push(("COOLD_HOST_MGMT_IP", "127.0.0.2"));
    let mut a = Coold::start(&all);
    broker.wait_streams(1, Duration::from_secs(10));

    // Broker restart on the same port and socket: the agent comes back on
    // its own (backoff), with no action from the test.
    broker.kill();
    let dir = std::mem::replace(&mut broker.dir, tempfile::tempdir().unwrap());
    drop(broker);
    let broker = Broker::start_at(&pki, grpc, dir, &[]);
    broker.wait_streams(1, Duration::from_secs(20));
    let (status, body) = broker.dispatch("host-a", "GET", "/api/v1/host/info");
    assert_eq!(status, 200, "{body}");

    // Agent restart: the new process replaces the old stream.
    a.child.kill().unwrap();
    let _ = a.child.wait();
    broker.wait_streams(0, Duration::from_secs(10));
    let _a2 = Coold::start(&all);
    broker.wait_streams(1, Duration::from_secs(10));
    let (status, body) = broker.dispatch("host-a", "GET", "/api/v1/host/info");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn second_stream_for_a_host_replaces_the_first() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[]);
    let token = pki.token("dup", &[]);
    let first = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &token,
        FakeAgent::hello("dup", &[], 0),
        FakeMode::Echo,
    )
    .unwrap();
    broker.wait_streams(1, Duration::from_secs(5));
    let second = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &token,
        FakeAgent::hello("dup", &[], 0),
        FakeMode::Echo,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // The first stream's cleanup must not remove the second's handle.
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    broker.wait_streams(1, Duration::from_secs(5));
    let (status, body) = broker.dispatch("dup", "GET", "/api/v1/host/info");
    assert_eq!(status, 200, "{body}");
    assert_eq!(second.frame_count(), 1);
}

#[test]
fn stream_jwt_table() {
    use base64::Engine as _;
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[]);
    let other = Pki::new();
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pki.jwt_key_pem.as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &key,
        )
        .unwrap()
    };
    let valid = serde_json::json!({"sub":"h","aud":"coold","exp":now+600,"caps":[]});
    let mut no_sub = valid.clone();
    no_sub.as_object_mut().unwrap().remove("sub");
    let mut no_caps = valid.clone();
    no_caps.as_object_mut().unwrap().remove("caps");
    let mut expired = valid.clone();
    expired["exp"] = serde_json::json!(now - 3600);
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &valid,
        &jsonwebtoken::EncodingKey::from_secret(&std::fs::read(&pki.jwt_pub).unwrap()),
    )
    .unwrap();
    let cases = [
        ("expired", sign(expired)),
        ("wrong key", other.token("h", &[])),
        ("HS256 with the public key as secret", hs256),
        (
            "none",
            format!(
                "{}.{}.",
                b64(&serde_json::json!({"alg":"none"})),
                b64(&valid)
            ),
        ),
        ("missing sub", sign(no_sub)),
        ("missing caps", sign(no_caps)),
        ("no token", String::new()),
    ];
    for (name, token) in cases {
        let r = FakeAgent::connect(
            broker.grpc,
            &pki.ca,
            &token,
            FakeAgent::hello("h", &[], 0),
            FakeMode::Echo,
        );
        match r {
            Err(status) => assert_eq!(
                status.code(),
                tonic::Code::Unauthenticated,
                "{name}: {status}"
            ),
            Ok(_) => panic!("{name}: stream must be refused"),
        }
    }
    // Hello for another host, or a capability the token lacks: refused.
    let r = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &pki.token("h", &[]),
        FakeAgent::hello("other", &[], 0),
        FakeMode::Echo,
    );
    assert_eq!(
        r.err().map(|s| s.code()),
        Some(tonic::Code::PermissionDenied)
    );
    let r = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &pki.token("h", &[]),
        FakeAgent::hello("h", &["builder"], 1),
        FakeMode::Echo,
    );
    assert_eq!(
        r.err().map(|s| s.code()),
        Some(tonic::Code::PermissionDenied)
    );
    assert_eq!(broker.request("GET", "/v1/health", None).0, 200);
    broker.wait_streams(0, Duration::from_secs(2));

    let ok = FakeAgent::connect(
        broker.grpc,
        &pki.ca,
        &sign(valid),
        FakeAgent::hello("h", &[], 0),
        FakeMode::Echo,
    );
    assert!(ok.is_ok(), "valid token accepted");
    broker.wait_streams(1, Duration::from_secs(5));
    let (_, metrics) = broker.request("GET", "/metrics", None);
    assert!(
        metrics.contains("coolify_broker_streams_refused_total 9"),
        "{metrics}"
    );
}

#[test]
fn uds_socket_mode_is_0600_or_0660_with_group() {
    let pki = Pki::new();
    let broker = Broker::start(&pki, &[]);
    let meta = std::fs::metadata(&broker.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // gid 1 (`daemon` on Debian) stands in for the PHP-FPM group.
    let grouped = Broker::start(&pki, &[("BROKER_UNIX_SOCKET_GROUP", "1")]);
    let meta = std::fs::metadata(&grouped.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 1);
}

#[test]
fn stale_socket_is_replaced_but_a_regular_file_is_not() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "stale socket left behind");
    let grpc = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap();
    let broker = Broker::start_at(&pki, grpc, dir, &[]);
    assert_eq!(broker.request("GET", "/v1/health", None).0, 200);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broker.sock");
    std::fs::write(&file, "not a socket").unwrap();
    let grpc = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap();
    let out = Broker::command(&pki, grpc, &file, &[]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BROKER_UNIX_SOCKET_PATH") && err.contains("not a socket"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a socket");
}

#[test]
fn bad_broker_config_fails_start_naming_the_variable() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let grpc = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap();
    let socket = dir.path().join("b.sock");
    for (var, value) in [
        ("BROKER_PENDING_MAX", "lots"),
        ("BROKER_DISPATCH_TIMEOUT_SECS", "0"),
        ("BROKER_JWT_PUBLIC_KEY_PATH", "/nonexistent/jwt.pub"),
        ("BROKER_TLS_CERT", "/nonexistent/broker.crt"),
        ("BROKER_LOG_LEVEL", "[[["),
    ] {
        let out = Broker::command(&pki, grpc, &socket, &[(var, value)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{var}: {err}");
    }
}

#[test]
fn sigterm_closes_open_agent_streams_instead_of_waiting_out_the_drain_cap() {
    let pki = Pki::new();
    let mut broker = Broker::start(&pki, &[]);
    let _a = agent(&broker, &pki, "host-term", "127.0.0.2", &[]);
    broker.wait_streams(1, Duration::from_secs(10));

    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(broker.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // The broker's own cap on a graceful stop is 5 s; an open agent stream
    // used to hold it there every time. Closing the streams first lets the
    // stop finish well inside it.
    let status = loop {
        if let Some(s) = broker.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(4),
            "broker still running {:?} after SIGTERM with an agent connected",
            sent.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "broker exit: {status}");
    assert!(
        !broker.socket.exists(),
        "the UDS socket must be removed on exit"
    );
}
