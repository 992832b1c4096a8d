//! Knowing that a build container's process has ended by reading the
//! host's procfs, not by asking the engine.
//!
//! Why not the engine's `wait`: on Podman 4.3 a pending
//! `POST /containers/{id}/wait` slows a build running at the same time
//! (docs/builds.md has the figures), and a build's own wait is pending for
//! exactly as long as the build runs. A stat file read per poll costs the
//! engine nothing.
//!
//! `pidfd_open` would wake at once, but it resolves a pid in the caller's
//! pid namespace, and the appliance has its own: there the host's procfs
//! is at `<COOLD_HOST_ROOT>/proc` (the host root is bind-mounted
//! recursively), which is what [`crate::hosttools::ToolRunner::proc_dir`]
//! names.

use std::path::{Path, PathBuf};

/// One process, named by pid and its start time so that a pid the kernel
/// hands to a new process later is not taken for the old one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessWatch {
    stat: PathBuf,
    started: u64,
}

impl ProcessWatch {
    /// Watches `pid` as `proc_dir` shows it; `None` when it is not there
    /// (already gone, or not visible from here: the caller then asks the
    /// engine instead).
    pub fn new(proc_dir: &Path, pid: i64) -> Option<ProcessWatch> {
        if pid <= 0 {
            return None;
        }
        let stat = proc_dir.join(pid.to_string()).join("stat");
        let text = std::fs::read_to_string(&stat).ok()?;
        match parse_stat(&text)? {
            (state, started) if !ended_state(state) => Some(ProcessWatch { stat, started }),
            _ => None,
        }
    }

    /// True once the process has exited: its stat file is gone, shows a
    /// zombie, or belongs to a newer process with the same pid.
    pub fn ended(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(&self.stat) else {
            return true;
        };
        match parse_stat(&text) {
            Some((state, started)) => ended_state(state) || started != self.started,
            None => true,
        }
    }
}

/// `Z` (zombie: exited, not yet reaped by conmon) and `X` (dead).
fn ended_state(state: char) -> bool {
    matches!(state, 'Z' | 'X')
}

/// (state, start time) from `/proc/<pid>/stat`. The command name (field 2)
/// is in parentheses and may hold spaces and `)`, so fields are counted
/// from its last `)`: state is field 3, start time field 22 (proc(5)).
fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let started = fields.nth(18)?.parse().ok()?;
    Some((state, started))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (coolify (b) x) S 1 4242 4242 0 -1 4194560 300 0 0 0 2 1 0 0 20 0 4 0 987654 10000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        assert_eq!(parse_stat(STAT), Some(('S', 987654)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) R 1 2"), None);
    }

    fn fake_proc(stat: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("4242")).expect("pid dir");
        std::fs::write(dir.path().join("4242/stat"), stat).expect("stat");
        dir
    }

    #[test]
    fn a_running_process_has_not_ended_until_it_is_a_zombie() {
        let proc_dir = fake_proc(STAT);
        let watch = ProcessWatch::new(proc_dir.path(), 4242).expect("watch");
        assert!(!watch.ended());
        std::fs::write(
            proc_dir.path().join("4242/stat"),
            STAT.replace(") S ", ") Z "),
        )
        .unwrap();
        assert!(watch.ended());
    }

    #[test]
    fn a_reused_pid_or_a_vanished_process_counts_as_ended() {
        let proc_dir = fake_proc(STAT);
        let watch = ProcessWatch::new(proc_dir.path(), 4242).expect("watch");
        std::fs::write(
            proc_dir.path().join("4242/stat"),
            STAT.replace("987654", "987999"),
        )
        .unwrap();
        assert!(watch.ended(), "a newer process with the same pid");
        std::fs::remove_dir_all(proc_dir.path().join("4242")).unwrap();
        assert!(watch.ended(), "gone");
    }

    #[test]
    fn nothing_is_watched_when_the_pid_is_absent_unknown_or_already_a_zombie() {
        let proc_dir = fake_proc(&STAT.replace(") S ", ") Z "));
        assert_eq!(ProcessWatch::new(proc_dir.path(), 4242), None);
        assert_eq!(ProcessWatch::new(proc_dir.path(), 7), None);
        assert_eq!(ProcessWatch::new(proc_dir.path(), 0), None);
    }

    #[test]
    fn this_test_process_is_watched_through_the_real_procfs() {
        let watch =
            ProcessWatch::new(Path::new("/proc"), i64::from(std::process::id())).expect("own pid");
        assert!(!watch.ended());
    }
}
