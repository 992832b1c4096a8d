//! The same-bridge plane: chain `coolify_allow` of table
//! `bridge coolify_bridge` (the scaffold the host installer creates),
//! written as one `nft -f -` transaction per mutation and read back with
//! `nft -j list chain`.

use std::path::PathBuf;

use crate::hosttools::ToolRunner;

use super::plan::{self, NftView, NFT_CHAIN, NFT_FAMILY, NFT_TABLE};
use super::plane::{run, FirewallPlane, PlaneError};

/// The nft plane; `nft` is found on PATH unless overridden.
#[derive(Debug, Clone)]
pub struct NftPlane {
    bin: PathBuf,
    tools: ToolRunner,
}

impl Default for NftPlane {
    fn default() -> Self {
        NftPlane {
            bin: "nft".into(),
            tools: ToolRunner::default(),
        }
    }
}

impl NftPlane {
    /// The default tool, run through `tools`.
    pub fn with_tools(tools: ToolRunner) -> Self {
        NftPlane {
            tools,
            ..Default::default()
        }
    }
}

impl NftPlane {
    /// The chain's tagged rules with their handles; `None` when the
    /// scaffold (table or chain) does not exist.
    pub async fn read(&self) -> Result<Option<NftView>, PlaneError> {
        match run(
            &self.tools,
            &self.bin,
            &["-j", "list", "chain", NFT_FAMILY, NFT_TABLE, NFT_CHAIN],
            None,
        )
        .await
        {
            Ok(text) => {
                plan::parse_nft_json(&text)
                    .map(Some)
                    .map_err(|reason| PlaneError::Output {
                        tool: "nft -j list chain".into(),
                        reason,
                    })
            }
            // nft says "No such file or directory" for a missing table or chain.
            Err(PlaneError::Failed { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl FirewallPlane for NftPlane {
    fn name(&self) -> &'static str {
        "nft"
    }

    async fn apply(&self, batch: &str) -> Result<(), PlaneError> {
        run(&self.tools, &self.bin, &["-f", "-"], Some(batch))
            .await
            .map(|_| ())
    }
}
