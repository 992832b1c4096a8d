//! Bad input ends in a clear error.json (`bad_spec` or `git`), exit 1, the
//! error as the last event, and no image or build container left behind.

mod support;

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};
use support::*;

/// Runs the builder and checks the shape every refused build must have.
fn refused(spec: &Value, extra_args: &[&str], code: &str, mentions: &str) -> BuildRun {
    let run = build(spec, extra_args);
    assert_eq!(run.code(), 1, "{spec}: {}", run.describe());
    let err = run
        .error()
        .unwrap_or_else(|| panic!("{spec}: no error.json: {}", run.describe()));
    assert_eq!(err["code"], code, "{spec}: {err}");
    let message = err["message"].as_str().unwrap_or("");
    assert!(
        message.contains(mentions),
        "{spec}: {message:?} does not mention {mentions:?}"
    );
    assert!(
        run.result().is_none(),
        "{spec}: result.json beside error.json"
    );
    let last = run.events().pop().expect("events");
    assert_eq!(last["type"], "error");
    assert_eq!(last["err"], err);
    // Scratch dirs are gone; only the contract's files remain.
    let mut left: Vec<String> = std::fs::read_dir(run.work_dir())
        .expect("work dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["error.json", "events.ndjson"], "{spec}");
    run
}

#[test]
fn bad_specs_and_paths_escaping_the_repo_are_bad_spec() {
    let base = BaseImage::build();
    let repo = GitRepo::new();
    repo.write("dist/index.html", "x")
        .write("Containerfile", &format!("FROM {}\n", base.tag));
    std::os::unix::fs::symlink("/etc", repo.path().join("site")).expect("symlink");
    std::os::unix::fs::symlink(
        "../../../../etc/passwd",
        repo.path().join("Evil.containerfile"),
    )
    .expect("symlink");
    repo.commit("with links out");
    let tag = format!("localhost/{}:1", unique("cb-bad"));
    let names_before = all_container_names();
    let spec = |extra: Value| {
        let mut s =
            json!({"repo": repo.url(), "ref": "main", "tags": [tag], "base_image": base.tag});
        s.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        s
    };

    let cases: Vec<(Value, &str)> = vec![
        (spec(json!({"stack": "RAILPACK"})), "stack"),
        (
            spec(json!({"stack": "STATIC", "publish_dir": "nope"})),
            "does not exist",
        ),
        (
            spec(json!({"stack": "STATIC", "publish_dir": "../"})),
            "publish_dir",
        ),
        (
            spec(json!({"stack": "STATIC", "publish_dir": "/etc"})),
            "publish_dir",
        ),
        (
            spec(json!({"stack": "STATIC", "publish_dir": "site"})),
            "outside",
        ),
        (
            spec(json!({"stack": "STATIC", "publish_dir": "dist", "surprise": true})),
            "surprise",
        ),
        (
            spec(json!({"stack": "STATIC", "tags": ["Not A Tag"]})),
            "tags[0]",
        ),
    ];
    for (spec, mentions) in &cases {
        refused(spec, &[], "bad_spec", mentions);
    }
    let dockerfile = |extra: Value| {
        let mut s =
            json!({"repo": repo.url(), "ref": "main", "tags": [tag], "stack": "DOCKERFILE"});
        s.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        s
    };
    let dockerfile_cases: Vec<(Value, &str)> = vec![
        (
            dockerfile(json!({"dockerfile": "../Containerfile"})),
            "dockerfile",
        ),
        (
            dockerfile(json!({"dockerfile": "/etc/passwd"})),
            "dockerfile",
        ),
        (
            dockerfile(json!({"dockerfile": "Evil.containerfile"})),
            "outside",
        ),
        (
            dockerfile(json!({"context": "dist"})),
            "neither Containerfile nor Dockerfile",
        ),
    ];
    for (spec, mentions) in &dockerfile_cases {
        refused(spec, &[], "bad_spec", mentions);
    }

    assert!(!image_exists(&tag));
    let prefix = base.working_container_prefix();
    assert!(
        !all_container_names()
            .iter()
            .any(|n| n.starts_with(&prefix) && !names_before.contains(n)),
        "a refused build left a container"
    );
}

#[test]
fn bad_ref_and_unreachable_repos_are_git_errors() {
    let repo = GitRepo::with_file("index.html", "x");
    let tag = format!("localhost/{}:1", unique("cb-bad-git"));
    let spec =
        |url: &str, r: &str| json!({"repo": url, "ref": r, "stack": "STATIC", "tags": [tag]});
    let closed = free_port();

    refused(
        &spec(&repo.url(), "no-such-branch"),
        &[],
        "git",
        "no-such-branch",
    );
    refused(&spec(&repo.url(), &"0".repeat(40)), &[], "git", "not found");
    refused(
        &spec("file:///nonexistent/coolify/repo", "main"),
        &[],
        "git",
        "/nonexistent/coolify/repo",
    );
    refused(
        &spec(&format!("git://127.0.0.1:{closed}/repo"), "main"),
        &[],
        "git",
        &format!("127.0.0.1:{closed}"),
    );
    assert!(!image_exists(&tag));
}

#[test]
fn credentials_never_reach_events_or_error_json() {
    let closed = free_port();
    let secret = unique("S3cret");
    let tag = format!("localhost/{}:1", unique("cb-creds"));

    // In the URL.
    let run = refused(
        &json!({"repo": format!("https://alice:{secret}@127.0.0.1:{closed}/x.git"), "ref": "main", "stack": "STATIC", "tags": [tag]}),
        &[],
        "git",
        &format!("https://127.0.0.1:{closed}/x.git"),
    );
    assert!(
        !run.all_output_text().contains(&secret),
        "secret leaked: {}",
        run.all_output_text()
    );

    // In a credentials file.
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = dir.path().join("creds.json");
    std::fs::write(
        &creds,
        json!({"username": "bob", "password": secret}).to_string(),
    )
    .expect("write");
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let creds_arg = creds.display().to_string();
    let spec = json!({"repo": format!("https://127.0.0.1:{closed}/x.git"), "ref": "main", "stack": "STATIC", "tags": [tag]});
    let run = refused(
        &spec,
        &["--credentials-file", &creds_arg],
        "git",
        "127.0.0.1",
    );
    assert!(
        !run.all_output_text().contains(&secret),
        "secret leaked: {}",
        run.all_output_text()
    );

    // A credentials file others can read is refused, still without the secret.
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = refused(
        &spec,
        &["--credentials-file", &creds_arg],
        "bad_spec",
        "chmod 600",
    );
    assert!(!run.all_output_text().contains(&secret));
}

#[test]
fn bad_argv_exits_2_without_touching_the_work_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coolify-builder"))
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--spec"));
    assert!(!dir.path().join("work").exists());
}

#[test]
fn unusable_work_dir_or_podman_socket_is_io_exit_2() {
    // A work dir that cannot be created: nowhere to write, so stderr only.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("file"), "x").expect("write");
    let out = builder_command(&dir.path().join("spec.json"), &dir.path().join("file/work"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("work dir"));

    // A Podman socket that does not answer: error.json says io.
    let repo = GitRepo::with_file("index.html", "x");
    let socket = dir.path().join("no-podman.sock").display().to_string();
    let run = build(
        &json!({"repo": repo.url(), "ref": "main", "stack": "STATIC", "tags": ["localhost/never:1"]}),
        &["--podman-socket", &socket],
    );
    assert_eq!(run.code(), 2, "{}", run.describe());
    let err = run.error().expect("error.json");
    assert_eq!(err["code"], "io");
    assert!(
        err["message"].as_str().unwrap_or("").contains(&socket),
        "{err}"
    );
}

/// https goes through rustls (ring) in-process: a TLS server with a
/// certificate nobody trusts is reached and refused, as a `git` error.
#[test]
fn https_clone_speaks_tls_and_refuses_an_untrusted_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    run(std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let port = free_port();
    // Bounded by `timeout` as well as killed on drop.
    let server = std::process::Command::new("timeout")
        .args(["60", "openssl", "s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server);
    assert!(
        eventually(std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "openssl s_server did not listen"
    );

    refused(
        &json!({"repo": format!("https://127.0.0.1:{port}/x.git"), "ref": "main", "stack": "STATIC", "tags": ["localhost/never:1"]}),
        &[],
        "git",
        "certificate",
    );
}

/// A server that accepts and never answers holds the clone; SIGTERM still
/// ends the build at once, as `cancelled` in the `git` stage.
#[test]
fn sigterm_during_a_stalled_clone_is_cancelled_in_the_git_stage() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let root = tempfile::tempdir().expect("tempdir");
    let (spec, work) = (root.path().join("spec.json"), root.path().join("work"));
    std::fs::write(
        &spec,
        json!({"repo": format!("git://127.0.0.1:{port}/stalled.git"), "ref": "main", "stack": "STATIC", "tags": ["localhost/never:1"]})
            .to_string(),
    )
    .expect("spec");
    let mut child = builder_command(&spec, &work).spawn().expect("spawn");
    // The connection is accepted by the kernel's backlog; nothing is sent.
    let (_conn, _) = listener.accept().expect("the builder connects");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let exited = eventually(std::time::Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
        panic!("builder still running 10 s after SIGTERM");
    }
    assert_eq!(child.wait().expect("status").code(), Some(130));
    let err = read_json(&work.join("error.json")).expect("error.json");
    assert_eq!(err["code"], "cancelled");
    assert_eq!(err["stage"], "git");
}
