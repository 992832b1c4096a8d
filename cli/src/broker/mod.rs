//! `coolify broker …` and `coolify dispatch`: enrollment material for the
//! broker (its TLS identity and the host-token signing key), host tokens,
//! and the UDS lane for operators and scripts. `cp up`'s broker flags are
//! resolved here too ([`resolve_link`]) so the appliance code only sees the
//! result.

mod dispatch;
mod fleet;
mod host_link;
mod init;
mod lane;
pub mod single_host;
pub mod subnets;

use std::path::Path;
use std::process::ExitCode;

pub use fleet::fleet;
pub use host_link::{resolve_link, HostLink};

use crate::args::broker::{BrokerArgs, BrokerCommand, DispatchArgs, EnrollArgs, RevokeArgs};
use crate::namespaces::Cidr;

pub async fn run(config_dir: &Path, args: &BrokerArgs) -> ExitCode {
    let result = match &args.command {
        BrokerCommand::Init(a) => {
            init::init(config_dir, a, init::CertLife::LongLived).map(|report| {
                for line in report {
                    eprintln!("{line}");
                }
            })
        }
        BrokerCommand::Enroll(a) => enroll(config_dir, a).map(|(token, slice)| {
            eprintln!(
                "host {}: namespace subnets {slice} (each namespace a /24 of it)",
                a.host_id
            );
            println!("{token}")
        }),
        BrokerCommand::Revoke(a) => revoke(a).await.map(|line| eprintln!("{line}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coolify: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A host token, with the host's slice of the cluster pool.
fn enroll(config_dir: &Path, a: &EnrollArgs) -> Result<(String, Cidr), String> {
    let key_path = config_dir.join("broker").join("jwt.key");
    let key = std::fs::read(&key_path).map_err(|e| {
        format!(
            "{}: {e}; run `coolify broker init` first",
            key_path.display()
        )
    })?;
    let caps: Vec<String> = a
        .caps
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    coolify_broker::jwt::validate_host_id(&a.host_id)
        .map_err(|e| format!("--host-id {}: {e}", a.host_id))?;
    let pool: Cidr = a
        .cluster_pool
        .parse()
        .map_err(|e| format!("--cluster-pool: {e}"))?;
    let slice = subnets::assign(config_dir, &a.host_id, pool, a.host_subnets)?;
    let net = slice.to_string();
    let token =
        coolify_broker::jwt::mint_es256_with_net(&key, &a.host_id, &caps, a.ttl, Some(&net))
            .map_err(|e| format!("--host-id {}: {e}", a.host_id))?;
    Ok((token, slice))
}

async fn revoke(a: &RevokeArgs) -> Result<String, String> {
    coolify_broker::jwt::validate_host_id(&a.host_id)
        .map_err(|e| format!("--host-id {}: {e}", a.host_id))?;
    let r = lane::post(
        &a.lane.socket,
        &format!("/v1/hosts/{}/revoke", a.host_id),
        None,
    )
    .await?;
    if !r.is_success() {
        return Err(format!(
            "the broker answered {}: {}",
            r.status,
            lane::error_text(&r)
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    Ok(format!(
        "host {}: tokens issued up to {} revoked; {}",
        a.host_id,
        v["revoked_before"],
        if v["stream_closed"] == true {
            "its stream was closed"
        } else {
            "it had no open stream"
        }
    ))
}

pub async fn dispatch(args: &DispatchArgs) -> ExitCode {
    dispatch::run(args).await
}
