//! What the appliance's containers can see of the host, read from the
//! engine's own record of their mounts and tried from inside them: no
//! private key but each container's own (issue 15, seed 003).

use std::path::{Path, PathBuf};
use std::process::Command;

use coolify_tests::*;

/// Host trees mounted for the agent's tools: programs, libraries and kernel
/// interfaces, not configuration. Everything else mounted is scanned.
const SOFTWARE_AND_KERNEL: [&str; 10] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys", "/dev",
];

/// The bind mounts of container `name`: `(source, destination)`.
fn bind_mounts(name: &str) -> Vec<(PathBuf, String)> {
    let out = podman(&["inspect", "--format", "{{json .Mounts}}", name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mounts: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("mounts JSON");
    mounts
        .iter()
        .filter(|m| m["Type"] == "bind")
        .map(|m| {
            (
                PathBuf::from(m["Source"].as_str().expect("source")),
                m["Destination"].as_str().expect("destination").to_owned(),
            )
        })
        .collect()
}

/// Every file under `path` (itself when a file) that holds a PEM private
/// key. Sockets, devices and unreadable entries are skipped.
fn private_keys_under(path: &Path) -> Vec<PathBuf> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Vec::new();
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return Vec::new();
        };
        return entries
            .flatten()
            .flat_map(|e| private_keys_under(&e.path()))
            .collect();
    }
    if !meta.is_file() || meta.len() > 1 << 20 {
        return Vec::new();
    }
    match std::fs::read(path) {
        Ok(bytes) if String::from_utf8_lossy(&bytes).contains("PRIVATE KEY-----") => {
            vec![path.to_path_buf()]
        }
        _ => Vec::new(),
    }
}

/// The private keys reachable through `name`'s mounts, outside the host's
/// software and kernel trees (which the assertion below names as such).
fn keys_in_container(name: &str) -> Vec<PathBuf> {
    let mut keys = Vec::new();
    for (source, dest) in bind_mounts(name) {
        if SOFTWARE_AND_KERNEL
            .iter()
            .any(|d| dest == format!("/host{d}"))
        {
            continue;
        }
        assert!(
            source != Path::new("/") && source != Path::new("/etc"),
            "{name} mounts the host's {} at {dest}",
            source.display()
        );
        keys.extend(private_keys_under(&source));
    }
    keys.sort();
    keys
}

/// Reads `path` from inside container `name`'s mount namespace.
fn read_inside(name: &str, path: &Path) -> std::process::Output {
    let pid = podman(&["inspect", "-f", "{{.State.Pid}}", name]);
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_owned();
    // The scratch image has no loader; the host's busybox is static.
    Command::new("nsenter")
        .args(["-t", &pid, "-m", "--", "/host/bin/busybox", "cat"])
        .arg(path)
        .output()
        .expect("run nsenter")
}

#[test]
fn the_agent_and_broker_containers_hold_no_private_key_but_their_own() {
    let inst = Instance::new();
    ok_json(run(inst.up_with_broker(&["-o", "json"])));
    let cfg = inst.config_dir();

    assert_eq!(
        keys_in_container(&inst.name),
        [cfg.join("agent/server.key")],
        "the agent's container holds only its TLS key"
    );
    let broker_keys = keys_in_container(&inst.broker_name);
    assert_eq!(broker_keys.len(), 1, "{broker_keys:?}");
    assert!(
        broker_keys[0].starts_with(cfg.join("broker")) && broker_keys[0].ends_with("broker.key"),
        "the broker's container holds only its TLS key: {broker_keys:?}"
    );

    // Cross the line from inside: the CA key and the broker's signing key
    // are at none of the paths the agent could look.
    let signing_keys: Vec<PathBuf> = std::fs::read_dir(cfg.join("broker"))
        .expect("broker dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| !private_keys_under(p).is_empty())
        .collect();
    assert!(
        signing_keys.len() >= 2,
        "the broker dir holds its TLS key and the signing key: {signing_keys:?}"
    );
    let mut secrets = vec![cfg.join("ca.key")];
    secrets.extend(signing_keys);
    for secret in &secrets {
        assert!(secret.exists(), "{} exists on the host", secret.display());
        for inside in [
            secret.clone(),
            Path::new("/host").join(secret.strip_prefix("/").unwrap()),
        ] {
            let read = read_inside(&inst.name, &inside);
            assert!(
                !read.status.success() && read.stdout.is_empty(),
                "the agent read {}",
                inside.display()
            );
            assert!(
                stderr(&read).contains("No such file"),
                "{}: {}",
                inside.display(),
                stderr(&read)
            );
        }
    }
    // The probe itself works: the agent's own token is readable inside.
    let own = read_inside(&inst.name, &cfg.join("agent/api-token"));
    assert!(own.status.success(), "{}", stderr(&own));
    assert_eq!(
        String::from_utf8_lossy(&own.stdout).trim(),
        inst.api_token()
    );
}

/// The tools coold runs chrooted into `/host` (iptables-restore, nft,
/// nsenter, rclone) find their programs, libraries and alternatives in the
/// tree assembled without the host's `/`.
#[test]
fn host_tools_run_in_the_assembled_host_root() {
    let inst = Instance::new();
    ok_json(run(inst.up(&["-o", "json"])));
    let pid = podman(&["inspect", "-f", "{{.State.Pid}}", &inst.name]);
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_owned();
    for tool in [
        &["/usr/sbin/iptables-restore", "--version"][..],
        &["/usr/sbin/nft", "--version"],
        &["/usr/bin/nsenter", "--version"],
        &["/usr/bin/rclone", "version"],
    ] {
        let out = Command::new("nsenter")
            .args(["-t", &pid, "-m", "--"])
            .arg("/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
            .args(["--library-path", "/host/usr/lib/x86_64-linux-gnu"])
            .args(["/host/usr/sbin/chroot", "/host"])
            .args(tool)
            .output()
            .expect("run nsenter");
        assert!(
            out.status.success(),
            "{tool:?} inside /host: {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }
}
