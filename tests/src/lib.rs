//! Test support for the end-to-end suite: find the `coolify` binary, make
//! appliance instances with names, ports and dirs of their own (tests run in
//! parallel and beside a developer's live `coolify-cp`), run commands, and
//! clean up even when a test fails.

pub mod cluster;
pub mod corrosion;
pub mod netns_host;
pub mod unit_boot;
pub mod unit_file;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// The `coolify` binary under test: `COOLIFY_BIN`, else the one cargo built
/// next to this test binary.
pub fn coolify_bin() -> PathBuf {
    if let Ok(p) = std::env::var("COOLIFY_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/coolify
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    profile_dir.join("coolify")
}

/// A port free on 127.0.0.1 right now, and never handed out twice in this
/// process (the kernel may offer a just-released port again, and parallel
/// tests would then share it).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A short random suffix for names.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// One appliance instance with its own container names, image repository,
/// ports and dirs. Dropping it runs `cp down --purge` (which stops its
/// broker container too).
pub struct Instance {
    pub name: String,
    /// The `--with-broker` container.
    pub broker_name: String,
    pub image_repo: String,
    pub api_port: u16,
    pub health_port: u16,
    /// The broker's gRPC port (`--with-broker`).
    pub grpc_port: u16,
    /// The host id `--with-broker` enrolls.
    pub host_id: String,
    pub dir: tempfile::TempDir,
}

impl Default for Instance {
    fn default() -> Self {
        Self::new()
    }
}

impl Instance {
    pub fn new() -> Self {
        let name = unique("coolify-cp-test");
        Instance {
            image_repo: format!("localhost/{name}"),
            broker_name: format!("{name}-broker"),
            host_id: unique("host"),
            name,
            api_port: free_port(),
            health_port: free_port(),
            grpc_port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// `coolify <args> --config-dir … ` with this instance's names and repo
    /// added where the subcommand takes them.
    pub fn cmd(&self, sub: &[&str]) -> Command {
        self.cmd_of(&coolify_bin(), sub)
    }

    /// [`Instance::cmd`] run by another `coolify` binary (the upgrade
    /// test's second CLI).
    pub fn cmd_of(&self, bin: &Path, sub: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(["--config-dir"]).arg(self.config_dir());
        c.args(sub);
        c.args(["--name", &self.name, "--image-repo", &self.image_repo]);
        c.args(["--broker-name", &self.broker_name]);
        c
    }

    /// `cp up --with-broker` with this instance's host id and gRPC port
    /// (the socket goes to the default, `<run-dir>/broker.sock`).
    pub fn up_with_broker(&self, extra: &[&str]) -> Command {
        let mut c = self.up(&["--with-broker", "--host-id", &self.host_id]);
        c.args([
            "--broker-grpc-bind",
            &format!("127.0.0.1:{}", self.grpc_port),
        ]);
        c.args(extra);
        c
    }

    /// Where `--with-broker` puts the UDS lane by default.
    pub fn broker_socket(&self) -> PathBuf {
        self.dir.path().join("run").join("broker.sock")
    }

    /// `coolify dispatch --host <this host> VERB PATH [--data JSON]` on
    /// this instance's socket.
    pub fn dispatch(&self, verb: &str, path: &str, data: Option<&str>) -> Command {
        let mut c = Command::new(coolify_bin());
        c.args(["dispatch", "--host", &self.host_id, "--socket"])
            .arg(self.broker_socket());
        c.args([verb, path]);
        if let Some(d) = data {
            c.args(["--data", d]);
        }
        c
    }

    /// `coolify <args…> --socket <this instance's lane>`: `fleet`,
    /// `broker revoke`.
    pub fn lane_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(coolify_bin());
        c.args(args).arg("--socket").arg(self.broker_socket());
        c
    }

    /// `cp up` with this instance's ports and dirs, plus `extra`.
    pub fn up(&self, extra: &[&str]) -> Command {
        let mut c = self.up_with_own_flags();
        // Tests never write the machine's own firewall chains (DESIGN.md);
        // the firewall is tested in private network namespaces.
        c.args(["--firewall", "off"]);
        // No per-runtime engine services unless a test asks for them.
        c.args(["--runtime-services", ""]);
        c.args(extra);
        c
    }

    /// `cp up` with this instance's ports and dirs, and the firewall and
    /// runtime-service flags left to the caller: for a simulated host
    /// (`netns_host`), whose tables are its own.
    pub fn up_with_own_flags(&self) -> Command {
        let mut c = self.cmd(&["cp", "up"]);
        c.args(["--api-port", &self.api_port.to_string()]);
        c.args(["--health-port", &self.health_port.to_string()]);
        c.arg("--data-dir").arg(self.dir.path().join("lib"));
        c.arg("--run-dir").arg(self.dir.path().join("run"));
        c
    }

    pub fn api_token(&self) -> String {
        std::fs::read_to_string(self.config_dir().join("agent/api-token"))
            .expect("api token")
            .trim()
            .to_string()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let run_dir = self.dir.path().join("run");
        let mut down = self.cmd(&["cp", "down", "--purge", "--timeout", "2s"]);
        down.arg("--run-dir").arg(run_dir);
        let _ = down.output();
    }
}

/// Runs a command to completion.
pub fn run(mut c: Command) -> Output {
    c.output().expect("spawn command")
}

/// Parses stdout as JSON, with the whole output in the panic message.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Asserts success and returns stdout as JSON.
pub fn ok_json(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "command failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `podman <args>` (the CLI, for facts the product has no verb for).
pub fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .expect("podman on PATH")
}

/// HTTPS GET to the agent API with curl: `(status, body)`.
pub fn api_get(inst: &Instance, path: &str, token: Option<&str>) -> (u16, String) {
    api_request(inst, "GET", path, None, token)
}

/// HTTPS request to the agent API with curl: `(status, body)`.
pub fn api_request(
    inst: &Instance,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--max-time",
        "60",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        "--cacert",
    ])
    .arg(inst.config_dir().join("ca.crt"));
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    c.arg(format!("https://127.0.0.1:{}{path}", inst.api_port));
    let out = c.output().expect("curl on PATH");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A string field of a JSON answer, with the whole answer in the panic.
pub fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Force-removes a container by name when dropped.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.0]);
    }
}

/// Tags an empty `FROM scratch` image carrying `labels` (`k=v k=v`) as the
/// instance's appliance image: what an older CLI may have left behind.
pub fn tag_fake_appliance_image(inst: &Instance, labels: &str) -> String {
    let ctx = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        ctx.path().join("Containerfile"),
        format!(
            "FROM scratch\nLABEL coolify.component=cp {labels} coolify.cp.image-repo={}\n",
            inst.image_repo
        ),
    )
    .expect("write Containerfile");
    let tag = format!("{}:{}", inst.image_repo, env!("CARGO_PKG_VERSION"));
    let built = podman(&["build", "-q", "-t", &tag, &ctx.path().display().to_string()]);
    assert!(built.status.success(), "{}", stderr(&built));
    String::from_utf8_lossy(&built.stdout).trim().to_string()
}

/// Runs a busybox container under the instance's appliance name with
/// `coolify.component=cp` and `labels` (`k=v` each): an appliance an older
/// CLI left behind. Returns its id.
pub fn run_fake_appliance(inst: &Instance, labels: &[&str]) -> String {
    let mut args = vec![
        "run",
        "-d",
        "--name",
        &inst.name,
        "--label",
        "coolify.component=cp",
    ];
    for l in labels {
        args.extend(["--label", l]);
    }
    args.extend(["localhost/coolify-test-busybox:latest", "sleep", "300"]);
    let out = podman(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Instance {
    /// `coolify cp rotate <flags> --name <this instance>`.
    pub fn rotate(&self, flags: &[&str]) -> Command {
        let mut c = Command::new(coolify_bin());
        c.args(["--config-dir"]).arg(self.config_dir());
        c.args(["cp", "rotate", "--name", &self.name]);
        c.args(flags);
        c
    }
}

/// Pipes `input` through `openssl <args>`; stdout, or a panic with stderr.
fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl on PATH");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write to openssl");
    drop(stdin);
    let out = child.wait_with_output().expect("openssl ran");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// sha256 of a PEM certificate's DER, lowercase hex without colons (as
/// `cp rotate` and `cp up` report it).
pub fn cert_sha256(pem: &[u8]) -> String {
    let out = openssl(&["x509", "-noout", "-fingerprint", "-sha256"], pem);
    let text = String::from_utf8_lossy(&out);
    text.trim()
        .rsplit_once('=')
        .map(|(_, hex)| hex.replace(':', "").to_lowercase())
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
}

/// The certificate the agent API presents in a fresh TLS handshake (with
/// `openssl s_client`), as PEM.
pub fn served_cert_pem(inst: &Instance) -> Vec<u8> {
    served_cert_pem_at(inst.api_port)
}

/// The certificate a TLS server on 127.0.0.1:`port` presents, as PEM.
pub fn served_cert_pem_at(port: u16) -> Vec<u8> {
    let addr = format!("127.0.0.1:{port}");
    let out = openssl(&["s_client", "-connect", &addr], b"");
    openssl(&["x509"], &out)
}

/// Whether the PEM certificate is still valid `secs` from now.
pub fn valid_for(pem: &[u8], secs: u64) -> bool {
    use std::process::Stdio;
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-checkend", &secs.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("openssl on PATH");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(pem).expect("write to openssl");
    }
    child.wait().expect("openssl ran").success()
}

/// Replaces the certificate `cert` (with private key `key`) by one for the
/// same key and subject alternative names, signed by the CA `ca_dir`/ca.crt
/// and ca.key with openssl, that expires in `days`; returns its sha256.
pub fn replace_with_short_lived(cert: &Path, key: &Path, ca_dir: &Path, days: u32) -> String {
    let work = tempfile::tempdir().expect("temp dir");
    let san_text = String::from_utf8_lossy(&openssl(
        &["x509", "-noout", "-ext", "subjectAltName"],
        &std::fs::read(cert).expect("read the certificate"),
    ))
    .into_owned();
    let san = san_text
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no SAN in {san_text:?}"))
        .trim()
        .replace("IP Address:", "IP:");
    let ext = work.path().join("ext.cnf");
    std::fs::write(
        &ext,
        format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\n"),
    )
    .expect("write ext.cnf");
    let (csr, short) = (work.path().join("s.csr"), work.path().join("s.crt"));
    let req = Command::new("openssl")
        .args(["req", "-new", "-subj", "/CN=short-lived", "-key"])
        .arg(key)
        .arg("-out")
        .arg(&csr)
        .output()
        .expect("openssl on PATH");
    assert!(req.status.success(), "{}", stderr(&req));
    let sign = Command::new("openssl")
        .args(["x509", "-req", "-days", &days.to_string(), "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(ca_dir.join("ca.crt"))
        .arg("-CAkey")
        .arg(ca_dir.join("ca.key"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&short)
        .output()
        .expect("openssl on PATH");
    assert!(sign.status.success(), "{}", stderr(&sign));
    let pem = std::fs::read(&short).expect("read the new certificate");
    // Copied, then renamed over: the way a rotation replaces it.
    let tmp = cert.with_extension("short.tmp");
    std::fs::write(&tmp, &pem).expect("write the new certificate");
    std::fs::rename(&tmp, cert).expect("rename the new certificate");
    cert_sha256(&pem)
}
