//! Where build frames go: the broker session that is open now, if any.
//!
//! Builds outlive sessions (and agent restarts), so they never hold a
//! session's sender themselves. Each session registers here when it opens;
//! its number lets followers notice a new session and replay their events
//! file from the first line. Nothing is queued in memory while no session
//! is open: the work dirs are the queue, re-read when the next one opens.

use std::sync::Mutex;

use coolify_proto::v1::{client_msg, BuildEvent, ClientMsg, Response};
use tokio::sync::{mpsc, watch};

#[derive(Debug)]
pub struct Outbox {
    tx: Mutex<Option<mpsc::Sender<ClientMsg>>>,
    session: watch::Sender<u64>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            tx: Mutex::new(None),
            session: watch::channel(0).0,
        }
    }
}

impl Outbox {
    /// A session opened: frames go to `tx` from now on.
    pub fn open(&self, tx: mpsc::Sender<ClientMsg>) {
        *self.tx.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        self.session.send_modify(|n| *n += 1);
    }

    /// The session ended.
    pub fn close(&self) {
        *self.tx.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Watches the session number.
    pub fn sessions(&self) -> watch::Receiver<u64> {
        self.session.subscribe()
    }

    fn sender(&self) -> Option<mpsc::Sender<ClientMsg>> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends one frame; `false` when no session is open or it closed.
    pub async fn send(&self, msg: client_msg::Msg) -> bool {
        match self.sender() {
            Some(tx) => tx.send(ClientMsg { msg: Some(msg) }).await.is_ok(),
            None => false,
        }
    }

    pub async fn event(&self, request_id: &str, seq: u64, line: Vec<u8>) -> bool {
        self.send(client_msg::Msg::BuildEvent(BuildEvent {
            request_id: request_id.to_string(),
            event: line,
            seq,
        }))
        .await
    }

    pub async fn response(&self, request_id: &str, status: u16, body: &serde_json::Value) -> bool {
        let error = if (200..300).contains(&status) {
            String::new()
        } else {
            body.get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_string()
        };
        self.send(client_msg::Msg::Response(Response {
            request_id: request_id.to_string(),
            status: u32::from(status),
            body: body.to_string().into_bytes(),
            error,
        }))
        .await
    }
}
