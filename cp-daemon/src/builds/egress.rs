//! The build container's egress fence: REJECT rules for the denied
//! networks in the OUTPUT chain of the container's own network namespace,
//! installed after `init` and before `start`, so the builder's first packet
//! already meets them. One `iptables-restore` batch, run through the host's
//! tools inside that namespace (`nsenter --net=<path>`).
//!
//! What this covers: every packet the builder process itself sends (git
//! over https, anything it resolves). What it does not: RUN steps of a
//! DOCKERFILE build, which Podman runs in its own build containers on the
//! engine's default network. The builder cannot undo the rules: its
//! container has no NET_ADMIN.

use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::config::Cidr;
use crate::hosttools::ToolRunner;

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("cannot run nsenter/iptables-restore for {netns}: {reason}")]
    Spawn { netns: String, reason: String },
    #[error("iptables-restore in {netns} failed: {stderr}")]
    Failed { netns: String, stderr: String },
}

/// The batch for `iptables-restore --noflush`. Pure.
pub fn render(deny: &[Cidr]) -> String {
    let mut out = String::from("*filter\n");
    for c in deny {
        out.push_str(&format!("-A OUTPUT -d {c} -j REJECT\n"));
    }
    out.push_str("COMMIT\n");
    out
}

/// Installs the deny rules in the namespace at `netns`.
pub async fn fence(tools: &ToolRunner, netns: &Path, deny: &[Cidr]) -> Result<(), EgressError> {
    if deny.is_empty() {
        return Ok(());
    }
    let ns = netns.display().to_string();
    let spawn_err = |e: std::io::Error| EgressError::Spawn {
        netns: ns.clone(),
        reason: e.to_string(),
    };
    let mut cmd = tools.command(Path::new("nsenter")).map_err(spawn_err)?;
    cmd.arg(format!("--net={ns}"))
        .args(["iptables-restore", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(render(deny).as_bytes())
            .await
            .map_err(spawn_err)?;
    }
    let out = child.wait_with_output().await.map_err(spawn_err)?;
    if !out.status.success() {
        return Err(EgressError::Failed {
            netns: ns,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reject_per_denied_network_in_one_batch() {
        let deny = [
            crate::config::builds::cidr("X", "100.64.0.5").expect("cidr"),
            crate::config::builds::cidr("X", "10.210.0.0/16").expect("cidr"),
        ];
        assert_eq!(
            render(&deny),
            "*filter\n-A OUTPUT -d 100.64.0.5/32 -j REJECT\n-A OUTPUT -d 10.210.0.0/16 -j REJECT\nCOMMIT\n"
        );
    }
}
