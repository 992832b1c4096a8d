//! Upgrade (issue 15 item 5): `cp up` from a newer CLI replaces the
//! appliance with nothing lost. Two real CLI builds: `COOLIFY_BIN` and
//! `COOLIFY_NEXT_BIN`, the same sources embedding a coold that differs
//! (scripts/build-next-cli). On a simulated host (`NetnsHost`: its own
//! network namespace and Podman), so the firewall is on: a firewall rule, a
//! tenant's claim and a build running through the broker are made with the
//! first, then the second's `cp up` replaces both containers, and the rule,
//! the claim and the build's result are still there, the broker's stream
//! back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use coolify_tests::netns_host::NetnsHost;
use coolify_tests::{coolify_bin, free_port, ok_json, stderr, unique, Instance};
use serde_json::{json, Value};

const BUSYBOX: &str = "localhost/coolify-test-busybox:latest";

fn next_bin() -> PathBuf {
    PathBuf::from(std::env::var("COOLIFY_NEXT_BIN").unwrap_or_else(|_| {
        panic!("COOLIFY_NEXT_BIN is unset: scripts/build-next-cli builds the second CLI (scripts/test runs it)")
    }))
}

/// `cp up` by `bin` inside the host, firewall on, with its own broker and
/// builds, the same flags each time.
fn up(host: &NetnsHost, inst: &Instance, bin: &Path) -> Value {
    let mut c = inst.cmd_of(bin, &["cp", "up"]);
    c.args(["--api-port", &inst.api_port.to_string()]);
    c.args(["--health-port", &inst.health_port.to_string()]);
    c.arg("--data-dir").arg(inst.dir.path().join("lib"));
    c.arg("--run-dir").arg(inst.dir.path().join("run"));
    c.args(["--firewall", "on", "--runtime-services", "", "--builder"]);
    c.args(["--with-broker", "--host-id", &inst.host_id]);
    c.arg("--broker-grpc-bind")
        .arg(format!("127.0.0.1:{}", inst.grpc_port));
    c.arg("--engine-socket")
        .arg(format!("unix://{}", host.socket().display()));
    c.args(["--timeout", "60s", "-o", "json"]);
    ok_json(host.wrap(&c).output().expect("cp up"))
}

/// An agent API call from inside the host: `(status, body)`.
fn api(
    host: &NetnsHost,
    inst: &Instance,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    host.api(inst, "127.0.0.1", method, path, body)
}

/// The broker's UDS lane (a host path; no namespace needed), as JSON.
fn lane(inst: &Instance, method: &str, path: &str, body: Option<&str>) -> Value {
    let text = lane_text(inst, method, path, body);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn lane_text(inst: &Instance, method: &str, path: &str, body: Option<&str>) -> String {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "60", "-X", method, "--unix-socket"])
        .arg(inst.dir.path().join("run").join("broker.sock"))
        .arg(format!("http://broker{path}"));
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let out = c.output().expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A git repository whose Dockerfile sits in its RUN step for `secs`,
/// served by `git daemon` inside the host on every address.
fn git_server(host: &mut NetnsHost, root: &Path, secs: u32) -> u16 {
    let repo = root.join("slow");
    std::fs::create_dir_all(&repo).expect("repo dir");
    std::fs::write(
        repo.join("Dockerfile"),
        format!(
            "FROM {BUSYBOX}\nRUN sleep {secs} && echo {} > /built\n",
            unique("run")
        ),
    )
    .expect("Dockerfile");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "slow"]);
    let port = free_port();
    let daemon: Child = host.spawn(
        host.command(
            "git",
            &[
                "daemon",
                "--reuseaddr",
                "--export-all",
                &format!("--port={port}"),
                &format!("--base-path={}", root.display()),
                &root.display().to_string(),
            ],
        ),
        "git-daemon.log",
    );
    host.adopt(daemon);
    port
}

fn iptables_rules(host: &NetnsHost, id: &str) -> usize {
    host.ok(&["iptables-save", "-t", "filter"])
        .lines()
        .filter(|l| l.starts_with("-A COOLIFY-ALLOW ") && l.contains(id))
        .count()
}

fn logs(host: &NetnsHost, name: &str) -> String {
    let out = host
        .command(
            "podman",
            &[
                "--url",
                &format!("unix://{}", host.socket().display()),
                "logs",
                name,
            ],
        )
        .output()
        .expect("podman logs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn cp_up_from_a_newer_cli_keeps_rules_claims_a_running_build_and_the_broker_stream() {
    let next = next_bin();
    let mut host = NetnsHost::new();
    host.start_engine();
    let inst = Instance::new();

    // The test image, for the pool and the build, in this host's storage.
    host.load_image(BUSYBOX);
    let git_root = inst.dir.path().join("git");
    let git_port = git_server(&mut host, &git_root, 20);

    let first = up(&host, &inst, &coolify_bin());
    assert_eq!(first["container_action"], "created", "{first}");

    // A firewall rule, a claimed tenant container and a running build.
    let allow = host
        .command(coolify_bin(), &["--config-dir"])
        .arg(inst.config_dir())
        .args(["firewall", "allow", "--api"])
        .arg(format!("127.0.0.1:{}", inst.api_port))
        .args([
            "--namespace",
            "default",
            "--src",
            "198.18.0.5",
            "--dst",
            "198.19.0.0/24",
        ])
        .args(["--proto", "tcp", "--port", "443", "-o", "json"])
        .output()
        .expect("firewall allow");
    let rule = ok_json(allow);
    let rule_id = rule["id"].as_str().expect("rule id").to_string();
    assert_eq!(iptables_rules(&host, &rule_id), 1);

    let workload = json!({
        "id": "upgrade-w", "image": BUSYBOX, "command": ["sleep", "3600"],
        "pool": {"min_size": 1, "max_size": 2}
    });
    let (code, w) = api(
        &host,
        &inst,
        "POST",
        "/api/v1/workloads",
        Some(&workload.to_string()),
    );
    assert!(code == 201 || code == 200, "{code} {w}");
    let (code, claim) = api(
        &host,
        &inst,
        "POST",
        "/api/v1/tenants/acme/claim",
        Some(r#"{"workload":"upgrade-w"}"#),
    );
    assert_eq!(code, 200, "{claim}");
    let claimed = claim["container_id"]
        .as_str()
        .expect("container_id")
        .to_string();

    let id = unique("upgrade-build");
    let tag = format!("localhost/{id}:1");
    let spec = json!({
        "request_id": id,
        "spec": {"repo": format!("git://10.88.0.1:{git_port}/slow"), "ref": "main",
                 "stack": "DOCKERFILE", "tags": [tag], "dockerfile": "Dockerfile"}
    });
    let accepted = lane(&inst, "POST", "/v1/build/dispatch", Some(&spec.to_string()));
    assert_eq!(accepted["request_id"], id.as_str(), "{accepted}");
    // Wait until the build is in its RUN step: the upgrade lands mid-build.
    let started = Instant::now();
    loop {
        // events.ndjson: one progress line per stage (build-contract).
        let text = lane_text(&inst, "GET", &format!("/v1/build/events/{id}"), None);
        if text.contains(r#""stage":"build""#) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the build never reached its build stage: {text}\n{}",
            logs(&host, &inst.name)
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // The upgrade: the newer CLI's cp up.
    let upgraded = up(&host, &inst, &next);
    let reason = upgraded["container_action"]["replaced"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("coold changed"), "{upgraded}");
    assert!(
        upgraded["broker"]["container_action"]["replaced"].is_object(),
        "the broker runs the new binaries too: {upgraded}"
    );
    assert_eq!(
        upgraded["health"]["components"]["broker"]["status"], "healthy",
        "the stream is back: {upgraded}"
    );

    // Nothing lost: the rule (once, in the kernel and in the agent's list),
    // the claim (same container), the build (adopted, landed, its image).
    assert_eq!(iptables_rules(&host, &rule_id), 1);
    let (code, rules) = api(&host, &inst, "GET", "/api/v1/firewall/allow", None);
    assert_eq!(code, 200, "{rules}");
    assert_eq!(rules.to_string().matches(&rule_id).count(), 1, "{rules}");
    let (code, status) = api(&host, &inst, "GET", "/api/v1/tenants/acme/status", None);
    assert_eq!(code, 200, "{status}");
    assert_eq!(
        status["claims"][0]["container_id"],
        claimed.as_str(),
        "{status}"
    );

    let landed = lane(
        &inst,
        "GET",
        &format!("/v1/build/result/{id}?timeout_ms=120000"),
        None,
    );
    let agent_logs = logs(&host, &inst.name);
    assert_eq!(landed["state"], "landed", "{landed}\n{agent_logs}");
    assert_eq!(landed["status"], 200, "{landed}\n{agent_logs}");
    assert!(
        agent_logs.contains("adopting a running build") && agent_logs.contains(&id),
        "the new agent adopted the running build: {agent_logs}"
    );
    // In this host's engine: the build dialed the engine the appliance
    // runs on (COOLD_PODMAN_SOCKET_HOST), not the machine's.
    let images = host.ok(&["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.lines().any(|l| l == tag),
        "{tag} not among {images}\n{landed}"
    );
}
