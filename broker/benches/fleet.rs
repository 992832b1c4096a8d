//! Fleet listing benchmark (issue 16): how long `coolify fleet`, and the
//! `GET /v1/hosts` it makes, take with 1 000 hosts connected (goal ≤ 100 ms).
//!
//! The broker is the real release binary in its own process; the simulated
//! agents (one TLS connection and stream each, `tests/support`) live in this
//! process, every fourth one advertising `builder` with 2 slots so the list
//! carries both shapes of host. Each `GET /v1/hosts` opens its own UDS
//! connection, as the CLI does; the CLI rows run the `coolify` binary
//! (`COOLIFY_BIN`, else `coolify` beside this bench's profile dir), process
//! start included.
//!
//! Run: `cargo bench -p coolify-broker --bench fleet` (prints a table).
//! Env: BENCH_HOSTS (default 1000), BENCH_ROUNDS (lane requests, default
//! 200; CLI runs are a tenth of it), COOLIFY_BIN.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use coolify_proto::v1::{ClientMsg, Hello};
use http_body_util::{BodyExt, Full};

#[path = "../tests/support/mod.rs"]
mod support;
use support::Pki;

fn start_broker(pki: &Pki, port: u16) -> (Child, PathBuf) {
    let socket = pki.dir.path().join("broker.sock");
    let child = Command::new(env!("CARGO_BIN_EXE_coolify-broker"))
        .env("BROKER_GRPC_BIND", format!("127.0.0.1:{port}"))
        .env("BROKER_UNIX_SOCKET_PATH", &socket)
        .env("BROKER_JWT_PUBLIC_KEY_PATH", pki.dir.path().join("jwt.pub"))
        .env("BROKER_TLS_CERT", pki.dir.path().join("broker.crt"))
        .env("BROKER_TLS_KEY", pki.dir.path().join("broker.key"))
        .env("BROKER_REVOCATIONS_PATH", pki.dir.path().join("rev.json"))
        .env("BROKER_BUILDS_PATH", pki.dir.path().join("builds.json"))
        .env("BROKER_LOG_LEVEL", "warn")
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

/// `n` simulated agents; every fourth a builder with 2 free slots.
async fn connect_agents(
    pki: &Pki,
    port: u16,
    n: usize,
) -> Vec<tokio::sync::mpsc::Sender<ClientMsg>> {
    let ca = Arc::new(pki.ca.clone());
    let mut keep = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let host = format!("host-{i:04}");
        let builder = i % 4 == 0;
        let caps: Vec<String> = if builder {
            vec!["builder".into()]
        } else {
            vec![]
        };
        let token = support::token_with_caps(pki, &host, &caps);
        let hello = Hello {
            host_id: host,
            version: "bench".into(),
            capabilities: caps,
            builder_capacity: if builder { 2 } else { 0 },
        };
        let ca = ca.clone();
        set.spawn(async move {
            support::agent_saying(port, &ca, token, hello, support::ok)
                .await
                .unwrap()
                .0
        });
        // Bounded parallelism: handshakes are CPU work on both sides.
        if set.len() >= 64 {
            keep.push(set.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(r) = set.join_next().await {
        keep.push(r.unwrap());
    }
    keep
}

/// `GET /v1/hosts` on a new UDS connection: the body.
async fn get_hosts(socket: &Path) -> Bytes {
    let mut sender = support::uds_client(socket).await;
    let resp = sender
        .send_request(
            http::Request::get("/v1/hosts")
                .header("host", "broker")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap().to_bytes()
}

/// p50, p99 and max of `samples`, in ms.
fn summary(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    (ms(pct(0.50)), ms(pct(0.99)), ms(*samples.last().unwrap()))
}

fn coolify_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("COOLIFY_BIN") {
        return Some(PathBuf::from(p));
    }
    // target/<profile>/deps/fleet-… → target/<profile>/coolify
    let exe = std::env::current_exe().ok()?;
    let beside = exe.parent()?.parent()?.join("coolify");
    beside.is_file().then_some(beside)
}

fn main() {
    let hosts: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&r| r >= 10)
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
        let t = Instant::now();
        let agents = connect_agents(&pki, port, hosts).await;
        // Every stream registered: the list has them all.
        loop {
            let v: serde_json::Value = serde_json::from_slice(&get_hosts(&socket).await).unwrap();
            if v["count"].as_u64() == Some(hosts as u64) {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(120), "count: {}", v["count"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!("fleet listing with {hosts} hosts connected (in {:.1} s)", t.elapsed().as_secs_f64());
        println!("| what | runs | answer bytes | p50 ms | p99 ms | max ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        let mut samples = Vec::with_capacity(rounds);
        let mut size = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            size = get_hosts(&socket).await.len();
            samples.push(t.elapsed());
        }
        let (p50, p99, max) = summary(samples);
        println!("| `GET /v1/hosts` (new UDS connection each) | {rounds} | {size} | {p50:.2} | {p99:.2} | {max:.2} |");

        match coolify_bin() {
            Some(bin) => {
                for (what, args) in [
                    ("`coolify fleet -o json`", &["fleet", "-o", "json"][..]),
                    ("`coolify fleet` (table)", &["fleet"][..]),
                ] {
                    let runs = rounds / 10;
                    let mut samples = Vec::with_capacity(runs);
                    let mut size = 0;
                    for _ in 0..runs {
                        let t = Instant::now();
                        let out = tokio::process::Command::new(&bin)
                            .args(args)
                            .arg("--socket")
                            .arg(&socket)
                            .output()
                            .await
                            .unwrap();
                        samples.push(t.elapsed());
                        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                        size = out.stdout.len();
                    }
                    let (p50, p99, max) = summary(samples);
                    println!("| {what} (process start included) | {runs} | {size} | {p50:.2} | {p99:.2} | {max:.2} |");
                }
                println!("CLI: {}", bin.display());
            }
            None => println!(
                "no coolify binary: set COOLIFY_BIN (cargo build -p coolify-cli) for the CLI rows"
            ),
        }
        drop(agents);
    });
    let _ = broker.kill();
    let _ = broker.wait();
}
