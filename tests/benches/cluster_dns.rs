//! Register on B → A's DNS answers (issue 16 figure): three simulated
//! hosts with real Corrosion agents (as `tests/tests/cluster_dns.rs`), then
//! `SERVICES` containers started on B one after the other; for each, the
//! time from B's start verb answering to A's `GET /dns/lookup` answering
//! with it, polled every 20 ms. Prints p50, p90, p99 and max.
//!
//!     cargo bench -p coolify-tests --bench cluster_dns
//!     COOLIFY_BENCH_RECONCILE=500ms cargo bench …   # agents' reconcile interval
//!
//! Needs what the e2e tests need (static binaries, COOLIFY_CORROSION_BIN).

use std::time::{Duration, Instant};

use coolify_tests::cluster::Cluster;
use coolify_tests::{ok_json, unique, Instance};

const BUSYBOX: &str = "localhost/coolify-test-busybox:latest";
const SERVICES: usize = 100;

fn main() {
    let reconcile = std::env::var("COOLIFY_BENCH_RECONCILE").unwrap_or_else(|_| "2s".into());
    let subnets = ["198.18.201.0/24", "198.18.202.0/24", "198.18.203.0/24"];
    let cluster = Cluster::with_subnets(&subnets.map(|s| vec![s.to_string()]));
    let agents = cluster.start_corrosion();
    let mut insts = Vec::new();
    for (i, h) in cluster.hosts.iter().enumerate() {
        h.host.load_image(BUSYBOX);
        let inst = Instance::new();
        std::fs::create_dir_all(inst.config_dir()).expect("config dir");
        std::fs::write(
            inst.config_dir().join("agent.toml"),
            format!("[discovery]\nreconcile_interval = \"{reconcile}\"\n"),
        )
        .expect("agent.toml");
        let mut up = h.cp_up_on_corrosion(&inst, &agents[i]);
        up.args(["--subnet-pool", subnets[i], "-o", "json"]);
        ok_json(up.output().expect("cp up"));
        insts.push(inst);
    }
    let (a, b) = (&cluster.hosts[0], &cluster.hosts[1]);
    let (mgmt_a, mgmt_b) = (a.mgmt.to_string(), b.mgmt.to_string());
    let mut samples = Vec::with_capacity(SERVICES);
    for n in 0..SERVICES {
        let name = unique("svc");
        let body = format!(
            r#"{{"name":"{name}","image":"{BUSYBOX}","cmd":["sleep","3600"],"namespace":"default","network":"coolify-default-mesh"}}"#
        );
        let (code, v) = b.host.api(
            &insts[1],
            &mgmt_b,
            "POST",
            "/api/v1/containers",
            Some(&body),
        );
        assert_eq!(code, 201, "{v}");
        let (code, v) = b.host.api(
            &insts[1],
            &mgmt_b,
            "POST",
            &format!("/api/v1/containers/{name}/start"),
            None,
        );
        assert_eq!(code, 204, "{v}");
        let started = Instant::now();
        let path = format!("/api/v1/dns/lookup/{name}.default.coolify.internal");
        loop {
            let (_, v) = a.host.api(&insts[0], &mgmt_a, "GET", &path, None);
            if v["answers"].as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "service {n} never answered: {v}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        samples.push(started.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    println!(
        "register on B → A's DNS answers, {SERVICES} services, reconcile {reconcile}: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        at(0.50),
        at(0.90),
        at(0.99),
        samples[samples.len() - 1]
    );
    drop(agents);
}
