//! `--await-go`: the builder the agent starts ahead of a request waits,
//! builds once `go` is written, and leaves quietly when retired.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[test]
fn a_waiting_builder_builds_only_after_go_is_written() {
    let base = BaseImage::build();
    let repo = GitRepo::new();
    repo.write("dist/index.html", "<h1>warm</h1>");
    repo.commit("site");
    let mut images = Images::default();
    let tag = images.unique_tag("cb-warm");
    let root = tempfile::tempdir().expect("tempdir");
    let work = root.path().join("work");
    std::fs::create_dir(&work).expect("work dir");
    let spec = work.join("spec.json");
    // No credentials file: in warm mode a missing one means none.
    let mut child = builder_command(&spec, &work)
        .args(["--await-go", "--credentials-file"])
        .arg(work.join("credentials.json"))
        .spawn()
        .expect("spawn builder");
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().expect("wait").is_none(), "it did not wait");
    assert!(read_events(&work).is_empty(), "it began before go");

    std::fs::write(
        &spec,
        json!({"repo": repo.url(), "ref": "main", "stack": "STATIC",
               "publish_dir": "dist", "base_image": base.tag, "tags": [tag]})
        .to_string(),
    )
    .expect("spec");
    std::fs::write(work.join("go"), "").expect("go");
    let status = wait_exit(&mut child, Duration::from_secs(120), "after go");

    assert_eq!(status.code(), Some(0), "{:?}", read_events(&work));
    let result = read_json(&work.join("result.json")).expect("result.json");
    assert_eq!(result["registry_ref"], tag.as_str());
    assert!(image_exists(&tag));
}

#[test]
fn sigterm_while_waiting_exits_130_and_writes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let work = root.path().join("work");
    std::fs::create_dir(&work).expect("work dir");
    let mut child = builder_command(&work.join("spec.json"), &work)
        .arg("--await-go")
        .spawn()
        .expect("spawn builder");
    std::thread::sleep(Duration::from_millis(200));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = wait_exit(&mut child, Duration::from_secs(10), "after SIGTERM");

    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = std::fs::read_dir(&work).expect("read").flatten().collect();
    assert!(left.is_empty(), "files written: {left:?}");
}
