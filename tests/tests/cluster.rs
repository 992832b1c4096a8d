//! A fleet on one machine (issue 16 items 1 and 4): three simulated hosts
//! (`coolify_tests::cluster`: own network namespaces and Podman services,
//! joined by an underlay). A runs `cp up --with-broker --builder` with the
//! broker's gRPC listener on A's management address; B and C are enrolled
//! on A with `coolify broker enroll` and run `cp up --broker-url` over the
//! underlay. Each host also runs a real Corrosion agent gossiping over the
//! underlay, and its appliance keeps its endpoints there
//! (`--endpoint-store corrosion`). Then the broker lists all three
//! (`coolify fleet`), a dispatch through A's lane reaches B's agent, a
//! container created on B through the broker is answered by A's and C's
//! DNS, and the two faults: B's agent killed, and the broker restarted. Also: `scripts/cluster up|down`
//! builds and removes the same topology.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coolify_tests::cluster::{Cluster, ClusterHost};
use coolify_tests::corrosion::CorrosionAgent;
use coolify_tests::{coolify_bin, ok_json, podman, stderr, unique, Instance};
use serde_json::{json, Value};

const BUSYBOX: &str = "localhost/coolify-test-busybox:latest";

/// How long a stream may take to come back after its restart (issue 16).
const BACK_WITHIN: Duration = Duration::from_secs(5);

/// Three hosts, A the broker and builder, B and C agents enrolled on it.
struct ThreeHosts {
    // The cluster first: each host removes its containers through its own
    // engine while the instances' dirs they mount still exist. An
    // instance's own drop is a `cp down` on the machine's engine, a no-op
    // for these unique names.
    cluster: Cluster,
    a: Instance,
    b: Instance,
    c: Instance,
    /// One per host, in the hosts' order.
    _corrosion: Vec<CorrosionAgent>,
}

/// The cluster's namespace pool: B's and C's slices come from enrollment,
/// A (the `--with-broker` host, which is not enrolled) takes a /24 beside.
const CLUSTER_POOL: &str = "198.18.128.0/18";
const A_SUBNET: &str = "198.18.127.0/24";

impl ThreeHosts {
    fn up() -> Self {
        let cluster = Cluster::new(3);
        let (a, b, c) = (Instance::new(), Instance::new(), Instance::new());
        let a_mgmt = cluster.hosts[0].mgmt;

        let corrosion = cluster.start_corrosion();

        let mut up_a = cluster.hosts[0].cp_up_on_corrosion(&a, &corrosion[0]);
        up_a.args(["--subnet-pool", A_SUBNET]);
        up_a.args(["--with-broker", "--builder", "--host-id", &a.host_id]);
        up_a.arg("--broker-grpc-bind")
            .arg(format!("{a_mgmt}:{}", a.grpc_port));
        up_a.args(["--timeout", "90s", "-o", "json"]);
        let report = ok_json(up_a.output().expect("cp up on A"));
        assert_eq!(
            report["health"]["components"]["broker"]["status"], "healthy",
            "{report}"
        );

        // B and C: enrolled on A (the token and the broker's CA are what
        // goes to the host), then their own `cp up` dials A over the
        // underlay. Both at once: each imports the appliance image into
        // its own storage.
        let url = format!("grpcs://{a_mgmt}:{}/v1/agent", a.grpc_port);
        let ups: Vec<_> = [(&cluster.hosts[1], &b, 1), (&cluster.hosts[2], &c, 2)]
            .into_iter()
            .map(|(host, inst, i)| {
                let (token, ca) = enroll(&a, inst);
                let mut up = host.cp_up_on_corrosion(inst, &corrosion[i]);
                up.args(["--broker-url", &url, "--host-token-file"])
                    .arg(token)
                    .arg("--broker-ca")
                    .arg(ca)
                    .args(["--timeout", "90s", "-o", "json"]);
                up.stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                up.spawn().expect("cp up")
            })
            .collect();
        for child in ups {
            ok_json(child.wait_with_output().expect("cp up"));
        }
        let three = ThreeHosts {
            cluster,
            a,
            b,
            c,
            _corrosion: corrosion,
        };
        three.wait_fleet(Duration::from_secs(60), |hosts| hosts.len() == 3);
        three
    }

    fn host_ids(&self) -> [&str; 3] {
        [&self.a.host_id, &self.b.host_id, &self.c.host_id]
    }

    /// `coolify fleet -o json` on A's lane.
    fn fleet(&self) -> Value {
        ok_json(
            self.a
                .lane_cmd(&["fleet", "-o", "json"])
                .output()
                .expect("coolify fleet"),
        )
    }

    /// Polls the fleet until `done(hosts)` or panics after `within`.
    fn wait_fleet(&self, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let fleet = self.fleet();
            let hosts = fleet["hosts"].as_array().cloned().unwrap_or_default();
            if done(&hosts) {
                return hosts;
            }
            assert!(
                started.elapsed() < within,
                "the fleet did not get there within {within:?}: {fleet}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A dispatch through A's lane: `(status, x-coolify-source, body)`.
    fn dispatch(&self, host_id: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut req = json!({"host_id": host_id, "method": method, "path": path});
        if let Some(b) = body {
            req["body"] = b;
        }
        lane(
            &self.a,
            "POST",
            "/v1/coold/dispatch",
            Some(&req.to_string()),
        )
    }
}

/// `coolify broker enroll` on A for `inst`'s host; the token and a copy of
/// A's broker CA written into `inst`'s dir, as an operator copies them.
fn enroll(a: &Instance, inst: &Instance) -> (PathBuf, PathBuf) {
    let out = Command::new(coolify_bin())
        .arg("--config-dir")
        .arg(a.config_dir())
        .args(["broker", "enroll", "--host-id", &inst.host_id])
        .args(["--cluster-pool", CLUSTER_POOL, "--host-subnets", "24"])
        .output()
        .expect("coolify broker enroll");
    assert!(out.status.success(), "{}", stderr(&out));
    let token = inst.dir.path().join("host.jwt");
    std::fs::write(&token, &out.stdout).expect("write the token");
    let ca = inst.dir.path().join("broker-ca.crt");
    std::fs::copy(a.config_dir().join("broker").join("ca.crt"), &ca).expect("copy the CA");
    (token, ca)
}

#[derive(Debug)]
struct Answer {
    status: u16,
    source: String,
    body: Value,
}

/// A request on `inst`'s broker lane (a host path: no namespace needed).
fn lane(inst: &Instance, method: &str, path: &str, body: Option<&str>) -> Answer {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "60", "-X", method, "-D", "-"])
        .args(["-w", "\n%{http_code}", "--unix-socket"])
        .arg(inst.broker_socket())
        .arg(format!("http://broker{path}"));
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let out = c.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or(("", rest));
    let source = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-coolify-source")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Answer {
        status: code.trim().parse().unwrap_or(0),
        source,
        body: serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `podman inspect` of a container on `host`: `(running, started at, Unix ms)`.
fn started_at(host: &ClusterHost, name: &str) -> (bool, u64) {
    let out = host
        .podman(&[
            "inspect",
            "--format",
            "{{.State.Running}} {{.State.StartedAt.UnixMilli}}",
            name,
        ])
        .output()
        .expect("podman inspect");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let running = words.next() == Some("true");
    let at = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    (running, at)
}

/// The agent's pid (as the machine sees it): the child of the appliance's
/// PID 1, coold's init, which exits with the agent (`cp-daemon/src/init`).
fn agent_pid(host: &ClusterHost, name: &str) -> u32 {
    let out = host
        .podman(&["inspect", "--format", "{{.State.Pid}}", name])
        .output()
        .expect("podman inspect");
    assert!(out.status.success(), "{}", stderr(&out));
    let init = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
        .unwrap_or_else(|e| panic!("children of the appliance's init {init}: {e}"));
    let pids: Vec<u32> = children
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "coold's init {init} has one child, the agent: {pids:?}"
    );
    pids[0]
}

#[test]
fn three_hosts_enroll_on_one_broker_and_it_reaches_each_over_the_underlay() {
    let t = ThreeHosts::up();

    // The fleet: all three, sorted by host id, with what each advertised.
    let fleet = t.fleet();
    assert_eq!(fleet["count"], 3, "{fleet}");
    let mut want: Vec<&str> = t.host_ids().to_vec();
    want.sort();
    let listed: Vec<&str> = fleet["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["host_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(listed, want, "{fleet}");
    for h in fleet["hosts"].as_array().expect("hosts") {
        let builder = h["host_id"] == t.a.host_id.as_str();
        let caps: Vec<&str> = h["capabilities"]
            .as_array()
            .expect("capabilities")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(caps, if builder { vec!["builder"] } else { vec![] }, "{h}");
        assert_eq!(h["agent_version"], env!("CARGO_PKG_VERSION"), "{h}");
        assert_eq!(h["builder_slots_free"].is_u64(), builder, "{h}");
        assert!(h["connected_since"].as_u64().unwrap_or(0) > 0, "{h}");
        assert!(h["last_frame_ms"].as_u64().unwrap_or(0) > 0, "{h}");
    }
    // The table for people names every host.
    let table = t.a.lane_cmd(&["fleet"]).output().expect("coolify fleet");
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    for id in t.host_ids() {
        assert!(text.contains(id), "{id} missing in:\n{text}");
    }

    // A dispatch through A's lane runs on each host's own agent: each
    // answers with its own management address.
    for (host, inst) in t.cluster.hosts.iter().zip([&t.a, &t.b, &t.c]) {
        let info = t.dispatch(&inst.host_id, "GET", "/api/v1/host/info", None);
        assert_eq!(
            (info.status, info.source.as_str()),
            (200, "agent"),
            "{info:?}"
        );
        assert_eq!(info.body["mgmt_ip"], host.mgmt.to_string(), "{info:?}");
    }

    // The underlay carries the agents' APIs too: from A's namespace, B's
    // agent answers on B's management address.
    let b = &t.cluster.hosts[1];
    let out = t.cluster.hosts[0]
        .host
        .command(
            "curl",
            &[
                "-fsS",
                "--max-time",
                "10",
                "--cacert",
                &t.b.config_dir().join("ca.crt").display().to_string(),
                "-H",
                &format!("Authorization: Bearer {}", t.b.api_token()),
                &format!("https://{}:{}/api/v1/host/info", b.mgmt, t.b.api_port),
            ],
        )
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}", stderr(&out));
    let info: Value = serde_json::from_slice(&out.stdout).expect("host info JSON");
    assert_eq!(info["mgmt_ip"], b.mgmt.to_string(), "{info}");

    // The central app's path end to end: a container created on B through
    // the broker is answered by A's and C's DNS (B's row reaches their
    // Corrosion agents by gossip), asked through the broker too. Its
    // address is in B's slice of the cluster pool.
    b.host.load_image(BUSYBOX);
    let name = unique("web");
    let created = t.dispatch(
        &t.b.host_id,
        "POST",
        "/api/v1/containers",
        Some(
            json!({"name": name, "image": BUSYBOX, "cmd": ["sleep", "600"],
                    "namespace": "default", "network": "coolify-default-mesh"}),
        ),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let started = t.dispatch(
        &t.b.host_id,
        "POST",
        &format!("/api/v1/containers/{name}/start"),
        None,
    );
    assert_eq!(started.status, 204, "{started:?}");
    assert_eq!(
        info["settings"]["discovery"]["endpoint_store"], "corrosion",
        "{info}"
    );
    let lookup = format!("/api/v1/dns/lookup/{name}.default.coolify.internal");
    for inst in [&t.a, &t.c] {
        let started = Instant::now();
        loop {
            let answer = t.dispatch(&inst.host_id, "GET", &lookup, None);
            let ips: Vec<&str> = answer.body["answers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !ips.is_empty() {
                // B was enrolled first: the first /24 of the cluster pool.
                assert!(
                    ips.iter().all(|ip| ip.starts_with("198.18.128.")),
                    "{answer:?}"
                );
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{}'s DNS never answered {name}: {answer:?}",
                inst.host_id
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn a_killed_agent_is_503_in_flight_then_404_others_unaffected_and_back_after_its_restart() {
    let t = ThreeHosts::up();
    let b_host = &t.cluster.hosts[1];

    // A managed container on B whose exec outlasts the kill, created
    // through the broker: a dispatch in flight when B's agent dies.
    let image_tar = t.b.dir.path().join("busybox.tar");
    let saved = podman(&["save", "-o", &image_tar.display().to_string(), BUSYBOX]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    b_host.host.ok(&[
        "podman",
        "load",
        "-q",
        "-i",
        &image_tar.display().to_string(),
    ]);
    let name = unique("sleeper");
    let created = t.dispatch(
        &t.b.host_id,
        "POST",
        "/api/v1/containers",
        Some(json!({"name": name, "image": BUSYBOX, "cmd": ["sleep", "3600"]})),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_str().expect("id").to_string();
    let started = t.dispatch(
        &t.b.host_id,
        "POST",
        &format!("/api/v1/containers/{id}/start"),
        None,
    );
    assert_eq!(started.status, 204, "{started:?}");

    // A and C are dispatched to all through the fault, from before the
    // kill until B is back: every answer must be their agent's 200.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (bystanders, kill_ms, seen_404_ms) = std::thread::scope(|s| {
        let others = s.spawn(|| {
            // (host, sent at Unix ms) of each 200, and every other answer.
            let mut answered = Vec::new();
            let mut wrong = Vec::new();
            // Bounded even if the stop never comes.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                for inst in [&t.a, &t.c] {
                    let sent = now_ms();
                    // An in-memory list: the broker path, not the engine.
                    let list = t.dispatch(&inst.host_id, "GET", "/api/v1/firewall/allow", None);
                    if (list.status, list.source.as_str()) == (200, "agent") {
                        answered.push((inst.host_id.clone(), sent));
                    } else {
                        wrong.push(list);
                    }
                }
            }
            (answered, wrong)
        });
        // A failed assertion below stops them too: the scope joins them
        // before the panic propagates.
        let stop_guard = StopOnDrop(&stop);
        // The exec runs 60 s, past the broker's 10 s dispatch timeout:
        // only the stream's end can answer it before then.
        let exec = s.spawn(|| {
            t.dispatch(
                &t.b.host_id,
                "POST",
                &format!("/api/v1/containers/{id}/exec"),
                Some(json!({"cmd": ["sleep", "60"]})),
            )
        });
        let waited = Instant::now();
        while !exec_pending(&t, &id) {
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "the exec never reached B's agent"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // A crash, not `podman kill`: Podman counts its own kill as the
        // user's stop and the restart policy then leaves it down.
        let agent = agent_pid(b_host, &t.b.name);
        let kill_ms = now_ms();
        let killed = Command::new("kill")
            .args(["-KILL", &agent.to_string()])
            .output()
            .expect("kill");
        assert!(killed.status.success(), "{}", stderr(&killed));
        let answer = exec.join().expect("exec thread");
        assert_eq!(
            (answer.status, answer.source.as_str()),
            (503, "broker"),
            "the in-flight dispatch lands 503 when B's stream drops, not 504 at the timeout: {answer:?}"
        );

        // Then 404: no stream for B.
        let seen_404_ms = loop {
            let info = t.dispatch(&t.b.host_id, "GET", "/api/v1/host/info", None);
            if info.status == 404 {
                assert_eq!(info.source, "broker", "{info:?}");
                break now_ms();
            }
            assert_eq!(info.status, 503, "between 503 and 404: {info:?}");
            assert!(
                now_ms() - kill_ms < 10_000,
                "B's stream was never gone: {info:?}"
            );
        };

        // B's restart: the appliance's restart policy (`always`) brings
        // it back. Back = listed by the broker again.
        let waited = Instant::now();
        loop {
            let (running, at) = started_at(b_host, &t.b.name);
            if running && at >= kill_ms {
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "B's appliance was not restarted by its restart policy"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let b_id = t.b.host_id.clone();
        t.wait_fleet(Duration::from_secs(30), |hosts| {
            hosts.iter().any(|h| h["host_id"] == b_id.as_str())
        });
        drop(stop_guard);
        (others.join().expect("A and C"), kill_ms, seen_404_ms)
    });
    let back_ms = now_ms();
    let (answered, wrong) = bystanders;
    assert!(
        wrong.is_empty(),
        "A and C through B's fault: answers not their agent's 200: {wrong:?}"
    );
    // Some of them sent during the fault: between the kill and B's return.
    for inst in [&t.a, &t.c] {
        assert!(
            answered
                .iter()
                .any(|(h, at)| *h == inst.host_id
                    && (kill_ms..=seen_404_ms.max(back_ms)).contains(at)),
            "{} answered nothing during B's fault: {answered:?}",
            inst.host_id
        );
    }
    let answers = answered.len();
    let (_, restarted_ms) = started_at(b_host, &t.b.name);
    let took = Duration::from_millis(back_ms.saturating_sub(restarted_ms));
    eprintln!(
        "404 {} ms after the kill; B restarted {} ms after the kill, back {took:?} after its restart; A and C answered {answers} dispatches meanwhile",
        seen_404_ms - kill_ms,
        restarted_ms.saturating_sub(kill_ms)
    );
    assert!(
        took <= BACK_WITHIN,
        "B's stream came back {took:?} after its restart (issue 16: ≤ {BACK_WITHIN:?})"
    );
    let info = t.dispatch(&t.b.host_id, "GET", "/api/v1/host/info", None);
    assert_eq!(
        (info.status, info.source.as_str()),
        (200, "agent"),
        "{info:?}"
    );
}

/// Sets its flag when dropped, on success or unwinding alike.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether the `sleep 60` exec runs in container `id` on B: visible in
/// the container's process list through B's own engine.
fn exec_pending(t: &ThreeHosts, id: &str) -> bool {
    let out = t.cluster.hosts[1]
        .podman(&["top", id, "args"])
        .output()
        .expect("podman top");
    String::from_utf8_lossy(&out.stdout).contains("sleep 60")
}

#[test]
fn after_a_broker_restart_every_hosts_stream_is_back() {
    let t = ThreeHosts::up();
    let a_host = &t.cluster.hosts[0];
    // Into the next second, so every stream open now has an older
    // `connected_since` (Unix seconds) than any opened after the restart.
    std::thread::sleep(Duration::from_millis(1010 - now_ms() % 1000));
    let restart_s = now_ms() / 1000;

    let out = a_host
        .podman(&["restart", &t.a.broker_name])
        .output()
        .expect("podman restart");
    assert!(out.status.success(), "{}", stderr(&out));
    // Its restart: the moment its lane answers again.
    let waited = Instant::now();
    while lane(&t.a, "GET", "/v1/health", None).status != 200 {
        assert!(waited.elapsed() < Duration::from_secs(30), "broker not up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let up_at = Instant::now();
    let hosts = t.wait_fleet(Duration::from_secs(60), |hosts| hosts.len() == 3);
    let took = up_at.elapsed();
    eprintln!("every stream back {took:?} after the broker's restart");
    assert!(
        took <= BACK_WITHIN,
        "the streams came back {took:?} after the broker's restart (issue 16: ≤ {BACK_WITHIN:?}): {hosts:?}"
    );
    for h in &hosts {
        assert!(
            h["connected_since"].as_u64().unwrap_or(0) >= restart_s,
            "a new stream, not the old one: {h}"
        );
    }
    for id in t.host_ids() {
        let info = t.dispatch(id, "GET", "/api/v1/host/info", None);
        assert_eq!(
            (info.status, info.source.as_str()),
            (200, "agent"),
            "{info:?}"
        );
    }
}

/// `scripts/cluster` at the repository root, with a prefix and state dir of
/// this test's own.
fn cluster_script(prefix: &str, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster");
    Command::new(script)
        .args(args)
        .env("COOLIFY_CLUSTER_PREFIX", prefix)
        .env("COOLIFY_CLUSTER_DIR", dir)
        .env("COOLIFY_CLUSTER_SUBNETS", "2=198.18.2.0/24")
        .output()
        .expect("scripts/cluster")
}

fn namespaces() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns")
            .stdout,
    )
    .into_owned()
}

#[test]
fn scripts_cluster_up_builds_the_harness_topology_and_down_removes_it_twice() {
    let prefix = unique("cs");
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join(&prefix);
    let up = cluster_script(&prefix, dir.path(), &["up", "2"]);
    // Whatever happens next, leave nothing behind.
    struct Down<'a>(&'a str, &'a std::path::Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = cluster_script(self.0, self.1, &["down"]);
        }
    }
    let _down = Down(&prefix, dir.path());
    assert!(up.status.success(), "{}", stderr(&up));
    let printed = String::from_utf8_lossy(&up.stdout);
    let (h1, h2) = (format!("{prefix}-h1"), format!("{prefix}-h2"));
    for want in [
        format!("nsenter --net=/run/netns/{h1}"),
        format!("unix://{}/podman.sock", state.join(&h2).display()),
        "mgmt address   198.18.254.2".to_string(),
        "cp up".to_string(),
    ] {
        assert!(printed.contains(&want), "{want:?} missing in:\n{printed}");
    }
    let ns = namespaces();
    for n in [&h1, &h2, &format!("{prefix}-fab")] {
        assert!(
            ns.lines().any(|l| l.split_whitespace().next() == Some(n)),
            "{n}: {ns}"
        );
    }
    let in_ns = |h: &str, argv: &[&str]| {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{h}"))
            .arg("--")
            .args(argv)
            .output()
            .expect("nsenter")
    };
    // The same shape as the Rust harness: mgmt0 with the address, and the
    // other host's namespace subnet routed via its management address.
    let addr = in_ns(&h1, &["ip", "-4", "-br", "addr", "show", "mgmt0"]);
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains("198.18.254.1/24"),
        "{addr:?}"
    );
    let route = in_ns(&h1, &["ip", "route", "get", "198.18.2.7"]);
    assert!(
        String::from_utf8_lossy(&route.stdout).contains("via 198.18.254.2 dev mgmt0"),
        "{route:?}"
    );
    // h2 answers on the underlay: a closed port is refused at once (a
    // reset came back: curl's 7 within the time), not a timeout (28) nor
    // an unreachable host.
    let probe = in_ns(
        &h1,
        &["curl", "-sS", "--max-time", "5", "http://198.18.254.2:9/"],
    );
    assert_eq!(probe.status.code(), Some(7), "{}", stderr(&probe));
    assert!(
        !stderr(&probe).contains("No route") && !stderr(&probe).contains("unreachable"),
        "{}",
        stderr(&probe)
    );
    // Each host's own Podman answers.
    for h in [&h1, &h2] {
        let sock = state.join(h).join("podman.sock");
        let ping = Command::new("curl")
            .args(["-fsS", "--max-time", "5", "--unix-socket"])
            .arg(&sock)
            .arg("http://d/_ping")
            .output()
            .expect("curl");
        assert!(ping.status.success(), "{h}: {}", stderr(&ping));
    }

    for round in 0..2 {
        let down = cluster_script(&prefix, dir.path(), &["down"]);
        assert!(down.status.success(), "down #{round}: {}", stderr(&down));
    }
    let ns = namespaces();
    assert!(!ns.contains(&prefix), "namespaces left: {ns}");
    assert!(!state.exists(), "{} left", state.display());
}

#[test]
fn cluster_hosts_route_each_others_subnets_via_their_management_addresses() {
    let cluster = Cluster::with_subnets(&[
        vec!["198.18.101.0/24".into()],
        vec!["198.18.102.0/24".into(), "198.18.103.0/24".into()],
    ]);
    let (h1, h2) = (&cluster.hosts[0], &cluster.hosts[1]);
    for (from, to, addr) in [
        (h1, h2, "198.18.102.9"),
        (h1, h2, "198.18.103.9"),
        (h2, h1, "198.18.101.9"),
    ] {
        let route = from.host.ok(&["ip", "route", "get", addr]);
        assert!(
            route.contains(&format!("via {} dev mgmt0", to.mgmt)),
            "{addr} from {}: {route}",
            from.host.ns
        );
    }
    // A host's own subnets are not routed to the underlay by it.
    let own = h1.host.ok(&["ip", "route", "show", "198.18.101.0/24"]);
    assert!(own.trim().is_empty(), "{own}");
    // The underlay joins them: a closed port on h2's management address
    // is refused at once (curl's 7), not a timeout (28).
    let probe = h1
        .host
        .command(
            "curl",
            &["-sS", "--max-time", "5", &format!("http://{}:9/", h2.mgmt)],
        )
        .output()
        .expect("curl");
    assert_eq!(probe.status.code(), Some(7), "{}", stderr(&probe));
}
