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
