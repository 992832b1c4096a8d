//! The whole broker path (UDS lane → TLS + HTTP/2 agent stream → back) with
//! bodies larger than every buffer h2, rustls and our stream codec start
//! from: 16 KiB TLS records, many HTTP/2 DATA frames, and a connection that
//! goes idle between dispatches.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use coolify_proto::v1::{server_msg, Response, ServerMsg};
use http_body_util::BodyExt;

/// Everything is on this machine; a hang is a bug.
const LIMIT: Duration = Duration::from_secs(60);

/// Answers with the frame's own body, so whatever arrives goes back.
fn echo(msg: &ServerMsg) -> Response {
    let body = match &msg.msg {
        Some(server_msg::Msg::Verb(v)) => v.body.clone(),
        _ => Vec::new(),
    };
    Response {
        request_id: msg.request_id.clone(),
        status: 200,
        body,
        error: String::new(),
    }
}

async fn dispatch(socket: &Path, host: &str, payload: &str) -> (u16, Bytes) {
    let mut sender = support::uds_client(socket).await;
    let body = serde_json::json!({
        "host_id": host,
        "method": "POST",
        "path": "/api/v1/echo",
        "body": payload,
    })
    .to_string();
    let resp = support::post_dispatch(&mut sender, body).await;
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// `len` bytes of JSON-safe text that differ along their length, so a
/// misplaced chunk shows.
fn payload(len: usize, seed: usize) -> String {
    (0..len)
        .map(|i| (b'a' + ((i / 7 + seed) % 26) as u8) as char)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_larger_than_every_buffer_cross_the_tls_stream_both_ways_after_idling() {
    let pki = support::pki();
    let running = coolify_broker::server::start(&support::config(&pki))
        .await
        .unwrap();
    let port = running.grpc_addr.port();
    let host = format!("large-{}", std::process::id());
    let _agent = support::agent(
        port,
        &pki.ca,
        support::token(&pki, &host),
        host.clone(),
        echo,
    )
    .await;
    tokio::time::timeout(LIMIT, async {
        // Wait for the stream to be registered (bounded by LIMIT).
        while running.broker.streams.get(&host).is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // 100 B fits the starting buffers; 40 KB spans several TLS records
        // and DATA frames; 1 MB spans many, in both directions.
        for (round, len) in [100, 40_000, 1_000_000, 40_000].into_iter().enumerate() {
            let sent = payload(len, round);
            let (status, got) = dispatch(&running.socket_path, &host, &sent).await;
            assert_eq!(
                status,
                200,
                "round {round}: {}",
                String::from_utf8_lossy(&got[..got.len().min(200)])
            );
            let expected = serde_json::to_vec(&serde_json::Value::String(sent)).unwrap();
            assert_eq!(got.len(), expected.len(), "round {round}: length");
            assert!(got == expected, "round {round}: body changed in transit");
            // Idle between rounds, as a host's stream mostly is.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    running.shutdown().await;
}
