//! `coolify fleet`: the broker's connected hosts (`GET /v1/hosts` on its
//! UDS lane), as a table for people or the broker's JSON for scripts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::args::broker::FleetArgs;

/// The broker's answer, kept as it came for `--output json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Fleet {
    pub count: usize,
    pub hosts: Vec<Host>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Host {
    pub host_id: String,
    pub capabilities: Vec<String>,
    pub agent_version: String,
    pub connected_since: u64,
    pub last_frame_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_slots_free: Option<u32>,
}

pub async fn fleet(a: &FleetArgs) -> Result<Fleet, String> {
    let r = super::lane::get(&a.lane.socket, "/v1/hosts").await?;
    if !r.is_success() {
        return Err(format!(
            "the broker answered {}: {}",
            r.status,
            super::lane::error_text(&r)
        ));
    }
    serde_json::from_slice(&r.body).map_err(|e| format!("the broker's host list: {e}"))
}

impl Fleet {
    /// One line per host, ages relative to now.
    pub fn render(&self) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.render_at(now_ms)
    }

    fn render_at(&self, now_ms: u64) -> String {
        if self.hosts.is_empty() {
            return "no hosts connected".into();
        }
        let age = |ms: u64| {
            let d = Duration::from_secs(now_ms.saturating_sub(ms) / 1000);
            format!("{} ago", humantime::format_duration(d))
        };
        let mut rows = vec![[
            "HOST".to_string(),
            "VERSION".into(),
            "CAPS".into(),
            "CONNECTED".into(),
            "LAST FRAME".into(),
            "FREE SLOTS".into(),
        ]];
        for h in &self.hosts {
            rows.push([
                h.host_id.clone(),
                h.agent_version.clone(),
                if h.capabilities.is_empty() {
                    "-".into()
                } else {
                    h.capabilities.join(",")
                },
                age(h.connected_since * 1000),
                age(h.last_frame_ms),
                h.builder_slots_free
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out.push_str(&format!("{} host(s)", self.count));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_row_per_host_with_ages_and_dashes_for_absent_values() {
        let f = Fleet {
            count: 2,
            hosts: vec![
                Host {
                    host_id: "a".into(),
                    capabilities: vec!["builder".into()],
                    agent_version: "0.1.0".into(),
                    connected_since: 1_000,
                    last_frame_ms: 1_058_000,
                    builder_slots_free: Some(2),
                },
                Host {
                    host_id: "web-2".into(),
                    capabilities: vec![],
                    agent_version: "0.1.0".into(),
                    connected_since: 1_030,
                    last_frame_ms: 1_059_500,
                    builder_slots_free: None,
                },
            ],
        };
        let text = f.render_at(1_060_000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("HOST "), "{text}");
        assert!(
            lines[1].contains("builder") && lines[1].contains("1m ago"),
            "{text}"
        );
        assert!(lines[1].trim_end().ends_with('2'), "{text}");
        assert!(
            lines[2].contains("30s ago") && lines[2].trim_end().ends_with('-'),
            "{text}"
        );
        assert_eq!(lines[3], "2 host(s)");
    }

    #[test]
    fn an_empty_fleet_says_so() {
        let f = Fleet {
            count: 0,
            hosts: vec![],
        };
        assert_eq!(f.render_at(0), "no hosts connected");
    }
}
