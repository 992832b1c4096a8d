//! `cp up --endpoint-store corrosion` with a real Corrosion agent on the
//! host: the appliance writes its rows into the host's agent, and gossip
//! carries them to another agent (what another host reads).

use std::time::{Duration, Instant};

use coolify_tests::corrosion::{AgentSpec, CorrosionAgent};
use coolify_tests::*;

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cp_up_with_the_corrosion_store_writes_rows_into_the_hosts_agent() {
    let here = CorrosionAgent::start_loopback();
    let other = CorrosionAgent::start_with(AgentSpec::loopback_joining(&[here.gossip()]));
    let inst = Instance::new();
    let api = here.api().to_string();
    ok_json(run(inst.up(&[
        "-o",
        "json",
        "--endpoint-store",
        "corrosion",
        "--corrosion-api",
        &api,
    ])));
    let token = inst.api_token();

    let name = unique("corro-e2e");
    let body = format!(
        r#"{{"name":"{name}","image":"localhost/coolify-test-busybox:latest","cmd":["sleep","120"]}}"#
    );
    let (code, text) = api_request(
        &inst,
        "POST",
        "/api/v1/containers",
        Some(&body),
        Some(&token),
    );
    let _cleanup = Cleanup(name.clone());
    assert_eq!(code, 201, "{text}");
    let (code, text) = api_request(
        &inst,
        "POST",
        &format!("/api/v1/containers/{name}/start"),
        None,
        Some(&token),
    );
    assert_eq!(code, 204, "{text}");
    let id = String::from_utf8_lossy(&podman(&["inspect", "--format", "{{.Id}}", &name]).stdout)
        .trim()
        .to_string();

    wait_until("row in the host's agent", Duration::from_secs(20), || {
        here.has_row(&id)
    });
    wait_until(
        "row gossiped to the other agent",
        Duration::from_secs(30),
        || other.has_row(&id),
    );
    let status = ok_json(run(inst.cmd(&["cp", "status", "-o", "json"])));
    assert_eq!(
        status["health"]["components"]["discovery"]["status"], "healthy",
        "{status}"
    );
}

/// A network namespace made for one test, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(prefix: &str) -> Self {
        let ns = Netns(unique(prefix));
        sh(&["ip", "netns", "add", &ns.0]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn prefix(&self) -> Vec<String> {
        vec!["nsenter".into(), format!("--net=/run/netns/{}", self.0)]
    }

    fn exec(&self, args: &[&str]) {
        let mut full: Vec<String> = self.prefix();
        full.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        sh(&refs);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .output();
    }
}

fn sh(args: &[&str]) {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

/// The helper's cluster shape: one agent per host namespace, gossiping
/// over an underlay link between the namespaces, each reached through its
/// `nsenter` prefix (its API is on the namespace's own loopback).
#[test]
fn agents_in_two_host_namespaces_gossip_over_the_underlay() {
    let (h1, h2) = (Netns::new("corro-h1"), Netns::new("corro-h2"));
    let (v1, v2) = (unique("cv"), unique("cv"));
    // Interface names are at most 15 bytes.
    let (v1, v2) = (&v1[..v1.len().min(15)], &v2[..v2.len().min(15)]);
    sh(&[
        "ip", "link", "add", v1, "netns", &h1.0, "type", "veth", "peer", "name", v2, "netns", &h2.0,
    ]);
    h1.exec(&["ip", "addr", "add", "198.18.211.1/30", "dev", v1]);
    h2.exec(&["ip", "addr", "add", "198.18.211.2/30", "dev", v2]);
    h1.exec(&["ip", "link", "set", v1, "up"]);
    h2.exec(&["ip", "link", "set", v2, "up"]);

    let a = CorrosionAgent::start_with(AgentSpec {
        gossip: "198.18.211.1:8787".parse().unwrap(),
        bootstrap: vec![],
        api: "127.0.0.1:8080".parse().unwrap(),
        prefix: h1.prefix(),
    });
    let b = CorrosionAgent::start_with(AgentSpec {
        gossip: "198.18.211.2:8787".parse().unwrap(),
        bootstrap: vec![a.gossip()],
        api: "127.0.0.1:8080".parse().unwrap(),
        prefix: h2.prefix(),
    });
    let id = unique("netns-row");
    a.execute(
        "INSERT INTO service_endpoints (container_id, host_mgmt_ip) VALUES (?, ?)",
        &[serde_json::json!(id), serde_json::json!("198.18.211.1")],
    )
    .unwrap();
    assert!(a.has_row(&id));
    wait_until(
        "row gossiped to the other host",
        Duration::from_secs(30),
        || b.has_row(&id),
    );
}
