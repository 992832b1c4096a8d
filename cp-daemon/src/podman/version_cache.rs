//! The engine's version, asked once a minute at most. Podman 4.3 answers
//! `GET /version` in about 270 ms on these machines (it gathers the
//! versions of its runtime and helpers each time), and `GET /host/info`
//! asked it on every request: a dispatch of `host/info` took 300+ ms. The
//! version of a running engine changes only when it is upgraded; the cost
//! of the cache is that an upgrade shows in `host/info` up to a minute
//! late.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// How long a fetched value is served.
pub const TTL: Duration = Duration::from_secs(60);

/// A value fetched at most once per [`TTL`]; concurrent callers of a stale
/// value wait for one fetch. A failed fetch is not kept.
#[derive(Debug)]
pub struct TtlCache<T> {
    slot: Arc<Mutex<Option<(Instant, T)>>>,
    ttl: Duration,
}

impl<T> Clone for TtlCache<T> {
    fn clone(&self) -> Self {
        TtlCache {
            slot: self.slot.clone(),
            ttl: self.ttl,
        }
    }
}

impl<T: Clone> TtlCache<T> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            slot: Arc::new(Mutex::new(None)),
            ttl,
        }
    }

    pub async fn get_or_fetch<E, F, Fut>(&self, fetch: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        let value = fetch().await?;
        *slot = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_value_is_fetched_once_per_ttl_and_a_failure_is_not_kept() {
        let fetched = AtomicU32::new(0);
        let fetch = || async { Ok::<u32, String>(fetched.fetch_add(1, Ordering::SeqCst) + 1) };
        let cache = TtlCache::new(Duration::from_millis(200));
        assert_eq!(cache.get_or_fetch(fetch).await, Ok(1));
        assert_eq!(
            cache.get_or_fetch(fetch).await,
            Ok(1),
            "served from the cache"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            cache.get_or_fetch(fetch).await,
            Ok(2),
            "fetched again after the TTL"
        );

        let failing = TtlCache::<u32>::new(Duration::from_secs(60));
        assert_eq!(
            failing
                .get_or_fetch(|| async { Err::<u32, _>("down") })
                .await,
            Err("down")
        );
        assert_eq!(
            failing.get_or_fetch(fetch).await,
            Ok(3),
            "the failure was not kept"
        );
    }
}
