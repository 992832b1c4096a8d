//! Dispatch benchmark: round trips per second and latency through
//! UDS → broker → agent stream → back, at 1, 100 and 1 000 connected hosts,
//! and the broker's memory with 10 000 idle streams.
//!
//! The broker is the real release binary in its own process (so its RSS is
//! its own); the simulated agents (one TLS connection and stream each, as a
//! real fleet would have) and the load generator share this process. The
//! agents answer every frame at once with a small JSON body: the "cheap
//! verb", so the figures are the broker path, not Podman.
//!
//! Run: `cargo bench -p coolify-broker --bench dispatch` (prints a table).
//! Env: BENCH_SECS (default 5), BENCH_CONCURRENCY (default "16,64"),
//! BENCH_RATE (the paced row's offered dispatches/s, default 10000),
//! BENCH_IDLE_STREAMS (default 10000), BENCH_HOLD_SECS (keep the idle
//! streams open that long at the end), BENCH_WORKERS (this process's tokio
//! worker threads, default 2), BENCH_BROKER_WRAP (a command to run
//! the broker under, such as `heaptrack`; its RSS is then the wrapper's).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use coolify_proto::v1::{ClientMsg, Response, ServerMsg};
use http_body_util::{BodyExt, Full};

#[path = "../tests/support/mod.rs"]
mod support;
use support::Pki;

fn start_broker(pki: &Pki, port: u16) -> (Child, PathBuf) {
    let socket = pki.dir.path().join("broker.sock");
    // BENCH_BROKER_WRAP runs the broker under a profiler (e.g. `heaptrack`).
    let bin = env!("CARGO_BIN_EXE_coolify-broker");
    let mut cmd = match std::env::var("BENCH_BROKER_WRAP") {
        Ok(wrap) if !wrap.is_empty() => {
            let mut c = Command::new(wrap);
            c.arg(bin);
            c
        }
        _ => Command::new(bin),
    };
    let child = cmd
        .env("BROKER_GRPC_BIND", format!("127.0.0.1:{port}"))
        .env("BROKER_UNIX_SOCKET_PATH", &socket)
        .env("BROKER_JWT_PUBLIC_KEY_PATH", pki.dir.path().join("jwt.pub"))
        .env("BROKER_TLS_CERT", pki.dir.path().join("broker.crt"))
        .env("BROKER_TLS_KEY", pki.dir.path().join("broker.key"))
        .env("BROKER_LOG_LEVEL", "warn")
        .env("BROKER_PENDING_MAX", "100000")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "broker not up");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, socket)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time (ns) summed over every thread of `pid`
/// (`/proc/<pid>/task/*/schedstat`): which process a row's time went to.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The cheap verb: every frame answered at once with a small JSON body.
fn answer(msg: &ServerMsg) -> Response {
    Response {
        request_id: msg.request_id.clone(),
        status: 200,
        body: br#"{"ok":true}"#.to_vec(),
        error: String::new(),
    }
}

async fn connect_agents(
    pki: &Pki,
    port: u16,
    range: std::ops::Range<usize>,
    keep: &mut Vec<tokio::sync::mpsc::Sender<ClientMsg>>,
) {
    // Bounded parallelism: handshakes are CPU work on both sides.
    let ca = Arc::new(pki.ca.clone());
    let mut set = tokio::task::JoinSet::new();
    for i in range {
        let host = format!("host-{i}");
        let token = support::token(pki, &host);
        let ca = ca.clone();
        set.spawn(async move { support::agent(port, &ca, token, host, answer).await });
        if set.len() >= 64 {
            keep.push(set.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(r) = set.join_next().await {
        keep.push(r.unwrap());
    }
}

async fn wait_streams(socket: &Path, n: usize) {
    let started = Instant::now();
    loop {
        let mut sender = support::uds_client(socket).await;
        let resp = sender
            .send_request(
                http::Request::get("/v1/health")
                    .header("host", "broker")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if v["streams"].as_u64() == Some(n as u64) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "streams: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Run {
    count: usize,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    errors: usize,
}

/// `concurrency` keep-alive UDS connections dispatching to hosts
/// round-robin for `secs`: each as fast as it can (closed loop), or, with
/// `rate`, request k at `k / rate` seconds after the start (open loop: a
/// request's latency counts from its scheduled time, so time spent waiting
/// for a free connection is in it, and at most `concurrency` are in flight).
async fn load(
    socket: &Path,
    hosts: usize,
    concurrency: usize,
    secs: u64,
    rate: Option<f64>,
) -> Run {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let socket = socket.to_path_buf();
        let next = next.clone();
        set.spawn(async move {
            let mut sender = support::uds_client(&socket).await;
            let mut lat = Vec::with_capacity(100_000);
            let mut errors = 0;
            let mut i = worker;
            while Instant::now() < deadline {
                let (host, t) = match rate {
                    None => {
                        i += concurrency;
                        (i - concurrency, Instant::now())
                    }
                    Some(rate) => {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let at = started + Duration::from_secs_f64(k as f64 / rate);
                        if at >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(at.into()).await;
                        (k, at)
                    }
                };
                let body = format!(
                    r#"{{"host_id":"host-{}","method":"GET","path":"/api/v1/host/info"}}"#,
                    host % hosts
                );
                let resp = support::post_dispatch(&mut sender, body).await;
                let status = resp.status();
                let ok = status == 200;
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                if !ok && errors == 0 && worker == 0 {
                    eprintln!("first non-200: {status} {}", String::from_utf8_lossy(&body));
                }
                lat.push(t.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        let (lat, e) = r.unwrap();
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Run {
        count: all.len(),
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        errors,
    }
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let conc: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "16,64".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let idle: usize = std::env::var("BENCH_IDLE_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // The simulated agents and the load generator share this runtime and
    // the machine's cores with the broker; BENCH_WORKERS shows how much of
    // a row's tail is this process's threads competing with the broker's.
    let workers: usize = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&w| w > 0)
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let pki = support::pki();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut broker, socket) = start_broker(&pki, port);
    rt.block_on(async {
        let mut agents = Vec::new();
        println!("dispatch round trips (UDS → broker → agent stream → back), {secs} s per row");
        println!("| hosts | concurrency | dispatches/s | p50 ms | p99 ms | non-200 | broker CPU µs/dispatch | bench CPU µs/dispatch |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
        // An empty BENCH_CONCURRENCY measures only the idle streams.
        let rows: &[usize] = if conc.is_empty() { &[] } else { &[1, 100, 1000] };
        for &hosts in rows {
            let have = agents.len();
            connect_agents(&pki, port, have..hosts, &mut agents).await;
            wait_streams(&socket, hosts).await;
            for &c in &conc {
                let cpu = (cpu_ns(broker.id()), cpu_ns(std::process::id()));
                let r = load(&socket, hosts, c, secs, None).await;
                let n = r.count.max(1) as f64 * 1000.0;
                println!(
                    "| {hosts} | {c} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {:.1} |",
                    r.rps,
                    r.p50_us as f64 / 1000.0,
                    r.p99_us as f64 / 1000.0,
                    r.errors,
                    (cpu_ns(broker.id()) - cpu.0) as f64 / n,
                    (cpu_ns(std::process::id()) - cpu.1) as f64 / n
                );
            }
        }
        // The goal's operating point, paced: BENCH_RATE dispatches/s (default
        // 10000, the throughput goal) to the 1 000 hosts, latency from each
        // request's scheduled start (tokio's timer adds up to 1 ms to it).
        if !rows.is_empty() {
            let rate: f64 = std::env::var("BENCH_RATE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000.0);
            let hosts = *rows.last().unwrap_or(&1);
            let c = conc.iter().copied().max().unwrap_or(64);
            let r = load(&socket, hosts, c, secs, Some(rate)).await;
            println!();
            println!("paced (open loop) at {rate:.0}/s offered, up to {c} in flight:");
            println!("| hosts | offered/s | done/s | p50 ms | p99 ms | non-200 |");
            println!("|---:|---:|---:|---:|---:|---:|");
            println!(
                "| {hosts} | {rate:.0} | {:.0} | {:.2} | {:.2} | {} |",
                r.rps,
                r.p50_us as f64 / 1000.0,
                r.p99_us as f64 / 1000.0,
                r.errors
            );
        }
        drop(agents);
        // Memory with idle streams: a fresh broker, baseline RSS, then
        // `idle` streams (one TLS connection each) and RSS again. Without
        // load rows the first broker is still fresh.
        if !rows.is_empty() {
            let _ = broker.kill();
            let _ = broker.wait();
            let _ = std::fs::remove_file(&socket);
            tokio::time::sleep(Duration::from_millis(300)).await;
            broker = start_broker(&pki, port).0;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kib(broker.id());
        let mut idle_agents = Vec::new();
        let t = Instant::now();
        connect_agents(&pki, port, 0..idle, &mut idle_agents).await;
        wait_streams(&socket, idle).await;
        let connect_secs = t.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(broker.id());
        println!();
        println!(
            "idle streams: {idle} connected in {connect_secs:.1} s; broker RSS {before} KiB → {after} KiB; {:.1} KiB per idle stream (TLS connection + HTTP/2 stream + handle)",
            (after.saturating_sub(before)) as f64 / idle as f64
        );
        // BENCH_HOLD_SECS keeps the idle streams open for a look from
        // outside (gdb, /proc/<pid>/smaps) before they are dropped.
        let hold: u64 = std::env::var("BENCH_HOLD_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if hold > 0 {
            println!("holding {hold} s; broker pid {}", broker.id());
            tokio::time::sleep(Duration::from_secs(hold)).await;
        }
        drop(idle_agents);
    });
    let _ = broker.kill();
    let _ = broker.wait();
}
