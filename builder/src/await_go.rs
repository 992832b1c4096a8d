//! `--await-go`: a builder the agent started before any request waits here
//! until the agent writes `<work_dir>/go`, which it does after `spec.json`
//! (and, for a build with credentials, the credentials file) are in place.
//! Woken by inotify, so an idle warm builder costs no CPU.

use std::path::Path;

use coolify_build_contract::GO_FILE;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("cannot watch the work dir {dir}: {source}")]
    Watch { dir: String, source: nix::Error },
    #[error("the work dir {0} was removed before a build was handed over")]
    Removed(String),
}

/// Blocks until `<work_dir>/go` exists.
pub fn wait_for_go(work_dir: &Path) -> Result<(), WaitError> {
    let shown = || work_dir.display().to_string();
    let watch_err = |source| WaitError::Watch {
        dir: shown(),
        source,
    };
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).map_err(watch_err)?;
    inotify
        .add_watch(
            work_dir,
            AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_MOVE_SELF,
        )
        .map_err(watch_err)?;
    // Checked after the watch is in place: a go written in between is seen
    // here, one written later wakes the read below.
    loop {
        if work_dir.join(GO_FILE).exists() {
            return Ok(());
        }
        let events = inotify.read_events().map_err(watch_err)?;
        // The agent renames the dir when it hands a build over (the watch
        // follows the inode); a removal means this builder was retired.
        if events
            .iter()
            .any(|e| e.mask.contains(AddWatchFlags::IN_DELETE_SELF))
            && !work_dir.join(GO_FILE).exists()
        {
            return Err(WaitError::Removed(shown()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn returns_once_go_is_written_and_not_before() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || wait_for_go(&path));
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "returned without a go file");
        std::fs::write(dir.path().join("spec.json"), "{}").expect("spec");
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "another file woke it for good");
        std::fs::write(dir.path().join(GO_FILE), "").expect("go");
        waiter.join().expect("join").expect("wait");
    }

    #[test]
    fn a_go_written_before_the_wait_is_seen() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(GO_FILE), "").expect("go");
        wait_for_go(dir.path()).expect("wait");
    }

    #[test]
    fn a_removed_work_dir_ends_the_wait_with_an_error() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("slot");
        std::fs::create_dir(&path).expect("slot");
        let watched = path.clone();
        let waiter = std::thread::spawn(move || wait_for_go(&watched));
        std::thread::sleep(Duration::from_millis(100));
        std::fs::remove_dir(&path).expect("rmdir");
        let r = waiter.join().expect("join");
        assert!(matches!(r, Err(WaitError::Removed(_))), "{r:?}");
    }
}
