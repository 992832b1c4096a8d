//! The host tree the agent's tools run in (`COOLD_HOST_ROOT`, see
//! `cp-daemon/src/hosttools`): the image is `FROM scratch`, so iptables,
//! nft, nsenter and rclone are the host's, run chrooted into `/host`.
//!
//! `/host` is assembled from the parts of the host those tools need, never
//! the host's `/`: that would put every private key of the host (the CA's,
//! the broker's signing key, SSH host keys) inside the agent's container.
//! Programs and libraries come from the system dirs; of `/etc` only the
//! files that a loader, a resolver or a TLS client reads; `/tmp` is the
//! container's own. A host dir that does not exist (e.g. `/lib32`) is
//! skipped.
//!
//! This keeps keys out of the container's filesystem and of every path a
//! verb can touch. It is not a wall against a compromised agent: the agent
//! is privileged and sees the host's procfs, through which a root process
//! can reach any file (`/proc/1/root`). Dropping that privilege is the
//! security issue's work, not this file's.

use std::path::Path;

use bollard::models::{Mount, MountType};

use super::container::bind;

/// Where the host tree appears inside the appliance.
pub const HOST_ROOT_IN_CONTAINER: &str = "/host";

/// Programs and libraries (merged-/usr hosts have `/bin` etc. as symlinks;
/// a bind mount follows them).
const SYSTEM_DIRS: [&str; 7] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Kernel interfaces: the host's procfs (a build's process and network
/// namespace are found there), sysfs, devices, and `/run` for
/// `/run/xtables.lock`, the lock iptables shares with every other iptables
/// user of the host.
const KERNEL_DIRS: [(&str, bool); 4] = [
    ("/proc", false),
    ("/sys", true),
    ("/dev", false),
    ("/run", false),
];

/// What of the host's `/etc` the tools read: the dynamic loader's cache,
/// Debian's alternatives (iptables → iptables-nft), name and protocol
/// lookup, and the CA bundle rclone trusts. No private key is among them.
const ETC_ENTRIES: [&str; 17] = [
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "hosts",
    "resolv.conf",
    "protocols",
    "services",
    "ethertypes",
    "iproute2",
    "passwd",
    "group",
    "ssl/certs",
    "ca-certificates.conf",
];

/// The mounts that make up `/host`, read-only except the data dir (rclone
/// writes tenant state there, docs/sync.md) and `/run` (the xtables lock).
pub fn mounts(data_dir: &Path) -> Vec<Mount> {
    mounts_from(Path::new("/"), data_dir)
}

/// [`mounts`] over a host tree rooted at `host` (tests pass a temp dir).
fn mounts_from(host: &Path, data_dir: &Path) -> Vec<Mount> {
    let inside = |p: &str| format!("{HOST_ROOT_IN_CONTAINER}{p}");
    let exists = |p: &str| host.join(p.trim_start_matches('/')).exists();
    let ro = |p: &str| Mount {
        read_only: Some(true),
        ..bind(&host.join(p.trim_start_matches('/')), &inside(p))
    };
    let mut out: Vec<Mount> = SYSTEM_DIRS
        .into_iter()
        .filter(|d| exists(d))
        .map(ro)
        .collect();
    for (dir, read_only) in KERNEL_DIRS {
        if exists(dir) {
            out.push(Mount {
                read_only: Some(read_only),
                ..bind(&host.join(dir.trim_start_matches('/')), &inside(dir))
            });
        }
    }
    for entry in ETC_ENTRIES {
        let path = format!("/etc/{entry}");
        if exists(&path) {
            out.push(ro(&path));
        }
    }
    out.push(Mount {
        target: Some(inside("/tmp")),
        typ: Some(MountType::TMPFS),
        ..Default::default()
    });
    out.push(bind(
        data_dir,
        &format!("{HOST_ROOT_IN_CONTAINER}{}", data_dir.display()),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_parts_of_etc_are_mounted_and_absent_ones_are_skipped() {
        let host = tempfile::tempdir().unwrap();
        for d in ["usr", "etc/ssl/certs", "etc/ssl/private", "etc/ssh", "proc"] {
            std::fs::create_dir_all(host.path().join(d)).unwrap();
        }
        std::fs::write(host.path().join("etc/ld.so.cache"), "").unwrap();
        std::fs::write(host.path().join("etc/ssh/ssh_host_ed25519_key"), "").unwrap();

        let targets: Vec<String> = mounts_from(host.path(), Path::new("/var/lib/coolify"))
            .into_iter()
            .filter_map(|m| m.target)
            .collect();

        assert_eq!(
            targets,
            [
                "/host/usr",
                "/host/proc",
                "/host/etc/ld.so.cache",
                "/host/etc/ssl/certs",
                "/host/tmp",
                "/host/var/lib/coolify",
            ]
        );
    }
}
