//! The client against real peers on loopback and a Unix socket: plain TCP,
//! TLS with a CA made here, a peer that never answers, a refused connect.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coolify_http_client::{trusting_only, Client, ClientError, TrustError};
use http::{HeaderValue, Method};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reads one request (head and a Content-Length body) and answers 201 with
/// the request line, the Authorization header and the body echoed back.
async fn echo_once(mut s: impl AsyncRead + AsyncWrite + Unpin) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "peer closed before a full head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = head.lines().next().unwrap().to_string();
    let auth = head
        .lines()
        .find_map(|l| l.strip_prefix("authorization: "))
        .unwrap_or("-")
        .to_string();
    let ctype = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("-")
        .to_string();
    let body = format!(
        "{line}|{auth}|{ctype}|{}",
        String::from_utf8_lossy(&buf[head_end..head_end + len])
    );
    let resp = format!(
        "HTTP/1.1 201 Created\r\nX-Test: yes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(resp.as_bytes()).await.unwrap();
    s.shutdown().await.ok();
}

#[tokio::test]
async fn tcp_request_carries_method_path_headers_and_json_body() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move { echo_once(l.accept().await.unwrap().0).await });
    let client = Client::tcp(addr.to_string()).with_header(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Bearer t0k"),
    );
    let r = client
        .send(
            Method::POST,
            "/v1/x?y=1",
            Some(Bytes::from_static(b"{\"a\":1}")),
        )
        .await
        .unwrap();
    server.await.unwrap();
    assert_eq!(r.status, 201);
    assert!(r.is_success());
    assert_eq!(r.headers["x-test"], "yes");
    assert_eq!(
        r.text(),
        "POST /v1/x?y=1 HTTP/1.1|Bearer t0k|application/json|{\"a\":1}"
    );
}

#[tokio::test]
async fn unix_socket_get_has_no_body_and_no_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lane.sock");
    let l = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move { echo_once(l.accept().await.unwrap().0).await });
    let r = Client::unix(&path).get("/healthz").await.unwrap();
    server.await.unwrap();
    assert_eq!(r.text(), "GET /healthz HTTP/1.1|-|-|");
}

fn pki(dir: &std::path::Path) -> Arc<rustls::ServerConfig> {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    Arc::new(config)
}

#[tokio::test]
async fn https_trusts_the_given_ca_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let server_config = pki(dir.path());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
    let server = tokio::spawn(async move {
        // First: the trusted client. Second: a client trusting another CA,
        // whose handshake fails on its side.
        let tls = acceptor.accept(l.accept().await.unwrap().0).await.unwrap();
        echo_once(tls).await;
        let _ = acceptor.accept(l.accept().await.unwrap().0).await;
    });
    let trusted = trusting_only(&dir.path().join("ca.crt")).unwrap();
    let r = Client::https(addr.to_string(), trusted)
        .unwrap()
        .get("/api/v1/host/info")
        .await
        .unwrap();
    assert_eq!(r.status, 201);

    let other = tempfile::tempdir().unwrap();
    let _ = pki(other.path());
    let untrusted = trusting_only(&other.path().join("ca.crt")).unwrap();
    let err = Client::https(addr.to_string(), untrusted)
        .unwrap()
        .get("/")
        .await
        .unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(&err, ClientError::Connect(m) if m.starts_with("TLS: ")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_peer_that_never_answers_is_a_timeout() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    });
    let err = Client::tcp(addr.to_string())
        .with_timeout(Duration::from_millis(200))
        .get("/")
        .await
        .unwrap_err();
    held.abort();
    assert!(matches!(err, ClientError::Timeout(d) if d == Duration::from_millis(200)));
    assert_eq!(err.to_string(), "no answer within 200ms");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = Client::tcp(addr.to_string()).get("/").await.unwrap_err();
    assert!(matches!(err, ClientError::Connect(_)), "{err:?}");
}

#[test]
fn trust_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("ca.crt");
    let e = trusting_only(&missing).unwrap_err();
    assert!(matches!(e, TrustError::Read { .. }));
    assert!(e.to_string().starts_with(&missing.display().to_string()));
    std::fs::write(&missing, "no pem here\n").unwrap();
    assert!(matches!(
        trusting_only(&missing).unwrap_err(),
        TrustError::Empty { .. }
    ));
}

#[test]
fn https_needs_host_and_port() {
    let dir = tempfile::tempdir().unwrap();
    let _ = pki(dir.path());
    let config = trusting_only(&dir.path().join("ca.crt")).unwrap();
    let e = Client::https("8443", config).unwrap_err();
    assert_eq!(
        e.to_string(),
        "address \"8443\" must be HOST:PORT, e.g. 100.64.0.5:8443"
    );
}
