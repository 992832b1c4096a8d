//! UDP and TCP listeners of one namespace server (the transport).
//!
//! Concurrency: each UDP socket has several receive loops; an in-zone query
//! is answered inline (pure CPU, no await but the send), a forwarded one in
//! its own task, so a slow upstream never holds up local answers. TCP takes
//! one task per connection, bounded in number and idle time.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::forwarder::Forwarder;
use super::packet::{self, Inbound};
use super::resolver::{self, Decision, Resolver};
use super::stats::NamespaceStats;
use super::table::ZoneTable;

/// Receive loops per UDP socket: one per core of the appliance's runtime.
pub const UDP_WORKERS: usize = 2;
/// Open TCP connections per listener; more are closed at accept.
pub const MAX_TCP_CONNECTIONS: usize = 128;
/// A TCP connection idle this long is closed (RFC 7766 suggests seconds).
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// Messages per TCP connection before we close it, so one client cannot
/// hold a slot forever.
pub const TCP_MAX_MESSAGES: usize = 1000;

/// The bridge subnet of a namespace: only sources inside it may use the
/// forwarder (the listener is on the gateway address, but Linux accepts
/// packets for any local address on any interface, so binding alone does
/// not keep outsiders out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix.min(32)))
        };
        u32::from(self.address) & mask == u32::from(ip) & mask
    }
}

/// What the listeners of one namespace share.
#[derive(Debug)]
pub struct ServeContext {
    pub resolver: Resolver,
    pub table: watch::Receiver<Arc<ZoneTable>>,
    pub forwarder: Arc<Forwarder>,
    pub stats: Arc<NamespaceStats>,
    pub rotation: AtomicUsize,
}

/// The outcome of the local (synchronous) part of handling a message.
enum Step {
    Reply(Vec<u8>),
    Forward,
    Nothing,
}

fn handle_local(
    ctx: &ServeContext,
    bytes: &[u8],
    src: SocketAddr,
    subnet: Subnet,
    tcp: bool,
) -> Step {
    ctx.stats.query();
    let req = match packet::decode(bytes) {
        Inbound::Drop => {
            ctx.stats.dropped();
            return Step::Nothing;
        }
        Inbound::FormErr(reply) => {
            ctx.stats.answered(ResponseCode::FormErr);
            return Step::Reply(reply);
        }
        Inbound::Query(m) => m,
    };
    let table = ctx.table.borrow().clone();
    let rotation = ctx.rotation.fetch_add(1, Ordering::Relaxed);
    let reply = match ctx.resolver.respond(&req, &table, rotation) {
        Decision::Reply(r) => r,
        Decision::Forward => {
            let inside = match src.ip() {
                std::net::IpAddr::V4(ip) => subnet.contains(ip),
                std::net::IpAddr::V6(_) => false,
            };
            if inside {
                return Step::Forward;
            }
            // Invariant: never an open resolver for anyone outside the bridge.
            resolver::reply(&req, ResponseCode::Refused, false)
        }
    };
    let rcode = reply.response_code();
    let limit = if tcp {
        usize::from(u16::MAX)
    } else {
        packet::udp_limit(&req)
    };
    match packet::encode(reply, limit) {
        Some(b) => {
            ctx.stats.answered(rcode);
            Step::Reply(b)
        }
        None => {
            ctx.stats.dropped();
            Step::Nothing
        }
    }
}

/// Forwards and returns the upstream's reply, or SERVFAIL for the client.
pub async fn forward_or_servfail(
    forwarder: &Forwarder,
    bytes: &[u8],
    stats: Option<&NamespaceStats>,
) -> Vec<u8> {
    if let Some(s) = stats {
        s.forwarded();
    }
    match forwarder.forward(bytes).await {
        Ok(reply) => {
            if let Some(s) = stats {
                s.answered(ResponseCode::from_low(reply.get(3).map_or(0, |b| b & 0x0F)));
            }
            reply
        }
        Err(e) => {
            tracing::debug!(error = %e, "forward failed; answering SERVFAIL");
            if let Some(s) = stats {
                s.upstream_error();
                s.answered(ResponseCode::ServFail);
            }
            let servfail = Message::from_vec(bytes)
                .ok()
                .map(|req| resolver::reply(&req, ResponseCode::ServFail, false))
                .and_then(|m| m.to_vec().ok());
            servfail.unwrap_or_default()
        }
    }
}

/// One UDP receive loop; run [`UDP_WORKERS`] of them per socket.
pub async fn serve_udp(
    socket: Arc<UdpSocket>,
    ctx: Arc<ServeContext>,
    subnet: Subnet,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, src) = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(error = %e, "udp receive error");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let bytes = &buf[..n];
        match handle_local(&ctx, bytes, src, subnet, false) {
            Step::Reply(b) => {
                if let Err(e) = socket.send_to(&b, src).await {
                    tracing::debug!(error = %e, %src, "udp send failed");
                }
            }
            Step::Forward => {
                let (socket, ctx, query) = (socket.clone(), ctx.clone(), bytes.to_vec());
                tokio::spawn(async move {
                    let reply = forward_or_servfail(&ctx.forwarder, &query, Some(&ctx.stats)).await;
                    if !reply.is_empty() {
                        let _ = socket.send_to(&reply, src).await;
                    }
                });
            }
            Step::Nothing => {}
        }
    }
}

/// The TCP accept loop.
pub async fn serve_tcp(
    listener: TcpListener,
    ctx: Arc<ServeContext>,
    subnet: Subnet,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    loop {
        let (stream, src) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(error = %e, "tcp accept error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue; // over capacity: dropping the stream closes it
        };
        let (ctx, stop) = (ctx.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = serve_connection(stream, src, &ctx, subnet) => {}
            }
            drop(slot);
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    src: SocketAddr,
    ctx: &ServeContext,
    subnet: Subnet,
) {
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    for _ in 0..TCP_MAX_MESSAGES {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            _ => return,
        };
        let msg = &mut buf[..len];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(msg)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let reply = match handle_local(ctx, msg, src, subnet, true) {
            Step::Reply(b) => b,
            Step::Forward => forward_or_servfail(&ctx.forwarder, msg, Some(&ctx.stats)).await,
            Step::Nothing => return,
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&reply);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::{Name, RecordType};

    async fn context(stop: &CancellationToken) -> ServeContext {
        // The upstream is never asked in these tests; any loopback address.
        let forwarder = Forwarder::connect(
            "127.0.0.55:9".parse().unwrap(),
            Duration::from_millis(100),
            stop.clone(),
        )
        .await
        .unwrap();
        let (_tx, table) = watch::channel(Arc::new(ZoneTable::default()));
        ServeContext {
            resolver: Resolver::new("coolify.internal", Some("alpha"), &["alpha".into()]).unwrap(),
            table,
            forwarder,
            stats: Arc::default(),
            rotation: AtomicUsize::new(0),
        }
    }

    fn out_of_zone() -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(99);
        m.add_query(Query::query(
            Name::from_ascii("example.org.").unwrap(),
            RecordType::A,
        ));
        m.to_vec().unwrap()
    }

    const BRIDGE: Subnet = Subnet {
        address: Ipv4Addr::new(198, 18, 7, 1),
        prefix: 24,
    };

    /// Invariant: never an open resolver for anyone outside the bridge.
    #[tokio::test]
    async fn out_of_zone_from_outside_the_bridge_is_refused() {
        let stop = CancellationToken::new();
        let ctx = context(&stop).await;
        let outsider: SocketAddr = "203.0.113.5:5353".parse().unwrap();
        let Step::Reply(b) = handle_local(&ctx, &out_of_zone(), outsider, BRIDGE, false) else {
            panic!("expected a REFUSED reply");
        };
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(m.response_code(), ResponseCode::Refused);
        assert_eq!(ctx.stats.snapshot().forwarded, 0);
        stop.cancel();
    }

    #[tokio::test]
    async fn out_of_zone_from_inside_the_bridge_is_forwarded() {
        let stop = CancellationToken::new();
        let ctx = context(&stop).await;
        let insider: SocketAddr = "198.18.7.23:40000".parse().unwrap();
        assert!(matches!(
            handle_local(&ctx, &out_of_zone(), insider, BRIDGE, false),
            Step::Forward
        ));
        stop.cancel();
    }

    #[test]
    fn subnet_contains_only_its_addresses() {
        let s = Subnet {
            address: "198.18.7.1".parse().unwrap(),
            prefix: 24,
        };
        assert!(s.contains("198.18.7.200".parse().unwrap()));
        assert!(s.contains("198.18.7.1".parse().unwrap()));
        assert!(!s.contains("198.18.8.1".parse().unwrap()));
        assert!(!s.contains("127.0.0.1".parse().unwrap()));
        let all = Subnet {
            address: "198.18.7.1".parse().unwrap(),
            prefix: 0,
        };
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }
}
