//! What `cp install` and `cp uninstall` did, for `--output json` and as
//! text for people.

use std::path::PathBuf;

use serde::Serialize;

use super::manifest::Removal;

#[derive(Debug, Serialize)]
pub struct InstalledUnit {
    pub name: String,
    pub path: PathBuf,
    /// The unit's text (`--print` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The result of `cp install`, printed by `--output json`.
#[derive(Debug, Serialize)]
pub struct InstallReport {
    pub units_dir: PathBuf,
    /// The units written, in start order.
    pub units: Vec<InstalledUnit>,
    /// Every unit the boot starts, in order (Podman's own included).
    pub order: Vec<String>,
    /// Enablement links created.
    pub links: Vec<PathBuf>,
    /// Units of an earlier install no longer wanted, removed.
    pub removed: Vec<PathBuf>,
    /// `--print`: nothing was written.
    pub printed_only: bool,
    /// systemd was told (`systemctl daemon-reload`).
    pub reloaded: bool,
    pub record: PathBuf,
}

impl InstallReport {
    pub fn render(&self) -> String {
        if self.printed_only {
            return self
                .units
                .iter()
                .map(|u| {
                    format!(
                        "# {}\n{}",
                        u.path.display(),
                        u.text.as_deref().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        let order = self.order.join(" → ");
        let appliance = self.order.last().cloned().unwrap_or_default();
        if self.reloaded {
            format!(
                "installed {} units into {} and enabled them; boot order: {order}.\nThey take over at the next boot; nothing was started now (`systemctl start {appliance}` runs the recorded cp up under systemd).",
                self.units.len(),
                self.units_dir.display()
            )
        } else {
            format!(
                "wrote {} units into {} (no systemd was told); boot order: {order}",
                self.units.len(),
                self.units_dir.display()
            )
        }
    }
}

/// The result of `cp uninstall`.
#[derive(Debug, Serialize)]
pub struct UninstallReport {
    pub installed: bool,
    #[serde(flatten)]
    pub removal: Removal,
    pub reloaded: bool,
}

impl UninstallReport {
    pub fn render(&self, name: &str) -> String {
        if !self.installed {
            return format!("no units of {name} installed; nothing removed");
        }
        let mut s = format!("removed {} path(s)", self.removal.removed.len());
        for p in &self.removal.removed {
            s.push_str(&format!("\n  {}", p.display()));
        }
        if !self.removal.left_changed.is_empty() {
            s.push_str("\nleft in place, changed since install:");
            for p in &self.removal.left_changed {
                s.push_str(&format!("\n  {}", p.display()));
            }
        }
        s
    }
}
