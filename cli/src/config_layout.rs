//! Where each file lives under the config dir, and which part of it the
//! agent's container sees.
//!
//! The config dir holds two kinds of material. The CA's private key and the
//! broker's keys (`broker/`) are the operator's: the CLI signs with them and
//! no container ever mounts them (seed 003: the signing key never enters a
//! container). What the agent uses — its TLS pair, its API token and the
//! firewall snapshots and workload files it writes — lives in `agent/`,
//! which is the only part of the config dir mounted into the appliance. A
//! directory, not single files: a rotation replaces a file by rename, and a
//! bind-mounted file would keep showing the old inode.
//!
//! Installs from before this layout kept the agent's files at the top; `up`
//! moves them into `agent/` (a rename on one filesystem, nothing rewritten).

use std::path::{Path, PathBuf};

/// The subdirectory the agent's container mounts.
const AGENT_DIR: &str = "agent";

/// Files of the agent that older installs kept at the top of the config dir.
const MOVED_TO_AGENT: [&str; 6] = [
    "server.crt",
    "server.key",
    "api-token",
    "allow.rules",
    "allow.nft",
    "workloads",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigLayout {
    root: PathBuf,
}

impl ConfigLayout {
    pub fn new(root: &Path) -> Self {
        ConfigLayout {
            root: root.to_path_buf(),
        }
    }

    /// The CA certificate (public: clients verify the agent with it).
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.crt")
    }

    /// The CA's private key: the CLI's alone.
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key")
    }

    /// The only part of the config dir the agent's container mounts.
    pub fn agent_dir(&self) -> PathBuf {
        self.root.join(AGENT_DIR)
    }

    pub fn server_cert(&self) -> PathBuf {
        self.agent_dir().join("server.crt")
    }

    pub fn server_key(&self) -> PathBuf {
        self.agent_dir().join("server.key")
    }

    pub fn api_token(&self) -> PathBuf {
        self.agent_dir().join("api-token")
    }

    /// `COOLD_RULES_PATH`: the iptables allow-list snapshot.
    pub fn rules(&self) -> PathBuf {
        self.agent_dir().join("allow.rules")
    }

    /// `COOLD_BRIDGE_RULES_PATH`: the same-bridge allow-list snapshot.
    pub fn bridge_rules(&self) -> PathBuf {
        self.agent_dir().join("allow.nft")
    }

    /// `COOLD_WORKLOADS_DIR`.
    pub fn workloads(&self) -> PathBuf {
        self.agent_dir().join("workloads")
    }

    /// What the last successful `cp up` of container `name` ran with
    /// (`cp install` builds its units from it). Outside `agent/`: the
    /// agent has no use for the operator's command line.
    pub fn up_record(&self, name: &str) -> PathBuf {
        self.root.join("install").join(format!("up-{name}.json"))
    }

    /// What `cp install` wrote for container `name`, for `cp uninstall`.
    pub fn install_manifest(&self, name: &str) -> PathBuf {
        self.root.join("install").join(format!("units-{name}.json"))
    }

    /// Moves the agent's files of an older install from the top of the
    /// config dir into `agent/`; returns the names moved. A file already in
    /// `agent/` wins: the top-level one is left for the operator to remove.
    pub fn migrate(&self) -> std::io::Result<Vec<String>> {
        let mut moved = Vec::new();
        for name in MOVED_TO_AGENT {
            let old = self.root.join(name);
            let new = self.agent_dir().join(name);
            if old.symlink_metadata().is_err() || new.symlink_metadata().is_ok() {
                continue;
            }
            std::fs::create_dir_all(self.agent_dir())?;
            std::fs::rename(&old, &new)?;
            moved.push(name.to_string());
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_install_moves_into_the_agent_dir_and_keeps_the_ca_at_the_top() {
        let tmp = tempfile::tempdir().unwrap();
        let l = ConfigLayout::new(tmp.path());
        for f in ["ca.crt", "ca.key", "server.crt", "server.key", "api-token"] {
            std::fs::write(tmp.path().join(f), f).unwrap();
        }
        std::fs::create_dir(tmp.path().join("workloads")).unwrap();
        std::fs::write(tmp.path().join("workloads/w.json"), "{}").unwrap();

        let moved = l.migrate().unwrap();

        assert_eq!(
            moved,
            ["server.crt", "server.key", "api-token", "workloads"]
        );
        assert_eq!(std::fs::read_to_string(l.api_token()).unwrap(), "api-token");
        assert!(l.workloads().join("w.json").exists());
        assert!(l.ca_key().exists() && !l.agent_dir().join("ca.key").exists());
        assert!(
            l.migrate().unwrap().is_empty(),
            "a second run moves nothing"
        );
    }

    #[test]
    fn a_file_already_in_the_agent_dir_is_not_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let l = ConfigLayout::new(tmp.path());
        std::fs::create_dir(l.agent_dir()).unwrap();
        std::fs::write(l.api_token(), "new").unwrap();
        std::fs::write(tmp.path().join("api-token"), "old").unwrap();

        assert!(l.migrate().unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(l.api_token()).unwrap(), "new");
    }
}
