//! A broker session opened: build frames go to it, and what it may have
//! missed is sent again.

use std::sync::Arc;

use super::Builds;
use crate::builds::workdir::{self, EventTail};

impl Builds {
    /// A broker session opened: frames go to it, running builds replay
    /// their events, and every finished build still on disk is answered
    /// again (the broker keeps the first answer and ignores repeats).
    pub fn on_session(
        self: &Arc<Self>,
        tx: tokio::sync::mpsc::Sender<coolify_proto::v1::ClientMsg>,
    ) {
        self.outbox.open(tx);
        let this = self.clone();
        tokio::spawn(async move {
            let running: Vec<String> = this.slots().running.keys().cloned().collect();
            for f in workdir::finished(&this.cfg.dir) {
                if running.contains(&f.request_id) {
                    continue;
                }
                let mut tail = EventTail::default();
                this.forward_events(&f.request_id, &f.dir, &mut tail).await;
                this.outbox
                    .response(&f.request_id, f.verdict.status, &f.verdict.body)
                    .await;
            }
        });
    }
}
