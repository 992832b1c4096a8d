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

use super::{run_ok, unique, PodmanGuard, TEST_IMAGE};

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

/// The static builder: `COOLIFY_BUILDER_BIN`, or built here with the
/// musl target into this test's target dir.
pub fn builder_bin() -> PathBuf {
    if let Ok(p) = std::env::var("COOLIFY_BUILDER_BIN") {
        return PathBuf::from(p);
    }
    let bin = target_dir().join("x86_64-unknown-linux-musl/release/coolify-builder");
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

    /// Makes repository `name` with `files` committed on branch `main`.
    pub fn repo(&self, name: &str, files: &[(&str, &str)]) -> String {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).expect("repo dir");
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            std::fs::write(p, text).expect("file");
        }
        let d = dir.display().to_string();
        run_ok("git", &["-C", &d, "init", "-q", "-b", "main"]);
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
