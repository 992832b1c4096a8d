//! DNS test support: a throwaway Podman network in 198.18.0.0/15 (DESIGN.md)
//! with DNS disabled, managed containers on it, a bounded DNS client, and a
//! fake upstream on 127.0.0.x. Everything is removed on drop, also when the
//! test fails.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{rdata::A, Name, RData, Record, RecordType};

pub const IMAGE: &str = "localhost/coolify-test-busybox:latest";

/// A unique-enough suffix for names of one test run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{:08x}",
        nanos ^ std::process::id().rotate_left(16)
    )
}

pub fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().expect("podman");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A Podman bridge network `/24` in 198.18.0.0/15, removed on drop
/// (`network rm -f` also removes containers still on it).
pub struct TestNetwork {
    pub name: String,
    pub gateway: Ipv4Addr,
    pub subnet: String,
    containers: Vec<String>,
}

impl TestNetwork {
    /// `dns`: false for namespace networks coold serves; true makes Podman
    /// run aardvark-dns on the gateway (the benchmark's peer).
    pub fn create(prefix: &str, dns: bool) -> TestNetwork {
        let name = unique(prefix);
        // Another test (or engineer) may hold a /24; try a few at random.
        for attempt in 0..20u32 {
            let r = (std::process::id()
                .wrapping_mul(2_654_435_761)
                .wrapping_add(attempt.wrapping_mul(40_503))
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos())
                % 512;
            let (second, third) = (18 + r / 256, r % 256);
            let subnet = format!("198.{second}.{third}.0/24");
            let gateway: Ipv4Addr = format!("198.{second}.{third}.1").parse().unwrap();
            let mut args = vec!["network", "create"];
            if !dns {
                args.push("--disable-dns");
            }
            let gw = gateway.to_string();
            args.extend_from_slice(&["--subnet", &subnet, "--gateway", &gw, &name]);
            let out = Command::new("podman").args(&args).output().expect("podman");
            if out.status.success() {
                return TestNetwork {
                    name,
                    gateway,
                    subnet,
                    containers: vec![],
                };
            }
        }
        panic!("could not create a test network in 198.18.0.0/15");
    }

    /// Runs a managed busybox container (`sleep 300`) in `namespace`;
    /// `extra` goes before the image (e.g. healthcheck flags).
    pub fn run_managed(&mut self, name: &str, namespace: &str, extra: &[&str]) -> String {
        self.containers.push(name.to_string());
        let ns_label = format!("coolify.namespace={namespace}");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &self.name,
            "--label",
            "coolify.managed=true",
            "--label",
            &ns_label,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "sleep", "300"]);
        podman(&args)
    }

    /// Runs a one-shot command in a throwaway container on this network.
    pub fn run_once(&self, cmd: &[&str]) -> (bool, String) {
        let mut args = vec!["run", "--rm", "--network", &self.name, IMAGE];
        args.extend_from_slice(cmd);
        let out = Command::new("podman").args(&args).output().expect("podman");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Whether the gateway address is on this host (netavark's bridge is up).
    pub fn bridge_up(&self) -> bool {
        let out = Command::new("ip")
            .args(["-4", "-o", "addr", "show"])
            .output()
            .expect("ip");
        String::from_utf8_lossy(&out.stdout).contains(&format!(" {}/", self.gateway))
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", c])
                .output();
        }
        let _ = Command::new("podman")
            .args(["network", "rm", "-f", &self.name])
            .output();
    }
}

/// One query over UDP, retried at most `tries` times with a 1 s timeout.
pub fn query(server: SocketAddr, name: &str, qtype: RecordType, tries: u32) -> Option<Message> {
    let sock = UdpSocket::bind(SocketAddr::new(
        if server.ip().is_loopback() {
            "127.0.0.1".parse().unwrap()
        } else {
            "0.0.0.0".parse().unwrap()
        },
        0,
    ))
    .ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut m = Message::new();
    let id = (std::process::id() as u16) ^ 0x5a5a;
    m.set_id(id).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let bytes = m.to_vec().unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..tries {
        if sock.send_to(&bytes, server).is_err() {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if let Ok(r) = Message::from_vec(&buf[..n]) {
                if r.id() == id {
                    return Some(r);
                }
            }
        }
    }
    None
}

/// One query over TCP (RFC 7766 framing), bounded by 2 s timeouts.
pub fn query_tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Option<Message> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&server, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut m = Message::new();
    m.set_id(0x7c7c).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let bytes = m.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    s.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).ok()?;
    Message::from_vec(&body).ok()
}

/// The A addresses of a reply.
pub fn addresses(m: &Message) -> Vec<Ipv4Addr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// Polls `f` every 200 ms until it returns `Some`, at most `within`.
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A fake upstream resolver on 127.0.0.x: answers every A query with
/// 198.18.255.7. Stops on drop.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

pub const FAKE_UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 7);

impl FakeUpstream {
    pub fn start(ip: &str) -> FakeUpstream {
        let sock = UdpSocket::bind(format!("{ip}:0")).expect("bind fake upstream");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut r = q.clone();
                r.set_message_type(MessageType::Response);
                if let Some(first) = q.queries().first() {
                    r.add_answer(Record::from_rdata(
                        first.name().clone(),
                        60,
                        RData::A(A(FAKE_UPSTREAM_ANSWER)),
                    ));
                }
                let _ = sock.send_to(&r.to_vec().unwrap(), from);
            }
        });
        FakeUpstream { addr, stop }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
