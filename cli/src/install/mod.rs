//! `coolify cp install|uninstall`: make the last `cp up` survive a reboot
//! with systemd units, and take them away again.
//!
//! Without systemd nothing restarts the appliance after a boot: Podman's
//! restart policy is honoured by podman-restart.service, which only
//! systemd runs, and the Podman API service and the runtime engine
//! services `cp up` starts are plain processes. `install` writes one unit
//! per piece, in boot order (see `units.rs`), from the settings the last
//! successful `cp up` recorded (`record.rs`), and enables them with the
//! symlinks `systemctl enable` would make; `uninstall` removes exactly
//! what the manifest says install wrote (`manifest.rs`).
//!
//! One file per job: `record.rs`, `units.rs` (pure), `unit_syntax.rs`
//! (pure), `host.rs`, `manifest.rs`, `report.rs` (files are written by `crate::file_write`),
//! `error.rs`.

mod error;
mod host;
mod manifest;
mod record;
mod report;
mod unit_syntax;
mod units;

use crate::file_write;
use std::path::{Path, PathBuf};

pub use error::InstallError;
pub use record::{Resolved, UpRecord};
pub use report::{InstallReport, InstalledUnit, UninstallReport};

use crate::args::cp::{InstallArgs, SYSTEM_UNITS_DIR};
use crate::config_layout::ConfigLayout;
use manifest::{Manifest, Removal};

/// Saves what a successful `cp up` ran with, for `cp install`.
pub fn record_up(config_dir: &Path, resolved: Resolved) -> Result<PathBuf, InstallError> {
    let path = ConfigLayout::new(config_dir).up_record(&resolved.container);
    UpRecord::capture(&up_env_names(), resolved)?.save(&path)?;
    Ok(path)
}

/// The environment variables `cp up`'s flags (and the global ones) read:
/// replaying the command needs them as they were.
fn up_env_names() -> Vec<String> {
    use clap::CommandFactory;
    let cli = crate::args::Cli::command();
    let mut names: Vec<String> = cli
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    if let Some(up) = cli
        .find_subcommand("cp")
        .and_then(|cp| cp.find_subcommand("up"))
    {
        names.extend(
            up.get_arguments()
                .filter_map(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned()),
        );
    }
    names.sort();
    names.dedup();
    names
}

pub fn install(config_dir: &Path, a: &InstallArgs) -> Result<InstallReport, InstallError> {
    let live = a.units_dir.is_none();
    // Before anything is read or written: without systemd as PID 1 a unit
    // in /etc/systemd/system would never run.
    if live && !a.print && !host::systemd_booted() {
        return Err(InstallError::NotSystemd {
            dir: "/run/systemd/system",
        });
    }
    let units_dir = a
        .units_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(SYSTEM_UNITS_DIR));
    let units_dir = std::path::absolute(&units_dir).map_err(|e| InstallError::io(&units_dir, e))?;
    let layout = ConfigLayout::new(config_dir);
    let record_path = layout.up_record(&a.name);
    let rec = UpRecord::load(&record_path, &a.name)?;
    let tools = host::tools()?;
    let engine = host::engine_socket(&rec.engine_socket, &units_dir);
    let plan = units::plan(&rec, &tools, &engine, &units_dir);

    let mut report = InstallReport {
        units: plan
            .units
            .iter()
            .map(|u| InstalledUnit {
                name: u.name.clone(),
                path: units_dir.join(&u.name),
                text: a.print.then(|| u.text.clone()),
            })
            .collect(),
        order: plan.order.clone(),
        links: plan.links.iter().map(|l| units_dir.join(&l.path)).collect(),
        units_dir: units_dir.clone(),
        removed: Vec::new(),
        printed_only: a.print,
        reloaded: false,
        record: record_path,
    };
    if a.print {
        return Ok(report);
    }

    let manifest_path = layout.install_manifest(&a.name);
    let old = Manifest::load(&manifest_path)?.unwrap_or_default();
    let mut new = Manifest {
        units_dir: units_dir.clone(),
        files: plan
            .units
            .iter()
            .map(|u| (units_dir.join(&u.name), manifest::sha256(u.text.as_bytes())))
            .collect(),
        links: plan
            .links
            .iter()
            .map(|l| (units_dir.join(&l.path), l.target.clone()))
            .collect(),
        dirs: old.dirs.clone(),
    };
    for p in new
        .files
        .iter()
        .map(|f| &f.0)
        .chain(new.links.iter().map(|l| &l.0))
    {
        if p.symlink_metadata().is_ok() && !old.owns(p) {
            return Err(InstallError::Taken {
                path: p.clone(),
                manifest: manifest_path,
            });
        }
    }
    // Dirs this install creates are its own to remove later.
    let mut wanted_dirs = vec![units_dir.clone()];
    wanted_dirs.extend(
        new.links
            .iter()
            .filter_map(|l| l.0.parent().map(Path::to_path_buf)),
    );
    for d in wanted_dirs {
        if !d.exists() && !new.dirs.contains(&d) {
            new.dirs.push(d);
        }
    }
    // Claim old and new paths before touching any, so a crash midway
    // leaves nothing unaccounted for.
    old.union(&new).save(&manifest_path)?;
    for d in &new.dirs {
        std::fs::create_dir_all(d).map_err(|e| InstallError::io(d, e))?;
    }
    for u in &plan.units {
        let path = units_dir.join(&u.name);
        file_write::atomic(&path, u.text.as_bytes(), 0o644)
            .map_err(|e| InstallError::io(&path, e))?;
    }
    for (link, target) in &new.links {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(target, link).map_err(|e| InstallError::io(link, e))?;
    }
    report.removed = old.remove_all_but(&new).removed;
    new.save(&manifest_path)?;
    if live {
        reload()?;
        report.reloaded = true;
    }
    Ok(report)
}

pub fn uninstall(config_dir: &Path, name: &str) -> Result<UninstallReport, InstallError> {
    let manifest_path = ConfigLayout::new(config_dir).install_manifest(name);
    let Some(m) = Manifest::load(&manifest_path)? else {
        return Ok(UninstallReport {
            installed: false,
            removal: Removal::default(),
            reloaded: false,
        });
    };
    let removal = m.remove_all_but(&Manifest::default());
    std::fs::remove_file(&manifest_path).map_err(|e| InstallError::io(&manifest_path, e))?;
    let live = m.units_dir == Path::new(SYSTEM_UNITS_DIR) && host::systemd_booted();
    if live {
        reload()?;
    }
    Ok(UninstallReport {
        installed: true,
        removal,
        reloaded: live,
    })
}

fn reload() -> Result<(), InstallError> {
    let out = std::process::Command::new("systemctl")
        .arg("daemon-reload")
        .output()
        .map_err(|e| InstallError::Reload(format!("cannot run systemctl: {e}")))?;
    if !out.status.success() {
        return Err(InstallError::Reload(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config dir holding a record of `cp up` with `runtimes`, and an
    /// empty units dir.
    fn setup(runtimes: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("etc");
        let units = tmp.path().join("units");
        let mut rec = UpRecord::capture(
            &[],
            Resolved {
                container: "cp-x".into(),
                engine_socket: tmp.path().join("podman.sock"),
                config_dir: config.clone(),
                run_dir: tmp.path().join("run"),
                firewall: false,
                runtime_services: runtimes.iter().map(|s| s.to_string()).collect(),
                broker_container: None,
            },
        )
        .unwrap();
        rec.args = vec!["cp".into(), "up".into()];
        rec.save(&ConfigLayout::new(&config).up_record("cp-x"))
            .unwrap();
        (tmp, config, units)
    }

    fn args(units: &Path) -> InstallArgs {
        InstallArgs {
            name: "cp-x".into(),
            units_dir: Some(units.to_path_buf()),
            print: false,
        }
    }

    fn rerecord(config: &Path, runtimes: &[&str]) {
        let path = ConfigLayout::new(config).up_record("cp-x");
        let mut rec = UpRecord::load(&path, "cp-x").unwrap();
        rec.runtime_services = runtimes.iter().map(|s| s.to_string()).collect();
        rec.save(&path).unwrap();
    }

    #[test]
    fn a_second_install_drops_units_no_longer_wanted_and_uninstall_leaves_the_dir_as_it_was() {
        let (_tmp, config, units) = setup(&["runsc"]);
        std::fs::create_dir_all(&units).unwrap();
        std::fs::write(units.join("operator.service"), "[Service]\n").unwrap();

        let first = install(&config, &args(&units)).unwrap();
        assert!(units.join("cp-x-engine-runsc.service").exists());
        assert_eq!(first.units.len(), 3);

        rerecord(&config, &[]);
        let second = install(&config, &args(&units)).unwrap();
        assert!(!units.join("cp-x-engine-runsc.service").exists());
        assert!(second
            .removed
            .contains(&units.join("multi-user.target.wants/cp-x-engine-runsc.service")));

        let gone = uninstall(&config, "cp-x").unwrap();
        assert!(gone.installed && gone.removal.left_changed.is_empty());
        let left: Vec<_> = std::fs::read_dir(&units)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            ["operator.service"],
            "the .wants dir install made is gone too"
        );
        assert!(!uninstall(&config, "cp-x").unwrap().installed);
    }

    #[test]
    fn install_does_not_overwrite_a_unit_it_did_not_write() {
        let (_tmp, config, units) = setup(&[]);
        std::fs::create_dir_all(&units).unwrap();
        std::fs::write(units.join("cp-x.service"), "mine").unwrap();

        let err = install(&config, &args(&units)).unwrap_err();

        assert!(matches!(err, InstallError::Taken { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(units.join("cp-x.service")).unwrap(),
            "mine"
        );
        assert!(!ConfigLayout::new(&config).install_manifest("cp-x").exists());
    }

    #[test]
    fn print_writes_nothing() {
        let (_tmp, config, units) = setup(&[]);
        let report = install(
            &config,
            &InstallArgs {
                print: true,
                ..args(&units)
            },
        )
        .unwrap();
        assert!(report.render().contains("ExecStart="));
        assert!(!units.exists());
        assert!(!ConfigLayout::new(&config).install_manifest("cp-x").exists());
    }
}
