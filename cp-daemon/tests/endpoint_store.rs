//! The endpoint-store contract: one suite, run against the embedded SQLite
//! store and the Corrosion store (against a fake that speaks Corrosion's
//! documented HTTP formats). Set `COOLIFY_CORROSION_API=host:port` to run
//! the Corrosion half against a real agent whose schema dir holds
//! `cp-daemon/src/discovery/schema.sql`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::sync::Arc;

use coold::discovery::{Change, CorrosionStore, EndpointStore, Observed, SqliteStore, StoreError};

fn obs(id: &str, state: &str) -> Observed {
    Observed {
        container_id: id.into(),
        container_name: format!("name-{id}"),
        namespace: "default".into(),
        container_ip: "198.18.0.7".into(),
        state: state.into(),
        health: "unknown".into(),
    }
}

const HOST_A: &str = "198.18.100.1";
const HOST_B: &str = "198.18.100.2";

/// Ids unique per run, so a real shared Corrosion never sees stale rows.
fn id(s: &str) -> String {
    format!("{s}-{:08x}", std::process::id())
}

async fn contract(store: Arc<dyn EndpointStore>) {
    let (a1, a2, b1) = (id("a1"), id("a2"), id("b1"));

    // Empty writes are no-ops.
    store.apply(HOST_A, &[]).await.unwrap();

    // Upsert inserts with defaults for what sync does not observe.
    store
        .apply(
            HOST_A,
            &[
                Change::Upsert(obs(&a1, "running")),
                Change::Upsert(obs(&a2, "running")),
            ],
        )
        .await
        .unwrap();
    store
        .apply(HOST_B, &[Change::Upsert(obs(&b1, "running"))])
        .await
        .unwrap();
    let rows = store.host_rows(HOST_A).await.unwrap();
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| r.container_id == a1 || r.container_id == a2)
        .collect();
    assert_eq!(mine.len(), 2, "{rows:?}");
    assert!(mine
        .iter()
        .all(|r| r.host_mgmt_ip == HOST_A && r.service_id.is_empty() && r.ports.is_empty()));
    assert!(mine.iter().all(|r| r.updated_at > 0));

    // Register sets service id and ports; a later observed upsert keeps them.
    store
        .apply(
            HOST_A,
            &[Change::Register {
                observed: obs(&a1, "running"),
                service_id: id("web"),
                ports: vec![80, 443],
            }],
        )
        .await
        .unwrap();
    store
        .apply(HOST_A, &[Change::Upsert(obs(&a1, "exited"))])
        .await
        .unwrap();
    let web = store.service_rows(&id("web")).await.unwrap();
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].state, "exited");
    assert_eq!(web[0].ports, vec![80, 443]);

    // Deletes are scoped to the writing host.
    store
        .apply(
            HOST_A,
            &[Change::Delete {
                container_id: b1.clone(),
            }],
        )
        .await
        .unwrap();
    assert!(
        store
            .all_rows()
            .await
            .unwrap()
            .iter()
            .any(|r| r.container_id == b1),
        "host A deleted host B's row"
    );
    store
        .apply(
            HOST_A,
            &[Change::Delete {
                container_id: a2.clone(),
            }],
        )
        .await
        .unwrap();
    assert!(!store
        .host_rows(HOST_A)
        .await
        .unwrap()
        .iter()
        .any(|r| r.container_id == a2));

    // Deregister removes the row from the service.
    store.deregister(HOST_A, &id("web"), &a1).await.unwrap();
    assert!(store.service_rows(&id("web")).await.unwrap().is_empty());
    // Idempotent.
    store.deregister(HOST_A, &id("web"), &a1).await.unwrap();

    // Clean up what this run wrote (matters on a real Corrosion).
    store
        .apply(HOST_B, &[Change::Delete { container_id: b1 }])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("endpoints.db")).unwrap();
    contract(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrosion_store_passes_the_contract() {
    let fake;
    let addr = match std::env::var("COOLIFY_CORROSION_API") {
        Ok(a) => a.parse().expect("COOLIFY_CORROSION_API is host:port"),
        Err(_) => {
            fake = support::corrosion::CorrosionFake::start();
            fake.addr
        }
    };
    contract(Arc::new(CorrosionStore::new(addr))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrosion_down_is_unavailable_not_a_panic() {
    let mut fake = support::corrosion::CorrosionFake::start();
    let store = CorrosionStore::new(fake.addr);
    fake.stop();
    let err = store
        .apply(HOST_A, &[Change::Upsert(obs("x", "running"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    fake.restart();
    store
        .apply(HOST_A, &[Change::Upsert(obs("x", "running"))])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrosion_rejected_statement_is_rejected() {
    let fake = support::corrosion::CorrosionFake::start();
    let store = CorrosionStore::new(fake.addr);
    let err = store
        .execute(coold::discovery::Statement::new(
            "INSERT INTO nope VALUES (1)",
            vec![],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_reopens_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("endpoints.db");
    SqliteStore::open(&path)
        .unwrap()
        .apply(HOST_A, &[Change::Upsert(obs("kept", "running"))])
        .await
        .unwrap();
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.host_rows(HOST_A).await.unwrap().len(), 1);
}
