//! Cross-host discovery and DNS (issue 16 item 5): three simulated hosts,
//! each with its own Podman, a real Corrosion agent gossiping over the
//! underlay, and an appliance with `--endpoint-store corrosion`. A container
//! started on B is answered by A's and C's namespace DNS (B's row reaches
//! their agents through gossip); removed on B, it goes from their answers.
//! A's answer is checked twice: with the agent's own explanation
//! (`GET /dns/lookup`) and with a real query to A's namespace server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coolify_tests::cluster::Cluster;
use coolify_tests::corrosion::{AgentSpec, CorrosionAgent};
use coolify_tests::{free_port, ok_json, unique, Instance};
use serde_json::Value;

const BUSYBOX: &str = "localhost/coolify-test-busybox:latest";
/// Gossip rows travel and each agent reconciles every 2 s: generous.
const WITHIN: Duration = Duration::from_secs(30);

/// Polls `check` every 250 ms until it returns `Some`, or panics with
/// `what` and the last value after [`WITHIN`].
fn eventually<T>(what: &str, mut check: impl FnMut() -> (Option<T>, String)) -> T {
    let started = Instant::now();
    loop {
        let (got, last) = check();
        if let Some(v) = got {
            return v;
        }
        assert!(
            started.elapsed() < WITHIN,
            "{what} within {WITHIN:?}; last: {last}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_container_on_b_is_answered_by_a_and_c_and_goes_from_their_answers_when_removed() {
    // Each host owns a /24 of the namespace, routed to over the underlay.
    let base = 18 + (rand_u8() % 100);
    let subnets: Vec<String> = (0..3)
        .map(|i| format!("198.18.{}.0/24", base + i * 50))
        .collect();
    let cluster =
        Cluster::with_subnets(&subnets.iter().map(|s| vec![s.clone()]).collect::<Vec<_>>());
    let gossip_port = coolify_tests::corrosion::free_udp_port();
    let gossip: Vec<SocketAddr> = cluster
        .hosts
        .iter()
        .map(|h| SocketAddr::from((h.mgmt, gossip_port)))
        .collect();

    let mut agents = Vec::new();
    let mut insts = Vec::new();
    for (i, h) in cluster.hosts.iter().enumerate() {
        let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
        agents.push(CorrosionAgent::start_with(AgentSpec {
            gossip: gossip[i],
            bootstrap: gossip
                .iter()
                .filter(|g| **g != gossip[i])
                .copied()
                .collect(),
            api,
            prefix: vec!["nsenter".into(), format!("--net=/run/netns/{}", h.host.ns)],
        }));
        h.host.load_image(BUSYBOX);
        let inst = Instance::new();
        let mut up = h.cp_up(&inst);
        up.args(["--namespaces", "default", "--subnet-pool", &subnets[i]]);
        up.args([
            "--endpoint-store",
            "corrosion",
            "--corrosion-api",
            &api.to_string(),
        ]);
        up.args(["-o", "json"]);
        ok_json(up.output().expect("cp up"));
        insts.push(inst);
    }

    // A keeper on A's namespace bridge: netavark makes the bridge (and A's
    // namespace server binds its gateway) when a container is on it.
    let a = &cluster.hosts[0];
    let keeper = unique("keeper");
    let out = a
        .podman(&[
            "run",
            "-d",
            "--name",
            &keeper,
            "--network",
            "coolify-default-mesh",
            BUSYBOX,
            "sleep",
            "600",
        ])
        .output()
        .expect("podman run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A container on B, created and started through B's agent.
    let b = &cluster.hosts[1];
    let name = unique("web");
    let body = format!(
        r#"{{"name":"{name}","image":"{BUSYBOX}","cmd":["sleep","600"],"namespace":"default","network":"coolify-default-mesh"}}"#
    );
    let mgmt_b = b.mgmt.to_string();
    let (code, created) = b.host.api(
        &insts[1],
        &mgmt_b,
        "POST",
        "/api/v1/containers",
        Some(&body),
    );
    assert_eq!(code, 201, "{created}");
    let (code, started) = b.host.api(
        &insts[1],
        &mgmt_b,
        "POST",
        &format!("/api/v1/containers/{name}/start"),
        None,
    );
    assert_eq!(code, 204, "{started}");
    let fqdn = format!("{name}.default.coolify.internal");

    // A and C answer with B's address, from B's slice of the namespace.
    let mut ip_on_b = String::new();
    for i in [0, 2] {
        let h = &cluster.hosts[i];
        let mgmt = h.mgmt.to_string();
        let answers: Vec<String> = eventually(&format!("host {i} answers {fqdn}"), || {
            let (code, v) = h.host.api(
                &insts[i],
                &mgmt,
                "GET",
                &format!("/api/v1/dns/lookup/{fqdn}"),
                None,
            );
            let answers: Vec<String> = v["answers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (
                (code == 200 && !answers.is_empty()).then_some(answers),
                v.to_string(),
            )
        });
        let prefix = subnets[1].trim_end_matches("0/24");
        assert!(
            answers.iter().all(|ip| ip.starts_with(prefix)),
            "{answers:?} not in B's {}",
            subnets[1]
        );
        ip_on_b = answers[0].clone();
    }

    // The same from A's namespace server, over the wire.
    let gateway_a = subnets[0].replace("0/24", "1");
    let real = a
        .host
        .command("busybox", &["nslookup", &fqdn, &gateway_a])
        .output()
        .expect("nslookup");
    let said = String::from_utf8_lossy(&real.stdout);
    assert!(
        said.contains(&ip_on_b),
        "A's server at {gateway_a} said: {said}{}",
        String::from_utf8_lossy(&real.stderr)
    );

    // Removed on B: it goes from A's and C's answers.
    let (code, removed) = b.host.api(
        &insts[1],
        &mgmt_b,
        "DELETE",
        &format!("/api/v1/containers/{name}?force=true"),
        None,
    );
    assert!(code == 204 || code == 200, "{code} {removed}");
    for i in [0, 2] {
        let h = &cluster.hosts[i];
        let mgmt = h.mgmt.to_string();
        eventually(&format!("host {i} stops answering {fqdn}"), || {
            let (_, v): (u16, Value) = h.host.api(
                &insts[i],
                &mgmt,
                "GET",
                &format!("/api/v1/dns/lookup/{fqdn}"),
                None,
            );
            ((v["rcode"] == "NXDOMAIN").then_some(()), v.to_string())
        });
    }
    drop(agents);
}

fn rand_u8() -> u8 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.subsec_nanos() >> 10) as u8)
        .unwrap_or(0)
}
