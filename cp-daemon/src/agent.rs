//! Wires the agent together: engine connection, health, listeners, and the
//! drain on SIGTERM (DESIGN.md decision 4: stop accepting, finish in-flight
//! verbs, leave kernel state in place, exit 0).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AgentContext, ApiCredentials, BearerToken, ServeError, SharedToken};
use crate::broker_client;
use crate::builds::{self, Builds};
use crate::config::{Config, StoreKind};
use crate::containers::deny::DenyPolicy;
use crate::discovery::{self, CorrosionStore, EndpointStore, SqliteStore, StoreError};
use crate::dns::{self, DnsError};
use crate::firewall::{
    self, FirewallError, FirewallStore, IptablesPlane, NftPlane, SnapshotPaths, StoreConfig,
};
use crate::health::{Health, Status};
use crate::hosttools::ToolRunner;
use crate::metrics::Metrics;
use crate::podman::{self, Engine, EngineError};
use crate::pools::{PoolDeps, Pools, PoolsConfig};
use crate::runtimes::Runtimes;
use crate::workloads::WorkloadStore;

/// Why the agent could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("COOLD_API_TOKEN_FILE: {0}")]
    Token(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("firewall boot restore: {0}")]
    Firewall(#[from] FirewallError),
    #[error("COOLD_DATA_DIR: {0}")]
    Store(StoreError),
    #[error(transparent)]
    Dns(#[from] DnsError),
    #[error("COOLD_WORKLOADS_DIR: {0}")]
    Workloads(#[from] crate::workloads::StoreError),
    #[error("pools: {0}")]
    Pools(#[from] crate::pools::PoolError),
    #[error("builds: {0}")]
    Builds(String),
    #[error(transparent)]
    SyncEnv(#[from] crate::tenant_sync::env_file::EnvFileError),
    #[error("task {0} stopped unexpectedly")]
    TaskExited(&'static str),
}

/// How often the Podman component is probed.
const ENGINE_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Runs the agent until SIGTERM/SIGINT, then drains and returns.
pub async fn run(config: Config) -> Result<(), AgentError> {
    let engine = Engine::connect(&config.podman_socket)?;
    let health = Health::default();
    health.register(podman::COMPONENT, true);
    let firewall = if config.firewall_enabled {
        health.register(firewall::COMPONENT, true);
        Some(restore_firewall(&config, &health).await?)
    } else {
        tracing::info!("firewall disabled (COOLD_FIREWALL=off): no kernel writes");
        None
    };
    let drain = config.drain_timeout;
    let store: Arc<dyn EndpointStore> = match config.endpoint_store {
        StoreKind::Sqlite => Arc::new(
            SqliteStore::open(&config.data_dir.join("endpoints.db")).map_err(AgentError::Store)?,
        ),
        StoreKind::Corrosion(addr) => Arc::new(CorrosionStore::new(addr)),
    };
    let (sync, discovery) = discovery::Sync::new(
        engine.clone(),
        store,
        config.host_mgmt_ip.to_string(),
        config.namespaces.clone(),
        config.reconcile_interval,
        health.clone(),
        config.agent_healthchecks,
    );
    let deny = DenyPolicy {
        bind_allowlist: config.bind_allowlist.clone(),
    };
    let runtimes = Arc::new(Runtimes::new(
        config.allowed_runtimes.clone(),
        config.podman_bin.clone(),
        config.runtime_dir.clone(),
    ));
    // Specs are judged by the same deny policy as a create; a bad file
    // fails start naming file, key and line.
    let workloads = Arc::new(WorkloadStore::open(
        &config.pools.workloads_dir,
        deny.clone(),
    )?);
    let stop = CancellationToken::new();
    let mut state_sync =
        crate::tenant_sync::StateSync::from_config(&config.sync, tools_for(&config));
    if let Some(path) = &config.sync.env_file {
        state_sync = state_sync.with_env(crate::tenant_sync::env_file::lookup(path)?);
    }
    let pool_deps = PoolDeps {
        engine: engine.clone(),
        runtimes: runtimes.clone(),
        deny: deny.clone(),
        workloads: workloads.clone(),
    };
    let pools = Arc::new(Pools::open(
        pools_config(&config),
        pool_deps,
        state_sync,
        stop.child_token(),
    )?);
    let mut tasks: JoinSet<&'static str> = JoinSet::new();
    // DNS reads discovery's view; its servers wait for their bridges on
    // their own, so nothing here blocks on a namespace network existing.
    let dns = dns::start(&config, discovery.view.clone(), &health, &stop, &mut tasks).await?;
    let builds = start_builds(&config).map_err(AgentError::Builds)?;
    let ctx = Arc::new(AgentContext {
        config,
        engine,
        health,
        metrics: Metrics::default(),
        firewall,
        discovery,
        deny,
        runtimes,
        dns,
        workloads,
        pools,
        builds,
    });

    // Bind every listener before reporting anything, so a port clash fails
    // start with the variable's name instead of a half-started agent.
    let health_listener = api::bind("COOLD_HEALTH_BIND", ctx.config.health_bind).await?;
    let api_listener = match ctx.config.api_bind {
        Some(addr) => {
            let token_path = ctx
                .config
                .api_token_file
                .as_deref()
                .ok_or_else(|| AgentError::Token("not set".into()))?;
            let token = BearerToken::load(token_path).map_err(AgentError::Token)?;
            let (tls, swappable) = match &ctx.config.tls {
                Some(files) => {
                    let (acceptor, cert) = api::load_tls(&files.cert, &files.key)?;
                    (Some(acceptor), Some((files.clone(), cert)))
                }
                None => {
                    if !addr.ip().is_loopback() {
                        tracing::warn!(%addr, "REST API without TLS on a non-loopback address; set COOLD_TLS_CERT and COOLD_TLS_KEY");
                    }
                    (None, None)
                }
            };
            let creds =
                ApiCredentials::new(token_path.to_path_buf(), SharedToken::new(token), swappable);
            Some((api::bind("COOLD_API_BIND", addr).await?, tls, creds))
        }
        None => None,
    };

    {
        let (engine, health, stop) = (ctx.engine.clone(), ctx.health.clone(), stop.clone());
        tasks.spawn(async move {
            podman::watch(engine, health, ENGINE_PROBE_INTERVAL, stop).await;
            "podman-watch"
        });
    }
    {
        let stop = stop.clone();
        tasks.spawn(async move {
            sync.run(stop).await;
            "discovery-sync"
        });
    }
    {
        ctx.health.register(crate::pools::COMPONENT, false);
        let (pools, health, stop) = (ctx.pools.clone(), ctx.health.clone(), stop.clone());
        tasks.spawn(async move {
            crate::pools::run(pools, health, stop).await;
            "pools"
        });
    }
    if let Some(b) = ctx.builds.clone() {
        // Adoption runs before the first broker session asks for answers
        // in the common case; a late one is fine (answers are re-sent on
        // every session open).
        let stop = stop.clone();
        tasks.spawn(async move {
            b.run(stop).await;
            "builds"
        });
    }
    if let Some(link) = ctx.config.broker.clone() {
        ctx.health.register(broker_client::COMPONENT, false);
        let (ctx, stop) = (ctx.clone(), stop.clone());
        tasks.spawn(async move {
            broker_client::run(ctx, link, stop).await;
            "broker-client"
        });
    } else {
        tracing::info!(
            "broker client off (set COOLD_BROKER_URL and COOLD_BROKER_TOKEN_FILE to enable)"
        );
    }
    {
        let (router, stop) = (api::health_router(ctx.clone()), stop.clone());
        tracing::info!(addr = %ctx.config.health_bind, "health listener up");
        tasks.spawn(async move {
            api::serve(health_listener, None, router, stop, drain).await;
            "health-listener"
        });
    }
    // The REST API runs on a thread of its own (api/serve_thread.rs); it
    // lives until this function returns, after the drain.
    let mut _api_thread = None;
    if let Some((listener, tls, creds)) = api_listener {
        let tls_on = tls.is_some();
        {
            // A rotated token or certificate takes effect without a restart
            // (api/reload.rs).
            let (creds, health, stop) = (creds.clone(), ctx.health.clone(), stop.clone());
            tasks.spawn(async move {
                creds.watch(health, api::RELOAD_POLL, stop).await;
                "api-credentials"
            });
        }
        let (router, stop) = (api::api_router(ctx.clone(), creds.token()), stop.clone());
        let thread = api::ServeThread::start("coold-api").map_err(ServeError::Thread)?;
        let served = api::serve_on_thread(&thread, listener, tls, router, stop, drain)?;
        tracing::info!(addr = ?ctx.config.api_bind, tls = tls_on, "REST API up");
        tasks.spawn(async move {
            let _ = served.await;
            "api-listener"
        });
        _api_thread = Some(thread);
    }

    let outcome = wait_for_stop(&mut tasks, &stop).await;
    stop.cancel();
    // Listeners drain within `drain`; give them that long and no more.
    let _ = tokio::time::timeout(drain + Duration::from_secs(1), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    ctx.runtimes.services.shutdown().await;
    tracing::info!("drained; exiting");
    outcome
}

/// The build driver when `COOLD_BUILDER_ENABLED=1`; its image is
/// `COOLD_BUILDER_IMAGE` or the appliance's own.
fn start_builds(config: &Config) -> Result<Option<Arc<Builds>>, String> {
    if !config.builder_enabled {
        return Ok(None);
    }
    let image = match &config.builds.image {
        Some(i) => i.clone(),
        None => builds::own_image(std::path::Path::new(builds::CONTAINERENV)).ok_or_else(|| {
            format!(
                "COOLD_BUILDER_IMAGE is not set and {} names no image (not in the appliance?); set it to an image holding /coolify-builder",
                builds::CONTAINERENV
            )
        })?,
    };
    tracing::info!(%image, capacity = config.builds.capacity, dir = %config.builds.dir.display(), "builds enabled");
    Ok(Some(Arc::new(Builds::new(
        config.builds.clone(),
        image,
        config.podman_socket.clone(),
        tools_for(config),
    ))))
}

/// Host tools (iptables, nft, rclone) run from the host root when the
/// agent has one mounted (the appliance), else from `PATH`.
fn tools_for(config: &Config) -> ToolRunner {
    match &config.host_root {
        Some(root) => ToolRunner::in_host_root(root),
        None => ToolRunner::from_path(),
    }
}

/// The pools' files, and the tag that marks this agent's pool containers:
/// derived from its data dir, so agents with other data never touch them.
fn pools_config(config: &Config) -> PoolsConfig {
    use sha2::{Digest, Sha256};
    let claims_path = config.data_dir.join("pools").join("claims.json");
    let tag = hex::encode(&Sha256::digest(claims_path.as_os_str().as_encoded_bytes())[..6]);
    PoolsConfig {
        states_dir: config.pools.states_dir.clone(),
        secrets_dir: config.pools.secrets_dir.clone(),
        claims_path,
        agent_tag: tag,
        refill_interval: config.pools.refill_interval,
    }
}

/// Boot restore (seed 000, Persistence): snapshots and both planes are
/// merged into the kernel before any listener serves, so the first verb
/// already sees the restored rule set.
async fn restore_firewall(config: &Config, health: &Health) -> Result<FirewallStore, AgentError> {
    let tools = tools_for(config);
    let cfg = StoreConfig {
        snapshots: SnapshotPaths {
            rules: config.rules_path.clone(),
            bridge: config.bridge_rules_path.clone(),
        },
        iptables: IptablesPlane::with_tools(tools.clone()),
        nft: NftPlane::with_tools(tools),
    };
    match FirewallStore::open(cfg).await {
        Ok((store, report)) => {
            tracing::info!(
                rules = report.rules,
                restored_iptables = report.restored_iptables,
                restored_nft = report.restored_nft,
                created_chain = report.created_chain,
                bridge = ?report.bridge,
                "firewall restored"
            );
            health.set(
                firewall::COMPONENT,
                Status::Healthy,
                format!(
                    "{} rules; bridge plane {}",
                    report.rules,
                    match report.bridge {
                        firewall::BridgeMode::Enforcing => "enforcing",
                        firewall::BridgeMode::Permissive =>
                            "permissive (no coolify_bridge scaffold)",
                    }
                ),
            );
            Ok(store)
        }
        Err(e) => {
            health.set(firewall::COMPONENT, Status::Unhealthy, e.to_string());
            Err(e.into())
        }
    }
}

/// Waits for SIGTERM/SIGINT (clean stop) or for any task to end (fail-fast:
/// a silently dead worker is worse than a restart).
async fn wait_for_stop(
    tasks: &mut JoinSet<&'static str>,
    stop: &CancellationToken,
) -> Result<(), AgentError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(AgentError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(AgentError::Signals)?;
    tokio::select! {
        _ = term.recv() => { tracing::info!("SIGTERM: draining"); Ok(()) }
        _ = int.recv() => { tracing::info!("SIGINT: draining"); Ok(()) }
        _ = stop.cancelled() => Ok(()),
        ended = tasks.join_next() => {
            let name = match ended {
                Some(Ok(name)) => name,
                Some(Err(_)) | None => "unknown",
            };
            tracing::error!(task = name, "a long-running task stopped; exiting so the restart policy brings the agent back");
            Err(AgentError::TaskExited(name))
        }
    }
}
