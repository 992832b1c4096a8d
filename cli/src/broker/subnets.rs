//! Cluster-wide namespace subnets (seed 000, "Network model": a per-host
//! /24 of each namespace). Enrollment is the one place every host passes
//! through, on the broker's host, so it is where subnets are handed out:
//! each host gets its own slice of the cluster pool (a /20 of 10.208.0.0/12
//! by default: 16 namespaces on each of 256 hosts), recorded in
//! `<config-dir>/broker/subnets.json` and carried in the host's token
//! (`net`). `cp up` on the host takes each namespace's /24 from that slice,
//! so two hosts never hold the same /24 and routes to a host's namespaces
//! are one prefix per host.
//!
//! Clashes: a host enrolled again keeps its slice; a pool other than the
//! one recorded is refused (it would cut the slices again); a full pool is
//! refused naming how many hosts hold one. On the host, namespace networks
//! that already exist outside its slice stop `cp up` naming them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::namespaces::Cidr;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    version: u32,
    pool: String,
    slice_prefix: u8,
    hosts: BTreeMap<String, String>,
}

const VERSION: u32 = 1;

/// The lowest slice of `pool` (of prefix `slice_prefix`) that overlaps
/// none of `taken`. Pure.
pub fn pick(pool: Cidr, slice_prefix: u8, taken: &[Cidr]) -> Option<Cidr> {
    if slice_prefix < pool.prefix || slice_prefix > 24 {
        return None;
    }
    let count = 1u64 << (slice_prefix - pool.prefix);
    let step = 1u64 << (32 - u32::from(slice_prefix));
    (0..count)
        .map(|i| Cidr {
            network: Ipv4Addr::from(
                u32::try_from(u64::from(u32::from(pool.network)) + i * step).unwrap_or(u32::MAX),
            ),
            prefix: slice_prefix,
        })
        .find(|c| !taken.iter().any(|t| t.overlaps(c)))
}

fn path(config_dir: &Path) -> PathBuf {
    config_dir.join("broker").join("subnets.json")
}

/// The slice of `host_id`: its recorded one, else a new one recorded
/// before it is returned.
pub fn assign(
    config_dir: &Path,
    host_id: &str,
    pool: Cidr,
    slice_prefix: u8,
) -> Result<Cidr, String> {
    let file = path(config_dir);
    let shown = file.display();
    if slice_prefix < pool.prefix || slice_prefix > 24 {
        return Err(format!(
            "--host-subnets /{slice_prefix}: a host's slice must lie inside --cluster-pool {pool} and hold at least one /24"
        ));
    }
    let mut record = match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice::<Record>(&bytes)
            .map_err(|e| format!("{shown}: not a subnet record: {e}"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Record {
            version: VERSION,
            pool: pool.to_string(),
            slice_prefix,
            hosts: BTreeMap::new(),
        },
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    if record.pool != pool.to_string() || record.slice_prefix != slice_prefix {
        return Err(format!(
            "{shown} hands out /{} slices of {}; --cluster-pool {pool} --host-subnets /{slice_prefix} would cut them again (pass the recorded ones)",
            record.slice_prefix, record.pool
        ));
    }
    if let Some(held) = record.hosts.get(host_id) {
        return held
            .parse()
            .map_err(|e| format!("{shown}: host {host_id}: {e}"));
    }
    let taken: Vec<Cidr> = record
        .hosts
        .values()
        .filter_map(|c| c.parse().ok())
        .collect();
    let slice = pick(pool, slice_prefix, &taken).ok_or_else(|| {
        format!(
            "--cluster-pool {pool} is full: {} hosts hold a /{slice_prefix} each; use a larger pool or smaller slices for a new cluster",
            taken.len()
        )
    })?;
    record.hosts.insert(host_id.to_string(), slice.to_string());
    let body = serde_json::to_vec_pretty(&record).map_err(|e| format!("{shown}: {e}"))?;
    crate::file_write::atomic(&file, &body, 0o600).map_err(|e| format!("{shown}: {e}"))?;
    Ok(slice)
}

/// The `net` claim of a host token file, read without verifying the token
/// (the broker verifies it; here it only says which subnets this host was
/// given). `None` for a token without one.
pub fn slice_of_token(token_file: &Path) -> Result<Option<Cidr>, String> {
    use base64::Engine as _;
    let shown = token_file.display();
    let token = std::fs::read_to_string(token_file).map_err(|e| format!("{shown}: {e}"))?;
    let payload = token
        .trim()
        .split('.')
        .nth(1)
        .ok_or_else(|| format!("{shown}: not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| format!("{shown}: not a JWT payload: {e}"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{shown}: not a JWT payload: {e}"))?;
    match claims.get("net").and_then(|n| n.as_str()) {
        None => Ok(None),
        Some(net) => net
            .parse()
            .map(Some)
            .map_err(|e| format!("{shown}: its subnet slice {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn slices_are_handed_out_lowest_first_and_never_twice() {
        let pool = c("198.19.0.0/16");
        assert_eq!(pick(pool, 20, &[]), Some(c("198.19.0.0/20")));
        assert_eq!(
            pick(pool, 20, &[c("198.19.0.0/20"), c("198.19.32.0/20")]),
            Some(c("198.19.16.0/20"))
        );
        let all: Vec<Cidr> = (0..16)
            .map(|i| c(&format!("198.19.{}.0/20", i * 16)))
            .collect();
        assert_eq!(pick(pool, 20, &all), None);
        assert_eq!(pick(pool, 12, &[]), None, "a slice larger than the pool");
    }

    #[test]
    fn a_host_keeps_its_slice_and_others_get_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let pool = c("198.19.0.0/19");
        let b = assign(dir.path(), "b", pool, 20).unwrap();
        let cc = assign(dir.path(), "c", pool, 20).unwrap();
        assert_ne!(b, cc);
        assert!(!b.overlaps(&cc));
        assert_eq!(assign(dir.path(), "b", pool, 20).unwrap(), b, "re-enrolled");
        let full = assign(dir.path(), "d", pool, 20).unwrap_err();
        assert!(full.contains("is full: 2 hosts"), "{full}");
        let other = assign(dir.path(), "b", c("198.19.0.0/16"), 20).unwrap_err();
        assert!(other.contains("would cut them again"), "{other}");
    }

    #[test]
    fn the_slice_is_read_back_from_a_token() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"b","net":"198.19.16.0/20"}"#);
        let file = dir.path().join("b.jwt");
        std::fs::write(&file, format!("e30.{payload}.sig\n")).unwrap();
        assert_eq!(slice_of_token(&file).unwrap(), Some(c("198.19.16.0/20")));
        let plain = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"b"}"#);
        std::fs::write(&file, format!("e30.{plain}.sig")).unwrap();
        assert_eq!(slice_of_token(&file).unwrap(), None);
    }
}
