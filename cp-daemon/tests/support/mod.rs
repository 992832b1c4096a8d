//! Test support for coold's integration tests: start the real `coold`
//! binary on loopback with ports, token and paths of its own, talk HTTP to
//! it, and stop it. Shared by every test file (`mod support;`).
#![allow(dead_code)]

pub mod broker;
pub mod builds;
pub mod corrosion;
pub mod dns;
pub mod pools;
pub mod s3;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-token-0123456789abcdef0123456789abcdef";

/// A loopback port never handed out twice in this process: the one
/// registry the Corrosion helper (`coolify_tests`) also takes its ports
/// from, so an agent and a coold of one test never get the same port.
pub fn free_port() -> u16 {
    coolify_tests::free_port()
}

/// The coold binary under test: this build's, or `COOLD_TEST_BIN` (the
/// benchmarks use it to compare two builds side by side in one session).
pub fn coold_bin() -> PathBuf {
    std::env::var_os("COOLD_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_coold")))
}

/// A running coold with its own ports and files.
pub struct Coold {
    pub child: Child,
    pub api: SocketAddr,
    pub health: SocketAddr,
    pub dir: tempfile::TempDir,
    /// The last of coold's stderr, drained by a thread: an unread pipe
    /// would fill after a few hundred request logs and stall the agent.
    pub stderr: std::sync::Arc<Mutex<String>>,
}

/// Keeps reading `stream` into a bounded buffer until it closes.
fn drain_stderr(child: &mut Child) -> std::sync::Arc<Mutex<String>> {
    const KEEP: usize = 64 * 1024;
    let buf = std::sync::Arc::new(Mutex::new(String::new()));
    if let Some(mut err) = child.stderr.take() {
        let buf = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = err.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut b = buf.lock().unwrap_or_else(|p| p.into_inner());
                b.push_str(&String::from_utf8_lossy(&chunk[..n]));
                if b.len() > 2 * KEEP {
                    let mut cut = b.len() - KEEP;
                    while !b.is_char_boundary(cut) {
                        cut += 1;
                    }
                    b.drain(..cut);
                }
            }
        });
    }
    buf
}

impl Coold {
    /// Starts coold with the REST API on loopback (no TLS) and waits until
    /// `/healthz` is 200. `env` adds or overrides variables.
    pub fn start(env: &[(&str, &str)]) -> Coold {
        Self::start_bin(&coold_bin(), env)
    }

    /// Like [`Coold::start`], from the coold binary at `bin`.
    pub fn start_bin(bin: &std::path::Path, env: &[(&str, &str)]) -> Coold {
        let mut c = Self::spawn_bin(bin, env);
        c.wait_healthy(Duration::from_secs(15));
        c
    }

    /// Like [`Coold::start`] but waits only for the REST port, for agents
    /// whose engine is meant to be down.
    pub fn start_unhealthy(env: &[(&str, &str)]) -> Coold {
        let c = Self::spawn(env);
        let started = Instant::now();
        while TcpStream::connect(c.api).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "coold API not listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    /// Spawns coold with ports, token and paths of its own.
    fn spawn(env: &[(&str, &str)]) -> Coold {
        Self::spawn_bin(&coold_bin(), env)
    }

    fn spawn_bin(bin: &std::path::Path, env: &[(&str, &str)]) -> Coold {
        let dir = tempfile::tempdir().expect("temp dir");
        let token_file = dir.path().join("api-token");
        std::fs::write(&token_file, TOKEN).expect("token file");
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let health: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("COOLD_HOST_MGMT_IP", "127.0.0.1")
            .env("COOLD_API_BIND", api.to_string())
            .env("COOLD_API_TOKEN_FILE", &token_file)
            .env("COOLD_HEALTH_BIND", health.to_string())
            .env("COOLD_RULES_PATH", dir.path().join("allow.rules"))
            .env("COOLD_BRIDGE_RULES_PATH", dir.path().join("allow.nft"))
            .env("COOLD_DRAIN_TIMEOUT", "3s")
            // Never write the host's own chains: tests that want the
            // firewall run inside a private netns and pass COOLD_FIREWALL=on.
            .env("COOLD_FIREWALL", "off")
            .env("COOLD_DATA_DIR", dir.path().join("data"))
            .env("COOLD_RUNTIME_DIR", dir.path().join("runtimes"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn coold");
        let stderr = drain_stderr(&mut child);
        Coold {
            child,
            api,
            health,
            dir,
            stderr,
        }
    }

    /// An authenticated request whose answer body is JSON (or empty).
    pub fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let (code, text) = self.request(method, path, body);
        let v = if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (code, v)
    }

    fn wait_healthy(&mut self, within: Duration) {
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = http(self.health, "GET", "/healthz", &[], None) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                let err = self
                    .stderr
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                panic!("coold exited with {status} before it was healthy:\n{err}");
            }
            assert!(
                started.elapsed() < within,
                "coold not healthy within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An authenticated request to the REST API.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        http(
            self.api,
            method,
            path,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            body,
        )
        .expect("request")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal coold");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "coold did not exit within {within:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Coold {
    fn drop(&mut self) {
        // SIGTERM first: the agent then stops the runtime services it
        // started. SIGKILL only if it does not go in time.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(8) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A name no other test or run uses: `prefix-<pid>-<n>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// The local test image (scripts/build-test-images).
pub const TEST_IMAGE: &str = "localhost/coolify-test-busybox:latest";

/// Removes, when dropped (so also when a test fails), the Podman objects a
/// test created, through the podman CLI so that it works whatever state
/// the agent is in.
#[derive(Default)]
pub struct PodmanGuard {
    containers: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
}

impl PodmanGuard {
    pub fn container(&mut self, name: &str) -> String {
        self.containers.push(name.to_string());
        name.to_string()
    }
    pub fn volume(&mut self, name: &str) -> String {
        self.volumes.push(name.to_string());
        name.to_string()
    }
    pub fn network(&mut self, name: &str) -> String {
        self.networks.push(name.to_string());
        name.to_string()
    }
}

fn podman_quiet(args: &[&str]) {
    let _ = Command::new("podman")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for PodmanGuard {
    fn drop(&mut self) {
        for c in &self.containers {
            podman_quiet(&["rm", "-f", "-t", "0", c]);
        }
        for v in &self.volumes {
            podman_quiet(&["volume", "rm", "-f", v]);
        }
        for n in &self.networks {
            podman_quiet(&["network", "rm", "-f", n]);
        }
    }
}

/// Polls `GET /containers/{id}` until `pred` holds (bounded).
pub fn wait_for_state(
    c: &Coold,
    id: &str,
    within: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    poll_json(c, &format!("/api/v1/containers/{id}"), within, pred)
}

/// Polls `GET path` until `pred` holds on its 200 answer (bounded).
pub fn poll_json(
    c: &Coold,
    path: &str,
    within: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (code, v) = c.json("GET", path, None);
        assert_eq!(code, 200, "{v}");
        if pred(&v) {
            return v;
        }
        assert!(
            started.elapsed() < within,
            "{path} did not reach the state within {within:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 request over a fresh connection: `(status, body)`.
/// Handles `Content-Length` and chunked bodies.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    Ok((
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        },
    ))
}

/// Decodes a chunked body (shared with the UDS client).
pub fn dechunk_pub(s: &str) -> String {
    dechunk(s)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Set in the child that runs a test body inside a private network
/// namespace; holds the parent's netns so the child can prove it left it.
const NETNS_MARKER: &str = "COOLD_TEST_PARENT_NETNS";

fn own_netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.display().to_string())
        .expect("read /proc/self/ns/net")
}

/// Runs the calling test in a fresh private network namespace, so real
/// iptables/nft can be used without touching the host's chains.
///
/// Usage, first line of a test: `if !in_private_netns("test_name") { return; }`.
/// In the parent it re-executes this test binary (`<name> --exact`) under
/// `unshare --net`, asserts the child passed, and returns `false`. In the
/// child it checks the netns differs from the parent's, brings `lo` up and
/// returns `true`. The namespace dies with the child, even on failure.
pub fn in_private_netns(test: &str) -> bool {
    if let Ok(parent) = std::env::var(NETNS_MARKER) {
        assert_ne!(
            own_netns(),
            parent,
            "refusing to run: still in the parent's network namespace"
        );
        run_ok("ip", &["link", "set", "lo", "up"]);
        return true;
    }
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(NETNS_MARKER, own_netns())
        .output()
        .expect("run unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} failed in its private network namespace ({}):\n{stdout}\n{stderr}",
        out.status
    );
    false
}

/// Runs a command and returns stdout; panics with stderr on failure.
pub fn run_ok(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"));
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Feeds `script` to `nft -f -`.
pub fn nft_script(script: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write nft script");
    let out = child.wait_with_output().expect("wait nft");
    assert!(
        out.status.success(),
        "nft -f failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates the bridge scaffold the host installer would: table
/// `bridge coolify_bridge` with base chain `coolify_allow`.
pub fn bridge_scaffold() {
    nft_script(
        "add table bridge coolify_bridge\nadd chain bridge coolify_bridge coolify_allow { type filter hook forward priority 0; policy accept; }\n",
    );
}

/// `iptables-save -t filter` lines of `COOLIFY-ALLOW` rules.
pub fn iptables_rules() -> Vec<String> {
    run_ok("iptables-save", &["-t", "filter"])
        .lines()
        .filter(|l| l.starts_with("-A COOLIFY-ALLOW "))
        .map(str::to_string)
        .collect()
}

/// Comments of the rules in `bridge coolify_bridge coolify_allow`, read
/// with `nft -j list`; `None` when the chain does not exist.
pub fn nft_comments() -> Option<Vec<String>> {
    let out = Command::new("nft")
        .args([
            "-j",
            "list",
            "chain",
            "bridge",
            "coolify_bridge",
            "coolify_allow",
        ])
        .output()
        .expect("run nft");
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("nft json");
    Some(
        v["nftables"]
            .as_array()
            .expect("nftables array")
            .iter()
            .filter_map(|i| i.get("rule"))
            .map(|r| r["comment"].as_str().unwrap_or("").to_string())
            .collect(),
    )
}
