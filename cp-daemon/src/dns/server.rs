//! `NamespaceServer`: the supervision of one namespace's listeners.
//!
//! netavark creates a namespace's bridge (and so the gateway address) when
//! the first container on it starts, and deletes it when the last stops
//! (DESIGN.md). The server therefore cycles through:
//!
//! - waiting: the gateway address is not on this host; retry with capped
//!   exponential backoff plus jitter;
//! - bound: UDP and TCP listeners on `<gateway>:<port>` (never 0.0.0.0); the
//!   address is re-checked every [`ADDRESS_POLL`], and when it is gone the
//!   listeners close and the server waits again;
//! - failing: the address is there but binding fails (port taken, most
//!   often by aardvark-dns on a network created with DNS enabled).
//!
//! Each state is reported to `/healthz` as a non-required component.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::listener::{self, ServeContext, Subnet};
use crate::config::Namespace;
use crate::health::{Health, Status};

/// How often a bound server checks that its gateway address still exists.
pub const ADDRESS_POLL: Duration = Duration::from_secs(1);
/// First retry delay while waiting or failing.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest retry delay: a new container's DNS must work within seconds.
pub const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Capped exponential backoff with "equal jitter": the delay is uniformly
/// drawn from `[d/2, d]`, so servers of many namespaces do not retry in
/// lockstep yet never retry faster than half the schedule.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The un-jittered delay of the next attempt.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The gateway address's subnet, if the address is on this host now.
pub fn local_subnet(gateway: Ipv4Addr) -> Option<Subnet> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for a in addrs {
        let Some(ip) = a
            .address
            .as_ref()
            .and_then(|s| s.as_sockaddr_in())
            .map(|s| s.ip())
        else {
            continue;
        };
        if ip != gateway {
            continue;
        }
        let prefix = a
            .netmask
            .as_ref()
            .and_then(|m| m.as_sockaddr_in())
            .map(|m| u32::from(m.ip()).count_ones() as u8)
            .unwrap_or(32);
        return Some(Subnet {
            address: gateway,
            prefix,
        });
    }
    None
}

/// Why binding failed, for `/healthz`.
fn bind_hint(e: &std::io::Error, addr: SocketAddr, network: &str) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "{addr} is in use: if aardvark-dns serves {network}, recreate it with DNS disabled (podman network create --disable-dns …, or `coolify init`)"
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("{addr}: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)")
        }
        _ => format!("{addr}: {e}"),
    }
}

/// One namespace's DNS server and its supervision.
pub struct NamespaceServer {
    pub namespace: Namespace,
    pub port: u16,
    pub ctx: Arc<ServeContext>,
    pub health: Health,
    /// This server's `/healthz` component name (`dns-<namespace>`).
    pub component: &'static str,
}

impl NamespaceServer {
    /// Runs until `stop`; never returns earlier (the agent is fail-fast on
    /// task exit, and a missing bridge is a normal state, not a failure).
    pub async fn run(self, stop: CancellationToken) {
        let gw = self.namespace.gateway;
        if gw.is_unspecified() || gw.is_broadcast() {
            self.health.set(
                self.component,
                Status::Degraded,
                format!(
                    "disabled: gateway {gw} of network {} is not an address to serve on; set it in COOLD_NAMESPACES",
                    self.namespace.network
                ),
            );
            stop.cancelled().await;
            return;
        }
        let addr = SocketAddr::new(gw.into(), self.port);
        let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_CAP);
        loop {
            let outcome = match local_subnet(gw) {
                None => Err((
                    Status::Degraded,
                    format!(
                        "waiting: {gw} is not on this host yet (netavark creates bridge {} when its first container starts)",
                        self.namespace.network
                    ),
                )),
                Some(subnet) => match bind(addr).await {
                    Ok(sockets) => Ok((subnet, sockets)),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Err((
                        Status::Degraded,
                        format!("waiting: {addr} went away while binding"),
                    )),
                    Err(e) => Err((Status::Unhealthy, format!("failing: {}", bind_hint(&e, addr, &self.namespace.network)))),
                },
            };
            match outcome {
                Ok((subnet, (udp, tcp))) => {
                    backoff.reset();
                    self.health.set(
                        self.component,
                        Status::Healthy,
                        format!("bound {addr} udp+tcp"),
                    );
                    tracing::info!(namespace = %self.namespace.name, %addr, "dns server bound");
                    if self.serve(udp, tcp, subnet, &stop).await {
                        return;
                    }
                    tracing::info!(namespace = %self.namespace.name, %addr, "gateway address gone; dns server waiting for the bridge");
                }
                Err((status, detail)) => {
                    self.health.set(self.component, status, detail);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }

    /// Serves until `stop` (returns true) or the gateway address changes
    /// (false). Listeners are closed before it returns, so a rebind can
    /// reuse the port.
    async fn serve(
        &self,
        udp: UdpSocket,
        tcp: TcpListener,
        subnet: Subnet,
        stop: &CancellationToken,
    ) -> bool {
        let serving = stop.child_token();
        let udp = Arc::new(udp);
        let mut tasks = JoinSet::new();
        for _ in 0..listener::UDP_WORKERS {
            tasks.spawn(listener::serve_udp(
                udp.clone(),
                self.ctx.clone(),
                subnet,
                serving.clone(),
            ));
        }
        tasks.spawn(listener::serve_tcp(
            tcp,
            self.ctx.clone(),
            subnet,
            serving.clone(),
        ));
        drop(udp);
        let stopped = loop {
            tokio::select! {
                _ = stop.cancelled() => break true,
                _ = tokio::time::sleep(ADDRESS_POLL) => {
                    if local_subnet(subnet.address) != Some(subnet) {
                        break false;
                    }
                }
            }
        };
        serving.cancel();
        while tasks.join_next().await.is_some() {}
        stopped
    }
}

async fn bind(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let udp = UdpSocket::bind(addr).await?;
    let tcp = TcpListener::bind(addr).await?;
    Ok((udp, tcp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut ceilings = vec![];
        for _ in 0..8 {
            let c = b.ceiling();
            let d = b.next_delay();
            assert!(d >= c / 2 && d <= c, "{d:?} outside [{:?}, {c:?}]", c / 2);
            ceilings.push(c.as_millis());
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
        // Many attempts never overflow.
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(2));
    }

    #[test]
    fn loopback_is_a_local_subnet_and_a_foreign_address_is_not() {
        let lo = local_subnet(Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(lo.prefix, 8);
        assert_eq!(local_subnet("198.19.255.254".parse().unwrap()), None);
    }
}
