//! Broker side of the test support: a throwaway PKI (CA, broker cert for
//! 127.0.0.1, ES256 token key), the real `coolify-broker` binary on
//! loopback with a socket of its own, an HTTP-over-UDS client, and fake
//! agents that speak the proto from inside the test.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use coolify_proto::v1::agent_client::AgentClient;
use coolify_proto::v1::{client_msg, ClientMsg, Hello, Response, ServerMsg};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use super::free_port;

/// CA, broker identity and the token signing key, in a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub jwt_pub: PathBuf,
    pub jwt_key_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
        let dir = tempfile::tempdir().expect("pki dir");
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("broker key");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let cert = params.signed_by(&key, &issuer).expect("broker cert");
        let jwt = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("jwt key");
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("ca.crt"), ca_cert.pem()).expect("write");
        std::fs::write(p("broker.crt"), cert.pem()).expect("write");
        std::fs::write(p("broker.key"), key.serialize_pem()).expect("write");
        std::fs::write(p("jwt.pub"), jwt.public_key_pem()).expect("write");
        Pki {
            ca: p("ca.crt"),
            cert: p("broker.crt"),
            key: p("broker.key"),
            jwt_pub: p("jwt.pub"),
            jwt_key_pem: jwt.serialize_pem(),
            dir,
        }
    }

    pub fn token(&self, host: &str, caps: &[&str]) -> String {
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        coolify_broker::jwt::mint_es256(
            self.jwt_key_pem.as_bytes(),
            host,
            &caps,
            Duration::from_secs(3600),
        )
        .expect("mint")
    }

    /// Writes `host`'s token to a file and returns its path.
    pub fn token_file(&self, host: &str, caps: &[&str]) -> PathBuf {
        let path = self.dir.path().join(format!("{host}.jwt"));
        std::fs::write(&path, self.token(host, caps)).expect("token file");
        path
    }
}

/// The broker binary cargo built beside coold (built on first use, since
/// `cargo test -p coold` builds only coold's own binaries).
pub fn broker_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let coold = PathBuf::from(env!("CARGO_BIN_EXE_coold"));
        let bin = coold.with_file_name("coolify-broker");
        let release = coold.components().any(|c| c.as_os_str() == "release");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args([
            "build",
            "-q",
            "-p",
            "coolify-broker",
            "--bin",
            "coolify-broker",
        ]);
        if release {
            cmd.arg("--release");
        }
        // Same target dir as this test binary: target/<profile>/coolify-broker.
        if let Some(target) = coold.parent().and_then(Path::parent) {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status().expect("run cargo build -p coolify-broker");
        assert!(status.success(), "cargo build -p coolify-broker failed");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

/// A running `coolify-broker` process.
pub struct Broker {
    pub child: Child,
    pub grpc: SocketAddr,
    pub socket: PathBuf,
    pub dir: tempfile::TempDir,
}

/// `name` in the directory of the broker's socket.
fn state(socket: &Path, name: &str) -> PathBuf {
    socket.parent().unwrap_or(Path::new("/")).join(name)
}

impl Broker {
    pub fn start(pki: &Pki, env: &[(&str, &str)]) -> Broker {
        let dir = tempfile::tempdir().expect("broker dir");
        let grpc: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        Self::start_at(pki, grpc, dir, env)
    }

    /// Starts on a given port and dir (a restart keeps both).
    pub fn start_at(
        pki: &Pki,
        grpc: SocketAddr,
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Broker {
        let socket = dir.path().join("broker.sock");
        let mut child = Self::command(pki, grpc, &socket, env)
            .spawn()
            .expect("spawn broker");
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = uds_http(&socket, "GET", "/v1/health", None) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("broker exited with {status}:\n{err}");
            }
            assert!(started.elapsed() < Duration::from_secs(15), "broker not up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker {
            child,
            grpc,
            socket,
            dir,
        }
    }

    pub fn command(pki: &Pki, grpc: SocketAddr, socket: &Path, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(broker_bin());
        cmd.env_clear()
            .env("BROKER_GRPC_BIND", grpc.to_string())
            .env("BROKER_UNIX_SOCKET_PATH", socket)
            .env("BROKER_JWT_PUBLIC_KEY_PATH", &pki.jwt_pub)
            .env("BROKER_TLS_CERT", &pki.cert)
            .env("BROKER_TLS_KEY", &pki.key)
            .env("BROKER_LOG_LEVEL", "info")
            // The broker's state files beside its socket, in the test's dir:
            // never the machine's /var/lib/coolify/broker, shared by all.
            .env("BROKER_REVOCATIONS_PATH", state(socket, "revocations.json"))
            .env("BROKER_BUILDS_PATH", state(socket, "builds.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn url(&self) -> String {
        format!("grpcs://{}/v1/agent", self.grpc)
    }

    /// Env for a coold that dials this broker as `host`.
    pub fn agent_env(&self, pki: &Pki, host: &str, caps: &[&str]) -> Vec<(String, String)> {
        vec![
            ("COOLD_BROKER_URL".into(), self.url()),
            (
                "COOLD_BROKER_TOKEN_FILE".into(),
                pki.token_file(host, caps).display().to_string(),
            ),
            ("COOLD_BROKER_CA".into(), pki.ca.display().to_string()),
        ]
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        uds_http(&self.socket, method, path, body).expect("uds request")
    }

    /// `POST /v1/coold/dispatch`.
    pub fn dispatch(&self, host: &str, method: &str, path: &str) -> (u16, String) {
        let body = serde_json::json!({"host_id": host, "method": method, "path": path});
        self.request("POST", "/v1/coold/dispatch", Some(&body.to_string()))
    }

    /// Waits until `/v1/health` reports `n` streams.
    pub fn wait_streams(&self, n: u64, within: Duration) {
        let started = Instant::now();
        loop {
            let (_, body) = self.request("GET", "/v1/health", None);
            let v: serde_json::Value = serde_json::from_str(&body).expect("health json");
            if v["streams"].as_u64() == Some(n) {
                return;
            }
            assert!(
                started.elapsed() < within,
                "broker has {} streams, want {n}",
                v["streams"]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request over the Unix socket: `(status, body)`.
pub fn uds_http(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: broker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            super::dechunk_pub(rest)
        } else {
            rest.to_string()
        },
    ))
}

/// How a fake agent treats the frames it gets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FakeMode {
    /// Answers every frame 200 `{"fake":true}` at once.
    Echo,
    /// Keeps every frame and never answers.
    Silent,
    /// Answers 200 `{"fake":true}` after this many milliseconds.
    Slow(u64),
}

/// An agent inside the test process speaking the proto over TLS.
pub struct FakeAgent {
    rt: Option<tokio::runtime::Runtime>,
    pub frames: Arc<Mutex<Vec<ServerMsg>>>,
}

impl FakeAgent {
    /// Opens a stream; `Err` carries the broker's refusal.
    pub fn connect(
        grpc: SocketAddr,
        ca: &Path,
        token: &str,
        hello: Hello,
        mode: FakeMode,
    ) -> Result<FakeAgent, tonic::Status> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let frames = Arc::new(Mutex::new(Vec::new()));
        let ca = std::fs::read(ca).expect("ca");
        let token = token.to_string();
        let kept = frames.clone();
        rt.block_on(async move {
            let channel = Endpoint::from_shared(format!("https://{grpc}"))
                .expect("endpoint")
                .tls_config(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(ca))
                        .domain_name("127.0.0.1"),
                )
                .expect("tls")
                .connect()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            tx.send(ClientMsg {
                msg: Some(client_msg::Msg::Hello(hello)),
            })
            .await
            .expect("queue hello");
            let mut req = tonic::Request::new(ReceiverStream::new(rx));
            if let Ok(v) = format!("Bearer {token}").parse() {
                req.metadata_mut().insert("authorization", v);
            }
            let mut inbound = AgentClient::new(channel).stream(req).await?.into_inner();
            tokio::spawn(async move {
                while let Ok(Some(msg)) = inbound.message().await {
                    let delay = match mode {
                        FakeMode::Echo => Some(0),
                        FakeMode::Slow(ms) => Some(ms),
                        FakeMode::Silent => None,
                    };
                    if let Some(ms) = delay {
                        let tx = tx.clone();
                        let request_id = msg.request_id.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            let _ = tx
                                .send(ClientMsg {
                                    msg: Some(client_msg::Msg::Response(Response {
                                        request_id,
                                        status: 200,
                                        body: b"{\"fake\":true}".to_vec(),
                                        error: String::new(),
                                    })),
                                })
                                .await;
                        });
                    }
                    kept.lock().unwrap_or_else(|p| p.into_inner()).push(msg);
                }
                drop(tx);
            });
            Ok::<(), tonic::Status>(())
        })?;
        Ok(FakeAgent {
            rt: Some(rt),
            frames,
        })
    }

    pub fn hello(host: &str, caps: &[&str], builder_capacity: u32) -> Hello {
        Hello {
            host_id: host.into(),
            version: "fake".into(),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            builder_capacity,
        }
    }

    pub fn frame_count(&self) -> usize {
        self.frames.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        // Dropping the runtime closes the connection: the broker sees the
        // stream end as it would for a crashed host.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
