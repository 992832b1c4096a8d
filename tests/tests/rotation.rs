//! `coolify cp rotate` and the renewal in `cp up` against a running
//! appliance: new material is served by the same container, the old token
//! is refused, a request in flight finishes, and a server certificate close
//! to expiry is replaced by `cp up`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coolify_tests::*;

const PROBE: &str = "/api/v1/openapi.json";

fn container_id(inst: &Instance) -> String {
    let out = podman(&["inspect", "--format", "{{.Id}}", &inst.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A managed container that prints `1`…`n`, one a second, then exits: its
/// logs, followed, are a request that lasts about `n` seconds and then
/// ends on its own.
fn counting_container(n: u32) -> (String, Cleanup) {
    let name = unique("rotate-count");
    let script = format!("for i in $(seq 1 {n}); do echo line-$i; sleep 1; done");
    let out = podman(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        "coolify.managed=true",
        "localhost/coolify-test-busybox:latest",
        "sh",
        "-c",
        &script,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    (name.clone(), Cleanup(name))
}

#[test]
fn rotate_swaps_token_and_certificate_in_the_running_container_and_lets_a_request_in_flight_finish()
{
    let inst = Instance::new();
    let up = ok_json(run(inst.up(&["-o", "json"])));
    let id = field(&up, "container_id").to_string();
    let old_token = inst.api_token();
    let old_cert = cert_sha256(&served_cert_pem(&inst));
    assert_eq!(api_get(&inst, PROBE, Some(&old_token)).0, 200);

    // A request that outlives the rotation: logs followed until the
    // container exits, on a connection opened with the old token and the
    // old certificate.
    let (counter, _cleanup) = counting_container(8);
    let mut follow = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(inst.config_dir().join("ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {old_token}")])
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/containers/{counter}/logs?follow=true",
            inst.api_port
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl on PATH");
    std::thread::sleep(Duration::from_millis(1500));

    let started = Instant::now();
    let rotated = ok_json(run(inst.rotate(&[
        "--api-token",
        "--server-cert",
        "-o",
        "json",
    ])));
    let took = started.elapsed();
    assert!(
        follow.try_wait().expect("curl state").is_none(),
        "the followed request ended before the rotation did ({took:?}); it proves nothing"
    );

    // The old token is refused and the new one answers, from the same
    // container.
    let new_token = inst.api_token();
    assert_ne!(new_token, old_token);
    assert_eq!(api_get(&inst, PROBE, Some(&old_token)).0, 401);
    assert_eq!(api_get(&inst, PROBE, Some(&new_token)).0, 200);
    assert_eq!(
        container_id(&inst),
        id,
        "rotation must not replace the container"
    );
    assert_eq!(field(&rotated, "container_id"), id);
    assert!(
        rotated["api_token"]["accepted_after_ms"].is_u64(),
        "{rotated}"
    );

    // A fresh handshake presents the new certificate, the one on disk.
    let served = cert_sha256(&served_cert_pem(&inst));
    let reported = field(&rotated["server_certificate"], "sha256");
    assert_ne!(served, old_cert);
    assert_eq!(served, reported);
    let on_disk = std::fs::read(inst.config_dir().join("agent/server.crt")).unwrap();
    assert_eq!(cert_sha256(&on_disk), served);
    let days = rotated["server_certificate"]["days_left"].as_u64().unwrap();
    assert!((89..=90).contains(&days), "{rotated}");

    // The reload reports itself healthy: nothing was refused on the way.
    let health = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("http://127.0.0.1:{}/healthz", inst.health_port))
        .output()
        .expect("curl on PATH");
    let health: serde_json::Value = serde_json::from_slice(&health.stdout).expect("healthz JSON");
    assert_eq!(
        health["components"]["api-credentials"]["status"], "healthy",
        "{health}"
    );

    // The request in flight ran to its end on the old material.
    let out = follow.wait_with_output().expect("curl finished");
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(code.trim(), "200", "{text}");
    assert!(body.contains("line-1") && body.contains("line-8"), "{body}");

    eprintln!(
        "rotate took {took:?}; token accepted after {} ms, certificate served after {} ms",
        rotated["api_token"]["accepted_after_ms"], rotated["server_certificate"]["served_after_ms"]
    );
}

#[test]
fn rotate_without_a_running_appliance_says_to_run_cp_up() {
    let inst = Instance::new();
    let out = run(inst.rotate(&["--api-token"]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&inst.name) && err.contains("coolify cp up"),
        "{err}"
    );
    assert!(
        !inst.config_dir().join("agent/api-token").exists(),
        "nothing is written without an appliance"
    );

    let none = run(inst.rotate(&[]));
    assert!(!none.status.success());
    assert!(stderr(&none).contains("--api-token"), "{}", stderr(&none));
}

#[test]
fn cp_up_renews_a_server_certificate_with_ten_days_left() {
    let inst = Instance::new();
    let up = ok_json(run(inst.up(&["-o", "json"])));
    let id = field(&up, "container_id").to_string();
    let agent = inst.config_dir().join("agent");
    let (cert, key) = (agent.join("server.crt"), agent.join("server.key"));

    // A certificate from the instance's CA, same names and key, that
    // expires in ten days, put in place the way a rotation does.
    let short_sha = replace_with_short_lived(&cert, &key, &inst.config_dir(), 10);

    // The running agent reloads it (bounded wait: 30 × 0.5 s).
    let mut served = String::new();
    for _ in 0..30 {
        served = cert_sha256(&served_cert_pem(&inst));
        if served == short_sha {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        served, short_sha,
        "the agent never served the 10-day certificate"
    );

    let again = ok_json(run(inst.up(&["-o", "json"])));

    let renewed = again["pki"]["renewed"].as_array().expect("pki.renewed");
    assert_eq!(renewed.len(), 1, "{again}");
    let line = renewed[0].as_str().unwrap();
    assert!(
        line == "server certificate (9 days left)" || line == "server certificate (10 days left)",
        "{line}"
    );
    assert_eq!(field(&again, "container_action"), "running");
    assert_eq!(field(&again, "container_id"), id);
    let new = &again["pki"]["server_certificate"];
    let days = new["days_left"].as_u64().unwrap();
    assert!((89..=90).contains(&days), "{again}");
    // `cp up` returned after the renewed certificate was served.
    let served = cert_sha256(&served_cert_pem(&inst));
    assert_eq!(served, field(new, "sha256"));
    assert_ne!(served, short_sha);
    assert_eq!(api_get(&inst, PROBE, Some(&inst.api_token())).0, 200);
}

#[test]
fn cp_up_with_broker_renews_a_broker_certificate_with_ten_days_left_and_replaces_the_broker() {
    let inst = Instance::new();
    let up = ok_json(run(inst.up_with_broker(&["-o", "json"])));
    let broker_id = field(&up["broker"], "container_id").to_string();
    let agent_id = field(&up, "container_id").to_string();
    let broker_dir = inst.config_dir().join("broker");
    let (cert, key) = (broker_dir.join("broker.crt"), broker_dir.join("broker.key"));
    let first = std::fs::read(&cert).expect("broker.crt");
    assert!(valid_for(&first, 89 * 86_400) && !valid_for(&first, 91 * 86_400));

    let short_sha = replace_with_short_lived(&cert, &key, &broker_dir, 10);
    let again = ok_json(run(inst.up_with_broker(&["-o", "json"])));

    let broker = &again["broker"];
    let renewed = broker["renewed"].as_array().expect("broker.renewed");
    assert_eq!(renewed.len(), 1, "{again}");
    assert!(
        renewed[0].as_str().unwrap().contains("broker.crt ("),
        "{again}"
    );
    assert!(
        broker["container_action"]["replaced"]["reason"].is_string(),
        "a renewed certificate reaches the broker in a new container: {again}"
    );
    assert_ne!(field(broker, "container_id"), broker_id);
    assert_eq!(field(&again, "container_id"), agent_id, "the agent is kept");
    // The broker serves the renewed certificate on its gRPC port, and the
    // agent's stream to it is connected again (`up` waited for it).
    let served = served_cert_pem_at(inst.grpc_port);
    let on_disk = std::fs::read(&cert).expect("broker.crt");
    assert_eq!(cert_sha256(&served), cert_sha256(&on_disk));
    assert_ne!(cert_sha256(&served), short_sha);
    assert!(valid_for(&served, 89 * 86_400), "a 90-day certificate");
    assert_eq!(
        again["health"]["components"]["broker"]["status"], "healthy",
        "{again}"
    );
}
