//! Benchmark: one discovery reconcile with N managed containers and no
//! change (the steady state every 2 s), against the real Podman and the
//! embedded SQLite store. Prints a table; asserts that nothing is written.
//!
//!   cargo bench -p coold --bench reconcile -- [N ...]   (default 50 500)
//!
//! Containers are created (not started) from the local busybox test image,
//! labelled managed, and removed at the end.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coold::discovery::{SqliteStore, Sync};
use coold::health::Health;
use coold::podman::Engine;

const IMAGE: &str = "localhost/coolify-test-busybox:latest";
const RUNS: usize = 21;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![50, 500]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let prefix = format!("bench-reconcile-{}", std::process::id());
    let mut created = 0usize;
    println!("| containers | reconciles | median ms | p90 ms | rows written |");
    println!("|---|---|---|---|---|");
    for n in sizes {
        while created < n {
            let name = format!("{prefix}-{created}");
            let out = Command::new("podman")
                .args([
                    "create",
                    "--name",
                    &name,
                    "--label",
                    "coolify.managed=true",
                    IMAGE,
                    "true",
                ])
                .output()
                .expect("podman");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            created += 1;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(SqliteStore::open(&dir.path().join("endpoints.db")).expect("store"));
        let engine =
            Engine::connect(std::path::Path::new("/run/podman/podman.sock")).expect("engine");
        let (mut sync, _handle) = Sync::new(
            engine,
            store,
            "198.18.200.1".into(),
            vec![],
            Duration::from_secs(2),
            Health::default(),
            true,
        );
        let first = rt.block_on(sync.reconcile()).expect("first reconcile");
        assert!(first.written >= n, "first reconcile writes every row");
        let mut times = Vec::new();
        let mut written = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let stats = rt.block_on(sync.reconcile()).expect("reconcile");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            written += stats.written;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {} | {RUNS} | {:.2} | {:.2} | {written} |",
            first.observed,
            times[RUNS / 2],
            times[RUNS * 9 / 10]
        );
        assert_eq!(written, 0, "a reconcile with no change must write nothing");
    }
    let names: Vec<String> = (0..created).map(|i| format!("{prefix}-{i}")).collect();
    for chunk in names.chunks(100) {
        let mut args = vec!["rm", "-f"];
        args.extend(chunk.iter().map(String::as_str));
        let _ = Command::new("podman").args(&args).output();
    }
}
