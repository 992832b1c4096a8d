//! Claim latency from a warm pool vs a cold claim of the same workload
//! (create + start + healthcheck on demand), measured alternately in the
//! same run so both see the same machine load. Prints p50/p99 and the
//! ratio of medians; asserts nothing.
//!
//! Between samples the bench waits for the pools to settle (refills done),
//! so a measurement never overlaps the previous one's background work.
//!
//! Run: `cargo bench -p coold --bench pools` (needs Podman and the test
//! image, like the integration tests). Goal: warm p50 ≤ 20 ms and ≥ 10×
//! faster than cold.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::pools::{wait_pool, PoolDirs, Workload};

const SAMPLES: usize = 30;
const SETTLE: Duration = Duration::from_secs(60);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn claim(c: &support::Coold, workload: &str, tenant: &str, cold: bool) -> Duration {
    let body = serde_json::json!({"workload": workload, "secrets": {"token": "t"}}).to_string();
    let started = Instant::now();
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/tenants/{tenant}/claim"),
        Some(&body),
    );
    let took = started.elapsed();
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["cold"], cold, "{v}");
    let (code, v) = c.json(
        "POST",
        &format!("/api/v1/tenants/{tenant}/release"),
        Some("{}"),
    );
    assert_eq!(code, 200, "{v}");
    took
}

fn main() {
    let dirs = PoolDirs::new();
    let c = dirs.start();
    let warm = Workload::new("bench-warm");
    let cold = Workload::new("bench-cold");
    for (w, min) in [(&warm, 1), (&cold, 0)] {
        let (code, v) = c.json("POST", "/api/v1/workloads", Some(&w.spec(min, 4)));
        assert_eq!(code, 201, "{v}");
    }
    let settled = |p: &serde_json::Value, min: u64| {
        p["idle"].as_u64() == Some(min) && p["claimed"] == 0 && p["pending"] == 0
    };
    let (mut warm_t, mut cold_t) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        wait_pool(&c, &warm.id, SETTLE, |p| settled(p, 1));
        wait_pool(&c, &cold.id, SETTLE, |p| settled(p, 0));
        warm_t.push(claim(&c, &warm.id, &format!("warm-{i}"), false));
        wait_pool(&c, &warm.id, SETTLE, |p| settled(p, 1));
        cold_t.push(claim(&c, &cold.id, &format!("cold-{i}"), true));
    }
    warm_t.sort();
    cold_t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("claim latency, {SAMPLES} samples each, alternating (busybox, healthcheck `true`)");
    println!("| path | p50 ms | p99 ms | min ms | max ms |");
    println!("|---|---|---|---|---|");
    for (name, t) in [
        ("warm pool", &warm_t),
        ("cold (create+start+healthy)", &cold_t),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.99)),
            ms(t[0]),
            ms(t[t.len() - 1])
        );
    }
    println!(
        "cold p50 / warm p50 = {:.1}x (goal ≥ 10x; warm p50 goal ≤ 20 ms)",
        ms(percentile(&cold_t, 0.5)) / ms(percentile(&warm_t, 0.5))
    );
}
