//! The endpoint-store contract: one suite, run against the embedded SQLite
//! store and against a real Corrosion agent (`tests/src/corrosion.rs`
//! starts one; `scripts/test` builds it). Two agents gossiping on loopback
//! show a row written through one host's agent read from the other's.
//!
//! A fake Corrosion is used only for the two faults a real agent cannot be
//! made to show on demand: load shedding (503, past 128 requests in flight)
//! and a wedged agent that accepts and never answers (support/corrosion.rs
//! says why for each).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use coold::discovery::{
    Change, CorrosionStore, EndpointStore, Observed, SqliteStore, Statement, StoreError,
};
use coolify_tests::corrosion::{AgentSpec, CorrosionAgent};
use support::corrosion::{Fault, FaultyCorrosion};

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
    let agent = CorrosionAgent::start_loopback();
    contract(Arc::new(CorrosionStore::new(agent.api()))).await;
}

/// Polls `f` (bounded) until it holds; the gossip delay is not a promise.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !f().await {
        assert!(
            started.elapsed() < GOSSIP_WITHIN,
            "{what}: not within {GOSSIP_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const GOSSIP_WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_written_through_one_agent_is_read_through_another() {
    let a = CorrosionAgent::start_loopback();
    let b = CorrosionAgent::start_with(AgentSpec::loopback_joining(&[a.gossip()]));
    let (store_a, store_b) = (CorrosionStore::new(a.api()), CorrosionStore::new(b.api()));
    let (on_a, on_b) = (id("gossip-a"), id("gossip-b"));

    // Each host writes its own rows into its own agent.
    store_a
        .apply(HOST_A, &[Change::Upsert(obs(&on_a, "running"))])
        .await
        .unwrap();
    store_b
        .apply(HOST_B, &[Change::Upsert(obs(&on_b, "running"))])
        .await
        .unwrap();
    eventually("A's row read through B", async || {
        store_b.host_rows(HOST_A).await.is_ok_and(|r| {
            r.iter()
                .any(|r| r.container_id == on_a && r.state == "running")
        })
    })
    .await;
    eventually("B's row read through A", async || {
        store_a
            .host_rows(HOST_B)
            .await
            .is_ok_and(|r| r.iter().any(|r| r.container_id == on_b))
    })
    .await;

    // Updates and deletes travel too.
    store_a
        .apply(HOST_A, &[Change::Upsert(obs(&on_a, "exited"))])
        .await
        .unwrap();
    eventually("A's update read through B", async || {
        store_b.host_rows(HOST_A).await.is_ok_and(|r| {
            r.iter()
                .any(|r| r.container_id == on_a && r.state == "exited")
        })
    })
    .await;
    store_a
        .apply(
            HOST_A,
            &[Change::Delete {
                container_id: on_a.clone(),
            }],
        )
        .await
        .unwrap();
    eventually("A's delete read through B", async || {
        store_b
            .all_rows()
            .await
            .is_ok_and(|r| !r.iter().any(|r| r.container_id == on_a))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_agent_is_unavailable_and_keeps_its_rows_when_back() {
    let mut agent = CorrosionAgent::start_loopback();
    let store = CorrosionStore::new(agent.api());
    let (kept, later) = (id("kept"), id("later"));
    store
        .apply(HOST_A, &[Change::Upsert(obs(&kept, "running"))])
        .await
        .unwrap();

    agent.stop();
    let err = store
        .apply(HOST_A, &[Change::Upsert(obs(&later, "running"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    let err = store.all_rows().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");

    agent.start();
    store
        .apply(HOST_A, &[Change::Upsert(obs(&later, "running"))])
        .await
        .unwrap();
    let ids: Vec<String> = store
        .host_rows(HOST_A)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.container_id)
        .collect();
    assert_eq!(ids, vec![kept, later], "the agent kept its database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrosion_rejected_statement_is_rejected() {
    let agent = CorrosionAgent::start_loopback();
    let store = CorrosionStore::new(agent.api());
    let err = store
        .execute(Statement::new("INSERT INTO nope VALUES (1)", vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err}");
    let err = store
        .query(Statement::new("SELECT nothing FROM nowhere", vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrosion_shedding_load_is_unavailable() {
    let fake = FaultyCorrosion::start(Fault::ShedLoad);
    let store = CorrosionStore::new(fake.addr);
    let err = store
        .apply(HOST_A, &[Change::Upsert(obs("x", "running"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    let err = store.all_rows().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wedged_corrosion_is_unavailable_after_the_request_timeout() {
    let fake = FaultyCorrosion::start(Fault::Hang);
    let store = CorrosionStore::new(fake.addr);
    let err = store.all_rows().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
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
