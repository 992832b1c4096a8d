//! The one upstream client every namespace server shares: one UDP socket
//! talking to `COOLD_DNS_UPSTREAM`, queries multiplexed by a fresh
//! transaction id, each with a timeout. A new client per query (as some
//! servers do) costs a socket and an ephemeral port per packet; this costs
//! a map entry.
//!
//! The socket is a *client* socket (ephemeral port, any local address, as
//! the kernel routes to the upstream); listeners are bound to gateway
//! addresses only, and only a namespace listener calls the forwarder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{oneshot, Semaphore};
use tokio_util::sync::CancellationToken;

/// Most forwarded queries in flight at once; beyond it we answer SERVFAIL
/// at once rather than queue without bound.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Why a forwarded query got no upstream answer (the client gets SERVFAIL).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ForwardError {
    #[error("upstream {0} did not answer within {1:?}")]
    Timeout(SocketAddr, Duration),
    #[error("upstream {0}: {1}")]
    Io(SocketAddr, String),
    #[error("too many forwarded queries in flight ({MAX_IN_FLIGHT})")]
    Saturated,
    #[error("query shorter than a DNS header")]
    Short,
}

type Pending = Mutex<HashMap<u16, oneshot::Sender<Vec<u8>>>>;

/// The shared upstream client.
#[derive(Debug)]
pub struct Forwarder {
    upstream: SocketAddr,
    socket: Arc<UdpSocket>,
    pending: Arc<Pending>,
    timeout: Duration,
    permits: Semaphore,
}

impl Forwarder {
    /// Opens the client socket and starts its reader, which lives until
    /// `stop`. The socket is not `connect`ed: with no route to the upstream
    /// at boot (a private netns, a host still bringing its uplink up),
    /// connect fails, and the agent must start anyway; each query then gets
    /// SERVFAIL until a route exists.
    pub async fn connect(
        upstream: SocketAddr,
        timeout: Duration,
        stop: CancellationToken,
    ) -> std::io::Result<Arc<Forwarder>> {
        let local: SocketAddr = if upstream.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let socket = Arc::new(UdpSocket::bind(local).await?);
        let pending: Arc<Pending> = Arc::default();
        tokio::spawn(read_replies(
            socket.clone(),
            upstream,
            pending.clone(),
            stop,
        ));
        Ok(Arc::new(Forwarder {
            upstream,
            socket,
            pending,
            timeout,
            permits: Semaphore::new(MAX_IN_FLIGHT),
        }))
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Sends `query` upstream and returns the reply with the client's id
    /// restored.
    pub async fn forward(&self, query: &[u8]) -> Result<Vec<u8>, ForwardError> {
        if query.len() < super::packet::HEADER_LEN {
            return Err(ForwardError::Short);
        }
        let _permit = self
            .permits
            .try_acquire()
            .map_err(|_| ForwardError::Saturated)?;
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            // A random id per query (RFC 5452) that is not in flight; the map
            // holds at most MAX_IN_FLIGHT of 65536 ids, so this ends fast.
            let mut id = rand::random::<u16>();
            while map.contains_key(&id) {
                id = rand::random::<u16>();
            }
            map.insert(id, tx);
            id
        };
        let _guard = PendingGuard {
            pending: &self.pending,
            id,
        };
        let mut out = query.to_vec();
        out[..2].copy_from_slice(&id.to_be_bytes());
        self.socket
            .send_to(&out, self.upstream)
            .await
            .map_err(|e| ForwardError::Io(self.upstream, e.to_string()))?;
        let mut reply = tokio::time::timeout(self.timeout, rx)
            .await
            .map_err(|_| ForwardError::Timeout(self.upstream, self.timeout))?
            .map_err(|_| ForwardError::Io(self.upstream, "reader stopped".into()))?;
        reply[..2].copy_from_slice(&query[..2]);
        Ok(reply)
    }
}

/// Removes a query's pending entry however `forward` ends (reply, timeout,
/// or the caller dropping the future).
struct PendingGuard<'a> {
    pending: &'a Pending,
    id: u16,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

async fn read_replies(
    socket: Arc<UdpSocket>,
    upstream: SocketAddr,
    pending: Arc<Pending>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 65535];
    loop {
        let n = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                // Only the upstream's replies count: a spoofer elsewhere
                // must also guess the source address and port.
                Ok((n, from)) if from == upstream => n,
                Ok(_) => continue,
                Err(e) => {
                    // ECONNREFUSED (ICMP port unreachable) and the like are
                    // per-packet; the waiting query times out to SERVFAIL.
                    tracing::debug!(error = %e, "upstream socket error");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if n < super::packet::HEADER_LEN || buf[2] & 0x80 == 0 {
            continue; // not a response
        }
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        let waiter = pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(tx) = waiter {
            let _ = tx.send(buf[..n].to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
    use hickory_proto::rr::{rdata::A, Name, RData, Record, RecordType};

    /// A fake upstream on 127.0.0.x: answers every query for `example.org.`
    /// with 198.18.255.1, or stays silent.
    async fn fake_upstream(answer: bool, stop: CancellationToken) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.53:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (n, from) = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = sock.recv_from(&mut buf) => r.unwrap(),
                };
                if !answer {
                    continue;
                }
                let q = Message::from_vec(&buf[..n]).unwrap();
                let mut r = q.clone();
                r.set_message_type(MessageType::Response);
                r.add_answer(Record::from_rdata(
                    q.queries()[0].name().clone(),
                    60,
                    RData::A(A::new(198, 18, 255, 1)),
                ));
                sock.send_to(&r.to_vec().unwrap(), from).await.unwrap();
            }
        });
        addr
    }

    fn query(id: u16) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(id);
        m.add_query(Query::query(
            Name::from_ascii("example.org.").unwrap(),
            RecordType::A,
        ));
        m.to_vec().unwrap()
    }

    #[tokio::test]
    async fn forwarded_reply_keeps_the_clients_id() {
        let stop = CancellationToken::new();
        let up = fake_upstream(true, stop.clone()).await;
        let f = Forwarder::connect(up, Duration::from_secs(2), stop.clone())
            .await
            .unwrap();
        // Concurrent queries through the one client, each gets its own reply.
        let (q1, q2) = (query(1), query(2));
        let (a, b) = tokio::join!(f.forward(&q1), f.forward(&q2));
        let (a, b) = (
            Message::from_vec(&a.unwrap()).unwrap(),
            Message::from_vec(&b.unwrap()).unwrap(),
        );
        assert_eq!((a.id(), b.id()), (1, 2));
        assert_eq!(a.answers().len(), 1);
        assert!(f.pending.lock().unwrap().is_empty());
        stop.cancel();
    }

    #[tokio::test]
    async fn silent_upstream_times_out() {
        let stop = CancellationToken::new();
        let up = fake_upstream(false, stop.clone()).await;
        let f = Forwarder::connect(up, Duration::from_millis(200), stop.clone())
            .await
            .unwrap();
        assert!(matches!(
            f.forward(&query(9)).await,
            Err(ForwardError::Timeout(..))
        ));
        assert!(f.pending.lock().unwrap().is_empty(), "no leaked entry");
        stop.cancel();
    }

    /// Upstream failure through the whole answer path: the listener's
    /// handler turns it into SERVFAIL.
    #[tokio::test]
    async fn upstream_failure_is_servfail() {
        let stop = CancellationToken::new();
        // A port nobody listens on: ICMP unreachable, then the timeout.
        let closed = {
            let s = std::net::UdpSocket::bind("127.0.0.54:0").unwrap();
            s.local_addr().unwrap()
        };
        let f = Forwarder::connect(closed, Duration::from_millis(200), stop.clone())
            .await
            .unwrap();
        let reply = super::super::listener::forward_or_servfail(&f, &query(77), None).await;
        let m = Message::from_vec(&reply).unwrap();
        assert_eq!(m.id(), 77);
        assert_eq!(m.response_code(), ResponseCode::ServFail);
        assert_eq!(m.message_type(), MessageType::Response);
        stop.cancel();
    }
}
