//! `coolify init --namespaces … --subnet-pool …` against the real Podman:
//! one DNS-disabled bridge per namespace, idempotent, clashes named.
//! Pools are random /22s of 198.19.0.0/16 (DESIGN.md: 198.18.0.0/15 only).

use std::process::Command;

use coolify_tests::*;

/// Removes the test's networks even when it fails.
struct Networks(Vec<String>);

impl Drop for Networks {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = podman(&["network", "rm", "-f", n]);
        }
    }
}

fn init(namespaces: &str, pool: &str) -> Command {
    let mut c = Command::new(coolify_bin());
    c.args([
        "init",
        "--namespaces",
        namespaces,
        "--subnet-pool",
        pool,
        "-o",
        "json",
    ]);
    c
}

/// A /22 of 198.19.0.0/16 no network uses yet.
fn free_pool() -> String {
    let used = String::from_utf8_lossy(
        &podman(&[
            "network",
            "ls",
            "--format",
            "{{range .Subnets}}{{.Subnet}} {{end}}",
        ])
        .stdout,
    )
    .into_owned();
    for _ in 0..50 {
        let third = (rand::random::<u8>() / 4) * 4;
        let taken = (0..4).any(|i| used.contains(&format!("198.19.{}.", third + i)));
        if !taken {
            return format!("198.19.{third}.0/22");
        }
    }
    panic!("no free /22 in 198.19.0.0/16");
}

fn inspect(network: &str) -> serde_json::Value {
    let out = podman(&["network", "inspect", network]);
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)[0].clone()
}

#[test]
fn init_creates_dns_disabled_namespace_networks_idempotently() {
    let (a, b) = (unique("t"), unique("t"));
    let nets = Networks(vec![
        format!("coolify-{a}-mesh"),
        format!("coolify-{b}-mesh"),
    ]);
    let pool = free_pool();
    // 198.19.<third>.0/22 → the namespaces get <third> and <third>+1.
    let third: u8 = pool.split('.').nth(2).unwrap().parse().unwrap();

    let first = ok_json(run(init(&format!("{a},{b}"), &pool)));
    let networks = first["networks"].as_array().unwrap();
    assert_eq!(networks.len(), 2);
    assert!(networks.iter().all(|n| n["action"] == "create"), "{first}");
    assert_eq!(networks[0]["subnet"], format!("198.19.{third}.0/24"));
    assert_eq!(networks[1]["subnet"], format!("198.19.{}.0/24", third + 1));
    assert_eq!(networks[0]["gateway"], format!("198.19.{third}.1"));
    assert_eq!(
        first["coold_namespaces"],
        format!(
            "{a}:{}:{},{b}:{}:{}",
            nets.0[0],
            networks[0]["gateway"].as_str().unwrap(),
            nets.0[1],
            networks[1]["gateway"].as_str().unwrap()
        )
    );
    for n in &nets.0 {
        let v = inspect(n);
        assert_eq!(v["dns_enabled"], false, "{v}");
        assert_eq!(v["driver"], "bridge", "{v}");
    }

    // Again, in another order: nothing changes.
    let again = ok_json(run(init(&format!("{b},{a}"), &pool)));
    let networks2 = again["networks"].as_array().unwrap();
    assert!(networks2.iter().all(|n| n["action"] == "keep"), "{again}");
    assert_eq!(networks2[1]["subnet"], networks[0]["subnet"]);
}

#[test]
fn an_existing_network_outside_the_pool_is_a_clash_naming_both() {
    let ns = unique("t");
    let name = format!("coolify-{ns}-mesh");
    let _nets = Networks(vec![name.clone()]);
    let pool = free_pool();
    // Same name, but a subnet of another pool.
    let other = free_pool();
    let other_subnet = other.replace(".0/22", ".0/24");
    let made = podman(&[
        "network",
        "create",
        "--disable-dns",
        "--subnet",
        &other_subnet,
        &name,
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    if pool == other {
        return; // the two random pools coincided: nothing to clash
    }
    let out = run(init(&ns, &pool));
    assert!(!out.status.success());
    let v = json(&out);
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains(&name), "{msg}");
    assert!(msg.contains(&other_subnet), "{msg}");
    assert!(msg.contains(&pool), "{msg}");
}

/// `cp up --namespaces`: the appliance gets COOLD_NAMESPACES, serves the
/// gateway's port 53 once a container starts, and a container on the
/// namespace network resolves another by name with busybox nslookup.
#[test]
fn up_with_namespaces_serves_cluster_dns_inside_the_namespace() {
    let ns = unique("t");
    let network = format!("coolify-{ns}-mesh");
    // Dropped last: the network goes after the appliance and containers.
    let _nets = Networks(vec![network.clone()]);
    let inst = Instance::new();
    let pool = free_pool();
    let up = ok_json(run(inst.up(&[
        "--namespaces",
        &ns,
        "--subnet-pool",
        &pool,
        "-o",
        "json",
    ])));
    let component = format!("dns-{ns}");
    assert_eq!(
        up["health"]["components"][&component]["required"], false,
        "{up}"
    );

    let web = unique("web");
    let _web = Containers(vec![web.clone()]);
    let ns_label = format!("coolify.namespace={ns}");
    let started = podman(&[
        "run",
        "-d",
        "--name",
        &web,
        "--network",
        &network,
        "--label",
        "coolify.managed=true",
        "--label",
        &ns_label,
        "localhost/coolify-test-busybox:latest",
        "sleep",
        "300",
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    let third: u8 = pool.split('.').nth(2).unwrap().parse().unwrap();
    let gateway = format!("198.19.{third}.1");
    let name = format!("{web}.{ns}.coolify.internal");
    // Bounded: 30 tries, each a short-lived container.
    let mut last = String::new();
    for _ in 0..30 {
        let out = podman(&[
            "run",
            "--rm",
            "--network",
            &network,
            "localhost/coolify-test-busybox:latest",
            "nslookup",
            &name,
            &gateway,
        ]);
        last = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        if out.status.success() && last.contains(&format!("198.19.{third}.2")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("{name} never resolved from inside {network}:\n{last}");
}

/// Removes containers even when the test fails.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = podman(&["rm", "-f", "-t", "0", c]);
        }
    }
}
