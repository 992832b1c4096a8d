//! Benchmark: one STATIC build through the whole path (broker UDS →
//! agent → build container → builder → Podman build → result landed at
//! the broker) against `podman build` run by hand on the same context,
//! interleaved, N runs each; prints each run, the medians and their ratio
//! (goal ≤ 1.2×). Each run commits new page content so neither side builds
//! from cache. Run through `benches/build.sh` (needs root and Podman).

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::Instant;

use serde_json::json;
use support::builds::Rig;
use support::{run_ok, unique};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let mut rig = Rig::new(&[]);
    let base = support::builds::static_base_image();
    let repo_name = unique("bench-repo");
    let ctx = tempfile::tempdir().expect("context");
    std::fs::create_dir_all(ctx.path().join("public")).expect("public");
    std::fs::write(
        ctx.path().join("Containerfile"),
        format!("FROM {base}\nCOPY public/ /usr/share/nginx/html/\n"),
    )
    .expect("containerfile");

    let (mut whole, mut by_hand) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let page = format!("<h1>{}</h1>", unique("bench"));
        let repo = rig.net.repo(&repo_name, &[("site/index.html", &page)]);
        std::fs::write(ctx.path().join("public/index.html"), &page).expect("page");

        let tag = rig.tag("cb-bench-path");
        // Steady state: a warm builder waits, as it does for any build that
        // comes more than a refill (a few hundred ms) after the last one.
        rig.wait_warm();
        let t0 = Instant::now();
        let id = rig.dispatch(json!({
            "repo": repo, "ref": "main", "stack": "STATIC", "tags": [tag], "publish_dir": "site"
        }));
        let r = rig.result(&id);
        let path_ms = t0.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(r["status"], 200, "{r}");
        // The builder's own clock: clone, detect, Podman build, store.
        let builder_ms = r["body"]["duration_ms"].as_f64().unwrap_or(f64::NAN);

        let hand_tag = rig.tag("cb-bench-hand");
        let t0 = Instant::now();
        run_ok(
            "podman",
            &[
                "build",
                "-q",
                "-t",
                &hand_tag,
                &ctx.path().display().to_string(),
            ],
        );
        let hand_ms = t0.elapsed().as_secs_f64() * 1000.0;

        println!(
            "run {}: whole path {path_ms:.0} ms (builder's own {builder_ms:.0} ms), podman build by hand {hand_ms:.0} ms",
            i + 1
        );
        whole.push(path_ms);
        by_hand.push(hand_ms);
    }
    let (w, h) = (median(&mut whole), median(&mut by_hand));
    println!("\n| case | runs | median ms |\n|---|---|---|");
    println!("| STATIC build through broker → agent → builder | {runs} | {w:.0} |");
    println!("| `podman build` by hand, same context | {runs} | {h:.0} |");
    println!("\nratio of medians: {:.2}x (goal <= 1.2x)", w / h);
}
