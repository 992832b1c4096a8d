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
//! `COOLD_TEST_BIN=<path>` measures another coold build instead of this
//! one; `COOLD_BENCH_BASELINE=<path>` adds a second agent from that build,
//! asked in the same alternation, so two builds are compared under the
//! same machine load (a shared machine's load swings more between runs
//! than the differences worth measuring).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use support::{coold_bin, unique, wait_for_state, Coold, PodmanGuard, TEST_IMAGE, TOKEN};

/// One way to ask for the container: straight at the engine, or through
/// one agent.
struct Side {
    name: String,
    client: Box<dyn FnMut() -> (u16, usize)>,
    agent: Option<u32>,
    samples: Vec<Duration>,
    bytes: usize,
    idle_ns_per_s: f64,
    cpu_before: (u64, u64),
    cpu_after: (u64, u64),
}

fn agent_side(name: String, c: &Coold, path: String) -> Side {
    let tcp = TcpStream::connect(c.api).expect("agent");
    tcp.set_nodelay(true).expect("nodelay");
    let mut client = Client {
        reader: BufReader::new(tcp),
        host: "coold",
        auth: Some(TOKEN.to_string()),
    };
    Side {
        name,
        client: Box::new(move || client.get(&path)),
        agent: Some(c.child.id()),
        samples: Vec::new(),
        bytes: 0,
        idle_ns_per_s: 0.0,
        cpu_before: (0, 0),
        cpu_after: (0, 0),
    }
}

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
    let mut agents = vec![(coold_bin(), Coold::start(&[]))];
    if let Some(base) = std::env::var_os("COOLD_BENCH_BASELINE") {
        let base = std::path::PathBuf::from(base);
        let c = Coold::start_bin(&base, &[]);
        agents.push((base, c));
    }
    let c = &agents[0].1;
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
    wait_for_state(c, &id, Duration::from_secs(20), |v| {
        v["state"]["running"] == true
    });

    let socket =
        std::env::var("COOLD_PODMAN_SOCKET").unwrap_or_else(|_| "/run/podman/podman.sock".into());
    let mut direct = Client {
        reader: BufReader::new(UnixStream::connect(&socket).expect("podman socket")),
        host: "engine",
        auth: None,
    };
    let direct_path = format!("/v4.0.0/libpod/containers/{id}/json");
    let mut sides = vec![Side {
        name: "podman socket (libpod)".into(),
        client: Box::new(move || direct.get(&direct_path)),
        agent: None,
        samples: Vec::new(),
        bytes: 0,
        idle_ns_per_s: 0.0,
        cpu_before: (0, 0),
        cpu_after: (0, 0),
    }];
    let labels = ["coold REST", "coold REST (baseline)"];
    for ((_, agent), label) in agents.iter().zip(labels) {
        sides.push(agent_side(
            label.into(),
            agent,
            format!("/api/v1/containers/{id}"),
        ));
    }

    for _ in 0..WARMUP {
        for side in sides.iter_mut() {
            assert_eq!((side.client)().0, 200, "{}", side.name);
        }
    }
    // coold's background loops (discovery, health pings) run meanwhile:
    // their CPU rate while idle is taken off the per-request figure.
    let idle_from = Instant::now();
    let before: Vec<_> = sides.iter().map(|s| s.agent.map(cpu_of)).collect();
    std::thread::sleep(Duration::from_secs(3));
    for (side, before) in sides.iter_mut().zip(before) {
        if let (Some(pid), Some(before)) = (side.agent, before) {
            side.idle_ns_per_s =
                (cpu_of(pid).0 - before.0) as f64 / idle_from.elapsed().as_secs_f64();
            side.cpu_before = cpu_of(pid);
        }
    }
    let measured_from = Instant::now();
    // Alternate request by request, rotating which side goes first, so
    // that drift in the machine's load (it is shared) hits every side alike.
    let n = sides.len();
    for i in 0..ROUNDS * PER_ROUND {
        for k in 0..n {
            let side = &mut sides[(i + k) % n];
            let t = Instant::now();
            let (status, bytes) = (side.client)();
            let took = t.elapsed();
            assert_eq!(status, 200, "{}", side.name);
            side.samples.push(took);
            side.bytes = bytes;
        }
    }
    let measured = measured_from.elapsed().as_secs_f64();
    for side in sides.iter_mut() {
        if let Some(pid) = side.agent {
            side.cpu_after = cpu_of(pid);
        }
        side.samples.sort();
    }
    println!(
        "GET /containers/{{id}}: {} requests per side, keep-alive, one at a time",
        sides[0].samples.len()
    );
    for (bin, _) in &agents {
        println!("agent build: {}", bin.display());
    }
    println!(
        "load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim_end()
    );
    println!(
        "{:<28}{:>10}{:>10}{:>10}{:>10}",
        "path", "p50 ms", "p90 ms", "p99 ms", "bytes"
    );
    for side in &sides {
        println!(
            "{:<28}{:>10.3}{:>10.3}{:>10.3}{:>10}",
            side.name,
            ms(percentile(&side.samples, 0.5)),
            ms(percentile(&side.samples, 0.9)),
            ms(percentile(&side.samples, 0.99)),
            side.bytes
        );
    }
    let direct = &sides[0].samples;
    let (d50, d99) = (percentile(direct, 0.5), percentile(direct, 0.99));
    for side in &sides[1..] {
        let (a50, a99) = (
            percentile(&side.samples, 0.5),
            percentile(&side.samples, 0.99),
        );
        println!("{}:", side.name);
        println!(
            "  ratio of medians (agent / direct): {:.3}",
            a50.as_secs_f64() / d50.as_secs_f64()
        );
        println!(
            "  agent-added latency at p99 (p99 agent - p99 direct): {:.3} ms",
            ms(a99) - ms(d99)
        );
        println!("  agent-added latency at p50: {:.3} ms", ms(a50) - ms(d50));
        let count = side.samples.len() as f64;
        let idle_ns = side.idle_ns_per_s * measured;
        println!(
            "  coold per request: {:.1} µs CPU ({:.1} µs/s idle background taken off), {:.2} times scheduled (all threads)",
            ((side.cpu_after.0 - side.cpu_before.0) as f64 - idle_ns).max(0.0) / count / 1000.0,
            side.idle_ns_per_s / 1000.0,
            (side.cpu_after.1 - side.cpu_before.1) as f64 / count
        );
    }
}
