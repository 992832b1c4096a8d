//! Build test support: the real `coolify-builder` (static, musl) in a
//! FROM scratch image, a local STATIC base image (busybox httpd serving
//! nginx's html root), and a git repository made by the test, served by
//! `git daemon` on the gateway of a Podman network the test creates
//! (198.18.0.0/15), which the build containers join.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::broker::{Broker, Pki};
use super::{http, run_ok, unique, Coold, PodmanGuard, TEST_IMAGE};

/// Where nginx:alpine serves from; the builder copies STATIC sites there.
pub const HTML_ROOT: &str = "/usr/share/nginx/html";

fn target_dir() -> PathBuf {
    let coold = PathBuf::from(env!("CARGO_BIN_EXE_coold"));
    coold
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target dir")
}

/// The static builder: `COOLIFY_BUILDER_BIN`, else the musl release build
/// in this test's target dir, built here only when absent (cargo rebuilds
/// it from scratch when run from inside a test: rebuild it by hand with
/// `cargo build --release --target x86_64-unknown-linux-musl -p
/// coolify-builder` after changing the builder).
pub fn builder_bin() -> PathBuf {
    if let Ok(p) = std::env::var("COOLIFY_BUILDER_BIN") {
        return PathBuf::from(p);
    }
    let bin = target_dir().join("x86_64-unknown-linux-musl/release/coolify-builder");
    if bin.exists() {
        return bin;
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "-q",
            "--release",
            "--target",
            "x86_64-unknown-linux-musl",
            "-p",
            "coolify-builder",
        ])
        .env("CARGO_TARGET_DIR", target_dir())
        .status()
        .expect("run cargo build -p coolify-builder");
    assert!(
        status.success(),
        "cargo build -p coolify-builder (musl) failed"
    );
    assert!(bin.exists(), "{} missing after build", bin.display());
    bin
}

fn podman_build(tag: &str, files: &[(&str, &[u8])], containerfile: &str) {
    let ctx = tempfile::tempdir().expect("context");
    for (name, bytes) in files {
        std::fs::write(ctx.path().join(name), bytes).expect("context file");
        #[allow(clippy::unwrap_used)]
        std::fs::set_permissions(
            ctx.path().join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    std::fs::write(ctx.path().join("Containerfile"), containerfile).expect("containerfile");
    run_ok(
        "podman",
        &["build", "-q", "-t", tag, &ctx.path().display().to_string()],
    );
}

/// `FROM scratch` + the builder, tagged by the binary's hash so a rebuilt
/// builder gets a new image and an unchanged one is reused.
pub fn builder_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            use sha2::Digest;
            let bin = std::fs::read(builder_bin()).expect("read builder");
            let sum = hex::encode(sha2::Sha256::digest(&bin));
            let tag = format!("localhost/coolify-test-builder:{}", &sum[..16]);
            let exists = Command::new("podman")
                .args(["image", "exists", &tag])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !exists {
                podman_build(
                    &tag,
                    &[("coolify-builder", &bin)],
                    "FROM scratch\nCOPY coolify-builder /coolify-builder\nENTRYPOINT [\"/coolify-builder\"]\n",
                );
            }
            tag
        })
        .clone()
}

/// The STATIC base: busybox httpd serving [`HTML_ROOT`] on port 8080.
pub fn static_base_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let tag = "localhost/coolify-test-static-base:1".to_string();
            podman_build(
                &tag,
                &[],
                &format!(
                    "FROM {TEST_IMAGE}\nRUN mkdir -p {HTML_ROOT}\nCMD [\"/bin/httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"{HTML_ROOT}\"]\n"
                ),
            );
            tag
        })
        .clone()
}

/// A test network with a git daemon on its gateway.
pub struct GitNet {
    pub network: String,
    pub gateway: Ipv4Addr,
    pub subnet: String,
    pub port: u16,
    pub root: tempfile::TempDir,
    daemon: Child,
}

impl GitNet {
    /// Creates the network (a free /24 of 198.18.0.0/15), a keeper
    /// container so its bridge exists, and `git daemon` on the gateway.
    pub fn new(guard: &mut PodmanGuard) -> GitNet {
        let network = guard.network(&unique("cb-net"));
        let mut third = (std::process::id() as usize * 7 + rand_u16() as usize) % 500;
        let (subnet, gateway) = loop {
            let (a, b) = (18 + (third / 250) as u8, (third % 250) as u8 + 2);
            let subnet = format!("198.{a}.{b}.0/24");
            let ok = Command::new("podman")
                .args([
                    "network",
                    "create",
                    "--disable-dns",
                    "--subnet",
                    &subnet,
                    &network,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                break (subnet, Ipv4Addr::new(198, a, b, 1));
            }
            third = (third + 37) % 500;
        };
        let keeper = guard.container(&unique("cb-keeper"));
        run_ok(
            "podman",
            &[
                "run",
                "-d",
                "--name",
                &keeper,
                "--network",
                &network,
                TEST_IMAGE,
                "sleep",
                "900",
            ],
        );
        let root = tempfile::tempdir().expect("git root");
        let port = super::free_port();
        let daemon = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                &format!("--listen={gateway}"),
                &format!("--port={port}"),
                &format!("--base-path={}", root.path().display()),
                &root.path().display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn git daemon");
        let addr = SocketAddr::from((gateway, port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "git daemon not listening on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        GitNet {
            network,
            gateway,
            subnet,
            port,
            root,
            daemon,
        }
    }

    /// Makes repository `name` (or adds a commit to it) with `files`
    /// committed on branch `main`.
    pub fn repo(&self, name: &str, files: &[(&str, &str)]) -> String {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).expect("repo dir");
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            std::fs::write(p, text).expect("file");
        }
        let d = dir.display().to_string();
        if !dir.join(".git").exists() {
            run_ok("git", &["-C", &d, "init", "-q", "-b", "main"]);
        }
        run_ok("git", &["-C", &d, "add", "-A"]);
        run_ok(
            "git",
            &[
                "-C",
                &d,
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "-m",
                "site",
            ],
        );
        format!("git://{}:{}/{name}", self.gateway, self.port)
    }
}

fn rand_u16() -> u16 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.subsec_nanos() >> 8) as u16)
        .unwrap_or(0)
}

impl Drop for GitNet {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A broker, a builder-enabled coold dialing it, a build dir and a git
/// network: everything one build test (or the benchmark) needs.
/// Longest any one build may take here.
pub const BUILD_WITHIN: Duration = Duration::from_secs(240);

pub struct Rig {
    pub pki: Pki,
    pub broker: Broker,
    pub coold: Option<Coold>,
    pub env: Vec<(String, String)>,
    pub build_dir: tempfile::TempDir,
    pub net: GitNet,
    /// Images the builds tagged, removed at the end.
    pub images: Vec<String>,
    pub guard: PodmanGuard,
}

impl Rig {
    pub fn new(extra: &[(&str, &str)]) -> Rig {
        let mut guard = PodmanGuard::default();
        let net = GitNet::new(&mut guard);
        let pki = Pki::new();
        let broker = Broker::start(&pki, &[]);
        let build_dir = tempfile::tempdir().expect("build dir");
        let host = unique("cb-host");
        let mut env = broker.agent_env(&pki, &host, &[coolify_proto::CAP_BUILDER]);
        for (k, v) in [
            ("COOLD_BUILDER_ENABLED", "1".to_string()),
            ("COOLD_BUILDER_IMAGE", builder_image()),
            ("COOLD_BUILD_STATIC_BASE_IMAGE", static_base_image()),
            ("COOLD_BUILD_DIR", build_dir.path().display().to_string()),
            ("COOLD_BUILD_NETWORK", net.network.clone()),
            // A fence is always installed; this address is nobody's.
            ("COOLD_BUILD_DENY_CIDRS", "198.19.255.254/32".to_string()),
            ("COOLD_BUILD_GRACE", "3s".to_string()),
        ] {
            env.push((k.to_string(), v));
        }
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let mut rig = Rig {
            pki,
            broker,
            coold: None,
            env,
            build_dir,
            net,
            images: Vec::new(),
            guard,
        };
        rig.start_coold();
        rig
    }

    pub fn start_coold(&mut self) {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.coold = Some(Coold::start(&env));
        self.broker.wait_streams(1, Duration::from_secs(20));
        self.wait_warm();
    }

    /// Builders configured warm (`COOLD_BUILD_WARM`, default 1).
    pub fn warm_wanted(&self) -> usize {
        self.env
            .iter()
            .find(|(k, _)| k == "COOLD_BUILD_WARM")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1)
    }

    /// Until the agent's warm builders wait, so a test's first build takes
    /// the warm path, not a race between the two.
    pub fn wait_warm(&self) {
        let want = format!("coold_builds_warm {}\n", self.warm_wanted());
        let started = Instant::now();
        loop {
            let m = self.metrics();
            if m.contains(&want) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "warm builders never ready ({want:?}): {m}\ncoold: {}",
                self.coold_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no drain, the build container is left as it is.
    pub fn kill_coold(&mut self) {
        if let Some(mut c) = self.coold.take() {
            let _ = c.child.kill();
            let _ = c.child.wait();
        }
        self.broker.wait_streams(0, Duration::from_secs(20));
    }

    pub fn tag(&mut self, name: &str) -> String {
        let t = format!("localhost/{}:1", unique(name));
        self.images.push(t.clone());
        t
    }

    /// `POST /v1/build/dispatch` → the request id (202).
    pub fn dispatch(&mut self, spec: Value) -> String {
        let id = unique("b");
        self.guard.container(&format!("coolify-build-{id}"));
        let body = json!({ "spec": spec, "request_id": id });
        let (code, text) =
            self.broker
                .request("POST", "/v1/build/dispatch", Some(&body.to_string()));
        assert_eq!(code, 202, "{text}");
        id
    }

    /// Dispatches a STATIC build of a fresh repo serving `page`, waits for
    /// its answer and checks it is 200; returns `(request id, tag)`.
    pub fn static_build_ok(&mut self, page: &str, tag: &str) -> (String, String) {
        let repo = self.repo(page, 1);
        let tag = self.tag(tag);
        let id = self.dispatch(json!({
            "repo": repo, "ref": "main", "stack": "STATIC", "tags": [tag], "publish_dir": "site"
        }));
        let r = self.result(&id);
        assert_eq!(r["status"], 200, "{r}");
        (id, tag)
    }

    /// Dispatches a DOCKERFILE build of `dockerfile` in a fresh repo whose
    /// `Dockerfile.slow` sleeps `slow_secs`; returns `(request id, tag)`.
    pub fn dockerfile_build(
        &mut self,
        tag: &str,
        dockerfile: &str,
        slow_secs: u32,
    ) -> (String, String) {
        let repo = self.repo("x", slow_secs);
        let tag = self.tag(tag);
        let id = self.dispatch(json!({
            "repo": repo, "ref": "main", "stack": "DOCKERFILE", "tags": [tag],
            "dockerfile": dockerfile
        }));
        (id, tag)
    }

    /// A build that sits in its RUN step for `secs`.
    pub fn slow_build(&mut self, tag: &str, secs: u32) -> (String, String) {
        self.dockerfile_build(tag, "Dockerfile.slow", secs)
    }

    /// Long-polls `/v1/build/result/:id` until it lands.
    pub fn result(&self, id: &str) -> Value {
        let started = Instant::now();
        loop {
            let (code, text) = self.broker.request(
                "GET",
                &format!("/v1/build/result/{id}?timeout_ms=20000"),
                None,
            );
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if code == 200 {
                return v;
            }
            assert_eq!(code, 202, "{v}");
            assert!(
                started.elapsed() < BUILD_WITHIN,
                "build {id} did not land within {BUILD_WITHIN:?}\ncoold: {}",
                self.coold_log()
            );
        }
    }

    pub fn events(&self, id: &str) -> Vec<Value> {
        let (code, text) = self
            .broker
            .request("GET", &format!("/v1/build/events/{id}"), None);
        assert_eq!(code, 200, "{text}");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("event line is JSON"))
            .collect()
    }

    /// Waits until the events of `id` hold one of stage `stage`.
    pub fn wait_stage(&self, id: &str, stage: &str) {
        let started = Instant::now();
        while !self.events(id).iter().any(|e| e["stage"] == stage) {
            let (code, landed) =
                self.broker
                    .request("GET", &format!("/v1/build/result/{id}?timeout_ms=0"), None);
            assert_ne!(
                code,
                200,
                "build {id} ended before stage {stage}: {landed}\nevents: {:?}",
                self.events(id)
            );
            assert!(
                started.elapsed() < BUILD_WITHIN,
                "build {id} never reached stage {stage}: {:?}\ncoold: {}",
                self.events(id),
                self.coold_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn metrics(&self) -> String {
        let c = self.coold.as_ref().expect("coold running");
        http(c.health, "GET", "/metrics", &[], None)
            .expect("metrics")
            .1
    }

    pub fn coold_log(&self) -> String {
        self.coold
            .as_ref()
            .map(|c| c.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// A repo with a site, a Dockerfile with a RUN step and a build arg, a
    /// failing one and a slow one.
    pub fn repo(&self, page: &str, slow_secs: u32) -> String {
        self.net.repo(
            &unique("repo"),
            &[
                ("site/index.html", page),
                (
                    "Dockerfile",
                    &format!(
                        "FROM {}\nARG GREETING=none\nRUN echo \"$GREETING\" > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
                        TEST_IMAGE
                    ),
                ),
                (
                    "Dockerfile.fail",
                    &format!("FROM {}\nRUN exit 3\n", TEST_IMAGE),
                ),
                (
                    "Dockerfile.slow",
                    &format!("FROM {}\nRUN sleep {slow_secs}\n", TEST_IMAGE),
                ),
            ],
        )
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.coold.take();
        // A coold stopped by SIGTERM retires its warm builders itself; one
        // a test killed cannot. Anything of this rig's build dir goes.
        let root = self.build_dir.path().display().to_string();
        let listed = std::process::Command::new("podman")
            .args([
                "ps",
                "-a",
                "--filter",
                "label=coolify.build=true",
                "--format",
                "{{.ID}} {{index .Labels \"coolify.build.work_dir\"}}",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for line in listed.lines() {
            if let Some((id, dir)) = line.split_once(' ') {
                if dir.starts_with(&root) {
                    let _ = std::process::Command::new("podman")
                        .args(["rm", "-f", "-t", "0", id])
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status();
                }
            }
        }
        for i in &self.images {
            let _ = std::process::Command::new("podman")
                .args(["rmi", "-f", i])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
