//! How the agent runs the host's kernel tools (`iptables-restore`, `nft`).
//!
//! The appliance image is `FROM scratch` with coold alone, so it has no
//! iptables or nft of its own. There, the host's root filesystem is mounted
//! read-only at `COOLD_HOST_ROOT` (the CLI mounts `/` at `/host`) and each
//! tool runs inside it: the child enters it with chroot(2) before exec, so
//! the host's binaries find the host's libraries. The appliance shares the
//! host's network namespace, so the tools act on the host's tables. Outside
//! the appliance (tests, a bare-metal agent) tools run from `PATH`.

use std::path::{Path, PathBuf};

use tokio::process::Command;

/// Directories searched for a tool inside the host root.
const BIN_DIRS: [&str; 4] = ["usr/sbin", "usr/bin", "sbin", "bin"];

/// Runs host tools, directly or inside the host root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolRunner {
    root: Option<PathBuf>,
}

impl ToolRunner {
    /// Tools from this process's `PATH`.
    pub fn from_path() -> Self {
        ToolRunner { root: None }
    }

    /// Tools from the host filesystem mounted at `root`.
    pub fn in_host_root(root: impl Into<PathBuf>) -> Self {
        ToolRunner {
            root: Some(root.into()),
        }
    }

    /// The host's procfs as this process sees it: inside the appliance
    /// (its own pid namespace) the host's is under the host root, which is
    /// bind-mounted recursively.
    pub fn proc_dir(&self) -> PathBuf {
        match &self.root {
            Some(root) => root.join("proc"),
            None => PathBuf::from("/proc"),
        }
    }

    /// A command for `program` (a bare name or an absolute path).
    pub fn command(&self, program: &Path) -> std::io::Result<Command> {
        let Some(root) = self.root.clone() else {
            return Ok(Command::new(program));
        };
        let inside = resolve(&root, program)?;
        let mut cmd = Command::new(&inside);
        // SAFETY: the closure runs in the forked child before exec and only
        // makes two async-signal-safe syscalls (chroot, chdir); it touches
        // no locks and allocates nothing (the path is captured up front).
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::chroot(&root)?;
                nix::unistd::chdir("/")?;
                Ok(())
            });
        }
        Ok(cmd)
    }
}

/// The path of `program` as seen after chroot into `root`.
fn resolve(root: &Path, program: &Path) -> std::io::Result<PathBuf> {
    if program.is_absolute() {
        return Ok(program.to_path_buf());
    }
    BIN_DIRS
        .iter()
        .map(|d| Path::new("/").join(d).join(program))
        // lstat, not stat: Debian's tools are absolute symlinks through
        // /etc/alternatives, which resolve only after the chroot.
        .find(|p| {
            root.join(p.strip_prefix("/").unwrap_or(p))
                .symlink_metadata()
                .is_ok()
        })
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} not found under {} ({}): install it on the host",
                    program.display(),
                    root.display(),
                    BIN_DIRS.join(", ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/sbin")).unwrap();
        std::fs::write(root.path().join("usr/sbin/nft"), "").unwrap();
        assert_eq!(
            resolve(root.path(), Path::new("nft")).unwrap(),
            PathBuf::from("/usr/sbin/nft")
        );
        // An absolute symlink that only resolves inside the root.
        std::os::unix::fs::symlink(
            "/etc/alternatives/iptables-save",
            root.path().join("usr/sbin/iptables-save"),
        )
        .unwrap();
        assert_eq!(
            resolve(root.path(), Path::new("iptables-save")).unwrap(),
            PathBuf::from("/usr/sbin/iptables-save")
        );
        assert!(resolve(root.path(), Path::new("iptables-restore")).is_err());
        assert_eq!(
            resolve(root.path(), Path::new("/opt/x")).unwrap(),
            PathBuf::from("/opt/x")
        );
    }

    #[tokio::test]
    async fn a_tool_runs_inside_the_host_root() {
        // The machine's own root as the "host root": the child chroots to /
        // and must still find and run the tool.
        let out = ToolRunner::in_host_root("/")
            .command(Path::new("true"))
            .unwrap()
            .status()
            .await
            .unwrap();
        assert!(out.success());
    }
}
