//! coold's own process life: start, health, drain on SIGTERM, init mode.

mod support;

use std::time::Duration;

use support::{http, Coold};

#[test]
fn healthz_is_green_with_the_podman_component() {
    let c = Coold::start(&[]);
    let (code, body) = http(c.health, "GET", "/healthz", &[], None).unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["components"]["podman"]["status"], "healthy");
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut c = Coold::start(&[]);
    let status = c.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn as_init_sigterm_is_forwarded_and_the_agents_code_returned() {
    let mut c = Coold::start(&[("COOLD_INIT", "1")]);
    let status = c.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn metrics_count_requests_by_verb_and_status() {
    let c = Coold::start(&[]);
    assert_eq!(c.request("GET", "/api/v1/host/info", None).0, 200);
    assert_eq!(
        http(c.api, "GET", "/api/v1/host/info", &[], None)
            .unwrap()
            .0,
        401
    );
    let (_, text) = http(c.health, "GET", "/metrics", &[], None).unwrap();
    assert!(
        text.contains("coold_requests_total{verb=\"host.info\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("coold_requests_total{verb=\"unrouted\",status=\"401\"} 1"),
        "{text}"
    );
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let c = Coold::start(&[]);
    assert_eq!(c.request("GET", "/api/v1/nope", None).0, 404);
    assert_eq!(c.request("GET", "/v1.41/containers/json", None).0, 404);
    assert_eq!(c.request("DELETE", "/api/v1/host/info", None).0, 405);
}

#[test]
fn bad_config_exits_2_naming_the_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coold"))
        .env_clear()
        // Tests never write the machine's own firewall chains.
        .env("COOLD_FIREWALL", "off")
        .env("COOLD_HOST_MGMT_IP", "127.0.0.1")
        .env("COOLD_RECONCILE_INTERVAL", "often")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("COOLD_RECONCILE_INTERVAL"));
}

#[test]
fn missing_podman_socket_fails_start_with_the_fix() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coold"))
        .env_clear()
        // Tests never write the machine's own firewall chains.
        .env("COOLD_FIREWALL", "off")
        .env("COOLD_HOST_MGMT_IP", "127.0.0.1")
        .env("COOLD_HEALTH_BIND", "127.0.0.1:0")
        .env("COOLD_PODMAN_SOCKET", "/nonexistent/podman.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("podman system service"), "{err}");
}

#[test]
fn rest_api_is_served_from_a_thread_of_its_own() {
    let c = Coold::start(&[]);
    assert_eq!(c.request("GET", "/api/v1/host/info", None).0, 200);
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", c.child.id()))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .collect();
    assert_eq!(
        names.iter().filter(|n| *n == "coold-api").count(),
        1,
        "{names:?}"
    );
}

#[test]
fn ops_log_records_each_request_after_answering_it() {
    let c = Coold::start(&[]);
    assert_eq!(c.request("GET", "/api/v1/host/info", None).0, 200);
    // The line is written once the answer is on the wire: wait for it.
    let started = std::time::Instant::now();
    loop {
        let log = c.stderr.lock().unwrap().clone();
        if log.contains("verb=\"host.info\"") || log.contains("verb=host.info") {
            assert!(log.contains("status=200"), "{log}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no ops log line for host.info:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
