//! The cross-host plane: chain `COOLIFY-ALLOW` of the iptables filter
//! table, written with `iptables-restore --noflush` (one batch = one
//! transaction and one process per change, not one `iptables -A` process
//! per rule; docs/firewall.md, "Benchmark") and read back with
//! `iptables-save -t filter`.

use std::path::PathBuf;

use crate::hosttools::ToolRunner;

use super::plan::{self, IptablesView, IPT_CHAIN, IPT_TABLE};
use super::plane::{run, FirewallPlane, PlaneError};

/// The iptables plane; binaries are found on PATH unless overridden.
#[derive(Debug, Clone)]
pub struct IptablesPlane {
    restore: PathBuf,
    save: PathBuf,
    tools: ToolRunner,
}

impl Default for IptablesPlane {
    fn default() -> Self {
        IptablesPlane {
            restore: "iptables-restore".into(),
            save: "iptables-save".into(),
            tools: ToolRunner::default(),
        }
    }
}

impl IptablesPlane {
    /// The default tools, run through `tools`.
    pub fn with_tools(tools: ToolRunner) -> Self {
        IptablesPlane {
            tools,
            ..Default::default()
        }
    }
}

impl IptablesPlane {
    /// Current state of the filter table's coolify chain.
    pub async fn read(&self) -> Result<IptablesView, PlaneError> {
        let text = run(&self.tools, &self.save, &["-t", IPT_TABLE], None).await?;
        Ok(plan::parse_iptables_save(&text))
    }

    /// Creates `COOLIFY-ALLOW` when missing; `true` when it did. The chain
    /// declaration is only sent when the chain is absent, because in
    /// `--noflush` mode declaring an existing chain flushes it.
    pub async fn ensure_chain(&self) -> Result<bool, PlaneError> {
        if self.read().await?.chain_present {
            return Ok(false);
        }
        self.apply(&format!("*{IPT_TABLE}\n:{IPT_CHAIN} - [0:0]\nCOMMIT\n"))
            .await?;
        Ok(true)
    }
}

impl FirewallPlane for IptablesPlane {
    fn name(&self) -> &'static str {
        "iptables"
    }

    async fn apply(&self, batch: &str) -> Result<(), PlaneError> {
        // -w: wait for the xtables lock instead of failing when another
        // writer (netavark, an operator) holds it.
        run(
            &self.tools,
            &self.restore,
            &["--noflush", "-w", "5"],
            Some(batch),
        )
        .await
        .map(|_| ())
    }
}
