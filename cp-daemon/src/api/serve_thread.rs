//! The REST API's own thread: a current-thread runtime that serves the
//! agent API's connections, beside the agent's multi-threaded runtime.
//!
//! Why: on the two-worker runtime one request in flight woke both workers
//! about seven times (each worker that finds a task wakes the other to
//! help, and the I/O driver changes hands between them), measured with
//! `strace -f` and schedstat on `GET /containers/{id}`. On a thread of its
//! own, a request costs the two wake-ups its I/O needs: the client's
//! request and the engine's answer. It is also a bulkhead: a burst of API
//! requests can take at most this one thread, so DNS, discovery, pools and
//! builds keep the agent runtime's workers.
//!
//! Invariant: nothing here may block the thread (a verb that blocks would
//! stall every API request); blocking work goes through `spawn_blocking`,
//! which works on this runtime too.

use std::future::Future;

use tokio::runtime::{Builder, Handle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A thread running a current-thread runtime until dropped.
#[derive(Debug)]
pub struct ServeThread {
    handle: Handle,
    done: CancellationToken,
}

impl ServeThread {
    /// Starts the thread `name`.
    pub fn start(name: &str) -> std::io::Result<ServeThread> {
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let done = CancellationToken::new();
        let until = done.clone();
        // Tasks spawned through `handle` run while this `block_on` runs;
        // engine connections opened by them live here too, so the runtime
        // stays up until the agent is done with it (drop), not only until
        // the listener has drained.
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || runtime.block_on(until.cancelled()))?;
        Ok(ServeThread { handle, done })
    }

    /// Runs `task` on this thread.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }
}

impl Drop for ServeThread {
    fn drop(&mut self) {
        self.done.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_run_on_the_named_thread() {
        let t = ServeThread::start("serve-thread-test").unwrap();
        let name = t
            .spawn(async { std::thread::current().name().map(str::to_string) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("serve-thread-test"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_it_stops_its_tasks() {
        let t = ServeThread::start("serve-thread-drop").unwrap();
        let forever = t.spawn(std::future::pending::<()>());
        drop(t);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), forever)
            .await
            .expect("the runtime shut down");
        assert!(ended.unwrap_err().is_cancelled());
    }
}
