//! A real S3 server for the sync tests: moto's, from PyPI, started per test
//! on 127.0.0.1 with a port of its own and killed when dropped (also when
//! the test fails). `scripts/setup-host` installs it; a missing server is a
//! failure with instructions, never a skip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where setup-host puts moto's server.
const DEFAULT_MOTO: &str = "/opt/coolify-test/venv/bin/moto_server";

/// `COOLIFY_TEST_MOTO_SERVER`, else setup-host's venv.
pub fn moto_bin() -> PathBuf {
    let bin = std::env::var_os("COOLIFY_TEST_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MOTO));
    assert!(
        bin.exists(),
        "moto's S3 server not found at {}: run scripts/setup-host (it installs moto[server] into /opt/coolify-test/venv), or set COOLIFY_TEST_MOTO_SERVER",
        bin.display()
    );
    bin
}

/// A running moto server.
pub struct MotoServer {
    child: Child,
    pub endpoint: String,
    log: tempfile::NamedTempFile,
}

impl MotoServer {
    /// Accepts any credentials (moto's default).
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// Checks every request's access key against moto's IAM, where no key
    /// exists: every credential is a bad one.
    pub fn start_refusing_all_keys() -> Self {
        Self::spawn(Some("0"))
    }

    fn spawn(no_auth_actions: Option<&str>) -> Self {
        let port = super::free_port();
        let log = tempfile::NamedTempFile::new().expect("moto log file");
        let mut cmd = Command::new(moto_bin());
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The host's AWS_* settings (a CA bundle, keys) are not moto's business.
            .env_remove("AWS_CA_BUNDLE")
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("moto log"))
            .stderr(log.reopen().expect("moto log"));
        if let Some(n) = no_auth_actions {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n);
        }
        let child = cmd.spawn().expect("start moto_server");
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready(port);
        server
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited with {status}: {}", self.log_text());
            }
            if answers(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "moto_server did not answer within 60 s: {}",
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// Every object key in `bucket` (recursively), listed by a real rclone
/// against the server: what the sink really holds.
pub fn list_bucket(endpoint: &str, bucket: &str) -> Vec<String> {
    let out = Command::new("rclone")
        .env_clear()
        .envs([
            ("RCLONE_CONFIG_PEEK_TYPE", "s3"),
            ("RCLONE_CONFIG_PEEK_PROVIDER", "Other"),
            ("RCLONE_CONFIG_PEEK_ENDPOINT", endpoint),
            ("RCLONE_CONFIG_PEEK_FORCE_PATH_STYLE", "true"),
            ("RCLONE_CONFIG_PEEK_ACCESS_KEY_ID", "peek"),
            ("RCLONE_CONFIG_PEEK_SECRET_ACCESS_KEY", "peek"),
        ])
        .args(["--config", "", "lsf", "-R", "--files-only"])
        .arg(format!("peek:{bucket}"))
        .output()
        .expect("run rclone lsf");
    if out.status.code() == Some(3) {
        return Vec::new();
    }
    assert!(
        out.status.success(),
        "rclone lsf: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}
