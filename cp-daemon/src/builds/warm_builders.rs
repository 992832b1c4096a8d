//! Warm builders (`COOLD_BUILD_WARM`): builder containers created,
//! initialised, fenced and started before any request, each running
//! `coolify-builder --await-go` on its own slot dir `<build dir>/.warm/<slot>`.
//! Creating, initialising and starting a container costs about as much as
//! a small build itself, so a build that finds one waiting skips all of it.
//!
//! Handing a build over is plain file work on one filesystem: the build's
//! spec (and credentials) move into the slot dir, the slot dir is renamed
//! over the build's own (empty by then) work dir, a symlink left at the
//! slot's old path records which build the container serves (its labels
//! were fixed at create), and `go` starts the builder. The container's
//! bind mount follows the directory, not its name, so the builder writes
//! straight into `<build dir>/<request id>`. Each warm builder serves one
//! build and is then removed like any other build container.
//!
//! This module holds the pool and the file steps; the driver does the
//! engine calls.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use coolify_build_contract::{CREDENTIALS_FILE, GO_FILE, SPEC_FILE};
use tokio::sync::Notify;

use super::process_exit::ProcessWatch;

/// Slot dirs live here, below the build dir. Not a valid request id, so the
/// work dir scans (orphans, finished, sweep) never take it for a build.
pub const WARM_DIR: &str = ".warm";
/// Label on a warm builder: its slot dir (the path it was created with).
pub const LABEL_WARM: &str = "coolify.build.warm";

/// One waiting builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warm {
    /// The engine's container id (the name changes when a build takes it).
    pub container: String,
    pub slot: PathBuf,
    /// Its process in the host's procfs, when visible: whether it still
    /// runs is then known without asking the engine.
    pub process: Option<ProcessWatch>,
}

/// The idle warm builders, and a wake-up for the task that refills them
/// (notified when a build ends).
#[derive(Debug, Default)]
pub struct WarmPool {
    idle: Mutex<Vec<Warm>>,
    pub refill: Notify,
}

impl WarmPool {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.idle().len()
    }

    /// The oldest waiting builder. The refill is not woken here: making a
    /// container while the build it was taken for runs slows that build
    /// (the two contend for the engine's storage lock and the CPU; see
    /// docs/builds.md), so the driver wakes it when a build ends.
    pub fn take(&self) -> Option<Warm> {
        let mut idle = self.idle();
        (!idle.is_empty()).then(|| idle.remove(0))
    }

    pub fn put(&self, w: Warm) {
        self.idle().push(w);
    }

    /// Every idle builder, for retiring them at stop.
    pub fn drain(&self) -> Vec<Warm> {
        std::mem::take(&mut *self.idle())
    }
}

/// A fresh slot dir path under `root` (random, like pool container names).
pub fn new_slot(root: &Path) -> PathBuf {
    root.join(WARM_DIR)
        .join(format!("w{:016x}", rand::random::<u64>()))
}

/// The container name of a warm builder on `slot`.
pub fn container_name(slot: &Path) -> String {
    let tail = slot.file_name().and_then(|n| n.to_str()).unwrap_or("slot");
    format!("{}warm-{tail}", super::request::CONTAINER_PREFIX)
}

/// Hands the build whose files are in `work_dir` to the builder waiting on
/// `slot`; see the module doc for the steps. After it, `work_dir` is the
/// builder's mounted dir. A crash part way leaves either a work dir with
/// no `go` (the restart's orphan scan answers it) or a slot nobody serves
/// (adoption removes its container).
pub fn hand_over(slot: &Path, work_dir: &Path) -> std::io::Result<()> {
    for f in [SPEC_FILE, CREDENTIALS_FILE] {
        match std::fs::rename(work_dir.join(f), slot.join(f)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && f == CREDENTIALS_FILE => {}
            other => other?,
        }
    }
    // `work_dir` is empty now; rename(2) replaces an empty directory
    // atomically, so the build's dir never disappears.
    std::fs::rename(slot, work_dir)?;
    std::os::unix::fs::symlink(work_dir, slot)?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(work_dir.join(GO_FILE))?;
    Ok(())
}

/// What a warm builder's slot path says (at restart adoption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    /// Still its own dir: the builder waits for a build that never came.
    Idle,
    /// Handed over and started: the build's request id and work dir.
    Serving { request_id: String, dir: PathBuf },
    /// Gone, dangling, or handed over without `go`: nobody's build runs.
    Unused,
}

pub fn slot_state(slot: &Path) -> SlotState {
    let Ok(meta) = std::fs::symlink_metadata(slot) else {
        return SlotState::Unused;
    };
    if meta.is_dir() {
        return SlotState::Idle;
    }
    let Ok(dir) = std::fs::read_link(slot) else {
        return SlotState::Unused;
    };
    let id = dir.file_name().and_then(|n| n.to_str()).map(str::to_string);
    match id {
        Some(request_id)
            if super::request::validate_request_id(&request_id).is_ok()
                && dir.join(GO_FILE).exists() =>
        {
            SlotState::Serving { request_id, dir }
        }
        _ => SlotState::Unused,
    }
}

/// Every slot path under `root` (dirs and symlinks alike).
pub fn slots(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root.join(WARM_DIR))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Removes a slot path: an idle slot's dir, or a served slot's symlink.
pub fn remove_slot(slot: &Path) {
    match std::fs::symlink_metadata(slot) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(slot);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(slot);
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_dir_with_request(root: &Path, id: &str, creds: bool) -> PathBuf {
        let dir = root.join(id);
        std::fs::create_dir_all(&dir).expect("work dir");
        std::fs::write(dir.join(SPEC_FILE), "{\"spec\":1}").expect("spec");
        if creds {
            std::fs::write(dir.join(CREDENTIALS_FILE), "{}").expect("creds");
        }
        dir
    }

    #[test]
    fn hand_over_puts_the_slot_dir_at_the_builds_path_with_its_files_and_go() {
        let root = tempfile::tempdir().expect("root");
        let slot = new_slot(root.path());
        std::fs::create_dir_all(&slot).expect("slot");
        // The builder's own file in its dir: it must still be there after.
        std::fs::write(slot.join("marker"), "slot inode").expect("marker");
        let dir = build_dir_with_request(root.path(), "b-1", true);

        hand_over(&slot, &dir).expect("hand over");

        assert_eq!(
            std::fs::read_to_string(dir.join("marker")).unwrap(),
            "slot inode"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(SPEC_FILE)).unwrap(),
            "{\"spec\":1}"
        );
        assert!(dir.join(CREDENTIALS_FILE).exists());
        assert!(dir.join(GO_FILE).exists());
        assert_eq!(
            slot_state(&slot),
            SlotState::Serving {
                request_id: "b-1".into(),
                dir: dir.clone()
            }
        );
    }

    #[test]
    fn a_build_without_credentials_hands_over_too() {
        let root = tempfile::tempdir().expect("root");
        let slot = new_slot(root.path());
        std::fs::create_dir_all(&slot).expect("slot");
        let dir = build_dir_with_request(root.path(), "b-2", false);
        hand_over(&slot, &dir).expect("hand over");
        assert!(!dir.join(CREDENTIALS_FILE).exists());
        assert!(dir.join(SPEC_FILE).exists());
    }

    #[test]
    fn slot_states_after_a_restart() {
        let root = tempfile::tempdir().expect("root");
        let idle = new_slot(root.path());
        std::fs::create_dir_all(&idle).expect("slot");
        assert_eq!(slot_state(&idle), SlotState::Idle);
        assert_eq!(slot_state(&new_slot(root.path())), SlotState::Unused);
        // Handed over but `go` never written (crash in between).
        let half = new_slot(root.path());
        let dir = root.path().join("b-3");
        std::fs::create_dir_all(&dir).expect("dir");
        std::os::unix::fs::symlink(&dir, &half).expect("symlink");
        assert_eq!(slot_state(&half), SlotState::Unused);
        remove_slot(&half);
        assert!(std::fs::symlink_metadata(&half).is_err());
        remove_slot(&idle);
        assert!(!idle.exists());
    }

    #[test]
    fn slots_are_not_build_dirs_and_the_oldest_builder_is_taken_first() {
        assert!(super::super::request::validate_request_id(WARM_DIR).is_err());
        let pool = WarmPool::default();
        assert_eq!(pool.take(), None);
        pool.put(Warm {
            process: None,
            container: "c1".into(),
            slot: "/x/.warm/a".into(),
        });
        pool.put(Warm {
            process: None,
            container: "c2".into(),
            slot: "/x/.warm/b".into(),
        });
        assert_eq!(pool.take().map(|w| w.container).as_deref(), Some("c1"));
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.drain().len(), 1);
        assert_eq!(pool.len(), 0);
    }
}
