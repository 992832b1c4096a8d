//! The effect edge shared by both planes: the [`FirewallPlane`] trait (one
//! implementation per plane, like netavark's `FirewallDriver`) and the one
//! way a kernel tool is run. Nothing user-supplied is ever put on a command
//! line or through a shell: batches go to the tool's stdin, and every
//! argument is a constant.

use std::future::Future;
use std::path::Path;
use std::process::Stdio;

use crate::hosttools::ToolRunner;
use tokio::io::AsyncWriteExt;

/// A kernel tool that failed, with what the operator needs to act.
#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    #[error("cannot run {tool}: {source} (is it installed and on PATH?)")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed ({status}): {stderr}")]
    Failed {
        tool: String,
        status: String,
        stderr: String,
    },
    #[error("{tool}: unexpected output: {reason}")]
    Output { tool: String, reason: String },
}

/// One firewall plane: applies a rendered batch as one kernel transaction.
pub trait FirewallPlane: Send + Sync {
    /// `iptables` or `nft`, for logs and errors.
    fn name(&self) -> &'static str;
    /// Applies `batch` atomically: all of it or none of it.
    fn apply(&self, batch: &str) -> impl Future<Output = Result<(), PlaneError>> + Send;
}

/// Runs `bin args…` with `stdin` fed in, and returns stdout on success.
pub(crate) async fn run(
    tools: &ToolRunner,
    bin: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, PlaneError> {
    let tool = format!("{} {}", bin.display(), args.join(" "));
    let mut cmd = tools.command(bin).map_err(|source| PlaneError::Spawn {
        tool: tool.clone(),
        source,
    })?;
    let mut child = cmd
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Fixed messages whatever the host's locale, so errors read the same.
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| PlaneError::Spawn {
            tool: tool.clone(),
            source,
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error means the tool exited early; its status says why.
        let _ = pipe.write_all(input.as_bytes()).await;
        drop(pipe);
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| PlaneError::Spawn {
            tool: tool.clone(),
            source,
        })?;
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|e| PlaneError::Output {
            tool,
            reason: e.to_string(),
        })
    } else {
        Err(PlaneError::Failed {
            tool,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
