//! Shared by the broker's integration tests and its dispatch benchmark
//! (`benches/dispatch.rs` includes this file by path): a throwaway PKI, a
//! simulated agent (one TLS connection and stream, answering every frame
//! at once with what `answer` makes of it) and the central app's side of
//! the UDS lane.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;

use bytes::Bytes;
use coolify_proto::v1::agent_client::AgentClient;
use coolify_proto::v1::{client_msg, ClientMsg, Hello, Response, ServerMsg};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Vec<u8>,
    pub jwt_key: String,
}

/// A CA, the broker's certificate for localhost/127.0.0.1 signed by it, and
/// an ES256 key pair for host tokens, written to a temp dir as
/// `broker.crt`, `broker.key` and `jwt.pub`.
pub fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    let jwt = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(dir.path().join("broker.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("broker.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("jwt.pub"), jwt.public_key_pem()).unwrap();
    Pki {
        ca: ca.pem().into_bytes(),
        jwt_key: jwt.serialize_pem(),
        dir,
    }
}

/// An in-process broker's configuration over this PKI: everything on
/// loopback or in the PKI's temp dir.
pub fn config(pki: &Pki) -> coolify_broker::config::Config {
    let dir = pki.dir.path();
    coolify_broker::config::Config {
        grpc_bind: "127.0.0.1:0".parse().unwrap(),
        unix_socket_path: dir.join("broker.sock"),
        unix_socket_group: None,
        pending_max: 100,
        jwt_public_key_path: dir.join("jwt.pub"),
        log_level: "warn".into(),
        dispatch_timeout: std::time::Duration::from_secs(20),
        tls_cert: dir.join("broker.crt"),
        tls_key: dir.join("broker.key"),
        host_queue: 16,
        revocations_path: dir.join("state/revocations.json"),
        builds_path: dir.join("state/builds.json"),
    }
}

/// An agent's answer to any frame: 200 with `{}`.
pub fn ok(msg: &ServerMsg) -> Response {
    Response {
        request_id: msg.request_id.clone(),
        status: 200,
        body: b"{}".to_vec(),
        error: String::new(),
    }
}

/// A simulated agent's frame sender and the task reading its stream.
pub type Watched = (
    tokio::sync::mpsc::Sender<ClientMsg>,
    tokio::task::JoinHandle<Option<tonic::Status>>,
);

/// A host token for `host` signed with the PKI's JWT key.
pub fn token(pki: &Pki, host: &str) -> String {
    token_with_caps(pki, host, &[])
}

/// The same, granting `caps`.
pub fn token_with_caps(pki: &Pki, host: &str, caps: &[String]) -> String {
    coolify_broker::jwt::mint_es256(
        pki.jwt_key.as_bytes(),
        host,
        caps,
        std::time::Duration::from_secs(3600),
    )
    .unwrap()
}

/// One simulated agent: a TLS connection to `127.0.0.1:port`, Hello, then
/// every frame answered with `answer(frame)`. Kept alive by the spawned
/// task as long as the returned sender lives.
pub async fn agent(
    port: u16,
    ca: &[u8],
    token: String,
    host: String,
    answer: fn(&ServerMsg) -> Response,
) -> tokio::sync::mpsc::Sender<ClientMsg> {
    agent_watched(port, ca, token, host, answer)
        .await
        .unwrap()
        .0
}

/// The same, with the broker's refusal as an error, and the task reading
/// the stream: it ends when the broker ends the stream, with the status it
/// ended it with (`None` for a clean end).
pub async fn agent_watched(
    port: u16,
    ca: &[u8],
    token: String,
    host: String,
    answer: fn(&ServerMsg) -> Response,
) -> Result<Watched, tonic::Status> {
    let hello = Hello {
        host_id: host,
        version: "test".into(),
        capabilities: vec![],
        builder_capacity: 0,
    };
    agent_saying(port, ca, token, hello, answer).await
}

/// The same with a Hello of the caller's (capabilities, version, capacity).
pub async fn agent_saying(
    port: u16,
    ca: &[u8],
    token: String,
    hello: Hello,
    answer: fn(&ServerMsg) -> Response,
) -> Result<Watched, tonic::Status> {
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name("127.0.0.1"),
        )
        .unwrap()
        .tcp_nodelay(true)
        .connect()
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tx.send(ClientMsg {
        msg: Some(client_msg::Msg::Hello(hello)),
    })
    .await
    .unwrap();
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut inbound = AgentClient::new(channel).stream(req).await?.into_inner();
    let reply = tx.clone();
    let reader = tokio::spawn(async move {
        loop {
            match inbound.message().await {
                Ok(Some(msg)) => {
                    let _ = reply
                        .send(ClientMsg {
                            msg: Some(client_msg::Msg::Response(answer(&msg))),
                        })
                        .await;
                }
                Ok(None) => return None,
                Err(status) => return Some(status),
            }
        }
    });
    Ok((tx, reader))
}

/// A keep-alive HTTP/1 connection to the broker's UDS lane.
pub async fn uds_client(socket: &Path) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// `POST /v1/coold/dispatch` with `body` (a dispatch request's JSON).
pub async fn post_dispatch(
    sender: &mut SendRequest<Full<Bytes>>,
    body: String,
) -> http::Response<hyper::body::Incoming> {
    sender
        .send_request(
            http::Request::post("/v1/coold/dispatch")
                .header("host", "broker")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap(),
        )
        .await
        .unwrap()
}

/// One request on the UDS lane (a new connection): status and JSON body
/// (`Null` when the body is not JSON).
pub async fn uds_request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let mut sender = uds_client(socket).await;
    let resp = sender
        .send_request(
            http::Request::builder()
                .method(method)
                .uri(path)
                .header("host", "broker")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}
