//! Cluster-wide namespace subnets (issue 16 item 3): enrollment gives each
//! host its own slice of the cluster pool, carried in its token, and
//! `coolify init` (as `cp up --namespaces`) on each host takes that host's
//! /24s from it. Two simulated hosts (`NetnsHost`: own namespace and
//! Podman, so both can hold a `coolify-default-mesh`), one broker config
//! dir for enrollment. Addresses: a random /20 pool inside 198.19.0.0/16
//! (DESIGN.md: 198.18.0.0/15 only).

use std::path::Path;
use std::process::Command;

use coolify_tests::netns_host::NetnsHost;
use coolify_tests::{coolify_bin, ok_json, stderr};

fn coolify(config_dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(coolify_bin());
    c.arg("--config-dir").arg(config_dir).args(args);
    c
}

/// `broker enroll` for `host`: the token (stdout) and the stderr line.
fn enroll(config_dir: &Path, host: &str, pool: &str) -> (String, String) {
    let out = coolify(
        config_dir,
        &[
            "broker",
            "enroll",
            "--host-id",
            host,
            "--cluster-pool",
            pool,
            "--host-subnets",
            "22",
        ],
    )
    .output()
    .expect("coolify broker enroll");
    assert!(out.status.success(), "{}", stderr(&out));
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr(&out),
    )
}

/// `coolify init --namespaces default,alpha` on `host` with `token_file`.
fn init_on(host: &NetnsHost, token_file: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = host.command(coolify_bin(), &["init", "--namespaces", "default,alpha"]);
    c.arg("--host-token-file")
        .arg(token_file)
        .arg("--engine-socket")
        .arg(format!("unix://{}", host.socket().display()))
        .args(["-o", "json"])
        .args(extra);
    c.output().expect("coolify init")
}

fn subnets(report: &serde_json::Value) -> Vec<String> {
    report["networks"]
        .as_array()
        .expect("networks")
        .iter()
        .map(|n| n["subnet"].as_str().expect("subnet").to_string())
        .collect()
}

#[test]
fn enrolled_hosts_get_disjoint_slices_and_take_their_namespace_subnets_from_them() {
    let dir = tempfile::tempdir().expect("dir");
    let broker_cfg = dir.path().join("broker-host");
    let init = coolify(&broker_cfg, &["broker", "init"])
        .output()
        .expect("broker init");
    assert!(init.status.success(), "{}", stderr(&init));
    // A /20 pool: four /22 slices of four /24s each.
    let third = 16 * (rand_u8() % 16);
    let pool = format!("198.19.{third}.0/20");

    let (token_b, said_b) = enroll(&broker_cfg, "host-b", &pool);
    let (token_c, _) = enroll(&broker_cfg, "host-c", &pool);
    let slice_b = format!("198.19.{third}.0/22");
    let slice_c = format!("198.19.{}.0/22", third + 4);
    assert!(said_b.contains(&slice_b), "{said_b}");
    // Enrolled again (a new token), a host keeps its slice.
    let (_, again) = enroll(&broker_cfg, "host-b", &pool);
    assert!(again.contains(&slice_b), "{again}");

    let files = dir.path().join("tokens");
    std::fs::create_dir_all(&files).expect("tokens dir");
    let (file_b, file_c) = (files.join("b.jwt"), files.join("c.jwt"));
    std::fs::write(&file_b, &token_b).expect("token b");
    std::fs::write(&file_c, &token_c).expect("token c");

    let mut b = NetnsHost::new();
    b.start_engine();
    let mut c = NetnsHost::new();
    c.start_engine();
    let on_b = subnets(&ok_json(init_on(&b, &file_b, &[])));
    let on_c = subnets(&ok_json(init_on(&c, &file_c, &[])));
    assert_eq!(
        on_b,
        [
            format!("198.19.{third}.0/24"),
            format!("198.19.{}.0/24", third + 1)
        ],
        "B's /24s come from its slice {slice_b}"
    );
    assert_eq!(
        on_c,
        [
            format!("198.19.{}.0/24", third + 4),
            format!("198.19.{}.0/24", third + 5)
        ],
        "C's /24s come from its slice {slice_c}"
    );

    // Run again: kept. A --subnet-pool outside the slice is refused.
    assert_eq!(subnets(&ok_json(init_on(&b, &file_b, &[]))), on_b);
    let outside = init_on(&b, &file_b, &["--subnet-pool", &slice_c]);
    assert!(!outside.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&outside.stdout),
        stderr(&outside)
    );
    assert!(said.contains(&format!("lies outside {slice_b}")), "{said}");
}

fn rand_u8() -> u8 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.subsec_nanos() >> 10) as u8)
        .unwrap_or(0)
}
