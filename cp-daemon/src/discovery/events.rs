//! The engine's event stream as a reconcile trigger: container start, die,
//! remove and health_status events wake the sync (debounced there). A broken
//! stream reconnects with capped backoff; the periodic reconcile covers any
//! gap meanwhile.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::podman::raw;

const RELEVANT: [&str; 4] = ["start", "die", "remove", "health_status"];
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// True when an event line names a container lifecycle change we sync on.
pub fn is_relevant(line: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
        return false;
    };
    let typ = v
        .get("Type")
        .or_else(|| v.get("type"))
        .and_then(|t| t.as_str());
    let action = v
        .get("Action")
        .or_else(|| v.get("status"))
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    // Some engines write "health_status: healthy".
    let action = action.split(':').next().unwrap_or_default().trim();
    typ == Some("container") && RELEVANT.contains(&action)
}

/// Follows `/events` until `stop`, waking `trigger` on relevant events.
pub async fn follow(socket: PathBuf, trigger: Arc<Notify>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            r = stream_once(&socket, &trigger) => r,
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, retry_in = ?backoff, "engine event stream broken; reconnecting");
        }
        // Something may have happened while we were not listening.
        trigger.notify_one();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn stream_once(socket: &std::path::Path, trigger: &Notify) -> Result<(), String> {
    let filters = r#"{"type":["container"]}"#;
    let path = raw::compat_path(&format!("/events?filters={}", raw::percent_encode(filters)));
    let resp = raw::open_get(socket, &path)
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("events answered {}", resp.status()));
    }
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        buf.extend_from_slice(data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if is_relevant(&line) {
                trigger.notify_one();
            }
        }
    }
    Err("event stream ended".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_events_are_relevant() {
        assert!(is_relevant(
            br#"{"Type":"container","Action":"start","Actor":{"ID":"x"}}"#
        ));
        assert!(is_relevant(
            br#"{"Type":"container","Action":"health_status: unhealthy"}"#
        ));
        assert!(is_relevant(br#"{"status":"die","Type":"container"}"#));
        assert!(!is_relevant(
            br#"{"Type":"container","Action":"exec_start"}"#
        ));
        assert!(!is_relevant(br#"{"Type":"image","Action":"remove"}"#));
        assert!(!is_relevant(b"not json"));
    }
}
