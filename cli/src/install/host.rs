//! What `cp install` asks of this host: is systemd PID 1, where are the
//! tools the units run, and does Podman ship its own socket unit here.

use std::path::{Path, PathBuf};

use super::units::{EngineSocket, HostTools, PODMAN_OWN_SOCKET};
use super::InstallError;

/// sd_booted(3): systemd is the init system exactly when this directory
/// exists (systemd creates it early at boot; nothing else does).
const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";

/// Where packages put unit files, in systemd's order of precedence.
const UNIT_PATHS: [&str; 3] = [
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

pub fn systemd_booted() -> bool {
    Path::new(SYSTEMD_RUNTIME_DIR).is_dir()
}

/// The host tools, each found on PATH (then in the sbin dirs, which a
/// non-root PATH may lack) as an absolute path.
pub fn tools() -> Result<HostTools, InstallError> {
    Ok(HostTools {
        podman: find("podman")?,
        sh: find("sh")?,
        mkdir: find("mkdir")?,
        rm: find("rm")?,
        nft: find("nft")?,
        iptables_restore: find("iptables-restore")?,
    })
}

fn find(tool: &'static str) -> Result<PathBuf, InstallError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .filter(|d| d.is_absolute())
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
        .ok_or(InstallError::ToolMissing(tool))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Podman's own `podman.socket` when `cp up` used the path it listens on
/// and the host has the unit; else a service of ours.
pub fn engine_socket(recorded: &Path, units_dir: &Path) -> EngineSocket {
    if recorded != Path::new(PODMAN_OWN_SOCKET) {
        return EngineSocket::Ours;
    }
    let Some(unit_file) = UNIT_PATHS
        .iter()
        .map(|d| Path::new(d).join("podman.socket"))
        .find(|p| p.is_file())
    else {
        return EngineSocket::Ours;
    };
    let already_enabled = units_dir
        .join("sockets.target.wants/podman.socket")
        .symlink_metadata()
        .is_ok();
    EngineSocket::PodmanOwn {
        unit_file,
        already_enabled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_resolve_to_absolute_paths_or_name_the_missing_one() {
        let sh = find("sh").unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"));
        let err = find("coolify-no-such-tool").unwrap_err();
        assert!(err.to_string().contains("coolify-no-such-tool"), "{err}");
    }

    #[test]
    fn another_socket_path_gets_a_service_of_ours() {
        assert_eq!(
            engine_socket(Path::new("/tmp/x/podman.sock"), Path::new("/nowhere")),
            EngineSocket::Ours
        );
    }
}
