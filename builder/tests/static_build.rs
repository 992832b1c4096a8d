//! STATIC builds end to end: a real repo, the real Podman, and the built
//! image serving the publish dir.

mod support;

use serde_json::json;
use support::*;

#[test]
fn static_build_over_file_url_serves_the_publish_dir() {
    let base = BaseImage::build();
    let repo = GitRepo::new();
    let page = format!("<h1>{}</h1>", unique("hello-static"));
    repo.write("dist/index.html", &page)
        .write("README", "not published");
    let commit = repo.commit("site");
    let mut images = Images::default();
    let tag = images.unique_tag("cb-static");
    let extra_tag = images.add(&format!("localhost/{}:latest", unique("cb-static-extra")));

    let run = build(
        &json!({
            "repo": repo.url(), "ref": "main", "stack": "STATIC",
            "publish_dir": "dist", "base_image": base.tag, "tags": [tag, extra_tag],
        }),
        &[],
    );

    assert_eq!(run.code(), 0, "{}", run.describe());
    let result = run.result().expect("result.json");
    assert_eq!(result["registry_ref"], tag.as_str());
    assert_eq!(result["stack_used"], "STATIC");
    assert_eq!(result["tags"], json!([tag, extra_tag]));
    assert!(
        result["digest"]
            .as_str()
            .unwrap_or("")
            .starts_with("sha256:"),
        "{result}"
    );
    assert!(run.error().is_none());
    let events = run.events();
    assert_eq!(events.last().map(|e| &e["type"]), Some(&json!("result")));
    assert_eq!(events.last().unwrap()["ok"]["registry_ref"], tag.as_str());
    let stages: Vec<&str> = events.iter().filter_map(|e| e["stage"].as_str()).collect();
    for stage in ["git", "detect", "build", "store"] {
        assert!(stages.contains(&stage), "no {stage} event: {stages:?}");
    }
    assert!(events
        .iter()
        .any(|e| e["log"].as_str().is_some_and(|l| l.contains(&commit))));

    let image_id = stdout(&podman(&["image", "inspect", "--format", "{{.Id}}", &tag]));
    assert_eq!(
        result["image_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
        image_id
    );
    assert!(image_exists(&extra_tag));

    // No network: the page is fetched over the container's own loopback.
    let container = Container(unique("cb-static-run"));
    podman(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &container.0,
        &tag,
    ]);
    let mut served = String::new();
    let ok = eventually(std::time::Duration::from_secs(10), || {
        let out = std::process::Command::new("podman")
            .args([
                "exec",
                &container.0,
                "wget",
                "-qO-",
                "http://127.0.0.1:8080/index.html",
            ])
            .output()
            .expect("podman exec");
        served = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success()
    });
    assert!(ok, "the image did not serve the page");
    assert_eq!(served.trim(), page);
    let readme = std::process::Command::new("podman")
        .args(["exec", &container.0, "ls", "/usr/share/nginx/html"])
        .output()
        .expect("podman exec");
    assert_eq!(
        String::from_utf8_lossy(&readme.stdout).trim(),
        "index.html",
        "only the publish dir is copied"
    );
}

#[test]
fn static_base_image_flag_applies_when_spec_names_none() {
    let base = BaseImage::build();
    let repo = GitRepo::with_file("index.html", "root site");
    let mut images = Images::default();
    let tag = images.unique_tag("cb-static-flag");

    let run = build(
        &json!({"repo": repo.url(), "ref": "main", "stack": "STATIC", "tags": [tag]}),
        &["--static-base-image", &base.tag],
    );

    assert_eq!(run.code(), 0, "{}", run.describe());
    let from = stdout(&podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.Cmd}}",
        &tag,
    ]));
    assert!(
        from.contains("httpd"),
        "not built on the flag's base image: {from}"
    );
}

#[test]
fn static_build_over_git_daemon_at_a_tag_and_at_a_commit() {
    let base = BaseImage::build();
    let served = tempfile::tempdir().expect("tempdir");
    let repo = GitRepo::new();
    repo.write("site/index.html", "v1");
    let v1 = repo.commit("v1");
    repo.git(&["tag", "v1"]);
    repo.write("site/index.html", "v2");
    repo.commit("v2");
    // git daemon serves bare repositories by path under its base path.
    let bare = served.path().join("site.git");
    run(std::process::Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(repo.path())
        .arg(&bare));
    run(std::process::Command::new("git")
        .args(["-C"])
        .arg(&bare)
        .args(["config", "uploadpack.allowAnySHA1InWant", "true"]));
    let daemon = GitDaemon::serve(served.path());
    let url = format!("git://127.0.0.1:{}/site.git", daemon.port);
    let mut images = Images::default();

    for (git_ref, want) in [("v1", "v1"), ("main", "v2"), (v1.as_str(), "v1")] {
        let tag = images.unique_tag("cb-gitd");
        let run = build(
            &json!({"repo": url, "ref": git_ref, "stack": "STATIC", "publish_dir": "site", "base_image": base.tag, "tags": [tag]}),
            &[],
        );
        assert_eq!(run.code(), 0, "ref {git_ref}: {}", run.describe());
        let page = podman(&[
            "run",
            "--rm",
            "--network",
            "none",
            &tag,
            "cat",
            "/usr/share/nginx/html/index.html",
        ]);
        assert_eq!(stdout(&page), want, "ref {git_ref}");
    }
}

#[test]
fn rerun_in_the_same_work_dir_leaves_only_the_new_outcome() {
    let base = BaseImage::build();
    let repo = GitRepo::with_file("index.html", "x");
    let mut images = Images::default();
    let tag = images.unique_tag("cb-rerun");
    let root = tempfile::tempdir().expect("tempdir");
    let (spec, work) = (root.path().join("spec.json"), root.path().join("work"));
    let run_with = |publish_dir: &str| {
        std::fs::write(
            &spec,
            json!({"repo": repo.url(), "ref": "main", "stack": "STATIC", "publish_dir": publish_dir,
                   "base_image": base.tag, "tags": [tag]})
            .to_string(),
        )
        .expect("spec");
        builder_command(&spec, &work).status().expect("run").code()
    };

    assert_eq!(run_with("missing"), Some(1));
    assert!(work.join("error.json").exists());
    assert_eq!(run_with("."), Some(0));

    assert!(work.join("result.json").exists());
    assert!(
        !work.join("error.json").exists(),
        "the first run's error.json survived"
    );
    let events = read_events(&work);
    assert_eq!(events.iter().filter(|e| e["type"] == "error").count(), 1);
    assert_eq!(events.last().expect("events")["type"], "result");
}
