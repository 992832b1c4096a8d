//! Corrosion for coold's tests. The real agent comes from the helper shared
//! with the end-to-end suite (`coolify_tests::corrosion`); this module adds only
//! the faults a real agent cannot be made to show on demand:
//!
//! - [`Fault::ShedLoad`]: every route answers 503 with the body the agent's
//!   load-shedding layer sends ("max concurrency limit reached"). The real
//!   agent does so only past 128 requests in flight on one route, which a
//!   test cannot hold there deterministically.
//! - [`Fault::Hang`]: connections are accepted and never answered (a wedged
//!   agent). A stopped agent refuses connections instead, which is the
//!   other, real, outage.
//!
//! Stopped, restarted, rejected statements and bad SQL come from the real
//! agent (`coolify_tests::corrosion::CorrosionAgent`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    ShedLoad,
    Hang,
}

/// A loopback listener that answers every request with one [`Fault`].
pub struct FaultyCorrosion {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultyCorrosion {
    pub fn start(fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Hung connections are held here until the fake stops.
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => match fault {
                        Fault::ShedLoad => {
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                            let mut buf = [0u8; 8192];
                            let _ = conn.read(&mut buf);
                            let body = "max concurrency limit reached";
                            let _ = write!(
                                conn,
                                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                        Fault::Hang => held.push(conn),
                    },
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FaultyCorrosion {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FaultyCorrosion {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
