//! A real Corrosion agent for tests (DESIGN.md decision 13: each host runs
//! one). Corrosion is a test tool here, not a dependency of the product:
//! the binary comes from `../shared/tools/corrosion/build`, which
//! `scripts/test` runs and names in `COOLIFY_CORROSION_BIN`.
//!
//! [`CorrosionAgent`] writes the agent's config and a schema dir holding
//! coold's `schema.sql`, starts `corrosion -c config.toml agent`, waits
//! until its HTTP API answers a query on `service_endpoints`, and kills it
//! on drop. [`CorrosionAgent::stop`] and [`CorrosionAgent::start`] play "the
//! agent stopped, then came back" on the same addresses and database.
//!
//! By default it listens on free loopback ports; [`AgentSpec`] takes given
//! gossip/API addresses, a bootstrap list and a command prefix (such as
//! `nsenter --net=/run/netns/<host>`, which execs, so the child's pid stays
//! the agent's), so a multi-host harness can start one agent per host.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// coold's endpoint schema, the file its agents load (one source of truth:
/// the product's own file, not a copy).
pub const SCHEMA: &str = include_str!("../../cp-daemon/src/discovery/schema.sql");

/// Where the build script caches the binary by default.
const DEFAULT_BIN: &str = "/var/cache/coolify-corrosion/bin/corrosion";

/// How long an agent may take to answer after start (it opens its
/// database and applies the schema first).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a SIGTERM'd agent may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The Corrosion binary: `COOLIFY_CORROSION_BIN`, else the build script's
/// default cache. Panics, saying how to build it, when neither exists: a
/// test that needs the real agent must not pass without one.
pub fn corrosion_bin() -> PathBuf {
    let given = std::env::var_os("COOLIFY_CORROSION_BIN").map(PathBuf::from);
    let bin = given.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
    if bin.is_file() {
        return bin;
    }
    panic!(
        "no Corrosion agent binary at {} ({}). Build it once per machine (about 15 minutes on 2 cores): \
         `../shared/tools/corrosion/build` prints its path; `scripts/test` runs it and sets COOLIFY_CORROSION_BIN",
        bin.display(),
        if given.is_some() {
            "COOLIFY_CORROSION_BIN"
        } else {
            "the build script's default; COOLIFY_CORROSION_BIN is unset"
        }
    );
}

/// A loopback UDP port free right now and never handed out twice in this
/// process (gossip is QUIC, over UDP).
pub fn free_udp_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("a free loopback UDP port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// How to start one agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Gossip (QUIC/UDP) address: the host's mesh address in a cluster.
    pub gossip: SocketAddr,
    /// Other agents' gossip addresses for the initial join.
    pub bootstrap: Vec<SocketAddr>,
    /// The HTTP API address coold's `COOLD_CORROSION_API` names.
    pub api: SocketAddr,
    /// Program and arguments put before `corrosion …` (and the `curl` the
    /// query helper runs): e.g. `["nsenter", "--net=/run/netns/h1"]`.
    pub prefix: Vec<String>,
}

impl AgentSpec {
    /// Free loopback ports, no bootstrap, no prefix.
    pub fn loopback() -> Self {
        AgentSpec {
            gossip: SocketAddr::from(([127, 0, 0, 1], free_udp_port())),
            bootstrap: Vec::new(),
            api: SocketAddr::from(([127, 0, 0, 1], crate::free_port())),
            prefix: Vec::new(),
        }
    }

    /// The same, joining the agents gossiping at `peers`.
    pub fn loopback_joining(peers: &[SocketAddr]) -> Self {
        AgentSpec {
            bootstrap: peers.to_vec(),
            ..Self::loopback()
        }
    }
}

/// One running (or stopped) agent with its own dir, config and database.
pub struct CorrosionAgent {
    pub spec: AgentSpec,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    child: Option<Child>,
}

impl CorrosionAgent {
    /// An agent on free loopback ports, started and answering.
    pub fn start_loopback() -> Self {
        Self::start_with(AgentSpec::loopback())
    }

    /// An agent as `spec` says, started and answering.
    pub fn start_with(spec: AgentSpec) -> Self {
        let bin = corrosion_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        let schemas = dir.path().join("schemas");
        std::fs::create_dir_all(&schemas).expect("schema dir");
        std::fs::write(schemas.join("service_endpoints.sql"), SCHEMA).expect("write schema");
        std::fs::write(
            dir.path().join("config.toml"),
            config_toml(&spec, dir.path()),
        )
        .expect("write config");
        let mut agent = CorrosionAgent {
            spec,
            dir,
            bin,
            child: None,
        };
        agent.start();
        agent
    }

    /// The HTTP API address (for `COOLD_CORROSION_API`).
    pub fn api(&self) -> SocketAddr {
        self.spec.api
    }

    /// The gossip address (for other agents' bootstrap).
    pub fn gossip(&self) -> SocketAddr {
        self.spec.gossip
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Starts the agent (again, after [`stop`](Self::stop)) with the same
    /// config and database, and waits until it answers.
    pub fn start(&mut self) {
        assert!(!self.is_running(), "agent already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("agent log file");
        let mut cmd = self.command(&self.bin);
        cmd.arg("-c")
            .arg(self.dir.path().join("config.toml"))
            .arg("agent")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawn corrosion"));
        let started = Instant::now();
        loop {
            if self.ready() {
                return;
            }
            if !self.is_running() {
                panic!("corrosion exited before it answered:\n{}", self.log_tail());
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "corrosion API at {} did not answer within {START_TIMEOUT:?}:\n{}",
                self.spec.api,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the agent (SIGTERM, then SIGKILL after a bound) and keeps its
    /// dir and database for [`start`](Self::start).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Runs one read on the agent's API: the rows' values, or why not.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, String> {
        let body = serde_json::json!([sql, params]).to_string();
        let (code, text) = self.post("/v1/queries", &body)?;
        if code != 200 {
            return Err(format!("HTTP {code}: {text}"));
        }
        let mut rows = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
            if let Some(values) = v["row"].get(1).and_then(Value::as_array) {
                rows.push(values.clone());
            } else if let Some(e) = v.get("error") {
                return Err(e.to_string());
            } else if v.get("eoq").is_some() {
                return Ok(rows);
            }
        }
        Err(format!("query stream ended without eoq: {text}"))
    }

    /// Runs one write statement on the agent's API, as another writer
    /// would.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<(), String> {
        let body = serde_json::json!([[sql, params]]).to_string();
        match self.post("/v1/transactions", &body)? {
            (200, _) => Ok(()),
            (code, text) => Err(format!("HTTP {code}: {text}")),
        }
    }

    /// Whether `container_id` has a row in this agent's database.
    pub fn has_row(&self, container_id: &str) -> bool {
        self.query(
            "SELECT container_id FROM service_endpoints WHERE container_id = ?",
            &[Value::from(container_id)],
        )
        .is_ok_and(|rows| !rows.is_empty())
    }

    /// The agent's log so far (its last 4 KiB), for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let mut cut = text.len().saturating_sub(4096);
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text[cut..].to_string()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    /// Ready = the API answers a query on coold's table (so the schema is
    /// in place, not only the listener).
    fn ready(&self) -> bool {
        self.query("SELECT count(*) FROM service_endpoints", &[])
            .is_ok()
    }

    fn command(&self, program: &Path) -> Command {
        match self.spec.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// One POST with curl (through the prefix, so it reaches an agent in
    /// another network namespace): `(status, body)`.
    fn post(&self, path: &str, body: &str) -> Result<(u16, String), String> {
        let out = self
            .command(Path::new("curl"))
            .args(["-sS", "--max-time", "5", "-X", "POST"])
            .args([
                "-H",
                "content-type: application/json",
                "--data-binary",
                body,
            ])
            .args(["-w", "\n%{http_code}"])
            .arg(format!("http://{}{path}", self.spec.api))
            .output()
            .map_err(|e| format!("run curl: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        Ok((code.trim().parse().unwrap_or(0), body.to_string()))
    }
}

impl Drop for CorrosionAgent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The agent's config: plaintext gossip (tests and a WireGuard underlay,
/// where the tunnel encrypts), the QUIC client bound to the gossip address
/// (the default `[::]:0` needs IPv6 in the namespace), and an admin socket
/// in the agent's own dir.
fn config_toml(spec: &AgentSpec, dir: &Path) -> String {
    let bootstrap: Vec<String> = spec.bootstrap.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[db]\npath = \"{db}\"\nschema_paths = [\"{schemas}\"]\n\n\
         [gossip]\naddr = \"{gossip}\"\nclient_addr = \"{client}:0\"\nbootstrap = [{bootstrap}]\nplaintext = true\n\n\
         [api]\naddr = \"{api}\"\n\n\
         [admin]\npath = \"{admin}\"\n",
        db = dir.join("corrosion.db").display(),
        schemas = dir.join("schemas").display(),
        gossip = spec.gossip,
        client = spec.gossip.ip(),
        bootstrap = bootstrap.join(", "),
        api = spec.api,
        admin = dir.join("admin.sock").display(),
    )
}
