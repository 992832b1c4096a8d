//! Cluster DNS (seed 000, "Embedded cluster DNS"): one server per namespace,
//! bound to that namespace's bridge gateway, answering
//! `<container>.<namespace>.<zone>` from discovery's in-memory view and
//! forwarding everything else upstream for the bridge's own containers.
//!
//! Layers: `table`, `resolver` and `packet` are pure; `forwarder`,
//! `listener` and `server` are the effect edge (sockets, addresses);
//! `verbs` serves the DNS verbs.

mod forwarder;
mod listener;
mod packet;
mod resolver;
mod server;
mod stats;
mod table;
pub mod verbs;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use forwarder::{ForwardError, Forwarder};
pub use packet::{decode, Inbound};
pub use resolver::{Decision, Explanation, Placement, Resolver, TTL};
pub use server::{Backoff, NamespaceServer};
pub use stats::{DnsStats, NamespaceSnapshot};
pub use table::ZoneTable;

use crate::config::Config;
use crate::discovery::Endpoint;
use crate::health::Health;

/// Why DNS could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("COOLD_DNS_UPSTREAM={0}: cannot open the upstream client socket: {1}")]
    Upstream(std::net::SocketAddr, std::io::Error),
    #[error("COOLD_DNS_ZONE: {0}")]
    Zone(String),
}

/// What the DNS verbs read.
#[derive(Debug, Clone)]
pub struct DnsHandle {
    pub stats: Arc<DnsStats>,
    pub table: watch::Receiver<Arc<ZoneTable>>,
    /// Answers for every namespace (the lookup verb's point of view).
    pub resolver: Resolver,
    pub upstream: std::net::SocketAddr,
    pub port: u16,
    /// `(namespace, /healthz component)` of every namespace server.
    pub servers: Vec<(String, &'static str)>,
}

/// Starts the zone-table follower and one server per namespace in `tasks`.
pub async fn start(
    config: &Config,
    view: watch::Receiver<Arc<Vec<Endpoint>>>,
    health: &Health,
    stop: &CancellationToken,
    tasks: &mut JoinSet<&'static str>,
) -> Result<DnsHandle, DnsError> {
    let names: Vec<String> = config.namespaces.iter().map(|n| n.name.clone()).collect();
    let stats = Arc::new(DnsStats::new(names.iter().map(String::as_str)));
    let forwarder = Forwarder::connect(
        config.dns_upstream,
        config.dns_upstream_timeout,
        stop.clone(),
    )
    .await
    .map_err(|e| DnsError::Upstream(config.dns_upstream, e))?;

    let (table_tx, table) = watch::channel(Arc::new(ZoneTable::from_endpoints(&view.borrow())));
    {
        let stop = stop.clone();
        tasks.spawn(async move {
            follow_view(view, table_tx, stop).await;
            "dns-table"
        });
    }

    let mut servers = Vec::new();
    for ns in &config.namespaces {
        // Health keys are &'static str; one small leak per configured
        // namespace, once per process.
        let component: &'static str = Box::leak(format!("dns-{}", ns.name).into_boxed_str());
        health.register(component, false);
        let ns_stats = stats
            .namespace(&ns.name)
            .unwrap_or_else(|| Arc::new(Default::default()));
        let ctx = Arc::new(listener::ServeContext {
            resolver: Resolver::new(&config.dns_zone, Some(&ns.name), &names)
                .map_err(DnsError::Zone)?,
            table: table.clone(),
            forwarder: forwarder.clone(),
            stats: ns_stats,
            rotation: AtomicUsize::new(0),
        });
        let server = NamespaceServer {
            namespace: ns.clone(),
            port: config.dns_port,
            ctx,
            health: health.clone(),
            component,
        };
        let stop = stop.clone();
        tasks.spawn(async move {
            server.run(stop).await;
            "dns-server"
        });
        servers.push((ns.name.clone(), component));
    }
    Ok(DnsHandle {
        stats,
        table,
        resolver: Resolver::new(&config.dns_zone, None, &names).map_err(DnsError::Zone)?,
        upstream: config.dns_upstream,
        port: config.dns_port,
        servers,
    })
}

/// Rebuilds the zone table after every reconcile and swaps it in whole.
async fn follow_view(
    mut view: watch::Receiver<Arc<Vec<Endpoint>>>,
    table: watch::Sender<Arc<ZoneTable>>,
    stop: CancellationToken,
) {
    loop {
        let rows = view.borrow_and_update().clone();
        table.send_replace(Arc::new(ZoneTable::from_endpoints(&rows)));
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = view.changed() => {
                if changed.is_err() {
                    // The sync is gone (the agent is stopping): keep the
                    // last table until stop rather than end this task.
                    stop.cancelled().await;
                    return;
                }
            }
        }
    }
}
