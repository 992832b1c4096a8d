//! Runtime choice per container: `runsc` really runs under gVisor, `runc`
//! under runc, an unlisted runtime is 403 and a listed one the engine does
//! not have is 422, each naming `runtime`.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{unique, wait_for_state, Coold, PodmanGuard, TEST_IMAGE};

fn host_kernel() -> String {
    nix::sys::utsname::uname()
        .expect("uname")
        .release()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn runsc_container_runs_inside_gvisor() {
    let c = Coold::start(&[]);
    let mut guard = PodmanGuard::default();
    let name = guard.container(&unique("rt-runsc"));
    let body =
        json!({"name": name, "image": TEST_IMAGE, "cmd": ["sleep", "120"], "runtime": "runsc"});
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["runtime"], "runsc");
    let (code, v) = c.json("POST", &format!("/api/v1/containers/{name}/start"), None);
    assert_eq!(code, 204, "{v}");
    let info = wait_for_state(&c, &name, Duration::from_secs(30), |v| {
        v["state"]["running"] == true
    });
    assert_eq!(info["runtime"], "runsc", "{info}");
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{name}/exec"),
        Some(r#"{"cmd":["uname","-r"]}"#),
    );
    assert_eq!(code, 200, "{v}");
    let kernel = v["stdout"].as_str().unwrap_or("").trim().to_string();
    assert!(!kernel.is_empty(), "{v}");
    assert_ne!(
        kernel,
        host_kernel(),
        "uname -r inside runsc is the host's: not gVisor"
    );
    // Later verbs keep reaching the container's runtime.
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{name}/stop"),
        Some(r#"{"timeout":1}"#),
    );
    assert_eq!(code, 204, "{v}");
    let (code, v) = c.json("DELETE", &format!("/api/v1/containers/{name}"), None);
    assert_eq!(code, 204, "{v}");
}

#[test]
fn runc_container_runs_on_the_host_kernel() {
    let c = Coold::start(&[]);
    let mut guard = PodmanGuard::default();
    let name = guard.container(&unique("rt-runc"));
    let body =
        json!({"name": name, "image": TEST_IMAGE, "cmd": ["sleep", "120"], "runtime": "runc"});
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 201, "{v}");
    assert_eq!(
        c.json("POST", &format!("/api/v1/containers/{name}/start"), None)
            .0,
        204
    );
    let info = wait_for_state(&c, &name, Duration::from_secs(30), |v| {
        v["state"]["running"] == true
    });
    assert_eq!(info["runtime"], "runc", "{info}");
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/containers/{name}/exec"),
        Some(r#"{"cmd":["uname","-r"]}"#),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["stdout"].as_str().unwrap_or("").trim(), host_kernel());
    let (code, v) = c.json(
        "DELETE",
        &format!("/api/v1/containers/{name}?force=true"),
        None,
    );
    assert_eq!(code, 204, "{v}");
}

#[test]
fn unlisted_runtime_is_403_naming_runtime() {
    let c = Coold::start(&[("COOLD_ALLOWED_RUNTIMES", "runc")]);
    let body = json!({"image": TEST_IMAGE, "runtime": "runsc"});
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 403, "{v}");
    assert_eq!(v["field"], "runtime");
}

#[test]
fn listed_runtime_the_engine_lacks_is_422_naming_runtime() {
    let c = Coold::start(&[("COOLD_ALLOWED_RUNTIMES", "runc,runsc,kata-coolify-absent")]);
    let mut guard = PodmanGuard::default();
    let name = guard.container(&unique("rt-absent"));
    let body = json!({"name": name, "image": TEST_IMAGE, "cmd": ["true"], "runtime": "kata-coolify-absent"});
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["field"], "runtime");
    let error = v["error"].as_str().unwrap_or("");
    assert!(
        error.contains("kata-coolify-absent") && error.contains("not installed"),
        "{v}"
    );
    // Nothing is left behind by the attempt.
    let (code, _) = c.json("GET", &format!("/api/v1/containers/{name}"), None);
    assert_eq!(code, 404);
}
