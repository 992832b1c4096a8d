//! `GET /containers/{id}` through the agent vs straight to the Podman
//! socket, with the same client (HTTP/1.1 keep-alive, one request at a
//! time): ratio of medians and the latency the agent adds at p99.
//!
//! The direct path asks what the agent itself asks (libpod's container
//! inspect), so the difference is the agent: TCP hop, auth, routing, one
//! fresh engine connection, the JSON transform.
//!
//! Run: `cargo bench -p coold --bench inspect` (needs Podman and the test
//! image, like the integration tests). Prints a table; asserts nothing.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use support::{unique, wait_for_state, Coold, PodmanGuard, TEST_IMAGE, TOKEN};

const WARMUP: usize = 200;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 400;

/// A minimal keep-alive HTTP/1.1 client over any stream.
struct Client<S: Read + Write> {
    reader: BufReader<S>,
    host: &'static str,
    auth: Option<String>,
}

impl<S: Read + Write> Client<S> {
    fn get(&mut self, path: &str) -> (u16, usize) {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(a) = &self.auth {
            req.push_str(&format!("Authorization: Bearer {a}\r\n"));
        }
        req.push_str("\r\n");
        self.reader
            .get_mut()
            .write_all(req.as_bytes())
            .expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut len, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if l.starts_with("transfer-encoding:") && l.contains("chunked") {
                chunked = true;
            }
        }
        let mut total = 0;
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).expect("chunk size");
                let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut buf = vec![0; n + 2];
                self.reader.read_exact(&mut buf).expect("chunk");
                total += n;
                if n == 0 {
                    break;
                }
            }
        } else {
            let mut buf = vec![0; len];
            self.reader.read_exact(&mut buf).expect("body");
            total = len;
        }
        (status, total)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU time (ns) and times scheduled onto a CPU, summed over every thread
/// of `pid` (`/proc/<pid>/task/*/schedstat`). CPU per request is a figure a
/// busy shared machine barely moves, unlike wall-clock latency.
fn cpu_of(pid: u32) -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return total;
    };
    for t in tasks.flatten() {
        let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) else {
            continue;
        };
        let f: Vec<u64> = s
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() == 3 {
            total.0 += f[0];
            total.1 += f[2];
        }
    }
    total
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes flags such as `--bench`; nothing to parse.
    let c = Coold::start(&[]);
    let mut guard = PodmanGuard::default();
    let name = guard.container(&unique("bench-inspect"));
    let body = serde_json::json!({"name": name, "image": TEST_IMAGE, "cmd": ["sleep", "600"]});
    let (code, v) = c.json("POST", "/api/v1/containers", Some(&body.to_string()));
    assert_eq!(code, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(
        c.json("POST", &format!("/api/v1/containers/{id}/start"), None)
            .0,
        204
    );
    wait_for_state(&c, &id, Duration::from_secs(20), |v| {
        v["state"]["running"] == true
    });

    let socket =
        std::env::var("COOLD_PODMAN_SOCKET").unwrap_or_else(|_| "/run/podman/podman.sock".into());
    let tcp = TcpStream::connect(c.api).expect("agent");
    tcp.set_nodelay(true).expect("nodelay");
    let mut agent = Client {
        reader: BufReader::new(tcp),
        host: "coold",
        auth: Some(TOKEN.to_string()),
    };
    let mut direct = Client {
        reader: BufReader::new(UnixStream::connect(&socket).expect("podman socket")),
        host: "engine",
        auth: None,
    };
    let agent_path = format!("/api/v1/containers/{id}");
    let direct_path = format!("/v4.0.0/libpod/containers/{id}/json");

    for _ in 0..WARMUP {
        assert_eq!(agent.get(&agent_path).0, 200);
        assert_eq!(direct.get(&direct_path).0, 200);
    }
    // coold's background loops (discovery, health pings) run meanwhile:
    // their CPU rate while idle is taken off the per-request figure.
    let idle_from = (Instant::now(), cpu_of(c.child.id()));
    std::thread::sleep(Duration::from_secs(3));
    let idle_ns_per_s =
        (cpu_of(c.child.id()).0 - idle_from.1 .0) as f64 / idle_from.0.elapsed().as_secs_f64();
    let (mut a, mut d) = (Vec::new(), Vec::new());
    let cpu_before = cpu_of(c.child.id());
    let measured_from = Instant::now();
    let (mut a_bytes, mut d_bytes) = (0, 0);
    // Alternate request by request, and which side goes first, so that
    // drift in the machine's load (it is shared) hits both sides alike.
    for i in 0..ROUNDS * PER_ROUND {
        let mut one = |agent_side: bool| {
            let t = Instant::now();
            let (s, n) = if agent_side {
                agent.get(&agent_path)
            } else {
                direct.get(&direct_path)
            };
            let took = t.elapsed();
            assert_eq!(s, 200);
            (agent_side, took, n)
        };
        for side in [i % 2 == 0, i % 2 == 1] {
            let (is_agent, took, n) = one(side);
            if is_agent {
                a.push(took);
                a_bytes = n;
            } else {
                d.push(took);
                d_bytes = n;
            }
        }
    }
    let cpu_after = cpu_of(c.child.id());
    let idle_ns = idle_ns_per_s * measured_from.elapsed().as_secs_f64();
    a.sort();
    d.sort();
    let (a50, d50) = (percentile(&a, 0.5), percentile(&d, 0.5));
    let (a99, d99) = (percentile(&a, 0.99), percentile(&d, 0.99));
    println!(
        "GET /containers/{{id}}: {} requests per side, keep-alive, one at a time",
        a.len()
    );
    println!(
        "{:<28}{:>10}{:>10}{:>10}{:>10}",
        "path", "p50 ms", "p90 ms", "p99 ms", "bytes"
    );
    println!(
        "{:<28}{:>10.3}{:>10.3}{:>10.3}{:>10}",
        "podman socket (libpod)",
        ms(d50),
        ms(percentile(&d, 0.9)),
        ms(d99),
        d_bytes
    );
    println!(
        "{:<28}{:>10.3}{:>10.3}{:>10.3}{:>10}",
        "coold REST",
        ms(a50),
        ms(percentile(&a, 0.9)),
        ms(a99),
        a_bytes
    );
    println!(
        "ratio of medians (agent / direct): {:.3}",
        a50.as_secs_f64() / d50.as_secs_f64()
    );
    println!(
        "agent-added latency at p99 (p99 agent - p99 direct): {:.3} ms",
        ms(a99) - ms(d99)
    );
    println!("agent-added latency at p50: {:.3} ms", ms(a50) - ms(d50));
    let n = a.len() as f64;
    println!(
        "coold per request: {:.1} µs CPU ({:.1} µs/s idle background taken off), {:.2} times scheduled (all threads)",
        ((cpu_after.0 - cpu_before.0) as f64 - idle_ns).max(0.0) / n / 1000.0,
        idle_ns_per_s / 1000.0,
        (cpu_after.1 - cpu_before.1) as f64 / n
    );
}
