//! Cross-host discovery and DNS (issue 16 item 5): three simulated hosts,
//! each with its own Podman, a real Corrosion agent gossiping over the
//! underlay, and an appliance with `--endpoint-store corrosion`. A container
//! started on B is answered by A's and C's namespace DNS (B's row reaches
//! their agents through gossip); removed on B, it goes from their answers.
//! A's answer is checked twice: with the agent's own explanation
//! (`GET /dns/lookup`) and with a real query to A's namespace server. And
//! seed 000's faults: B cut off the underlay for 10 s while rows change on
//! both sides, then every host converges; B's Corrosion agent stopped,
//! then back.

use std::time::{Duration, Instant};

use coolify_tests::cluster::Cluster;
use coolify_tests::corrosion::CorrosionAgent;
use coolify_tests::{ok_json, unique, Instance};
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

/// Three hosts, each with its own /24 of `default`, a Corrosion agent
/// gossiping with the others over the underlay, and its appliance on
/// `--endpoint-store corrosion`.
struct CorrosionCluster {
    cluster: Cluster,
    subnets: Vec<String>,
    insts: Vec<Instance>,
    agents: Vec<CorrosionAgent>,
}

fn corrosion_cluster() -> CorrosionCluster {
    // Each host owns a /24 of the namespace, routed to over the underlay.
    let base = 18 + (rand_u8() % 100);
    let subnets: Vec<String> = (0..3)
        .map(|i| format!("198.18.{}.0/24", base + i * 50))
        .collect();
    let cluster =
        Cluster::with_subnets(&subnets.iter().map(|s| vec![s.clone()]).collect::<Vec<_>>());
    let agents = cluster.start_corrosion();
    let mut insts = Vec::new();
    for (i, h) in cluster.hosts.iter().enumerate() {
        h.host.load_image(BUSYBOX);
        let inst = Instance::new();
        let mut up = h.cp_up_on_corrosion(&inst, &agents[i]);
        up.args(["--subnet-pool", &subnets[i], "-o", "json"]);
        ok_json(up.output().expect("cp up"));
        insts.push(inst);
    }

    CorrosionCluster {
        cluster,
        subnets,
        insts,
        agents,
    }
}

impl CorrosionCluster {
    /// Creates and starts `name` on host `i` in `default`, through its agent.
    fn start_container(&self, i: usize, name: &str) {
        let h = &self.cluster.hosts[i];
        let mgmt = h.mgmt.to_string();
        let body = format!(
            r#"{{"name":"{name}","image":"{BUSYBOX}","cmd":["sleep","600"],"namespace":"default","network":"coolify-default-mesh"}}"#
        );
        let (code, v) = h.host.api(
            &self.insts[i],
            &mgmt,
            "POST",
            "/api/v1/containers",
            Some(&body),
        );
        assert_eq!(code, 201, "{v}");
        let path = format!("/api/v1/containers/{name}/start");
        let (code, v) = h.host.api(&self.insts[i], &mgmt, "POST", &path, None);
        assert_eq!(code, 204, "{v}");
    }

    /// What host `i`'s DNS would answer for `fqdn`: its addresses and the
    /// whole explanation.
    fn answers(&self, i: usize, fqdn: &str) -> (Vec<String>, Value) {
        let h = &self.cluster.hosts[i];
        let mgmt = h.mgmt.to_string();
        let path = format!("/api/v1/dns/lookup/{fqdn}");
        let (_, v) = h.host.api(&self.insts[i], &mgmt, "GET", &path, None);
        let answers = v["answers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        (answers, v)
    }
}

#[test]
fn a_container_on_b_is_answered_by_a_and_c_and_goes_from_their_answers_when_removed() {
    let cc = corrosion_cluster();
    let (cluster, subnets, insts) = (&cc.cluster, &cc.subnets, &cc.insts);
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
        ])
        .args([BUSYBOX, "sleep", "600"])
        .output()
        .expect("podman run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let name = unique("web");
    cc.start_container(1, &name);
    let fqdn = format!("{name}.default.coolify.internal");

    // A and C answer with B's address, from B's /24 of the namespace.
    let prefix = subnets[1].trim_end_matches("0/24");
    let mut ip_on_b = String::new();
    for i in [0, 2] {
        let answers = eventually(&format!("host {i} answers {fqdn}"), || {
            let (answers, v) = cc.answers(i, &fqdn);
            ((!answers.is_empty()).then_some(answers), v.to_string())
        });
        assert!(
            answers.iter().all(|ip| ip.starts_with(prefix)),
            "{answers:?} not in B's {}",
            subnets[1]
        );
        ip_on_b = answers[0].clone();
    }

    // The same from A's namespace server, over the wire. The server binds
    // A's gateway once the keeper made the bridge (it retries with backoff
    // up to 2 s), so the query is asked until it is served.
    let gateway_a = subnets[0].replace("0/24", "1");
    eventually(&format!("A's server at {gateway_a} answers {fqdn}"), || {
        let real = a
            .host
            .command("busybox", &["nslookup", &fqdn, &gateway_a])
            .output()
            .expect("nslookup");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&real.stdout),
            String::from_utf8_lossy(&real.stderr)
        );
        (said.contains(&ip_on_b).then_some(()), said)
    });

    // Removed on B: it goes from A's and C's answers.
    let b = &cluster.hosts[1];
    let path = format!("/api/v1/containers/{name}?force=true");
    let (code, removed) = b
        .host
        .api(&insts[1], &b.mgmt.to_string(), "DELETE", &path, None);
    assert!(code == 204 || code == 200, "{code} {removed}");
    for i in [0, 2] {
        eventually(&format!("host {i} stops answering {fqdn}"), || {
            let (_, v) = cc.answers(i, &fqdn);
            ((v["rcode"] == "NXDOMAIN").then_some(()), v.to_string())
        });
    }
}

/// Seed 000's fault: B's underlay link down for 10 s while rows change on
/// both sides; once it is back, every host's store and DNS converge.
#[test]
fn after_bs_link_is_down_for_ten_seconds_while_rows_change_every_host_converges() {
    let cc = corrosion_cluster();
    let link_b = "h2";
    let fabric = &cc.cluster.fabric.ns;
    let set_link = |state: &str| {
        let out = std::process::Command::new("ip")
            .args(["-n", fabric, "link", "set", link_b, state])
            .output()
            .expect("ip link");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    set_link("down");
    let cut = Instant::now();
    let (on_a, on_b) = (unique("on-a"), unique("on-b"));
    cc.start_container(0, &on_a);
    cc.start_container(1, &on_b);
    let (fqdn_a, fqdn_b) = (
        format!("{on_a}.default.coolify.internal"),
        format!("{on_b}.default.coolify.internal"),
    );
    // Each side knows its own row; neither knows the other's while cut off.
    eventually("A answers its own container while B is cut off", || {
        let (answers, v) = cc.answers(0, &fqdn_a);
        ((!answers.is_empty()).then_some(()), v.to_string())
    });
    let (seen, v) = cc.answers(0, &fqdn_b);
    assert!(seen.is_empty(), "A learnt B's row across a cut link: {v}");
    std::thread::sleep(Duration::from_secs(10).saturating_sub(cut.elapsed()));
    set_link("up");

    // Every host answers both containers.
    for i in 0..3 {
        for fqdn in [&fqdn_a, &fqdn_b] {
            eventually(
                &format!("host {i} answers {fqdn} after the link is back"),
                || {
                    let (answers, v) = cc.answers(i, fqdn);
                    ((!answers.is_empty()).then_some(()), v.to_string())
                },
            );
        }
    }
}

/// Seed 000's fault across hosts: B's Corrosion agent stopped. B's
/// discovery turns degraded while its agent keeps serving; a container
/// started on B meanwhile reaches A's answers once B's Corrosion is back.
#[test]
fn bs_corrosion_stopped_degrades_its_discovery_and_its_rows_reach_a_when_back() {
    let mut cc = corrosion_cluster();
    cc.agents[1].stop();
    let b = &cc.cluster.hosts[1];
    let mgmt_b = b.mgmt.to_string();
    let health_b = || {
        let out = b
            .host
            .command(
                "curl",
                &[
                    "-sS",
                    "--max-time",
                    "5",
                    &format!("http://127.0.0.1:{}/healthz", cc.insts[1].health_port),
                ],
            )
            .output()
            .expect("curl healthz");
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    eventually("B's discovery degraded", || {
        let h = health_b();
        let status = h["components"]["discovery"]["status"]
            .as_str()
            .unwrap_or("")
            .to_string();
        (
            (status == "degraded" || status == "unhealthy").then_some(()),
            h.to_string(),
        )
    });
    // B keeps serving: its API answers and a container starts.
    let (code, info) = b
        .host
        .api(&cc.insts[1], &mgmt_b, "GET", "/api/v1/host/info", None);
    assert_eq!(code, 200, "{info}");
    let name = unique("while-down");
    cc.start_container(1, &name);
    let fqdn = format!("{name}.default.coolify.internal");
    let (seen, v) = cc.answers(0, &fqdn);
    assert!(seen.is_empty(), "A knew a row B could not write: {v}");

    cc.agents[1].start();
    eventually(
        "A answers the container B started while its Corrosion was down",
        || {
            let (answers, v) = cc.answers(0, &fqdn);
            ((!answers.is_empty()).then_some(()), v.to_string())
        },
    );
    eventually("B's discovery healthy again", || {
        let h = health_b();
        (
            (h["components"]["discovery"]["status"] == "healthy").then_some(()),
            h.to_string(),
        )
    });
}

fn rand_u8() -> u8 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.subsec_nanos() >> 10) as u8)
        .unwrap_or(0)
}
