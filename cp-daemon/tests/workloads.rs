//! Workload specs through the real coold binary: loaded from
//! `COOLD_WORKLOADS_DIR` at start, added over REST (YAML or JSON) and
//! persisted, every invalid key refused naming key and line, the deny
//! filter applied as to a create, and a bad file failing start by name.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::pools::{PoolDirs, Workload};

/// Each entry: what to change in a valid spec, the field the answer must
/// name, and its status.
fn invalid_cases(spec: &str) -> Vec<(&'static str, String, &'static str, u16)> {
    vec![
        (
            "unknown key",
            spec.replace("  max_size: 3\n", "  max_size: 3\n  maxsize: 4\n"),
            "pool.maxsize",
            400,
        ),
        (
            "unknown top-level key",
            format!("{spec}restart: always\n"),
            "restart",
            400,
        ),
        (
            "bad duration",
            spec.replace("interval: 1s", "interval: soon"),
            "healthcheck.interval",
            400,
        ),
        (
            "duration without unit",
            spec.replace("idle_timeout: 10m", "idle_timeout: 600"),
            "pool.idle_timeout",
            400,
        ),
        (
            "bad size",
            spec.replace("memory: 64M", "memory: 64Q"),
            "deploy.resources.limits.memory",
            400,
        ),
        (
            "min above max",
            spec.replace("min_size: 1", "min_size: 5"),
            "pool.min_size",
            400,
        ),
        (
            "secrets target escaping",
            spec.replace("target: /secrets", "target: /secrets/../etc"),
            "volumes.secrets.target",
            400,
        ),
        (
            "state target not absolute",
            spec.replace("target: /data", "target: data"),
            "volumes.state.target",
            400,
        ),
        (
            "privileged",
            format!("{spec}privileged: true\n"),
            "privileged",
            403,
        ),
        (
            "host network",
            format!("{spec}network_mode: host\n"),
            "network_mode",
            403,
        ),
        (
            "host-owning capability",
            format!("{spec}cap_add: [SYS_ADMIN]\n"),
            "cap_add[0]",
            403,
        ),
        ("user by name", format!("{spec}user: nobody\n"), "user", 400),
        (
            "sync path shared by every tenant",
            format!("{spec}sync:\n  sink:\n    type: local\n    path: /srv/state\n  mappings:\n    - path: /\n      direction: bidirectional\n      mode: sync\n"),
            "sync.sink.path",
            400,
        ),
        (
            "sync unknown key",
            format!("{spec}sync:\n  sink:\n    type: local\n    path: /srv/state/${{tenantId}}\n  mappings:\n    - path: /\n      direction: sideways\n"),
            "sync.mappings[0].direction",
            400,
        ),
        ("bad id", spec.replacen("id: ", "id: Bad/", 1), "id", 400),
    ]
}

#[test]
fn each_invalid_spec_key_is_refused_naming_it() {
    let dirs = PoolDirs::new();
    let w = Workload::new("spec-bad");
    let c = dirs.start();
    let spec = w.spec(1, 3).replace("\nread_only: true\n", "\n");
    for (what, text, field, status) in invalid_cases(&spec) {
        let (code, v) = c.json("POST", "/api/v1/workloads", Some(&text));
        assert_eq!(
            (code, v["field"].as_str()),
            (status, Some(field)),
            "{what}: {v}"
        );
        // YAML errors say where: the line of the key at fault.
        let error = v["error"].as_str().unwrap_or("");
        assert!(error.starts_with("line "), "{what}: {error}");
    }
    // Nothing of the refused specs was kept.
    let (code, v) = c.json("GET", "/api/v1/workloads", None);
    assert_eq!(code, 200);
    assert_eq!(v["workloads"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(w.containers().is_empty());
}

#[test]
fn a_spec_posted_as_json_is_persisted_and_loaded_again_at_start() {
    let dirs = PoolDirs::new();
    let w = Workload::new("spec-json");
    {
        let c = dirs.start();
        let body = serde_json::json!({
            "id": w.id,
            "image": support::TEST_IMAGE,
            "command": ["sleep", "3600"],
            "pool": {"min_size": 0, "max_size": 2}
        });
        let (code, v) = c.json("POST", "/api/v1/workloads", Some(&body.to_string()));
        assert_eq!(code, 201, "{v}");
        assert_eq!(v["spec"]["pool"]["on_release"], "destroy", "{v}");
        let (code, _) = c.json("POST", "/api/v1/workloads", Some(&body.to_string()));
        assert_eq!(code, 200, "a second post replaces");
    }
    assert!(dirs
        .path("workloads")
        .join(format!("{}.yaml", w.id))
        .exists());
    let c = dirs.start();
    let (code, v) = c.json("GET", &format!("/api/v1/workloads/{}", w.id), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["spec"]["image"], support::TEST_IMAGE);
    let (code, _) = c.json("DELETE", &format!("/api/v1/workloads/{}", w.id), None);
    assert_eq!(code, 204);
    let (code, _) = c.json("GET", &format!("/api/v1/workloads/{}", w.id), None);
    assert_eq!(code, 404);
    assert!(!dirs
        .path("workloads")
        .join(format!("{}.yaml", w.id))
        .exists());
}

#[test]
fn a_bad_spec_file_fails_start_naming_file_key_and_line() {
    let dirs = PoolDirs::new();
    let w = Workload::new("spec-file");
    std::fs::create_dir_all(dirs.path("workloads")).expect("dir");
    let file = dirs.path("workloads").join("broken.yaml");
    std::fs::write(&file, w.spec(1, 3).replace("memory: 64M", "memory: lots")).expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coold"));
    cmd.env_clear()
        .env("COOLD_HOST_MGMT_IP", "127.0.0.1")
        .env(
            "COOLD_API_BIND",
            format!("127.0.0.1:{}", support::free_port()),
        )
        .env("COOLD_API_TOKEN_FILE", dirs.path("token"))
        .env(
            "COOLD_HEALTH_BIND",
            format!("127.0.0.1:{}", support::free_port()),
        )
        .env("COOLD_FIREWALL", "off")
        .env("COOLD_RUNTIME_DIR", dirs.path("runtimes"));
    std::fs::write(dirs.path("token"), support::TOKEN).expect("token");
    for (k, v) in dirs.env() {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("coold started with a broken spec file");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("read");
    assert!(!status.success());
    let at = format!("{}:20", file.display());
    assert!(err.contains(&at), "names file and line ({at}): {err}");
    assert!(err.contains("deploy.resources.limits.memory"), "{err}");
}
