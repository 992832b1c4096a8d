//! The discovery sync loop (seed 000's task table): an engine event or the
//! periodic tick triggers a reconcile of this host's rows; the result also
//! feeds the in-memory view DNS reads and the healthcheck runner.
//!
//! Invariant: a failing store never stops the loop; the component turns
//! degraded, the cached rows are dropped, and the next tick retries.
//! Invariant: a reconcile plans against this host's rows as the store
//! returned them on the last tick (or re-reads them), never against what
//! the loop believes it wrote, so rows the store lost are written again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use super::healthcheck::HealthRunner;
use super::{observe, plan, EndpointStore};
use crate::config::Namespace;
use crate::health::{Health, Status};
use crate::podman::{raw, Engine};

/// Component name in `/healthz`.
pub use coolify_api_types::health::DISCOVERY as COMPONENT;

/// Quiet time after an event before reconciling, so a burst (die + remove,
/// a deploy of several containers) costs one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// How often the store's change marker is asked (one scalar query); the
/// DNS view is re-read only when it moved.
const VIEW_POLL: Duration = Duration::from_millis(200);

/// What verbs and DNS share with the loop.
#[derive(Debug, Clone)]
pub struct DiscoveryHandle {
    pub store: Arc<dyn EndpointStore>,
    pub host: String,
    /// Wakes the loop for an immediate reconcile.
    pub trigger: Arc<Notify>,
    /// Set after an out-of-band write, so the loop re-reads its rows.
    pub stale: Arc<AtomicBool>,
    /// Every row the store holds, refreshed after each reconcile.
    pub view: watch::Receiver<Arc<Vec<Endpoint>>>,
}

impl DiscoveryHandle {
    /// After a verb wrote rows: re-read them and reconcile now.
    pub fn wrote(&self) {
        self.stale.store(true, Ordering::SeqCst);
        self.trigger.notify_one();
    }
}

/// Outcome of one reconcile, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileStats {
    pub observed: usize,
    pub written: usize,
}

pub struct Sync {
    engine: Engine,
    namespaces: Vec<Namespace>,
    interval: Duration,
    health: Health,
    handle: DiscoveryHandle,
    view_tx: Arc<watch::Sender<Arc<Vec<Endpoint>>>>,
    rows: Option<Vec<Endpoint>>,
    checks: HealthRunner,
}

impl Sync {
    /// `run_healthchecks`: the agent runs healthchecks itself (no systemd);
    /// otherwise it only reads the status the engine records.
    pub fn new(
        engine: Engine,
        store: Arc<dyn EndpointStore>,
        host: String,
        namespaces: Vec<Namespace>,
        interval: Duration,
        health: Health,
        run_healthchecks: bool,
    ) -> (Sync, DiscoveryHandle) {
        let (view_tx, view) = watch::channel(Arc::new(Vec::new()));
        let trigger = Arc::new(Notify::new());
        let handle = DiscoveryHandle {
            store,
            host,
            trigger: trigger.clone(),
            stale: Arc::new(AtomicBool::new(true)),
            view,
        };
        health.register(COMPONENT, false);
        let checks = HealthRunner::new(engine.socket.clone(), trigger, run_healthchecks);
        (
            Sync {
                engine,
                namespaces,
                interval,
                health,
                handle: handle.clone(),
                view_tx: Arc::new(view_tx),
                rows: None,
                checks,
            },
            handle,
        )
    }

    /// Runs until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        tokio::spawn(super::events::follow(
            self.engine.socket.clone(),
            self.handle.trigger.clone(),
            stop.clone(),
        ));
        tokio::spawn(follow_other_hosts(
            self.handle.store.clone(),
            self.view_tx.clone(),
            stop.clone(),
        ));
        let trigger = self.handle.trigger.clone();
        loop {
            match self.reconcile().await {
                Ok(stats) => self.health.set(
                    COMPONENT,
                    Status::Healthy,
                    format!(
                        "{} store; {} managed containers",
                        self.handle.store.kind(),
                        stats.observed
                    ),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "reconcile failed; retrying on the next tick");
                    self.rows = None;
                    self.health.set(COMPONENT, Status::Degraded, e);
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
                _ = trigger.notified() => {
                    tokio::time::sleep(DEBOUNCE).await;
                }
            }
        }
    }

    /// One reconcile: observe, plan against the cached rows, write the
    /// difference, refresh the view.
    pub async fn reconcile(&mut self) -> Result<ReconcileStats, String> {
        let list = raw::list_containers(&self.engine.socket)
            .await
            .map_err(|e| format!("listing containers: {e}"))?;
        let running: Vec<String> = observe::observe(&list, &self.namespaces, &Default::default())
            .into_iter()
            .filter(|o| o.state == "running")
            .map(|o| o.container_id)
            .collect();
        self.checks.sync(&running).await;
        let observed = observe::observe(&list, &self.namespaces, &self.checks.health());
        let store = self.handle.store.clone();
        if self.handle.stale.swap(false, Ordering::SeqCst) {
            self.rows = None;
        }
        let rows = match self.rows.take() {
            Some(r) => r,
            None => store
                .host_rows(&self.handle.host)
                .await
                .map_err(|e| e.to_string())?,
        };
        let changes = plan::plan(&observed, &rows);
        store
            .apply(&self.handle.host, &changes)
            .await
            .map_err(|e| e.to_string())?;
        // The view holds every host's rows (DNS answers across hosts); it is
        // read back on every tick so other hosts' writes arrive within one
        // interval.
        let all = store.all_rows().await.map_err(|e| e.to_string())?;
        // The next plan runs against this read-back, the store's truth, not
        // against what this host believes it wrote: rows the store lost
        // without this host seeing it down (a Corrosion agent restarted
        // from an empty or older database between two ticks) are written
        // again on the next tick.
        self.rows = Some(
            all.iter()
                .filter(|r| r.host_mgmt_ip == self.handle.host)
                .cloned()
                .collect(),
        );
        publish(&self.view_tx, all);
        Ok(ReconcileStats {
            observed: observed.len(),
            written: changes.len(),
        })
    }
}

/// Swaps the DNS view to `all` when it differs.
fn publish(view_tx: &watch::Sender<Arc<Vec<Endpoint>>>, all: Vec<Endpoint>) {
    view_tx.send_if_modified(|v| {
        if **v == all {
            false
        } else {
            *v = Arc::new(all);
            true
        }
    });
}

/// Re-reads the view when the store's change marker moves, so other hosts'
/// rows (gossiped into this host's Corrosion) are answered within
/// [`VIEW_POLL`] instead of at this host's next reconcile. Ends at once for
/// a store without a marker; a failing store is the reconcile's to report.
async fn follow_other_hosts(
    store: Arc<dyn EndpointStore>,
    view_tx: Arc<watch::Sender<Arc<Vec<Endpoint>>>>,
    stop: CancellationToken,
) {
    let mut seen = None;
    loop {
        match store.change_marker().await {
            Ok(None) => return,
            Ok(Some(marker)) if seen != Some(marker) => {
                if let Ok(all) = store.all_rows().await {
                    publish(&view_tx, all);
                    seen = Some(marker);
                }
            }
            Ok(Some(_)) | Err(_) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(VIEW_POLL) => {}
        }
    }
}
