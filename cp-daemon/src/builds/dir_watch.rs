//! Wakes a build's follower the moment its work dir changes: an event
//! line appended, or the verdict renamed into place.
//!
//! Without it the verdict would wait for the follower's next poll, time
//! the build's answer spends doing nothing. The poll stays as the cadence
//! for cancel, the deadline and the process watch.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;

/// `AsyncFd` wants `AsRawFd`; nix's `Inotify` offers `AsFd`.
struct Fd(Inotify);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

pub struct DirWatch {
    fd: AsyncFd<Fd>,
}

impl DirWatch {
    /// Watches `dir` itself (its inode: a warm slot renamed over the work
    /// dir is the same dir) for writes and files moved or created in it.
    pub fn new(dir: &Path) -> io::Result<DirWatch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        inotify.add_watch(
            dir,
            AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CREATE,
        )?;
        // SAFETY: the `AsyncFd` owns the `Inotify`, which owns its
        // descriptor: nothing else can close or replace it while it is
        // registered (the registration ends before the `Inotify` drops).
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register(Fd(inotify)) }.map_err(io::Error::from)?;
        Ok(DirWatch { fd })
    }

    /// Returns once something changed since the last call (all pending
    /// notices are consumed: the caller re-reads the dir anyway).
    pub async fn changed(&self) -> io::Result<()> {
        loop {
            let mut ready = self.fd.readable().await?;
            match ready.try_io(|fd| fd.get_ref().0.read_events().map_err(io::Error::from)) {
                Ok(result) => return result.map(drop),
                // Spurious readiness: cleared by try_io; wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_file_renamed_into_the_dir_wakes_the_watch() {
        let dir = tempfile::tempdir().expect("tmp");
        let watch = DirWatch::new(dir.path()).expect("watch");
        let quiet = tokio::time::timeout(Duration::from_millis(50), watch.changed()).await;
        assert!(quiet.is_err(), "woke with nothing changed");
        std::fs::write(dir.path().join(".result.json.tmp"), "{}").unwrap();
        std::fs::rename(
            dir.path().join(".result.json.tmp"),
            dir.path().join("result.json"),
        )
        .unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .expect("woken")
            .expect("read");
    }

    #[tokio::test]
    async fn a_renamed_dir_is_still_watched() {
        let root = tempfile::tempdir().expect("tmp");
        let (slot, work) = (root.path().join("slot"), root.path().join("work"));
        std::fs::create_dir(&slot).unwrap();
        let watch = DirWatch::new(&slot).expect("watch");
        std::fs::rename(&slot, &work).unwrap();
        // Drain the notices of the rename itself, if any reached us.
        let _ = tokio::time::timeout(Duration::from_millis(20), watch.changed()).await;
        std::fs::write(work.join("events.ndjson"), "{}\n").unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .expect("woken")
            .expect("read");
    }
}
