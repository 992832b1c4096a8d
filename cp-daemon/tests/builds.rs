//! Builds end to end (issue 5): the real broker, the real coold, the real
//! `coolify-builder` in its build container, real Podman, and a git
//! repository made here and served by `git daemon` on a test network.
//!
//! Needs root, Podman's API socket, `scripts/build-test-images`, and the
//! musl target (the builder is built static on first use).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::broker::Broker;
use support::builds::{Rig, BUILD_WITHIN};
use support::{http, run_ok, unique};

fn container_exists(name: &str) -> bool {
    std::process::Command::new("podman")
        .args(["container", "exists", name])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The answer does not wait for the container's removal (it follows at
/// once); bounded, so a container left behind fails the test.
fn assert_gone(name: &str) {
    let started = Instant::now();
    while container_exists(name) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} still exists 20 s after its answer"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_running(name: &str) {
    let started = Instant::now();
    loop {
        let out = std::process::Command::new("podman")
            .args(["inspect", "-f", "{{.State.Running}}", name])
            .output()
            .expect("podman inspect");
        if String::from_utf8_lossy(&out.stdout).trim() == "true" {
            return;
        }
        assert!(started.elapsed() < BUILD_WITHIN, "{name} never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET over plain TCP, retried while the server comes up.
fn fetch_page(ip: &str, port: u16, path: &str) -> String {
    let addr = format!("{ip}:{port}").parse().expect("addr");
    let started = Instant::now();
    loop {
        if let Ok((200, body)) = http(addr, "GET", path, &[], None) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{addr}{path} never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn static_build_through_the_broker_lands_a_runnable_image() {
    let mut rig = Rig::new(&[]);
    let page = format!("<h1>{}</h1>", unique("hello"));
    let repo = rig.repo(&page, 1);
    let tag = rig.tag("cb-static");
    let id = rig.dispatch(json!({
        "repo": repo, "ref": "main", "stack": "STATIC", "tags": [tag], "publish_dir": "site"
    }));
    // A caller following the events sees them as they come, and the
    // stream ends when the result lands.
    let follow = {
        let (socket, path) = (
            rig.broker.socket.clone(),
            format!("/v1/build/events/{id}?follow=true"),
        );
        std::thread::spawn(move || support::broker::uds_http(&socket, "GET", &path, None))
    };
    let r = rig.result(&id);
    assert_eq!(r["status"], 200, "{r}\ncoold: {}", rig.coold_log());
    assert_eq!(r["source"], "agent");
    let (code, followed) = follow.join().expect("follow thread").expect("follow");
    assert_eq!(code, 200);
    let last: Value = serde_json::from_str(followed.lines().last().expect("lines")).expect("json");
    assert_eq!(last["type"], "result", "{followed}");
    assert!(
        r["body"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{r}"
    );

    // Every event reached the broker in order, ending with the result.
    let events = rig.events(&id);
    assert!(events.iter().any(|e| e["stage"] == "git"), "{events:?}");
    assert_eq!(
        events.last().expect("events")["type"],
        "result",
        "{events:?}"
    );

    // The image is in Podman and serves the page.
    run_ok("podman", &["image", "exists", &tag]);
    let web = rig.guard.container(&unique("cb-web"));
    run_ok(
        "podman",
        &[
            "run",
            "-d",
            "--name",
            &web,
            "--network",
            &rig.net.network,
            &tag,
        ],
    );
    let ip = run_ok(
        "podman",
        &[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &web,
        ],
    );
    assert_eq!(fetch_page(ip.trim(), 8080, "/index.html").trim(), page);

    // The transient container is gone; the work dir keeps the record.
    assert_gone(&format!("coolify-build-{id}"));
    let dir = rig.build_dir.path().join(&id);
    assert!(dir.join("result.json").exists() && dir.join("events.ndjson").exists());
    let metrics = rig.metrics();
    assert!(
        metrics.contains("coold_builds_finished_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
}

#[test]
fn dockerfile_build_runs_its_run_step_with_the_build_arg() {
    let mut rig = Rig::new(&[]);
    let repo = rig.repo("x", 1);
    let tag = rig.tag("cb-docker");
    let greeting = unique("hi");
    let id = rig.dispatch(json!({
        "repo": repo, "ref": "main", "stack": "DOCKERFILE", "tags": [tag],
        "build_args": {"GREETING": greeting}
    }));
    let r = rig.result(&id);
    assert_eq!(r["status"], 200, "{r}\ncoold: {}", rig.coold_log());
    let out = run_ok("podman", &["run", "--rm", &tag]);
    assert_eq!(out.trim(), greeting);
}

#[test]
fn failing_build_answers_its_error_status_with_error_json() {
    let mut rig = Rig::new(&[]);
    let (id, _) = rig.dockerfile_build("cb-fail", "Dockerfile.fail", 1);
    let r = rig.result(&id);
    assert_eq!(r["status"], 422, "{r}");
    assert_eq!(r["body"]["code"], "build_failed", "{r}");
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(rig.build_dir.path().join(&id).join("error.json")).expect("error.json"),
    )
    .expect("json");
    assert_eq!(on_disk["code"], "build_failed");
    assert_gone(&format!("coolify-build-{id}"));
}

#[test]
fn cancel_mid_build_answers_409_cancelled() {
    let mut rig = Rig::new(&[]);
    let (id, _) = rig.slow_build("cb-cancel", 120);
    rig.wait_stage(&id, "build");
    let (code, text) = rig
        .broker
        .request("POST", &format!("/v1/build/{id}/cancel"), None);
    assert_eq!(code, 204, "{text}");
    let r = rig.result(&id);
    assert_eq!(r["status"], 409, "{r}\ncoold: {}", rig.coold_log());
    assert_eq!(r["body"]["code"], "cancelled", "{r}");
    assert_gone(&format!("coolify-build-{id}"));
    assert!(rig
        .metrics()
        .contains("coold_builds_finished_total{outcome=\"cancelled\"} 1"));
}

#[test]
fn agent_killed_mid_build_adopts_it_and_the_result_reaches_the_caller() {
    let mut rig = Rig::new(&[]);
    let (id, tag) = rig.slow_build("cb-adopt", 30);
    let name = format!("coolify-build-{id}");
    // Killed as soon as the builder runs: the build (30 s of RUN) is
    // still far from done, and outlives its agent (DESIGN.md decision 5).
    wait_running(&name);
    rig.kill_coold();
    wait_running(&name);
    rig.start_coold();
    let r = rig.result(&id);
    assert_eq!(r["status"], 200, "{r}\ncoold: {}", rig.coold_log());
    run_ok("podman", &["image", "exists", &tag]);
    // The replay after re-attaching duplicated no line.
    let events = rig.events(&id);
    let results = events.iter().filter(|e| e["type"] == "result").count();
    assert_eq!(results, 1, "{events:?}");
    let gits = events.iter().filter(|e| e["stage"] == "git").count();
    let on_disk = std::fs::read_to_string(rig.build_dir.path().join(&id).join("events.ndjson"))
        .expect("events file");
    assert_eq!(
        events.len(),
        on_disk.lines().filter(|l| !l.trim().is_empty()).count()
    );
    assert!(gits >= 1);
    assert_gone(&name);
}

#[test]
fn a_restarting_agent_leaves_another_agents_running_build_alone() {
    let mut owner = Rig::new(&[]);
    let (id, _) = owner.slow_build("cb-other", 6);
    let name = format!("coolify-build-{id}");
    wait_running(&name);
    // A second agent on the same engine restarts and adopts what is its own.
    let mut other = Rig::new(&[]);
    other.kill_coold();
    other.start_coold();
    let started = Instant::now();
    while !other.coold_log().contains("build adoption done") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no adoption summary: {}",
            other.coold_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = other.coold_log();
    assert!(container_exists(&name), "the other agent removed it: {log}");
    assert!(!log.contains(&id), "the other agent touched {id}: {log}");
    assert!(log.contains("followed=0"), "{log}");
    let r = owner.result(&id);
    assert_eq!(r["status"], 200, "{r}");
}

/// The agent's own answer for a builder that left no result file.
fn assert_answered_without_result_file(r: &serde_json::Value) {
    assert_eq!(r["status"], 500, "{r}");
    assert_eq!(
        r["body"]["message"], "builder exited without result file",
        "{r}"
    );
}

#[test]
fn build_container_exited_without_result_file_answers_500() {
    // Cold: adoption of a container made for the request (the warm path's
    // adoption is the test above).
    let mut rig = Rig::new(&[("COOLD_BUILD_WARM", "0")]);
    let (id, _) = rig.slow_build("cb-noresult", 60);
    let name = format!("coolify-build-{id}");
    wait_running(&name);
    rig.kill_coold();
    // SIGKILL gives the builder no chance to write a result file.
    run_ok("podman", &["kill", "-s", "KILL", &name]);
    rig.start_coold();
    let r = rig.result(&id);
    assert_answered_without_result_file(&r);
    assert_gone(&name);
}

#[test]
fn a_builder_killed_while_followed_is_answered_500_without_waiting_for_the_engine() {
    let mut rig = Rig::new(&[]);
    let (id, _) = rig.slow_build("cb-killed", 60);
    let name = format!("coolify-build-{id}");
    // By the build stage the agent has inspected the container once and
    // watches its process in procfs; the engine is asked again only every
    // 5 s. Killed right away, the answer must come from the watch: asking
    // the engine would take the rest of those 5 s.
    rig.wait_stage(&id, "build");
    run_ok("podman", &["kill", "-s", "KILL", &name]);
    // From the kill's return: the CLI's own time is not the agent's.
    let killed = std::time::Instant::now();
    let r = rig.result(&id);
    let took = killed.elapsed();
    assert_answered_without_result_file(&r);
    assert!(
        took < Duration::from_millis(2500),
        "answered {took:?} after the kill\ncoold: {}",
        rig.coold_log()
    );
    assert_gone(&name);
}

#[test]
fn bad_input_gets_a_clear_error_and_leaves_nothing_running() {
    let mut rig = Rig::new(&[]);
    let repo = rig.repo("x", 1);
    let closed = format!("git://{}:{}/nothing", rig.net.gateway, support::free_port());
    let tag = rig.tag("cb-bad");
    let cases = [
        (
            json!({"repo": repo, "ref": "main", "stack": "RUBY", "tags": [tag]}),
            400,
            "stack",
        ),
        (
            json!({"repo": repo, "ref": "main", "stack": "STATIC", "tags": [tag], "publish_dir": "../../etc"}),
            400,
            "publish_dir",
        ),
        (
            json!({"repo": repo, "ref": "no-such-branch", "stack": "STATIC", "tags": [tag], "publish_dir": "site"}),
            422,
            "",
        ),
        (
            json!({"repo": closed, "ref": "main", "stack": "STATIC", "tags": [tag], "publish_dir": "site"}),
            422,
            "",
        ),
        (
            json!({"repo": repo, "ref": "main", "stack": "STATIC", "tags": [tag], "publish_dir": "site",
                   "git_credentials": {"username": "u"}}),
            400,
            "git_credentials",
        ),
    ];
    for (spec, status, field) in cases {
        let id = rig.dispatch(spec.clone());
        let r = rig.result(&id);
        assert_eq!(r["status"], status, "{spec}: {r}");
        let message = r["body"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && message.contains(field),
            "{spec}: {r}"
        );
        assert_gone(&format!("coolify-build-{id}"));
    }
}

#[test]
fn a_denied_address_is_unreachable_from_the_build_container() {
    // The git daemon listens on the network's gateway; with that address
    // denied the clone cannot connect. (Every other test clones from the
    // same kind of address behind a fence for 198.19.255.254: reachable.)
    let mut rig = Rig::new(&[]);
    rig.kill_coold();
    rig.env.retain(|(k, _)| k != "COOLD_BUILD_DENY_CIDRS");
    rig.env.push((
        "COOLD_BUILD_DENY_CIDRS".into(),
        format!("{}/32", rig.net.gateway),
    ));
    rig.start_coold();
    let repo = rig.repo("x", 1);
    let tag = rig.tag("cb-deny");
    let id = rig.dispatch(json!({
        "repo": repo, "ref": "main", "stack": "STATIC", "tags": [tag], "publish_dir": "site"
    }));
    let r = rig.result(&id);
    assert_eq!(r["status"], 422, "{r}");
    assert_eq!(r["body"]["code"], "git", "{r}");
}

#[test]
fn builds_over_capacity_wait_in_the_queue_visible_in_metrics() {
    let mut rig = Rig::new(&[("COOLD_BUILDER_CAPACITY", "1")]);
    let (slow, _) = rig.slow_build("cb-q1", 10);
    let repo = rig.repo("queued page", 1);
    wait_running(&format!("coolify-build-{slow}"));
    // A broker restarted without its state (a new disk: its build journal
    // is gone) knows nothing of the running build, so it routes the next
    // one to the busy host: the agent queues it.
    let grpc = rig.broker.grpc;
    rig.broker.kill();
    rig.broker = Broker::start_at(&rig.pki, grpc, tempfile::tempdir().expect("dir"), &[]);
    rig.broker.wait_streams(1, Duration::from_secs(30));
    let tag = rig.tag("cb-q2");
    let queued = rig.dispatch(json!({
        "repo": repo, "ref": "main", "stack": "STATIC", "tags": [tag], "publish_dir": "site"
    }));
    let started = Instant::now();
    // One snapshot for both gauges: the slow build may end (and the queued
    // one run to its end) between two scrapes on a loaded machine.
    let snapshot = loop {
        let m = rig.metrics();
        if m.contains("coold_builds_queued 1\n") {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "queue never showed: {m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(snapshot.contains("coold_builds_running 1\n"), "{snapshot}");
    let r = rig.result(&queued);
    assert_eq!(r["status"], 200, "{r}\ncoold: {}", rig.coold_log());
    assert!(rig.metrics().contains("coold_builds_queued 0\n"));
}

/// Engine ids of this rig's waiting warm builders.
fn warm_builders(rig: &Rig) -> Vec<String> {
    let out = std::process::Command::new("podman")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=coolify.build.warm",
            "--format",
            "{{.ID}} {{index .Labels \"coolify.build.warm\"}}",
        ])
        .output()
        .expect("podman ps");
    let root = rig.build_dir.path().display().to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, slot)| slot.starts_with(&root))
        .map(|(id, _)| id.to_string())
        .collect()
}

fn warm_slots(rig: &Rig) -> usize {
    std::fs::read_dir(rig.build_dir.path().join(".warm"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_warm_builder_serves_the_build_and_a_new_one_takes_its_place() {
    let mut rig = Rig::new(&[]);
    let before = warm_builders(&rig);
    assert_eq!(before.len(), 1, "{before:?}");
    let (id, _) = rig.static_build_ok(&format!("<h1>{}</h1>", unique("warm")), "cb-warm");
    let log = rig.coold_log();
    assert!(
        log.lines()
            .any(|l| l.contains("build started in a warm builder") && l.contains(&id)),
        "{log}"
    );
    // Its files are in the build's own work dir, where the warm builder wrote.
    let dir = rig.build_dir.path().join(&id);
    assert!(dir.join("result.json").exists());
    assert!(dir.join("events.ndjson").exists());
    rig.wait_warm();
    let started = Instant::now();
    loop {
        let now = warm_builders(&rig);
        if now.len() == 1 && !now.contains(&before[0]) && !container_exists(&before[0]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the served builder stayed or no new one came: before {before:?}, now {now:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(warm_slots(&rig), 1, "one slot dir per waiting builder");
}

#[test]
fn a_warm_builder_killed_while_waiting_is_removed_and_never_handed_a_build() {
    let mut rig = Rig::new(&[]);
    let dead = warm_builders(&rig);
    assert_eq!(dead.len(), 1, "{dead:?}");
    // Stopped, not removed: the engine still lists it, only its process
    // is gone; the agent must see that before handing it a build.
    run_ok("podman", &["kill", "-s", "KILL", &dead[0]]);
    let (id, _) = rig.static_build_ok(&format!("<h1>{}</h1>", unique("dead")), "cb-dead");
    let log = rig.coold_log();
    assert!(
        log.contains("warm builder is not running; removing it"),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("build started in a warm builder") && l.contains(&id)),
        "the dead builder was handed {id}: {log}"
    );
    assert_gone(&dead[0]);
}

#[test]
fn warm_builders_are_removed_when_the_agent_stops() {
    let mut rig = Rig::new(&[("COOLD_BUILDER_CAPACITY", "2"), ("COOLD_BUILD_WARM", "2")]);
    let warm = warm_builders(&rig);
    assert_eq!(warm.len(), 2, "{warm:?}");
    // Dropping the handle stops coold with SIGTERM and waits for it.
    rig.coold.take();
    for c in &warm {
        assert!(!container_exists(c), "{c} outlived its agent's stop");
    }
    assert_eq!(warm_slots(&rig), 0);
}

#[test]
fn a_restart_retires_the_idle_warm_builders_it_finds() {
    let mut rig = Rig::new(&[]);
    let before = warm_builders(&rig);
    assert_eq!(before.len(), 1);
    rig.kill_coold();
    assert!(
        container_exists(&before[0]),
        "SIGKILL left no chance to clean"
    );
    rig.start_coold();
    let log = rig.coold_log();
    assert!(log.contains("warm_retired=1"), "{log}");
    let after = warm_builders(&rig);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before);
    assert!(!container_exists(&before[0]));
    assert_eq!(warm_slots(&rig), 1);
}

#[test]
fn with_no_warm_builders_a_build_starts_cold() {
    let mut rig = Rig::new(&[("COOLD_BUILD_WARM", "0")]);
    assert!(warm_builders(&rig).is_empty());
    let (id, _) = rig.static_build_ok("cold page", "cb-cold");
    let log = rig.coold_log();
    assert!(
        log.lines()
            .any(|l| l.contains("build started") && !l.contains("warm") && l.contains(&id)),
        "{log}"
    );
    assert!(warm_builders(&rig).is_empty());
}
