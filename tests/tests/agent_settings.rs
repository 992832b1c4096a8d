//! Every agent setting reachable from `cp up` (issue 15 item 6): through
//! `<config-dir>/agent.toml` and the flags, checked before anything starts,
//! and in force in the running appliance as the agent itself reports it.

use std::os::unix::fs::PermissionsExt;

use coolify_tests::*;
use serde_json::json;

/// Each key of agent.toml set to a value other than its default.
fn every_key(inst: &Instance, corrosion_port: u16, dns_port: u16) -> String {
    let dir = inst.dir.path();
    format!(
        r#"# every key of docs/agent-config.md
[containers]
bind_allowlist = ["{binds}"]
allowed_runtimes = ["runc", "crun"]
healthchecks = "engine"

[discovery]
endpoint_store = "corrosion"
corrosion_api = "127.0.0.1:{corrosion_port}"
reconcile_interval = "3s"

[dns]
zone = "file.test"
upstream = "9.9.9.9:53"
upstream_timeout = "3s"
port = {dns_port}

[builds]
network = "coolify-test-build-net"
capacity = 3
warm = 0
cpus = 1.5
memory = "1g"
timeout = "20m"
grace = "5s"
keep = "2h"
deny_cidrs = ["10.99.0.0/16", "192.0.2.1"]
static_base_image = "localhost/coolify-test-base:1"
builder_image = "localhost/coolify-test-builder:1"

[pools]
refill_interval = "7s"

[sync]
rclone_bin = "/usr/bin/rclone"
timeout = "4m"
env_file = "{env_file}"
"#,
        binds = dir.join("binds").display(),
        env_file = dir.join("sync.env").display(),
    )
}

#[test]
fn every_agent_setting_set_through_cp_up_is_in_force_in_the_appliance() {
    let inst = Instance::new();
    let dir = inst.dir.path();
    std::fs::create_dir_all(inst.config_dir()).unwrap();
    let env_file = dir.join("sync.env");
    std::fs::write(&env_file, "STATE_KEY=k\n").unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (corrosion_port, dns_port) = (free_port(), free_port());
    std::fs::write(
        inst.config_dir().join("agent.toml"),
        every_key(&inst, corrosion_port, dns_port),
    )
    .unwrap();

    // A flag overrides the file's key.
    ok_json(run(inst.up(&["-o", "json", "--dns-zone", "flag.test"])));

    let (code, body) = api_get(&inst, "/api/v1/host/info", Some(&inst.api_token()));
    assert_eq!(code, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    let settings = &info["settings"];
    let want = json!({
        "containers": {
            "bind_allowlist": [dir.join("binds").display().to_string()],
            "allowed_runtimes": ["runc", "crun"],
            "healthchecks": "engine",
        },
        "discovery": {
            "endpoint_store": "corrosion",
            "corrosion_api": format!("127.0.0.1:{corrosion_port}"),
            "reconcile_interval": "3s",
        },
        "dns": {
            "zone": "flag.test",
            "upstream": "9.9.9.9:53",
            "upstream_timeout": "3s",
            "port": dns_port,
        },
        "builds": {
            "network": "coolify-test-build-net",
            "capacity": 3,
            "warm": 0,
            "cpus": 1.5,
            "memory_bytes": 1u64 << 30,
            "timeout": "20m",
            "grace": "5s",
            "keep": "2h",
            "deny_cidrs": ["10.99.0.0/16", "192.0.2.1/32"],
            "static_base_image": "localhost/coolify-test-base:1",
            "builder_image": "localhost/coolify-test-builder:1",
        },
        "pools": { "refill_interval": "7s" },
        "sync": {
            "rclone_bin": "/usr/bin/rclone",
            "timeout": "4m",
            "env_file": env_file.display().to_string(),
        },
    });
    for section in want.as_object().unwrap().keys() {
        assert_eq!(
            settings[section], want[section],
            "settings.{section}: {settings}"
        );
    }

    // In force, not only reported: a runtime left out is refused.
    let body = format!(
        r#"{{"name":"{}","image":"localhost/coolify-test-busybox:latest","runtime":"runsc"}}"#,
        unique("not-allowed")
    );
    let (code, text) = api_request(
        &inst,
        "POST",
        "/api/v1/containers",
        Some(&body),
        Some(&inst.api_token()),
    );
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("runtime"), "{text}");

    // `cp status` shows the same settings.
    let status = ok_json(run(inst.cmd(&["cp", "status", "-o", "json"])));
    assert_eq!(status["settings"], *settings, "{status}");
    let text = run(inst.cmd(&["cp", "status"]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("dns.zone") && text.contains("flag.test"),
        "{text}"
    );
}

#[test]
fn a_bad_setting_fails_cp_up_naming_its_key_and_line_before_anything_starts() {
    let inst = Instance::new();
    std::fs::create_dir_all(inst.config_dir()).unwrap();
    let file = inst.config_dir().join("agent.toml");
    std::fs::write(&file, "[builds]\ncapacity = 2\nmemory = \"lots\"\n").unwrap();

    let out = run(inst.up(&[]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} line 3: builds.memory: COOLD_BUILD_MEMORY",
            file.display()
        )),
        "{err}"
    );
    let ps = podman(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("name=^{}$", inst.name),
    ]);
    assert!(ps.stdout.is_empty(), "no container was created");
    assert!(
        !inst.config_dir().join("ca.key").exists(),
        "no PKI was created before the check"
    );

    // A flag's bad value names the flag.
    std::fs::remove_file(&file).unwrap();
    let out = run(inst.up(&["--endpoint-store", "etcd"]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--endpoint-store: COOLD_ENDPOINT_STORE"),
        "{}",
        stderr(&out)
    );
    // The discovery flags also come from the environment, named the same.
    let mut up = inst.up(&[]);
    up.env("COOLIFY_ENDPOINT_STORE", "etcd");
    let out = run(up);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--endpoint-store: COOLD_ENDPOINT_STORE=\"etcd\""),
        "{}",
        stderr(&out)
    );
    let mut up = inst.up(&[]);
    up.env("COOLIFY_ENDPOINT_STORE", "corrosion")
        .env("COOLIFY_CORROSION_API", "nowhere");
    let out = run(up);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--corrosion-api: COOLD_CORROSION_API=\"nowhere\""),
        "{}",
        stderr(&out)
    );
}
