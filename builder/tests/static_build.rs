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
    let tag = images.add(&format!("localhost/{}:1", unique("cb-static")));
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
    let repo = GitRepo::new();
    repo.write("index.html", "root site");
    repo.commit("root");
    let mut images = Images::default();
    let tag = images.add(&format!("localhost/{}:1", unique("cb-static-flag")));

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
