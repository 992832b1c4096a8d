//! A build outlives the broker that routed it: after a broker restart (an
//! upgrade replaces it) the result the agent sends on its new stream still
//! lands, and a result that landed just before a restart is still served
//! after it.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use coolify_proto::v1::{client_msg, ClientMsg, Hello, Response, ServerMsg};

const LIMIT: Duration = Duration::from_secs(60);

async fn request(socket: &Path, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    support::uds_request(socket, method, path, body).await
}

/// A builder host that takes builds and answers nothing about them (its
/// answer names another request, which the broker ignores): the build
/// stays running, as a real one does for minutes.
fn silent(_: &ServerMsg) -> Response {
    Response {
        request_id: "not-a-request".into(),
        status: 200,
        body: Vec::new(),
        error: String::new(),
    }
}

fn builder_hello(host: &str) -> Hello {
    Hello {
        host_id: host.into(),
        version: "test".into(),
        capabilities: vec!["builder".into()],
        builder_capacity: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builds_result_survives_broker_restarts_before_and_after_it_lands() {
    let pki = support::pki();
    let config = support::config(&pki);
    let host = format!("builder-{}", std::process::id());
    let token = support::token_with_caps(&pki, &host, &["builder".into()]);
    tokio::time::timeout(LIMIT, async {
        let running = coolify_broker::server::start(&config).await.unwrap();
        let (_tx, _reader) = support::agent_saying(
            running.grpc_addr.port(),
            &pki.ca,
            token.clone(),
            builder_hello(&host),
            silent,
        )
        .await
        .unwrap();
        while running.broker.streams.get(&host).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let spec = serde_json::json!({"request_id": "b-survives", "spec": {"repo": "git://x/y"}});
        let (status, body) = request(
            &running.socket_path,
            "POST",
            "/v1/build/dispatch",
            &spec.to_string(),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        assert!(
            std::fs::read_to_string(&config.builds_path)
                .unwrap()
                .contains("b-survives"),
            "recorded before the 202"
        );
        running.shutdown().await;

        // The next broker waits for it instead of answering "no request".
        let running = coolify_broker::server::start(&config).await.unwrap();
        let (status, body) = request(
            &running.socket_path,
            "GET",
            "/v1/build/result/b-survives?timeout_ms=0",
            "",
        )
        .await;
        assert_eq!(status, 202, "still waiting after the restart: {body}");

        // The agent's new stream brings the result.
        let (tx, _reader) = support::agent_saying(
            running.grpc_addr.port(),
            &pki.ca,
            token,
            builder_hello(&host),
            silent,
        )
        .await
        .unwrap();
        tx.send(ClientMsg {
            msg: Some(client_msg::Msg::Response(Response {
                request_id: "b-survives".into(),
                status: 200,
                body: br#"{"image":"localhost/x:1"}"#.to_vec(),
                error: String::new(),
            })),
        })
        .await
        .unwrap();
        let (status, body) = request(
            &running.socket_path,
            "GET",
            "/v1/build/result/b-survives?timeout_ms=10000",
            "",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], 200, "{body}");
        running.shutdown().await;

        // A result that landed just before a restart is still served after it.
        let running = coolify_broker::server::start(&config).await.unwrap();
        let (status, again) = request(
            &running.socket_path,
            "GET",
            "/v1/build/result/b-survives?timeout_ms=0",
            "",
        )
        .await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["body"], body["body"], "{again}");
        running.shutdown().await;
    })
    .await
    .expect("the test took longer than its limit");
}
