//! The discovery sync loop (seed 000's task table): an engine event or the
//! periodic tick triggers a reconcile of this host's rows; the result also
//! feeds the in-memory view DNS reads and the healthcheck runner.
//!
//! Invariant: a failing store never stops the loop; the component turns
//! degraded, the cached rows are dropped, and the next tick retries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::endpoint::{Change, Endpoint};
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
    view_tx: watch::Sender<Arc<Vec<Endpoint>>>,
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
                view_tx,
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
        self.rows = Some(apply_to_cache(rows, &changes, &self.handle.host));
        // The view holds every host's rows (DNS answers across hosts); it is
        // read back whenever anything changed, and on every tick so other
        // hosts' writes arrive within one interval.
        let all = store.all_rows().await.map_err(|e| e.to_string())?;
        self.view_tx.send_if_modified(|v| {
            if **v == all {
                false
            } else {
                *v = Arc::new(all);
                true
            }
        });
        Ok(ReconcileStats {
            observed: observed.len(),
            written: changes.len(),
        })
    }
}

/// The cached rows after `changes`, without reading the store again.
fn apply_to_cache(mut rows: Vec<Endpoint>, changes: &[Change], host: &str) -> Vec<Endpoint> {
    for c in changes {
        match c {
            Change::Delete { container_id } => rows.retain(|r| &r.container_id != container_id),
            Change::Upsert(o) | Change::Register { observed: o, .. } => {
                let (service_id, ports) = match c {
                    Change::Register {
                        service_id, ports, ..
                    } => (Some(service_id.clone()), Some(ports.clone())),
                    _ => (None, None),
                };
                match rows.iter_mut().find(|r| r.container_id == o.container_id) {
                    Some(r) => {
                        r.container_name = o.container_name.clone();
                        r.namespace = o.namespace.clone();
                        r.container_ip = o.container_ip.clone();
                        r.state = o.state.clone();
                        r.health = o.health.clone();
                        if let Some(s) = service_id {
                            r.service_id = s;
                        }
                        if let Some(p) = ports {
                            r.ports = p;
                        }
                    }
                    None => rows.push(Endpoint {
                        container_id: o.container_id.clone(),
                        container_name: o.container_name.clone(),
                        namespace: o.namespace.clone(),
                        host_mgmt_ip: host.to_string(),
                        container_ip: o.container_ip.clone(),
                        state: o.state.clone(),
                        health: o.health.clone(),
                        updated_at: super::endpoint::now_ms(),
                        service_id: service_id.unwrap_or_default(),
                        ports: ports.unwrap_or_default(),
                    }),
                }
            }
        }
    }
    rows
}
