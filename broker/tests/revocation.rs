//! `POST /v1/hosts/{id}/revoke`: the host's stream is closed at once, its
//! token is refused from then on, across a broker restart, while other
//! hosts keep working; a token enrolled after the revocation is accepted.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

/// Everything is on this machine; a hang is a bug.
const LIMIT: Duration = Duration::from_secs(60);

async fn post(socket: &Path, path: &str, body: &str) -> (u16, serde_json::Value) {
    support::uds_request(socket, "POST", path, body).await
}

async fn dispatch_status(socket: &Path, host: &str) -> u16 {
    let body = serde_json::json!({"host_id": host, "method": "GET", "path": "/api/v1/host/info"});
    post(socket, "/v1/coold/dispatch", &body.to_string())
        .await
        .0
}

async fn wait_connected(running: &coolify_broker::server::Running, host: &str) {
    while running.broker.streams.get(host).is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_host_is_cut_off_at_once_and_stays_refused_across_a_restart() {
    let pki = support::pki();
    let config = support::config(&pki);
    let pid = std::process::id();
    let (revoked, other) = (format!("revoked-{pid}"), format!("other-{pid}"));
    tokio::time::timeout(LIMIT, async {
        let running = coolify_broker::server::start(&config).await.unwrap();
        let port = running.grpc_addr.port();
        let token = support::token(&pki, &revoked);
        let (_tx, reader) =
            support::agent_watched(port, &pki.ca, token.clone(), revoked.clone(), support::ok)
                .await
                .unwrap();
        let _other = support::agent(
            port,
            &pki.ca,
            support::token(&pki, &other),
            other.clone(),
            support::ok,
        )
        .await;
        wait_connected(&running, &revoked).await;
        wait_connected(&running, &other).await;
        assert_eq!(dispatch_status(&running.socket_path, &revoked).await, 200);

        let (status, body) = post(
            &running.socket_path,
            &format!("/v1/hosts/{revoked}/revoke"),
            "",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["host_id"], revoked.as_str());
        assert_eq!(body["stream_closed"], true);
        // The stream is closed at once: the agent's read ends within 1 s of
        // the answer.
        tokio::time::timeout(Duration::from_secs(1), reader)
            .await
            .expect("the revoked host's stream was still open 1 s after the revocation")
            .unwrap();
        assert_eq!(dispatch_status(&running.socket_path, &revoked).await, 404);
        assert_eq!(
            dispatch_status(&running.socket_path, &other).await,
            200,
            "other hosts keep working"
        );

        let refused =
            support::agent_watched(port, &pki.ca, token.clone(), revoked.clone(), support::ok)
                .await
                .expect_err("the revoked token opened a stream");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert!(
            refused.message().contains("revoked"),
            "{}",
            refused.message()
        );
        running.shutdown().await;

        // A restarted broker reads the record back.
        let running = coolify_broker::server::start(&config).await.unwrap();
        let port = running.grpc_addr.port();
        let refused = support::agent_watched(port, &pki.ca, token, revoked.clone(), support::ok)
            .await
            .expect_err("the revoked token opened a stream after a restart");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);

        // Enrolled again (a token issued after the revocation's second).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (_tx, _reader) = support::agent_watched(
            port,
            &pki.ca,
            support::token(&pki, &revoked),
            revoked.clone(),
            support::ok,
        )
        .await
        .unwrap();
        wait_connected(&running, &revoked).await;
        assert_eq!(dispatch_status(&running.socket_path, &revoked).await, 200);
        running.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_bad_host_id_is_400_and_records_nothing() {
    let pki = support::pki();
    let config = support::config(&pki);
    let running = coolify_broker::server::start(&config).await.unwrap();
    let (status, body) = post(&running.socket_path, "/v1/hosts/bad%20id/revoke", "").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().starts_with("host_id: "),
        "{body}"
    );
    assert!(!config.revocations_path.exists());
    running.shutdown().await;
}
