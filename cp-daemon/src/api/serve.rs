//! Listeners: bind, optional TLS, and a serve loop that drains on shutdown
//! (stop accepting, let in-flight requests finish up to a deadline).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::serve_thread::ServeThread;

/// Errors starting a listener.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{var}: cannot listen on {addr}: {source}")]
    Bind {
        var: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS material {path}: {reason}")]
    Tls { path: String, reason: String },
    #[error("cannot start the API thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Binds `addr`; the error names the variable that chose it.
pub async fn bind(var: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { var, addr, source })
}

/// Like [`serve`], on a thread of its own (see [`ServeThread`]): the
/// listener moves to that thread's runtime, so its connections' I/O is
/// driven there and never wakes the agent runtime's workers.
pub fn serve_on_thread(
    thread: &ServeThread,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: CancellationToken,
    drain: Duration,
) -> Result<JoinHandle<()>, ServeError> {
    let listener = listener.into_std().map_err(ServeError::Thread)?;
    Ok(thread.spawn(async move {
        match TcpListener::from_std(listener) {
            Ok(listener) => serve(listener, tls, router, stop, drain).await,
            // Only when the thread's runtime has no I/O driver; the task
            // set sees the listener end and stops the agent.
            Err(e) => tracing::error!(error = %e, "API listener cannot move to its thread"),
        }
    }))
}

/// Serves `router` on `listener` until `stop` fires, then drains open
/// connections for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: CancellationToken,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let service = TowerToHyperService::new(router);
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let builder = hyper::server::conn::http1::Builder::new();
            let result = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => {
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(s), service))
                            .await
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "drain deadline passed with requests still in flight"
        );
    }
}
