//! Test support for the builder's end-to-end tests: real git repos made with
//! the `git` CLI, a local base image FROM scratch with busybox, the real
//! Podman, unique names per run, cleanup on drop (also when a test fails).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn podman_socket() -> String {
    std::env::var("COOLIFY_TEST_PODMAN_SOCKET").unwrap_or_else(|_| "/run/podman/podman.sock".into())
}

/// A name unique to this process and call: tests run in parallel beside
/// whatever else uses this Podman.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn podman(args: &[&str]) -> Output {
    run(Command::new("podman").args(args))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes the named images when dropped.
#[derive(Default)]
pub struct Images(pub Vec<String>);

impl Images {
    pub fn add(&mut self, tag: &str) -> String {
        self.0.push(tag.to_owned());
        tag.to_owned()
    }

    /// A fresh `localhost/<prefix>-…:1`, removed on drop.
    pub fn unique_tag(&mut self, prefix: &str) -> String {
        self.add(&format!("localhost/{}:1", unique(prefix)))
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("podman").args(["rmi", "-f", tag]).output();
        }
    }
}

/// Removes the named container when dropped.
pub struct Container(pub String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", &self.0])
            .output();
    }
}

/// A static-file server base image: FROM scratch, busybox-static, `httpd`
/// serving nginx's html root on 8080. Unique tag, removed on drop.
pub struct BaseImage {
    pub tag: String,
    _images: Images,
}

impl BaseImage {
    /// The base image of this test binary, built by the first test that asks
    /// and removed when the last one holding it ends. One build instead of
    /// one per test: Podman 4.3 races identical builds run at once.
    pub fn build() -> Arc<BaseImage> {
        static SHARED: Mutex<Weak<BaseImage>> = Mutex::new(Weak::new());
        let mut slot = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(base) = slot.upgrade() {
            return base;
        }
        let base = Arc::new(BaseImage::build_new());
        *slot = Arc::downgrade(&base);
        base
    }

    fn build_new() -> Self {
        let name = unique("cb-test-base");
        let tag = format!("localhost/{name}:1");
        let ctx = tempfile::tempdir().expect("tempdir");
        std::fs::copy("/bin/busybox", ctx.path().join("busybox"))
            .expect("busybox-static at /bin/busybox (apt-get install busybox-static)");
        std::fs::write(
            ctx.path().join("Containerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/usr/share/nginx/html\"]\n",
        )
        .expect("write Containerfile");
        let mut images = Images::default();
        images.add(&tag);
        // Podman 4.3 sometimes loses a working container when identical
        // builds run at once ("container not known" at commit). This is the
        // fixture, not the code under test: up to 3 attempts.
        let ctx_arg = ctx.path().display().to_string();
        let mut last = String::new();
        for _ in 0..3 {
            let out = Command::new("podman")
                .args(["build", "-q", "-t", &tag, &ctx_arg])
                .output()
                .expect("podman build");
            if out.status.success() {
                return BaseImage {
                    tag,
                    _images: images,
                };
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("building the base image {tag} failed 3 times: {last}");
    }

    /// The name buildah gives a build's working container from this base.
    pub fn working_container_prefix(&self) -> String {
        let repo = self
            .tag
            .rsplit_once(':')
            .map_or(self.tag.as_str(), |(r, _)| r);
        let name = repo.rsplit('/').next().unwrap_or(repo);
        format!("{name}-working-container")
    }
}

/// A git repository in a temp dir, made with the git CLI.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = GitRepo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A repo with one committed file.
    pub fn with_file(path: &str, body: &str) -> Self {
        let repo = GitRepo::new();
        repo.write(path, body);
        repo.commit("one file");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = run(Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args([
                "-c",
                "user.email=test@coolify.invalid",
                "-c",
                "user.name=test",
            ])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path()));
        stdout(&out)
    }

    pub fn write(&self, path: &str, body: &str) -> &Self {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, body).expect("write");
        self
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// `git daemon` serving one base path on a free 127.0.0.1 port; killed on drop.
pub struct GitDaemon {
    child: std::process::Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn serve(base_path: &Path) -> Self {
        let port = free_port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base_path.display()))
            .arg(base_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git daemon (apt-get install git)");
        let daemon = GitDaemon { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not listen on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 127.0.0.1 port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// One builder run: a work dir, its spec, and what the process left behind.
pub struct BuildRun {
    pub root: tempfile::TempDir,
    pub output: Output,
}

impl BuildRun {
    pub fn work_dir(&self) -> PathBuf {
        self.root.path().join("work")
    }

    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn events(&self) -> Vec<Value> {
        read_events(&self.work_dir())
    }

    pub fn result(&self) -> Option<Value> {
        read_json(&self.work_dir().join("result.json"))
    }

    pub fn error(&self) -> Option<Value> {
        read_json(&self.work_dir().join("error.json"))
    }

    /// Everything the builder wrote, for leak checks.
    pub fn all_output_text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&self.output.stderr));
        for name in ["events.ndjson", "result.json", "error.json"] {
            text.push_str(&std::fs::read_to_string(self.work_dir().join(name)).unwrap_or_default());
        }
        text
    }

    pub fn describe(&self) -> String {
        format!(
            "exit {:?}\nstderr: {}\nevents:\n{}",
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stderr),
            std::fs::read_to_string(self.work_dir().join("events.ndjson")).unwrap_or_default()
        )
    }
}

pub fn builder_command(spec_path: &Path, work_dir: &Path) -> Command {
    let mut cmd = bare_builder_command(spec_path, work_dir);
    cmd.arg("--podman-socket").arg(podman_socket());
    cmd
}

/// Without `--podman-socket`, for tests that pass their own.
pub fn bare_builder_command(spec_path: &Path, work_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coolify-builder"));
    cmd.arg("--spec")
        .arg(spec_path)
        .arg("--work-dir")
        .arg(work_dir)
        .env_remove("COOLIFY_BUILDER_STATIC_BASE_IMAGE");
    cmd
}

/// Writes `spec` to a fresh dir and runs the builder on it to the end.
pub fn build(spec: &Value, extra_args: &[&str]) -> BuildRun {
    let root = tempfile::tempdir().expect("tempdir");
    let spec_path = root.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).expect("write spec");
    let work_dir = root.path().join("work");
    let mut cmd = if extra_args.contains(&"--podman-socket") {
        bare_builder_command(&spec_path, &work_dir)
    } else {
        builder_command(&spec_path, &work_dir)
    };
    let output = cmd.args(extra_args).output().expect("run coolify-builder");
    BuildRun { root, output }
}

/// Writes `spec` to a fresh dir and starts the builder on it without
/// waiting: `(root dir, work dir, child)`.
pub fn start(spec: &Value) -> (tempfile::TempDir, PathBuf, std::process::Child) {
    let root = tempfile::tempdir().expect("tempdir");
    let spec_path = root.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).expect("write spec");
    let work_dir = root.path().join("work");
    let child = builder_command(&spec_path, &work_dir)
        .spawn()
        .expect("spawn builder");
    (root, work_dir, child)
}

/// The child's exit status; kills it and fails the test after `limit`
/// (`what` says since when it should have ended).
pub fn wait_exit(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("builder still running {limit:?} {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn read_events(work_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(work_dir.join("events.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("events line {l:?} is not JSON: {e}"))
        })
        .collect()
}

pub fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display())),
    )
}

/// Polls `check` every 200 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn image_exists(tag: &str) -> bool {
    Command::new("podman")
        .args(["image", "exists", tag])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Names of all containers Podman knows, buildah's working containers
/// included (`--external`).
///
/// Podman 4.3 lists external containers by reading storage and then looking
/// each one up; a build elsewhere that removes its working container between
/// the two makes the whole listing fail with "container not known". That is
/// a race in the listing, not an answer, so it is asked again.
pub fn all_container_names() -> Vec<String> {
    let args = ["ps", "-a", "--external", "--format", "{{.Names}}"];
    for _ in 0..20 {
        let out = Command::new("podman")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("spawning podman ps: {e}"));
        if out.status.success() {
            return stdout(&out).lines().map(str::to_owned).collect();
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("container not known") && !err.contains("no such container") {
            panic!("podman {args:?} failed: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("podman {args:?} kept failing: a container vanished during every listing")
}
