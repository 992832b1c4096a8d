//! Broker counters rendered as Prometheus text on the UDS lane's /metrics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Outcome classes of UDS-lane requests; fixed so label cardinality is too.
#[derive(Debug, Clone, Copy)]
pub enum DispatchResult {
    /// The agent answered (whatever its status).
    Answered,
    UnknownHost,
    Unavailable,
    Timeout,
    BadRequest,
}

#[derive(Debug, Default)]
pub struct Metrics {
    answered: AtomicU64,
    unknown_host: AtomicU64,
    unavailable: AtomicU64,
    timeout: AtomicU64,
    bad_request: AtomicU64,
    streams_opened: AtomicU64,
    streams_refused: AtomicU64,
    swept: AtomicU64,
}

impl Metrics {
    pub fn dispatch(&self, r: DispatchResult) {
        let c = match r {
            DispatchResult::Answered => &self.answered,
            DispatchResult::UnknownHost => &self.unknown_host,
            DispatchResult::Unavailable => &self.unavailable,
            DispatchResult::Timeout => &self.timeout,
            DispatchResult::BadRequest => &self.bad_request,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_opened(&self) {
        self.streams_opened.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_refused(&self) {
        self.streams_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn swept(&self, n: usize) {
        self.swept.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn render(&self, streams: usize, pending: usize, pending_max: usize) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(s, "# TYPE coolify_broker_streams gauge");
        let _ = writeln!(s, "coolify_broker_streams {streams}");
        let _ = writeln!(s, "# TYPE coolify_broker_pending gauge");
        let _ = writeln!(s, "coolify_broker_pending {pending}");
        let _ = writeln!(s, "coolify_broker_pending_max {pending_max}");
        let _ = writeln!(s, "# TYPE coolify_broker_dispatch_total counter");
        for (label, c) in [
            ("answered", &self.answered),
            ("unknown_host", &self.unknown_host),
            ("unavailable", &self.unavailable),
            ("timeout", &self.timeout),
            ("bad_request", &self.bad_request),
        ] {
            let _ = writeln!(
                s,
                "coolify_broker_dispatch_total{{result=\"{label}\"}} {}",
                g(c)
            );
        }
        let _ = writeln!(s, "# TYPE coolify_broker_streams_opened_total counter");
        let _ = writeln!(
            s,
            "coolify_broker_streams_opened_total {}",
            g(&self.streams_opened)
        );
        let _ = writeln!(s, "# TYPE coolify_broker_streams_refused_total counter");
        let _ = writeln!(
            s,
            "coolify_broker_streams_refused_total {}",
            g(&self.streams_refused)
        );
        let _ = writeln!(s, "# TYPE coolify_broker_swept_total counter");
        let _ = writeln!(s, "coolify_broker_swept_total {}", g(&self.swept));
        s
    }
}
