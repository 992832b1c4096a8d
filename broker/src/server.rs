//! Wires a broker together: load the key and TLS identity, bind both
//! listeners (so a clash fails start naming the variable), then run the
//! gRPC server, the UDS lane and the sweeper until stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coolify_proto::v1::agent_server::AgentServer;
use tokio::task::JoinSet;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::build_journal::{BuildJournal, JournalError};
use crate::config::Config;
use crate::grpc::AgentService;
use crate::jwt::{JwtError, JwtVerifier};
use crate::lane::Broker;
use crate::pending::SWEEP_INTERVAL;
use crate::revocations::{RevocationError, Revocations};
use crate::uds::{self, UdsError};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("BROKER_JWT_PUBLIC_KEY_PATH: {0}")]
    Jwt(JwtError),
    #[error("{var}={path}: {reason}")]
    File {
        var: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("BROKER_GRPC_BIND={addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error(transparent)]
    Uds(#[from] UdsError),
    #[error("gRPC TLS setup: {0}")]
    Tls(String),
    #[error(transparent)]
    Revocations(#[from] RevocationError),
    #[error(transparent)]
    Builds(#[from] JournalError),
}

/// A started broker: its addresses, shared state and stop switch.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub socket_path: PathBuf,
    pub broker: Arc<Broker>,
    pub stop: CancellationToken,
    pub tasks: JoinSet<&'static str>,
}

fn read(var: &'static str, path: &std::path::Path) -> Result<Vec<u8>, BrokerError> {
    std::fs::read(path).map_err(|e| BrokerError::File {
        var,
        path: path.to_path_buf(),
        reason: format!("{e}; `coolify broker init` creates it"),
    })
}

/// Starts every part and returns once all listeners are bound.
pub async fn start(config: &Config) -> Result<Running, BrokerError> {
    let verifier = JwtVerifier::load(&config.jwt_public_key_path).map_err(BrokerError::Jwt)?;
    let cert = read("BROKER_TLS_CERT", &config.tls_cert)?;
    let key = read("BROKER_TLS_KEY", &config.tls_key)?;
    let revocations = Revocations::load(&config.revocations_path)?;
    let builds = BuildJournal::load(&config.builds_path)?;
    let broker = Arc::new(Broker::new(
        verifier,
        revocations,
        builds,
        config.pending_max,
        config.dispatch_timeout,
        config.host_queue,
    ));
    let restored = broker.restore_builds();
    if restored > 0 {
        tracing::info!(
            restored,
            "builds a previous broker routed are waited for again"
        );
    }

    let tcp = tokio::net::TcpListener::bind(config.grpc_bind)
        .await
        .map_err(|e| BrokerError::Bind {
            addr: config.grpc_bind,
            reason: e.to_string(),
        })?;
    let grpc_addr = tcp.local_addr().map_err(|e| BrokerError::Bind {
        addr: config.grpc_bind,
        reason: e.to_string(),
    })?;
    let socket = uds::bind(
        &config.unix_socket_path,
        config.unix_socket_group.as_deref(),
    )?;

    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();

    let server = Server::builder()
        .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
        .map_err(|e| BrokerError::Tls(e.to_string()))?
        // Dead hosts behind a NAT that drops silently are found by pings,
        // so their dispatches fail 503 instead of waiting for the sweeper.
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .add_service(AgentServer::new(AgentService::new(broker.clone())));
    {
        let stop = stop.clone();
        tasks.spawn(async move {
            let incoming = TcpListenerStream::new(tcp);
            if let Err(e) = server
                .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                .await
            {
                tracing::error!(error = %e, "gRPC server stopped");
            }
            "grpc"
        });
    }
    {
        let (router, stop) = (uds::router(broker.clone()), stop.clone());
        tasks.spawn(async move {
            if let Err(e) = axum::serve(socket, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                tracing::error!(error = %e, "UDS lane stopped");
            }
            "uds"
        });
    }
    {
        let (b, stop) = (broker.clone(), stop.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return "sweeper",
                    _ = tick.tick() => b.sweep(Instant::now()),
                }
            }
        });
    }
    tracing::info!(grpc = %grpc_addr, socket = %config.unix_socket_path.display(), "broker up");
    Ok(Running {
        grpc_addr,
        socket_path: config.unix_socket_path.clone(),
        broker,
        stop,
        tasks,
    })
}

impl Running {
    /// Runs until SIGTERM/SIGINT or until a part stops (fail-fast), then
    /// stops the rest and removes the socket.
    pub async fn wait(mut self) -> Result<(), &'static str> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|_| "signals")?;
        let mut int = signal(SignalKind::interrupt()).map_err(|_| "signals")?;
        let outcome = tokio::select! {
            _ = term.recv() => Ok(()),
            _ = int.recv() => Ok(()),
            ended = self.tasks.join_next() => Err(match ended {
                Some(Ok(name)) => name,
                _ => "unknown",
            }),
        };
        self.shutdown().await;
        outcome
    }

    pub async fn shutdown(mut self) {
        self.stop.cancel();
        self.broker.streams.close_all();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        let _ = std::fs::remove_file(&self.socket_path);
    }
}
