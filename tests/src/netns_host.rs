//! A simulated host (DESIGN.md decision 13): a private network namespace
//! with a Podman API service of its own (own storage, runroot, tmp dir,
//! locks and network configs, all under one temp dir), so that a test can
//! run an appliance with its firewall on, and play a power loss, without
//! touching the machine's own tables, Podman or containers.
//!
//! Processes enter the namespace with `nsenter --net=` (`ip netns exec`
//! remounts /sys and runc then fails). The Podman configuration travels in
//! `CONTAINERS_CONF` / `CONTAINERS_STORAGE_CONF`, which every process of
//! this host gets from `command`; file locks, because libpod's default shm
//! lock segment is shared by every Podman of the machine and a first start
//! ("refresh") frees all of its locks.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NetnsHost {
    /// The namespace's name under /run/netns.
    pub ns: String,
    pub dir: tempfile::TempDir,
    /// Long-running processes started by this host (its engine services).
    children: Vec<Child>,
}

impl Default for NetnsHost {
    fn default() -> Self {
        Self::new()
    }
}

impl NetnsHost {
    /// A request to `inst`'s agent API at `ip` (its mgmt address) from
    /// inside this host, with the instance's CA and token: `(status, body
    /// as JSON, or as a string when it is not JSON)`.
    pub fn api(
        &self,
        inst: &crate::Instance,
        ip: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut args = vec![
            "-sS".to_string(),
            "--max-time".into(),
            "30".into(),
            "-X".into(),
            method.into(),
            "-w".into(),
            "\n%{http_code}".into(),
            "--cacert".into(),
            inst.config_dir().join("ca.crt").display().to_string(),
            "-H".into(),
            format!("Authorization: Bearer {}", inst.api_token()),
        ];
        if let Some(b) = body {
            args.extend([
                "-H".into(),
                "Content-Type: application/json".into(),
                "--data-binary".into(),
                b.into(),
            ]);
        }
        args.push(format!("https://{ip}:{}{path}", inst.api_port));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.command("curl", &args).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (
            code.trim().parse().unwrap_or(0),
            serde_json::from_str(body)
                .unwrap_or_else(|_| serde_json::Value::String(body.to_string())),
        )
    }

    /// Copies `image` from the machine's engine into this host's storage.
    pub fn load_image(&self, image: &str) {
        let tar = self.dir.path().join("image.tar");
        let saved = crate::podman(&["save", "-o", &tar.display().to_string(), image]);
        assert!(
            saved.status.success(),
            "podman save {image}: {}",
            crate::stderr(&saved)
        );
        self.ok(&["podman", "load", "-q", "-i", &tar.display().to_string()]);
        let _ = std::fs::remove_file(&tar);
    }

    pub fn new() -> Self {
        let ns = crate::unique("coolify-host");
        let dir = tempfile::tempdir().expect("temp dir");
        let host = NetnsHost {
            ns,
            dir,
            children: Vec::new(),
        };
        let added = Command::new("ip")
            .args(["netns", "add", &host.ns])
            .output()
            .expect("ip (iproute2)");
        assert!(added.status.success(), "{}", crate::stderr(&added));
        host.ok(&["ip", "link", "set", "lo", "up"]);
        let d = host.dir.path();
        for sub in ["root", "runroot", "tmp", "networks", "volumes"] {
            std::fs::create_dir_all(d.join(sub)).expect("host dirs");
        }
        std::fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                d.join("root").display(),
                host.runroot().display()
            ),
        )
        .expect("storage.conf");
        // The machine's settings (DESIGN.md: runc, no default ulimits, the
        // runsc wrapper, netavark) plus this host's own paths and locks.
        std::fs::write(
            d.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = \"runc\"\ntmp_dir = \"{}\"\nvolume_path = \"{}\"\nlock_type = \"file\"\n\n[engine.runtimes]\nrunsc = [\"/usr/local/libexec/coolify/runsc\"]\n\n[network]\nnetwork_backend = \"netavark\"\nnetwork_config_dir = \"{}\"\n",
                host.tmp_dir().display(),
                d.join("volumes").display(),
                d.join("networks").display()
            ),
        )
        .expect("containers.conf");
        host
    }

    /// The engine socket of this host.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("podman.sock")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("runroot")
    }

    /// libpod's tmp dir: its `alive` file is how Podman tells a boot.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// `program args…` inside this host: its namespace and Podman config.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.ns))
            .arg("--")
            .arg(program)
            .args(args);
        c.env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.dir.path().join("storage.conf"),
            );
        c
    }

    /// `cmd` run inside this host instead (program, arguments and the
    /// environment it sets are kept).
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut c = self.command(cmd.get_program(), &[]);
        c.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(d) = cmd.get_current_dir() {
            c.current_dir(d);
        }
        c
    }

    /// Runs `argv` inside and returns stdout; panics with stderr on failure.
    pub fn ok(&self, argv: &[&str]) -> String {
        let out = self
            .command(argv[0], &argv[1..])
            .output()
            .expect("spawn nsenter");
        assert!(
            out.status.success(),
            "{argv:?} in {}: {}",
            self.ns,
            crate::stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts this host's Podman API service, as setup-host does, and
    /// waits until it answers.
    pub fn start_engine(&mut self) {
        let sock = format!("unix://{}", self.socket().display());
        let child = self.spawn(
            self.command("podman", &["system", "service", "--time=0", &sock]),
            "podman-service.log",
        );
        self.children.push(child);
        assert!(
            self.wait_answers(&self.socket(), Duration::from_secs(20)),
            "this host's Podman service did not answer on {}",
            self.socket().display()
        );
    }

    /// Spawns a long-running process of this host, its output to `log`
    /// under the host's dir; it dies with the host.
    pub fn spawn(&self, mut c: Command, log: &str) -> Child {
        let log = std::fs::File::create(self.dir.path().join(log)).expect("log file");
        c.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        c.spawn().expect("spawn nsenter")
    }

    /// Keeps a child for cleanup.
    pub fn adopt(&mut self, child: Child) {
        self.children.push(child);
    }

    /// Whether an engine API answers `/_ping` on `socket` within `within`.
    pub fn wait_answers(&self, socket: &Path, within: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < within {
            let out = Command::new("curl")
                .args(["-fsS", "--max-time", "2", "--unix-socket"])
                .arg(socket)
                .arg("http://d/_ping")
                .output();
            if out.is_ok_and(|o| o.status.success()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Pids of every process in this host's network namespace.
    pub fn processes(&self) -> Vec<i32> {
        let Ok(ns) = std::fs::metadata(format!("/run/netns/{}", self.ns)) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::metadata(format!("/proc/{pid}/ns/net"))
                    .is_ok_and(|m| m.ino() == ns.ino() && m.dev() == ns.dev())
            })
            .collect()
    }

    /// A power loss: every process of the host killed at once (engine
    /// services, conmon, the containers), its tables flushed, and what
    /// lives on tmpfs after a boot gone — mounts under its dir, the
    /// runroot, libpod's tmp dir, runc's state of its containers, the
    /// engine socket, and `volatile` (e.g. the appliance's run dir).
    pub fn power_loss(&mut self, volatile: &[&Path]) {
        let ids = self.container_ids();
        self.kill_all();
        unmount_under(self.dir.path());
        for id in &ids {
            let _ = std::fs::remove_dir_all(Path::new("/run/runc").join(id));
        }
        for p in [self.runroot(), self.tmp_dir()] {
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("recreate dir");
        }
        let _ = std::fs::remove_file(self.socket());
        for p in volatile {
            let _ = std::fs::remove_dir_all(p);
        }
        self.ok(&["nft", "flush", "ruleset"]);
    }

    fn container_ids(&self) -> Vec<String> {
        let out = Command::new("podman")
            .arg("--url")
            .arg(format!("unix://{}", self.socket().display()))
            .args(["ps", "-aq", "--no-trunc"])
            .output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    fn kill_all(&mut self) {
        // Twice: a process may fork while the first round runs.
        for _ in 0..2 {
            for pid in self.processes() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .output();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Lazily unmounts every mount at or below `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.display().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        // mountinfo escapes space, tab, newline and backslash as octal.
        .map(|p| {
            p.replace("\\040", " ")
                .replace("\\011", "\t")
                .replace("\\012", "\n")
                .replace("\\134", "\\")
        })
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").args(["-l", &p]).output();
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        // Through its own Podman first, so its containers' cgroups and runc
        // state go the normal way (DESIGN.md decision 13).
        let _ = Command::new("podman")
            .arg("--url")
            .arg(format!("unix://{}", self.socket().display()))
            .args(["rm", "-af", "-t", "0"])
            .output();
        let ids = self.container_ids();
        self.kill_all();
        unmount_under(self.dir.path());
        for id in &ids {
            let _ = std::fs::remove_dir_all(Path::new("/run/runc").join(id));
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}
