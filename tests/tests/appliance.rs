//! `coolify cp up/status/down` against the real Podman.

use std::process::Command;

use coolify_tests::*;

#[test]
fn up_reuse_concurrent_up_and_down_lifecycle() {
    let inst = Instance::new();

    let first = ok_json(run(inst.up(&["-o", "json"])));
    assert_eq!(field(&first, "image_action"), "built");
    assert_eq!(field(&first, "container_action"), "created");
    assert_eq!(first["health"]["status"], "healthy");
    assert_eq!(first["health"]["components"]["podman"]["status"], "healthy");

    let status = run(inst.cmd(&["cp", "status", "-o", "json"]));
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let status = json(&status);
    assert_eq!(status["healthy"], true);
    assert_eq!(status["state"], "running");

    let again = ok_json(run(inst.up(&["-o", "json"])));
    assert_eq!(field(&again, "image_action"), "reused");
    assert_eq!(field(&again, "container_action"), "running");
    assert_eq!(field(&again, "image_id"), field(&first, "image_id"));
    assert_eq!(field(&again, "container_id"), field(&first, "container_id"));

    // Two at once: both succeed, one container.
    let a = inst.up(&["-o", "json"]).spawn_output();
    let b = inst.up(&["-o", "json"]).spawn_output();
    let (a, b) = (a.join().expect("thread a"), b.join().expect("thread b"));
    let (a, b) = (ok_json(a), ok_json(b));
    assert_eq!(field(&a, "container_id"), field(&b, "container_id"));
    let ps = podman(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("name=^{}$", inst.name),
    ]);
    assert_eq!(String::from_utf8_lossy(&ps.stdout).lines().count(), 1);

    let down = run(inst.cmd(&["cp", "down"]));
    assert!(down.status.success(), "{}", stderr(&down));
    let status = run(inst.cmd(&["cp", "status"]));
    assert_eq!(status.status.code(), Some(3), "absent is exit 3");
    assert!(String::from_utf8_lossy(&status.stdout).contains("absent"));

    // PKI survives down.
    assert!(inst.config_dir().join("ca.key").exists());
}

#[test]
fn stopped_appliance_is_started_not_recreated() {
    let inst = Instance::new();
    let first = ok_json(run(inst.up(&["-o", "json"])));
    let stop = podman(&["stop", "-t", "5", &inst.name]);
    assert!(stop.status.success());
    let status = run(inst.cmd(&["cp", "status"]));
    assert_eq!(
        status.status.code(),
        Some(1),
        "stopped is unhealthy (exit 1)"
    );
    let again = ok_json(run(inst.up(&["-o", "json"])));
    assert_eq!(field(&again, "container_action"), "started");
    assert_eq!(field(&again, "container_id"), field(&first, "container_id"));
}

#[test]
fn stale_image_label_triggers_a_rebuild() {
    let inst = Instance::new();
    let stale_id = tag_fake_appliance_image(&inst, "coolify.coold.sha256=stale");

    let up = ok_json(run(inst.up(&["-o", "json"])));
    assert_eq!(field(&up, "image_action"), "rebuilt");
    assert!(!field(&up, "image_id").contains(&stale_id));
    let pruned: Vec<String> = serde_json::from_value(up["pruned_images"].clone()).unwrap();
    assert!(
        pruned
            .iter()
            .any(|p| p.contains(&stale_id) || stale_id.contains(p.trim_start_matches("sha256:"))),
        "stale image {stale_id} pruned: {pruned:?}"
    );
}

#[test]
fn changed_settings_drain_and_replace_the_container() {
    let mut inst = Instance::new();
    let first = ok_json(run(inst.up(&["-o", "json"])));
    inst.api_port = free_port();
    let second = ok_json(run(inst.up(&["-o", "json"])));
    assert_eq!(
        second["container_action"]["replaced"]["reason"],
        "settings changed (ports, mgmt IP, dirs, broker or agent settings)"
    );
    assert_ne!(
        field(&second, "container_id"),
        field(&first, "container_id")
    );
    assert_eq!(field(&second, "image_action"), "reused");
}

#[test]
fn api_requires_the_bearer_token() {
    let inst = Instance::new();
    ok_json(run(inst.up(&["-o", "json"])));
    let token = inst.api_token();

    let (code, _) = api_get(&inst, "/api/v1/host/info", None);
    assert_eq!(code, 401, "no token");
    let (code, _) = api_get(
        &inst,
        "/api/v1/host/info",
        Some("wrong-token-wrong-token-wrong"),
    );
    assert_eq!(code, 401, "wrong token");

    let (code, body) = api_get(&inst, "/api/v1/host/info", Some(&token));
    assert_eq!(code, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["mgmt_ip"], "127.0.0.1");
    assert!(info["engine"]["version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));

    let (code, body) = api_get(&inst, "/api/v1/host/containers", Some(&token));
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&inst.name),
        "the appliance lists itself: {body}"
    );

    let (code, body) = api_get(&inst, "/api/v1/host/stats", Some(&token));
    assert_eq!(code, 200, "{body}");

    let (code, _) = api_get(&inst, "/v1.41/containers/json", Some(&token));
    assert_eq!(code, 404, "no raw engine passthrough");
}

#[test]
fn missing_engine_socket_says_how_to_start_it() {
    let inst = Instance::new();
    let out = run(inst.up(&["--engine-socket", "/nonexistent/podman.sock"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("podman system service"), "{err}");
    assert!(err.contains("/nonexistent/podman.sock"), "{err}");
}

#[test]
fn health_port_in_use_fails_fast_with_the_agents_reason() {
    let mut inst = Instance::new();
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    inst.health_port = squatter.local_addr().unwrap().port();
    let out = run(inst.up(&["--timeout", "60s"]));
    drop(squatter);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // Not the timeout: the container's exit is noticed at once.
    assert!(err.contains("exited while starting"), "{err}");
    assert!(err.contains("COOLD_HEALTH_BIND"), "{err}");
    assert!(err.contains("in use"), "{err}");
}

#[test]
fn unreadable_pki_is_a_clear_error() {
    let inst = Instance::new();
    std::fs::create_dir_all(inst.config_dir().join("ca.crt")).unwrap();
    std::fs::write(inst.config_dir().join("ca.key"), "x").unwrap();
    let out = run(inst.up(&[]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ca.crt") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn down_of_an_absent_appliance_succeeds_and_says_so() {
    let inst = Instance::new();
    let out = run(inst.cmd(&["cp", "down"]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("was not present"));
}

/// Spawns a command and collects its output on a thread.
trait SpawnOutput {
    fn spawn_output(self) -> std::thread::JoinHandle<std::process::Output>;
}

impl SpawnOutput for Command {
    fn spawn_output(mut self) -> std::thread::JoinHandle<std::process::Output> {
        std::thread::spawn(move || self.output().expect("spawn"))
    }
}

#[test]
fn appliance_of_another_coold_is_drained_and_replaced() {
    let inst = Instance::new();
    // What an older CLI left behind: same name, another coold hash.
    let old_id = run_fake_appliance(
        &inst,
        &["coolify.coold.sha256=0000000000000000000000000000000000000000000000000000000000000000"],
    );

    let up = ok_json(run(inst.up(&["-o", "json", "--drain-timeout", "2s"])));
    let reason = up["container_action"]["replaced"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("coold changed (000000000000 → "), "{up}");
    assert_ne!(field(&up, "container_id"), old_id);
    assert_eq!(up["health"]["status"], "healthy");
}

#[test]
fn runsc_containers_created_through_the_appliance_run_in_gvisor() {
    if std::process::Command::new("runsc")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("runsc is not installed: scripts/setup-host installs and registers it");
    }
    let inst = Instance::new();
    let up = ok_json(run(inst.up(&["-o", "json", "--runtime-services", "runsc"])));
    assert_eq!(up["runtime_services"][0]["state"], "started", "{up}");
    let token = inst.api_token();
    let name = unique("gvisor");
    let body = format!(
        r#"{{"name":"{name}","image":"localhost/coolify-test-busybox:latest","cmd":["sleep","60"],"runtime":"runsc"}}"#
    );
    let (code, created) = api_request(
        &inst,
        "POST",
        "/api/v1/containers",
        Some(&body),
        Some(&token),
    );
    let cleanup = Cleanup(name.clone());
    assert_eq!(code, 201, "{created}");
    let (code, text) = api_request(
        &inst,
        "POST",
        &format!("/api/v1/containers/{name}/start"),
        None,
        Some(&token),
    );
    assert_eq!(code, 204, "{text}");
    let (code, text) = api_request(
        &inst,
        "POST",
        &format!("/api/v1/containers/{name}/exec"),
        Some(r#"{"cmd":["uname","-r"]}"#),
        Some(&token),
    );
    assert_eq!(code, 200, "{text}");
    let out: serde_json::Value = serde_json::from_str(&text).unwrap();
    let host_kernel = String::from_utf8(
        std::process::Command::new("uname")
            .arg("-r")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let inside = out["stdout"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(!inside.is_empty(), "{text}");
    assert_ne!(
        inside,
        host_kernel.trim(),
        "runs on gVisor's kernel, not the host's"
    );
    let (_, inspect) = api_get(&inst, &format!("/api/v1/containers/{name}"), Some(&token));
    assert!(inspect.contains("runsc"), "{inspect}");
    drop(cleanup);
}

#[test]
fn a_change_of_any_embedded_binary_rebuilds_the_image_and_replaces_the_container() {
    let mut inst = Instance::new();
    let first = ok_json(run(inst.up(&["-o", "json"])));
    let tag = format!("{}:{}", inst.image_repo, env!("CARGO_PKG_VERSION"));
    let label = |key: &str| {
        let out = podman(&[
            "image",
            "inspect",
            "-f",
            &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
            &tag,
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let coold = label("coolify.coold.sha256");
    assert_eq!(coold.len(), 64, "{coold}");
    let bundle = label("coolify.cp.bundle-sha256");
    assert_eq!(bundle.len(), 64, "{bundle}");
    let down = run(inst.cmd(&["cp", "down"]));
    assert!(down.status.success(), "{}", stderr(&down));
    // Fresh ports: between down and up another process on this shared
    // machine may take the ones just released.
    inst.health_port = free_port();
    inst.api_port = free_port();

    // What a CLI with the same coold but another broker (or builder) left
    // behind: an image and a container whose bundle hash differs.
    tag_fake_appliance_image(
        &inst,
        &format!("coolify.coold.sha256={coold} coolify.cp.bundle-sha256=stale"),
    );
    run_fake_appliance(
        &inst,
        &[
            &format!("coolify.coold.sha256={coold}"),
            "coolify.cp.bundle-sha256=stale",
        ],
    );

    let up = ok_json(run(inst.up(&["-o", "json", "--drain-timeout", "2s"])));
    assert_eq!(field(&up, "image_action"), "rebuilt", "{up}");
    assert_ne!(field(&up, "image_id"), field(&first, "image_id"));
    assert_eq!(label("coolify.cp.bundle-sha256"), bundle);
    let reason = up["container_action"]["replaced"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("appliance binaries changed (stale → "),
        "{up}"
    );
    assert_eq!(up["health"]["status"], "healthy");
}

/// Tenant state sync runs the host's rclone chrooted into the read-only
/// host root (docs/sync.md): it must be able to write state dirs under the
/// data dir there, and nowhere else on the host. Run the way coold runs it, from inside
/// the appliance's mount namespace (the scratch image has no loader, so the
/// host's is named explicitly to start the host's chroot).
#[test]
fn rclone_chrooted_into_the_host_root_writes_the_data_dir_only() {
    let inst = Instance::new();
    ok_json(run(inst.up(&["-o", "json"])));
    let pid =
        String::from_utf8_lossy(&podman(&["inspect", "-f", "{{.State.Pid}}", &inst.name]).stdout)
            .trim()
            .to_owned();
    // The source lives in the data dir too: the container's /tmp is its own.
    let src = inst.dir.path().join("lib/tenant-src");
    std::fs::create_dir_all(&src).expect("src dir");
    std::fs::write(src.join("state.txt"), "tenant").expect("src file");
    let copy_into = |dst: &std::path::Path| {
        Command::new("nsenter")
            .args(["-t", &pid, "-m", "--"])
            .arg("/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
            .args(["--library-path", "/host/usr/lib/x86_64-linux-gnu"])
            .args(["/host/usr/sbin/chroot", "/host", "/usr/bin/rclone"])
            .args(["--config", "", "--retries", "1", "copy"])
            .arg(&src)
            .arg(dst)
            .output()
            .expect("run nsenter")
    };
    let state_dir = inst.dir.path().join("lib/states/probe");
    let into_data = copy_into(&state_dir);
    assert!(into_data.status.success(), "{}", stderr(&into_data));
    assert_eq!(
        std::fs::read_to_string(state_dir.join("state.txt")).expect("synced file"),
        "tenant"
    );
    // The host's software is read-only there; any other host path is not
    // mounted at all, so a write lands in the container, never on the host.
    let into_usr = copy_into(std::path::Path::new("/usr/local/coolify-probe"));
    assert!(!into_usr.status.success(), "/usr stays read-only");
    assert!(stderr(&into_usr).contains("read-only file system"));
    let elsewhere = inst.dir.path().join("elsewhere");
    let _ = copy_into(&elsewhere);
    assert!(
        !elsewhere.exists(),
        "a write outside the data dir reached the host"
    );
}
