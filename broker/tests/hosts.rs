//! `GET /v1/hosts`: the broker lists its connected hosts with what the
//! central app needs to place work, and drops a host when its stream goes.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use coolify_proto::v1::Hello;
use http_body_util::{BodyExt, Empty};

const LIMIT: Duration = Duration::from_secs(60);

async fn hosts(socket: &Path) -> serde_json::Value {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(
            http::Request::get("/v1/hosts")
                .header("host", "broker")
                .body(Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_hosts_are_listed_with_caps_version_times_and_free_slots() {
    let pki = support::pki();
    let running = coolify_broker::server::start(&support::config(&pki))
        .await
        .unwrap();
    let port = running.grpc_addr.port();
    let pid = std::process::id();
    let (builder, plain) = (format!("a-builder-{pid}"), format!("b-plain-{pid}"));
    let before_ms = coolify_broker::streams::now_ms();
    tokio::time::timeout(LIMIT, async {
        let caps = vec!["builder".to_string()];
        let (_b, _) = support::agent_saying(
            port,
            &pki.ca,
            support::token_with_caps(&pki, &builder, &caps),
            Hello {
                host_id: builder.clone(),
                version: "9.9.9".into(),
                capabilities: caps.clone(),
                builder_capacity: 3,
            },
            support::ok,
        )
        .await
        .unwrap();
        let (plain_tx, plain_reader) = support::agent_watched(
            port,
            &pki.ca,
            support::token(&pki, &plain),
            plain.clone(),
            support::ok,
        )
        .await
        .unwrap();
        while running.broker.streams.len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let v = hosts(&running.socket_path).await;
        assert_eq!(v["count"], 2, "{v}");
        let list = v["hosts"].as_array().unwrap();
        assert_eq!(list[0]["host_id"], builder.as_str(), "sorted by id: {v}");
        assert_eq!(list[0]["capabilities"], serde_json::json!(["builder"]));
        assert_eq!(list[0]["agent_version"], "9.9.9");
        assert_eq!(list[0]["builder_slots_free"], 3);
        assert_eq!(list[1]["host_id"], plain.as_str());
        assert!(list[1].get("builder_slots_free").is_none(), "{v}");
        for h in list {
            assert!(
                h["connected_since"].as_u64().unwrap() >= before_ms / 1000,
                "{h}"
            );
            assert!(h["last_frame_ms"].as_u64().unwrap() >= before_ms, "{h}");
        }

        // The plain host goes: it is gone from the list once its stream is.
        drop(plain_tx);
        plain_reader.abort();
        while running.broker.streams.get(&plain).is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let v = hosts(&running.socket_path).await;
        assert_eq!(v["count"], 1, "{v}");
        assert_eq!(v["hosts"][0]["host_id"], builder.as_str());
    })
    .await
    .unwrap();
    running.shutdown().await;
}
