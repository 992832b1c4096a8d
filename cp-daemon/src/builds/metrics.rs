//! Build counters for `/metrics`: running, queued, finished by outcome.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct BuildMetrics {
    finished: Mutex<BTreeMap<String, u64>>,
}

/// Outcomes are the builder's closed code set plus the agent's own; any
/// other code is counted as `other` so the label set stays bounded.
const OUTCOMES: [&str; 8] = [
    "ok",
    "bad_spec",
    "git",
    "build_failed",
    "cancelled",
    "io",
    "timeout",
    "bad_request",
];

impl BuildMetrics {
    pub fn finished(&self, outcome: &str) {
        let key = if OUTCOMES.contains(&outcome) {
            outcome
        } else {
            "other"
        };
        *self
            .finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_default() += 1;
    }

    pub fn render(&self, running: usize, queued: usize, capacity: u32, warm: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP coold_builds_running Build containers the agent drives now.\n# TYPE coold_builds_running gauge\ncoold_builds_running {running}");
        let _ = writeln!(out, "# HELP coold_builds_queued Builds waiting for a free slot (COOLD_BUILDER_CAPACITY).\n# TYPE coold_builds_queued gauge\ncoold_builds_queued {queued}");
        let _ = writeln!(out, "# HELP coold_builds_capacity Builds run at once.\n# TYPE coold_builds_capacity gauge\ncoold_builds_capacity {capacity}");
        let _ = writeln!(out, "# HELP coold_builds_warm Builder containers started and waiting for a build (COOLD_BUILD_WARM).\n# TYPE coold_builds_warm gauge\ncoold_builds_warm {warm}");
        let _ = writeln!(out, "# HELP coold_builds_finished_total Finished builds by outcome.\n# TYPE coold_builds_finished_total counter");
        for (k, v) in self
            .finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "coold_builds_finished_total{{outcome=\"{k}\"}} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_stay_a_closed_label_set() {
        let m = BuildMetrics::default();
        m.finished("ok");
        m.finished("ok");
        m.finished("made_up");
        let t = m.render(1, 2, 3, 1);
        assert!(t.contains("coold_builds_warm 1\n"), "{t}");
        assert!(t.contains("coold_builds_running 1\n"), "{t}");
        assert!(t.contains("coold_builds_queued 2\n"), "{t}");
        assert!(
            t.contains("coold_builds_finished_total{outcome=\"ok\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("coold_builds_finished_total{outcome=\"other\"} 1"),
            "{t}"
        );
    }
}
