//! DOCKERFILE builds end to end: build args, a failing step, and cancel by
//! SIGTERM mid-build, against the real Podman.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[test]
fn dockerfile_build_arg_value_ends_up_in_the_image() {
    let base = BaseImage::build();
    let repo = GitRepo::new();
    repo.write(
        "app/Containerfile",
        &format!(
            "FROM {}\nARG GREETING\nRUN echo \"greeting=$GREETING\" > /greeting\n",
            base.tag
        ),
    );
    repo.write("app/data.txt", "context file");
    repo.commit("app");
    let mut images = Images::default();
    let tag = images.unique_tag("cb-df");
    let value = unique("hello-arg");

    let run = build(
        &json!({
            "repo": repo.url(), "ref": "main", "stack": "DOCKERFILE",
            "context": "app", "build_args": {"GREETING": value}, "tags": [tag],
        }),
        &[],
    );

    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(
        run.result().expect("result.json")["stack_used"],
        "DOCKERFILE"
    );
    let out = podman(&["run", "--rm", "--network", "none", &tag, "cat", "/greeting"]);
    assert_eq!(stdout(&out), format!("greeting={value}"));
}

#[test]
fn dockerfile_outside_the_context_is_used() {
    let base = BaseImage::build();
    let repo = GitRepo::new();
    repo.write(
        "ops/Build.containerfile",
        &format!("FROM {}\nCOPY data.txt /data.txt\n", base.tag),
    );
    repo.write("app/data.txt", "from the context");
    repo.commit("split");
    let mut images = Images::default();
    let tag = images.unique_tag("cb-df-outside");

    let run = build(
        &json!({
            "repo": repo.url(), "ref": "main", "stack": "DOCKERFILE",
            "dockerfile": "ops/Build.containerfile", "context": "app", "tags": [tag],
        }),
        &[],
    );

    assert_eq!(run.code(), 0, "{}", run.describe());
    let out = podman(&["run", "--rm", "--network", "none", &tag, "cat", "/data.txt"]);
    assert_eq!(stdout(&out), "from the context");
}

#[test]
fn failing_run_step_is_build_failed_exit_1_with_step_log() {
    let base = BaseImage::build();
    let marker = unique("about-to-fail");
    let repo = GitRepo::with_file(
        "Dockerfile",
        &format!("FROM {}\nRUN echo {marker} && false\n", base.tag),
    );
    let mut images = Images::default();
    let tag = images.unique_tag("cb-df-fail");

    let run = build(
        &json!({"repo": repo.url(), "ref": "main", "stack": "DOCKERFILE", "tags": [tag]}),
        &[],
    );

    assert_eq!(run.code(), 1, "{}", run.describe());
    let err = run.error().expect("error.json");
    assert_eq!(err["code"], "build_failed", "{err}");
    assert_eq!(err["stage"], "build");
    assert!(
        err["message"].as_str().unwrap_or("").contains(&marker),
        "no step log in {err}"
    );
    assert!(run.result().is_none());
    let last = run.events().pop().expect("events");
    assert_eq!(last["type"], "error");
    assert_eq!(last["err"], err);
    assert!(!image_exists(&tag));
}

#[test]
fn sigterm_mid_build_exits_130_cancelled_and_leaves_nothing_running() {
    let base = BaseImage::build();
    let marker = unique("cancel-me");
    let repo = GitRepo::with_file(
        "Containerfile",
        &format!("FROM {}\nRUN sleep 20; echo {marker}\n", base.tag),
    );
    let mut images = Images::default();
    let tag = images.unique_tag("cb-df-cancel");
    let (_root, work, mut child) =
        start(&json!({"repo": repo.url(), "ref": "main", "stack": "DOCKERFILE", "tags": [tag]}));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let step_running = || {
        std::process::Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let started = eventually(Duration::from_secs(60), step_running);
    if !started {
        let _ = child.kill();
        panic!("the RUN step never started: {:?}", read_events(&work));
    }

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = wait_exit(&mut child, Duration::from_secs(15), "after SIGTERM");

    assert_eq!(status.code(), Some(130));
    let err = read_json(&work.join("error.json")).expect("error.json");
    assert_eq!(err["code"], "cancelled", "{err}");
    assert_eq!(err["stage"], "build", "{err}");
    assert_eq!(
        read_events(&work).pop().expect("events")["err"]["code"],
        "cancelled"
    );
    assert!(read_json(&work.join("result.json")).is_none());
    // Podman 4.3 lets a RUN step that already runs finish, then stops the
    // build before its commit: bounded by the step's own 20 s.
    let prefix = base.working_container_prefix();
    let gone = eventually(Duration::from_secs(60), || {
        !step_running() && !all_container_names().iter().any(|n| n.starts_with(&prefix))
    });
    assert!(
        gone,
        "a build container or its RUN step outlived the cancel"
    );
    assert!(
        !image_exists(&tag),
        "a cancelled build still produced {tag}"
    );
}

/// Podman before 4.6 sometimes kills a RUN step's runtime on its own (see
/// `PodmanClient::build`). Here the runtime process is killed the same way,
/// by SIGKILL to the `buildah-oci-runtime` that runs the step, which gives
/// the very error the engine bug gives; the build must get past it.
#[test]
fn a_step_whose_runtime_the_engine_killed_is_built_again_and_succeeds() {
    let base = BaseImage::build();
    let marker = unique("killed-runtime");
    let repo = GitRepo::with_file(
        "Containerfile",
        &format!(
            "FROM {}\nRUN echo {marker} >/dev/null && sleep 2 && echo built > /done\n",
            base.tag
        ),
    );
    let mut images = Images::default();
    let tag = images.unique_tag("cb-df-rtkill");
    let (_root, work, mut child) =
        start(&json!({"repo": repo.url(), "ref": "main", "stack": "DOCKERFILE", "tags": [tag]}));
    let mut step = None;
    let started = eventually(Duration::from_secs(60), || {
        // The step's shell, not the runtime runners on the way to it.
        step = std::process::Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| {
                s.lines()
                    .filter_map(|l| l.trim().parse::<u32>().ok())
                    .find(|pid| argv0(*pid) == "/bin/sh")
            });
        step.is_some()
    });
    if !started {
        let _ = child.kill();
        panic!("the RUN step never started: {:?}", read_events(&work));
    }
    let step = step.expect("step pid");
    let stat = std::fs::read_to_string(format!("/proc/{step}/stat")).expect("step's stat");
    // Field 4, after the parenthesised command name.
    let ppid: i32 = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("ppid");
    let runtime = argv0(ppid.unsigned_abs());
    if runtime != "buildah-oci-runtime" {
        let _ = child.kill();
        panic!("the step's parent is {runtime:?}, not the engine's runtime runner");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ppid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the step's runtime");
    let status = wait_exit(&mut child, Duration::from_secs(120), "after the kill");

    let events = read_events(&work);
    assert_eq!(status.code(), Some(0), "{events:?}");
    let retried = events.iter().any(|e| {
        e["log"].as_str().is_some_and(|l| {
            l.contains("engine killed a step's runtime") && l.contains("retry 1 of")
        })
    });
    assert!(retried, "no retry line: {events:?}");
    let out = podman(&["run", "--rm", "--network", "none", &tag, "cat", "/done"]);
    assert_eq!(stdout(&out), "built");
}

fn argv0(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|b| {
            b.split(|c| *c == 0)
                .next()
                .map(|a| String::from_utf8_lossy(a).into_owned())
        })
        .unwrap_or_default()
}
