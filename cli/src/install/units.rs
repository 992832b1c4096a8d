//! Which units `cp install` writes, and their text. Pure: a record and the
//! host's tool paths in, files and enablement links out; `mod.rs` writes
//! them.
//!
//! Start order at boot, each unit `After=` the ones before it:
//! 1. the Podman API socket: Podman's own `podman.socket` when `cp up`
//!    used its path, else `<name>-podman.service`;
//! 2. `<name>-engine-<runtime>.service` per runtime service;
//! 3. `<name>-firewall-scaffold.service`, then
//!    `<name>-firewall-restore.service` (with the firewall on);
//! 4. `<name>.service`: the recorded `cp up` (and its broker).
//!
//! Invariant: every unit's `After=` names only units earlier in the list,
//! so the list order is a valid start order (`units_come_in_start_order`).

use std::path::{Path, PathBuf};

use super::record::UpRecord;
use super::unit_syntax::{env_assignment, exec_line, path_value};

/// Absolute paths of the host tools the units run (systemd wants absolute
/// paths, and `systemd-analyze verify` checks they exist).
#[derive(Debug, Clone)]
pub struct HostTools {
    pub podman: PathBuf,
    pub sh: PathBuf,
    pub mkdir: PathBuf,
    pub rm: PathBuf,
    pub nft: PathBuf,
    pub iptables_restore: PathBuf,
}

/// The Podman API socket at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineSocket {
    /// Podman's own `podman.socket` (its file on this host), which listens
    /// on `/run/podman/podman.sock`; enabled unless `already_enabled`.
    PodmanOwn {
        unit_file: PathBuf,
        already_enabled: bool,
    },
    /// A service of ours on the recorded socket path.
    Ours,
}

/// The socket path Podman's own `podman.socket` listens on (system
/// instance: `%t/podman/podman.sock`, `%t` = /run).
pub const PODMAN_OWN_SOCKET: &str = "/run/podman/podman.sock";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnitFile {
    /// File name, e.g. `coolify-cp.service`.
    pub name: String,
    pub text: String,
}

/// A symlink `<units-dir>/<path>` → `target`, as `systemctl enable` makes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnableLink {
    /// Relative to the units dir, e.g. `multi-user.target.wants/x.service`.
    pub path: PathBuf,
    pub target: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnitPlan {
    /// In start order.
    pub units: Vec<UnitFile>,
    pub links: Vec<EnableLink>,
    /// Every unit in start order, Podman's own included.
    pub order: Vec<String>,
}

const WANTED_BY: &str = "multi-user.target";

pub fn plan(
    rec: &UpRecord,
    tools: &HostTools,
    engine: &EngineSocket,
    units_dir: &Path,
) -> UnitPlan {
    let name = &rec.container;
    let header = format!(
        "# Written by `coolify cp install` from the record of `cp up` for {name}.\n# `coolify cp uninstall --name {name}` removes it.\n"
    );
    let mut units = Vec::new();
    let mut links = Vec::new();
    let mut order = Vec::new();

    let engine_unit = match engine {
        EngineSocket::PodmanOwn {
            unit_file,
            already_enabled,
        } => {
            if !already_enabled {
                links.push(EnableLink {
                    path: PathBuf::from("sockets.target.wants/podman.socket"),
                    target: unit_file.clone(),
                });
            }
            "podman.socket".to_string()
        }
        EngineSocket::Ours => {
            let unit = format!("{name}-podman.service");
            units.push(UnitFile {
                name: unit.clone(),
                text: podman_service(&header, rec, tools, None, &rec.engine_socket),
            });
            unit
        }
    };
    order.push(engine_unit.clone());

    let mut before_appliance = vec![engine_unit.clone()];
    for runtime in &rec.runtime_services {
        let unit = format!("{name}-engine-{runtime}.service");
        let socket = rec
            .run_dir
            .join("runtimes")
            .join(format!("podman-{runtime}.sock"));
        units.push(UnitFile {
            name: unit.clone(),
            text: podman_service(&header, rec, tools, Some((runtime, &engine_unit)), &socket),
        });
        order.push(unit.clone());
        before_appliance.push(unit);
    }

    if rec.firewall {
        let scaffold = format!("{name}-firewall-scaffold.service");
        let restore = format!("{name}-firewall-restore.service");
        units.push(UnitFile {
            name: scaffold.clone(),
            text: firewall_scaffold(&header, tools),
        });
        units.push(UnitFile {
            name: restore.clone(),
            text: firewall_restore(&header, rec, tools, &scaffold),
        });
        order.extend([scaffold.clone(), restore.clone()]);
        before_appliance.extend([scaffold, restore]);
    }

    let appliance = format!("{name}.service");
    units.push(UnitFile {
        name: appliance.clone(),
        text: appliance_service(&header, rec, &engine_unit, &before_appliance),
    });
    order.push(appliance);

    for u in &units {
        links.push(EnableLink {
            path: PathBuf::from(format!("{WANTED_BY}.wants")).join(&u.name),
            target: units_dir.join(&u.name),
        });
    }
    UnitPlan {
        units,
        links,
        order,
    }
}

/// A Podman API service: the engine's (`runtime` None), or one runtime's,
/// ordered after the engine's unit.
fn podman_service(
    header: &str,
    rec: &UpRecord,
    tools: &HostTools,
    runtime: Option<(&str, &str)>,
    socket: &Path,
) -> String {
    let sock_dir = socket.parent().unwrap_or(Path::new("/"));
    let mut argv = vec![tools.podman.display().to_string()];
    if let Some((rt, _)) = runtime {
        argv.extend(["--runtime".to_string(), rt.to_string()]);
    }
    argv.extend([
        "system".into(),
        "service".into(),
        "--time=0".into(),
        format!("unix://{}", socket.display()),
    ]);
    let (description, ordering) = match runtime {
        None => (
            format!(
                "Podman API service on {} for {}",
                socket.display(),
                rec.container
            ),
            String::new(),
        ),
        Some((rt, after)) => (
            format!(
                "Podman API service with runtime {rt} for {} (Podman 4.3's API ignores a runtime named on create)",
                rec.container
            ),
            format!("After={after}\n"),
        ),
    };
    format!(
        "{header}[Unit]
Description={description}
Documentation=man:podman-system-service(1)
{ordering}StartLimitIntervalSec=0

[Service]
# Podman's API service tells systemd when it listens (READY=1).
Type=notify
# Its containers' conmon processes outlive a restart of the service, as
# with Podman's own podman.service.
KillMode=process
Delegate=true
ExecStartPre={mkdir}
ExecStartPre={rm}
ExecStart={exec}
Restart=always
RestartSec=2

[Install]
WantedBy={WANTED_BY}
",
        mkdir = exec_line(&[
            tools.mkdir.display().to_string(),
            "-p".into(),
            sock_dir.display().to_string()
        ]),
        rm = exec_line(&[
            tools.rm.display().to_string(),
            "-f".into(),
            socket.display().to_string()
        ]),
        exec = exec_line(&argv),
    )
}

/// The nft table and chain of the same-bridge plane, which coold never
/// creates (docs/firewall.md, "Permissive hosts"), so that the snapshot
/// can be restored into them. An existing chain is left as it is: the
/// host's own ruleset may have made it with another policy.
fn firewall_scaffold(header: &str, tools: &HostTools) -> String {
    let nft = tools.nft.display();
    let script = format!(
        "{nft} list chain bridge coolify_bridge coolify_allow >/dev/null 2>&1 || {nft} 'add table bridge coolify_bridge; add chain bridge coolify_bridge coolify_allow {{ type filter hook forward priority 0; policy accept; }}'"
    );
    format!(
        "{header}[Unit]
Description=coolify firewall scaffold: nft table bridge coolify_bridge, chain coolify_allow
Documentation=file:///usr/share/doc/coolify/firewall.md
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={exec}

[Install]
WantedBy={WANTED_BY}
",
        exec = exec_line(&[tools.sh.display().to_string(), "-c".into(), script]),
    )
}

/// Both snapshots back into the kernel before the network and the agent
/// come up. Each file replaces its chain's content in one transaction, so
/// a second run adds nothing (docs/firewall.md, "Snapshots"); the agent
/// restores them again itself at start.
fn firewall_restore(header: &str, rec: &UpRecord, tools: &HostTools, scaffold: &str) -> String {
    let layout = crate::config_layout::ConfigLayout::new(&rec.config_dir);
    let (rules, nft) = (layout.rules(), layout.bridge_rules());
    format!(
        "{header}[Unit]
Description=coolify firewall: restore COOLIFY-ALLOW (iptables) and coolify_allow (nft) from the agent's snapshots
Documentation=file:///usr/share/doc/coolify/firewall.md
DefaultDependencies=no
Requires={scaffold}
After={scaffold}
# Early at boot (no default dependencies): the snapshots' filesystem first.
RequiresMountsFor={config_dir}
Wants=network-pre.target
Before=network-pre.target
ConditionPathExists={rules_path}
ConditionPathExists={nft_path}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={iptables}
ExecStart={nft_exec}

[Install]
WantedBy={WANTED_BY}
",
        config_dir = path_value(&rec.config_dir),
        rules_path = path_value(&rules),
        nft_path = path_value(&nft),
        iptables = exec_line(&[
            tools.iptables_restore.display().to_string(),
            "--noflush".into(),
            "-w".into(),
            "5".into(),
            rules.display().to_string(),
        ]),
        nft_exec = exec_line(&[
            tools.nft.display().to_string(),
            "-f".into(),
            nft.display().to_string()
        ]),
    )
}

/// The recorded `cp up`, once per boot. The containers then live by the
/// engine (their restart policy restarts a crashed agent while the engine
/// runs); what nothing but this unit does is start them after a boot.
fn appliance_service(header: &str, rec: &UpRecord, engine_unit: &str, before: &[String]) -> String {
    let mut argv = vec![rec.exe.display().to_string()];
    argv.extend(rec.args.iter().cloned());
    let env: String = rec
        .env
        .iter()
        .map(|(k, v)| format!("Environment={}\n", env_assignment(k, v)))
        .collect();
    let broker = rec
        .broker_container
        .as_deref()
        .map(|b| format!(" and its broker {b}"))
        .unwrap_or_default();
    format!(
        "{header}[Unit]
Description=coolify appliance {name}{broker}: the recorded `coolify cp up`
Documentation=file:///usr/share/doc/coolify/appliance.md
Requires={engine_unit}
Wants={wants} network-online.target
After={after} network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
WorkingDirectory={cwd}
{env}ExecStart={exec}
# A boot where the engine is slow to answer, or the health gate times
# out, tries again; a running appliance is left running (cp up reuses it).
Restart=on-failure
RestartSec=10
TimeoutStartSec=10min

[Install]
WantedBy={WANTED_BY}
",
        name = rec.container,
        wants = before.join(" "),
        after = before.join(" "),
        cwd = path_value(&rec.cwd),
        exec = exec_line(&argv),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> HostTools {
        HostTools {
            podman: "/usr/bin/podman".into(),
            sh: "/bin/sh".into(),
            mkdir: "/bin/mkdir".into(),
            rm: "/bin/rm".into(),
            nft: "/usr/sbin/nft".into(),
            iptables_restore: "/usr/sbin/iptables-restore".into(),
        }
    }

    fn record(firewall: bool, runtimes: &[&str]) -> UpRecord {
        UpRecord {
            version: 1,
            exe: "/usr/local/bin/coolify".into(),
            cwd: "/root".into(),
            args: vec![
                "cp".into(),
                "up".into(),
                "--run-dir".into(),
                "/run/coolify x".into(),
            ],
            env: vec![("COOLIFY_HEALTH_PORT".into(), "9442".into())],
            container: "coolify-cp".into(),
            engine_socket: "/tmp/t/podman.sock".into(),
            config_dir: "/etc/coolify".into(),
            run_dir: "/run/coolify".into(),
            firewall,
            runtime_services: runtimes.iter().map(|s| s.to_string()).collect(),
            broker_container: None,
        }
    }

    fn unit<'a>(p: &'a UnitPlan, name: &str) -> &'a str {
        &p.units
            .iter()
            .find(|u| u.name == name)
            .unwrap_or_else(|| panic!("{name} missing in {:?}", p.order))
            .text
    }

    #[test]
    fn units_come_in_start_order() {
        let p = plan(
            &record(true, &["runsc"]),
            &tools(),
            &EngineSocket::Ours,
            Path::new("/etc/systemd/system"),
        );
        assert_eq!(
            p.order,
            [
                "coolify-cp-podman.service",
                "coolify-cp-engine-runsc.service",
                "coolify-cp-firewall-scaffold.service",
                "coolify-cp-firewall-restore.service",
                "coolify-cp.service"
            ]
        );
        for (i, u) in p.order.iter().enumerate() {
            let text = unit(&p, u);
            for line in text.lines().filter(|l| l.starts_with("After=")) {
                for dep in line["After=".len()..].split_whitespace() {
                    if dep.ends_with(".target") {
                        continue;
                    }
                    let at = p.order.iter().position(|o| o == dep);
                    assert!(
                        at.is_some_and(|at| at < i),
                        "{u} is after {dep}, which does not come earlier"
                    );
                }
            }
        }
    }

    #[test]
    fn the_appliance_unit_replays_the_recorded_cp_up() {
        let p = plan(
            &record(false, &[]),
            &tools(),
            &EngineSocket::Ours,
            Path::new("/etc/systemd/system"),
        );
        let text = unit(&p, "coolify-cp.service");
        assert!(
            text.contains("ExecStart=/usr/local/bin/coolify cp up --run-dir \"/run/coolify x\"\n"),
            "{text}"
        );
        assert!(text.contains("Environment=COOLIFY_HEALTH_PORT=9442\n"));
        assert!(text.contains("WorkingDirectory=/root\n"));
        assert!(text.contains("Restart=on-failure\n"));
        assert!(text.contains("Requires=coolify-cp-podman.service\n"));
        assert!(
            !p.order.iter().any(|u| u.contains("firewall")),
            "--firewall off installs no firewall unit: {:?}",
            p.order
        );
    }

    #[test]
    fn engine_services_restart_and_listen_where_coold_looks() {
        let p = plan(
            &record(false, &["runsc"]),
            &tools(),
            &EngineSocket::Ours,
            Path::new("/etc/systemd/system"),
        );
        let podman = unit(&p, "coolify-cp-podman.service");
        assert!(podman.contains(
            "ExecStart=/usr/bin/podman system service --time=0 unix:///tmp/t/podman.sock\n"
        ));
        let runsc = unit(&p, "coolify-cp-engine-runsc.service");
        assert!(runsc.contains("ExecStart=/usr/bin/podman --runtime runsc system service --time=0 unix:///run/coolify/runtimes/podman-runsc.sock\n"), "{runsc}");
        for text in [podman, runsc] {
            assert!(text.contains("Restart=always\n") && text.contains("Type=notify\n"));
        }
    }

    #[test]
    fn podmans_own_socket_is_enabled_not_rewritten_and_not_claimed_when_already_on() {
        let own = |already_enabled| EngineSocket::PodmanOwn {
            unit_file: "/lib/systemd/system/podman.socket".into(),
            already_enabled,
        };
        let p = plan(&record(false, &[]), &tools(), &own(false), Path::new("/u"));
        assert_eq!(p.order, ["podman.socket", "coolify-cp.service"]);
        assert!(p.units.iter().all(|u| !u.name.starts_with("podman")));
        assert!(p.links.contains(&EnableLink {
            path: "sockets.target.wants/podman.socket".into(),
            target: "/lib/systemd/system/podman.socket".into(),
        }));
        assert!(p.links.contains(&EnableLink {
            path: "multi-user.target.wants/coolify-cp.service".into(),
            target: "/u/coolify-cp.service".into(),
        }));
        let p = plan(&record(false, &[]), &tools(), &own(true), Path::new("/u"));
        assert!(
            p.links.iter().all(|l| !l.path.ends_with("podman.socket")),
            "an operator's enablement is not ours to write or remove"
        );
    }

    #[test]
    fn the_restore_unit_reads_the_agents_snapshots_after_the_scaffold() {
        let p = plan(
            &record(true, &[]),
            &tools(),
            &EngineSocket::Ours,
            Path::new("/u"),
        );
        let text = unit(&p, "coolify-cp-firewall-restore.service");
        for line in [
            "ExecStart=/usr/sbin/iptables-restore --noflush -w 5 /etc/coolify/agent/allow.rules\n",
            "ExecStart=/usr/sbin/nft -f /etc/coolify/agent/allow.nft\n",
            "After=coolify-cp-firewall-scaffold.service\n",
            "Before=network-pre.target\n",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
    }
}

/// The units of every shape `plan` makes, written for this host and
/// checked by systemd itself (`systemd-analyze verify` works without
/// systemd running; it checks directives, dependencies and that each
/// command exists).
#[cfg(test)]
mod verify_tests {
    use super::*;

    fn verify(rec: &UpRecord, engine: &EngineSocket) {
        let tmp = tempfile::tempdir().unwrap();
        let tools = crate::install::host::tools().unwrap();
        let p = plan(rec, &tools, engine, tmp.path());
        let mut files = Vec::new();
        for u in &p.units {
            let path = tmp.path().join(&u.name);
            std::fs::write(&path, &u.text).unwrap();
            files.push(path);
        }
        let out = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .args(&files)
            .output()
            .expect("systemd-analyze (Debian package systemd; scripts/setup-host installs it)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !p.units.iter().any(|u| err.contains(&u.name)),
            "{:?}: {err}",
            p.order
        );
    }

    fn record() -> UpRecord {
        UpRecord {
            version: 1,
            // Any binary that exists: verify checks the path.
            exe: std::env::current_exe().unwrap(),
            cwd: "/".into(),
            args: vec!["cp".into(), "up".into(), "--with-broker".into()],
            env: vec![("COOLIFY_RUN_DIR".into(), "/run/coolify 2".into())],
            container: "coolify-cp".into(),
            engine_socket: "/run/podman/podman.sock".into(),
            config_dir: "/etc/coolify".into(),
            run_dir: "/run/coolify".into(),
            firewall: true,
            runtime_services: vec!["runsc".into()],
            broker_container: Some("coolify-broker".into()),
        }
    }

    #[test]
    fn units_with_a_podman_service_of_ours_pass_systemd_analyze_verify() {
        verify(&record(), &EngineSocket::Ours);
    }

    #[test]
    fn units_on_podmans_own_socket_pass_systemd_analyze_verify() {
        let Some(unit_file) = ["/usr/lib/systemd/system", "/lib/systemd/system"]
            .iter()
            .map(|d| Path::new(d).join("podman.socket"))
            .find(|p| p.is_file())
        else {
            panic!("Debian's podman ships podman.socket; it is missing here");
        };
        let mut rec = record();
        rec.firewall = false;
        rec.runtime_services.clear();
        verify(
            &rec,
            &EngineSocket::PodmanOwn {
                unit_file,
                already_enabled: false,
            },
        );
    }
}
