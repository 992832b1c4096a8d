//! Agent metrics in Prometheus text format: requests per verb and status,
//! their durations, and component health.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::health::{HealthReport, Status};

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    count: u64,
    seconds: f64,
}

/// Request counters; verb names are static, so the label set is bounded.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), Counter>>,
}

impl Metrics {
    pub fn observe(&self, verb: &'static str, status: u16, elapsed: Duration) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry((verb, status)).or_default();
        c.count += 1;
        c.seconds += elapsed.as_secs_f64();
    }

    pub fn render(&self, health: &HealthReport) -> String {
        let mut out = String::new();
        let map = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(
            out,
            "# HELP coold_build_info coold version.\n# TYPE coold_build_info gauge"
        );
        let _ = writeln!(out, "coold_build_info{{version=\"{}\"}} 1", health.version);
        let _ = writeln!(out, "# HELP coold_requests_total API requests by verb and status.\n# TYPE coold_requests_total counter");
        for ((verb, status), c) in &map {
            let _ = writeln!(
                out,
                "coold_requests_total{{verb=\"{verb}\",status=\"{status}\"}} {}",
                c.count
            );
        }
        let _ = writeln!(out, "# HELP coold_request_duration_seconds_sum Time spent answering API requests.\n# TYPE coold_request_duration_seconds_sum counter");
        for ((verb, status), c) in &map {
            let _ = writeln!(
                out,
                "coold_request_duration_seconds_sum{{verb=\"{verb}\",status=\"{status}\"}} {:.6}",
                c.seconds
            );
        }
        let _ = writeln!(out, "# HELP coold_component_healthy 1 when the component is healthy.\n# TYPE coold_component_healthy gauge");
        for (name, c) in &health.components {
            let v = u8::from(c.status == Status::Healthy);
            let _ = writeln!(out, "coold_component_healthy{{component=\"{name}\"}} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;

    #[test]
    fn render_counts_requests_per_verb_and_status() {
        let m = Metrics::default();
        m.observe("host.info", 200, Duration::from_millis(2));
        m.observe("host.info", 200, Duration::from_millis(3));
        m.observe("unrouted", 401, Duration::from_millis(1));
        let h = Health::default();
        h.register("podman", true);
        let text = m.render(&h.report());
        assert!(text.contains("coold_requests_total{verb=\"host.info\",status=\"200\"} 2"));
        assert!(text.contains("coold_requests_total{verb=\"unrouted\",status=\"401\"} 1"));
        assert!(text.contains("coold_component_healthy{component=\"podman\"} 0"));
    }
}
