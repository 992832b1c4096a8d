//! `cp install` / `cp uninstall` end to end: the units it writes pass
//! `systemd-analyze verify`, and a host that loses power comes back from
//! them alone — the Podman service and its containers' processes killed,
//! the namespace's tables flushed, tmpfs emptied, then each unit started
//! in the units' order — with the appliance healthy and its firewall rule
//! back. Runs in a simulated host (`NetnsHost`): its own network
//! namespace and Podman, so the firewall is on without touching the
//! machine's tables.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use coolify_tests::netns_host::NetnsHost;
use coolify_tests::unit_boot::{self, Started};
use coolify_tests::{coolify_bin, json, ok_json, stderr, Instance};

/// The rule the test adds through the product, and its comment prefix in
/// both planes (docs/firewall.md).
const SRC: &str = "198.18.0.5";
const DST: &str = "198.19.0.0/24";

/// `coolify` inside the host, against its engine, with `inst`'s config dir.
fn coolify(host: &NetnsHost, inst: &Instance, args: &[&str]) -> Command {
    let mut c = host.command(coolify_bin(), &["--config-dir"]);
    c.arg(inst.config_dir())
        .arg("--engine-socket")
        .arg(format!("unix://{}", host.socket().display()))
        .args(args);
    c
}

/// `coolify --config-dir … cp <verb> --name … <args>` on the machine:
/// install and uninstall need neither the engine nor the namespace.
fn cp(inst: &Instance, verb: &str, args: &[&str]) -> Command {
    let mut c = Command::new(coolify_bin());
    c.arg("--config-dir")
        .arg(inst.config_dir())
        .args(["cp", verb, "--name", &inst.name])
        .args(args);
    c
}

fn healthz(host: &NetnsHost, inst: &Instance) -> Option<String> {
    let out = host
        .command(
            "curl",
            &[
                "-fsS",
                "--max-time",
                "2",
                &format!("http://127.0.0.1:{}/healthz", inst.health_port),
            ],
        )
        .output()
        .expect("curl");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `COOLIFY-ALLOW` rule lines in the host's iptables plane.
fn iptables_rules(host: &NetnsHost) -> Vec<String> {
    host.ok(&["iptables-save", "-t", "filter"])
        .lines()
        .filter(|l| l.starts_with("-A COOLIFY-ALLOW ") && l.contains("coolify:"))
        .map(str::to_string)
        .collect()
}

/// The host's `coolify_allow` chain, or nothing when it does not exist.
fn nft_chain(host: &NetnsHost) -> String {
    let out = host
        .command(
            "nft",
            &["list", "chain", "bridge", "coolify_bridge", "coolify_allow"],
        )
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect();
    names.sort();
    names
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.clone());
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        }
    }
    out
}

#[test]
fn install_without_a_cp_up_names_the_command_to_run_first() {
    let inst = Instance::new();
    let out = cp(&inst, "install", &["--print"])
        .output()
        .expect("coolify");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no `cp up` of") && err.contains("run `coolify cp up`"),
        "{err}"
    );
}

#[test]
fn a_rebooted_host_comes_back_healthy_with_its_firewall_rule_from_the_installed_units() {
    let mut host = NetnsHost::new();
    host.start_engine();
    let inst = Instance::new();
    let run_dir = inst.dir.path().join("run");

    // The host as `cp up` leaves it: firewall on, a runtime service, its
    // own broker.
    let mut up = inst.up_with_own_flags();
    up.args(["--firewall", "on", "--runtime-services", "runsc"]);
    up.args(["--with-broker", "--host-id", &inst.host_id]);
    up.arg("--broker-grpc-bind")
        .arg(format!("127.0.0.1:{}", inst.grpc_port));
    let mut up_cmd = host.wrap(&up);
    up_cmd
        .arg("--engine-socket")
        .arg(format!("unix://{}", host.socket().display()))
        .args(["-o", "json"]);
    let report = ok_json(up_cmd.output().expect("cp up"));
    assert_eq!(
        report["runtime_services"][0]["state"], "started",
        "{report}"
    );
    let allow = coolify(
        &host,
        &inst,
        &[
            "firewall",
            "allow",
            "--api",
            &format!("127.0.0.1:{}", inst.api_port),
            "--namespace",
            "default",
            "--src",
            SRC,
            "--dst",
            DST,
            "--proto",
            "tcp",
            "--port",
            "443",
            "-o",
            "json",
        ],
    )
    .output()
    .expect("firewall allow");
    let rule = ok_json(allow);
    let id = rule["id"].as_str().expect("rule id").to_string();
    assert!(
        iptables_rules(&host).iter().any(|l| l.contains(&id)),
        "the rule is in the iptables plane before the reboot"
    );

    // Without systemd as PID 1 (these machines) install refuses and
    // writes nothing.
    assert!(
        !Path::new("/run/systemd/system").is_dir(),
        "this test plays a host without systemd as PID 1"
    );
    let refused = cp(&inst, "install", &[]).output().expect("cp install");
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("systemd is not PID 1")
            && stderr(&refused).contains("coolify cp up"),
        "{}",
        stderr(&refused)
    );
    assert!(
        !inst
            .config_dir()
            .join("install")
            .join(format!("units-{}.json", inst.name))
            .exists(),
        "no manifest written"
    );
    assert!(
        !Path::new("/etc/systemd/system")
            .join(format!("{}.service", inst.name))
            .exists(),
        "no unit written"
    );

    // Into a directory of the test's: the units, then verify.
    let units_dir = inst.dir.path().join("units");
    std::fs::create_dir_all(&units_dir).unwrap();
    std::fs::write(
        units_dir.join("operator.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let mut install = cp(&inst, "install", &["-o", "json", "--units-dir"]);
    install.arg(&units_dir);
    let installed = ok_json(install.output().expect("cp install"));
    let order: Vec<String> = installed["order"]
        .as_array()
        .expect("order")
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        [
            format!("{}-podman.service", inst.name),
            format!("{}-engine-runsc.service", inst.name),
            format!("{}-firewall-scaffold.service", inst.name),
            format!("{}-firewall-restore.service", inst.name),
            format!("{}.service", inst.name),
        ]
    );
    let unit_paths: Vec<String> = order
        .iter()
        .map(|u| units_dir.join(u).display().to_string())
        .collect();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args(&unit_paths)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let verify_err = stderr(&verify);
    assert!(
        verify.status.success() && !order.iter().any(|u| verify_err.contains(u.as_str())),
        "systemd-analyze verify: {:?}\n{verify_err}",
        verify.status
    );

    // Power loss, then the boot: each unit in order.
    host.power_loss(&[&run_dir]);
    assert!(healthz(&host, &inst).is_none(), "the appliance is gone");
    assert!(iptables_rules(&host).is_empty(), "the tables are flushed");
    let boot = Instant::now();
    let mut timings = Vec::new();
    for (unit, path) in order.iter().zip(&unit_paths) {
        let t = Instant::now();
        let started = unit_boot::start(&mut host, Path::new(path));
        assert_eq!(started, Started::Ran, "{unit}");
        timings.push(format!("{unit} {} ms", t.elapsed().as_millis()));
        if unit.ends_with("-firewall-restore.service") {
            // The units restore the rule, before the agent starts.
            assert!(
                iptables_rules(&host).iter().any(|l| l.contains(&id)),
                "iptables plane after {unit}: {:?}",
                iptables_rules(&host)
            );
            assert!(
                nft_chain(&host).contains(&format!("coolify:{id}")),
                "nft plane after {unit}: {}",
                nft_chain(&host)
            );
        }
    }
    let health = healthz(&host, &inst).expect("/healthz answers after the boot");
    let health: serde_json::Value = serde_json::from_str(&health).expect("healthz JSON");
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(
        health["components"]["firewall"]["status"], "healthy",
        "{health}"
    );
    eprintln!(
        "boot after power loss: healthy in {} ms ({})",
        boot.elapsed().as_millis(),
        timings.join(", ")
    );
    assert!(host.wait_answers(
        &run_dir.join("runtimes/podman-runsc.sock"),
        Duration::from_secs(5)
    ));
    assert!(
        !run_dir.join("runtimes/podman-runsc.pid").exists(),
        "the runsc service is the unit's: cp up found it running and started none"
    );
    let listed = coolify(
        &host,
        &inst,
        &[
            "firewall",
            "list",
            "--api",
            &format!("127.0.0.1:{}", inst.api_port),
            "-o",
            "json",
        ],
    )
    .output()
    .expect("firewall list");
    let listed = ok_json(listed);
    assert!(
        listed["rules"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["id"] == id.as_str())),
        "{listed}"
    );
    assert_eq!(
        iptables_rules(&host)
            .iter()
            .filter(|l| l.contains(&id))
            .count(),
        1,
        "restored once, not twice"
    );
    // The broker came back too, and reaches the agent over its stream.
    let info = inst
        .dispatch("GET", "/api/v1/host/info", None)
        .output()
        .expect("dispatch");
    assert!(
        info.status.success(),
        "dispatch after the boot: {}",
        stderr(&info)
    );

    // Uninstall removes exactly what install wrote.
    let removed = ok_json(
        cp(&inst, "uninstall", &["-o", "json"])
            .output()
            .expect("cp uninstall"),
    );
    assert_eq!(removed["installed"], true, "{removed}");
    assert_eq!(files_in(&units_dir), ["operator.service"], "{removed}");
    let again = cp(&inst, "uninstall", &["-o", "json"])
        .output()
        .expect("cp uninstall");
    assert_eq!(json(&again)["installed"], false);
}
