//! Pure planning: a desired change in, one rendered batch per plane out,
//! plus the read-back parsers. No I/O here; `iptables.rs` and `nft.rs`
//! apply what this module renders.
//!
//! Invariant: every kernel rule we write carries the comment
//! `coolify:<id>:<canonical tuple>`, so a rule is found (and the in-memory
//! index rebuilt) from either plane without parsing match expressions.
//!
//! A change is rendered as *deltas* (`-A`/`-D`, `add rule`/`delete rule
//! … handle`), never as a flush and refill: one batch is one kernel
//! transaction, so the chain never passes through an empty state, and the
//! batch size follows the change, not the number of rules present.

use std::collections::{BTreeMap, BTreeSet};

use super::rule::{Rule, RuleId};

/// iptables table and chain of the cross-host plane.
pub const IPT_TABLE: &str = "filter";
pub const IPT_CHAIN: &str = "COOLIFY-ALLOW";
/// nft family, table and chain of the same-bridge plane (the scaffold).
pub const NFT_FAMILY: &str = "bridge";
pub const NFT_TABLE: &str = "coolify_bridge";
pub const NFT_CHAIN: &str = "coolify_allow";
/// Every rule comment starts with this.
pub const COMMENT_PREFIX: &str = "coolify:";

/// The comment that tags a rule in both planes.
pub fn comment(rule: &Rule) -> String {
    format!("{COMMENT_PREFIX}{}:{}", rule.id(), rule.canonical())
}

/// Why a tagged comment was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentError {
    #[error("comment {0:?} is not a coolify rule tag")]
    Malformed(String),
    #[error("comment {comment:?}: id does not match its tuple (expected {expected})")]
    IdMismatch { comment: String, expected: RuleId },
}

/// Parses a `coolify:<id>:<canonical>` comment; `None` when the comment is
/// not ours. The id is recomputed, so a tampered tag is refused.
pub fn parse_comment(c: &str) -> Option<Result<Rule, CommentError>> {
    let rest = c.strip_prefix(COMMENT_PREFIX)?;
    let Some((id, canonical)) = rest.split_once(':') else {
        return Some(Err(CommentError::Malformed(c.to_string())));
    };
    let rule = match Rule::from_canonical(canonical) {
        Ok(r) => r,
        Err(_) => return Some(Err(CommentError::Malformed(c.to_string()))),
    };
    let expected = rule.id();
    if expected.as_str() != id {
        return Some(Err(CommentError::IdMismatch {
            comment: c.to_string(),
            expected,
        }));
    }
    Some(Ok(rule))
}

/// The iptables rule body exactly as `iptables-save` prints it back (so
/// `-D` with the same text finds it).
pub fn iptables_spec(rule: &Rule) -> String {
    let mut s = String::new();
    // A /0 match is printed as nothing by iptables-save; leave it out.
    if rule.src.prefix > 0 {
        s.push_str(&format!("-s {} ", rule.src.with_prefix()));
    }
    if rule.dst.prefix > 0 {
        s.push_str(&format!("-d {} ", rule.dst.with_prefix()));
    }
    if let Some(p) = rule.proto {
        let p = p.as_str();
        s.push_str(&format!("-p {p} "));
        if let Some(port) = rule.port {
            if port.is_single() {
                s.push_str(&format!("-m {p} --dport {} ", port.lo));
            } else {
                s.push_str(&format!("-m {p} --dport {}:{} ", port.lo, port.hi));
            }
        }
    }
    // Safe to quote: the comment holds only [A-Za-z0-9_.:/|-] (rule.rs).
    s.push_str(&format!(
        "-m comment --comment \"{}\" -j ACCEPT",
        comment(rule)
    ));
    s
}

/// The nft rule body for the bridge chain.
pub fn nft_spec(rule: &Rule) -> String {
    let mut s = String::new();
    if rule.src.prefix > 0 {
        s.push_str(&format!("ip saddr {} ", rule.src));
    }
    if rule.dst.prefix > 0 {
        s.push_str(&format!("ip daddr {} ", rule.dst));
    }
    match (rule.proto, rule.port) {
        (Some(p), Some(port)) => s.push_str(&format!("{} dport {port} ", p.as_str())),
        (Some(p), None) => s.push_str(&format!("ip protocol {} ", p.as_str())),
        // With no address and no proto, still match IPv4 only, like iptables.
        (None, _) => {
            if s.is_empty() {
                s.push_str("ether type ip ");
            }
        }
    }
    s.push_str(&format!("accept comment \"{}\"", comment(rule)));
    s
}

/// A rule to remove and, when known, its nft handle (the only way nft
/// deletes a single rule). `None`: the rule is not in the bridge plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub rule: Rule,
    pub nft_handle: Option<u64>,
}

/// One mutation rendered for both planes, with the iptables undo batch used
/// when the bridge plane fails after the iptables plane succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `iptables-restore --noflush` input; `None` when nothing changes.
    pub iptables: Option<String>,
    /// The inverse of `iptables`.
    pub iptables_undo: Option<String>,
    /// `nft -f` input (one transaction); `None` when nothing changes.
    pub nft: Option<String>,
}

impl Plan {
    /// Renders `add` and `remove` as deltas. Removals come first so a
    /// reconcile that swaps rules never grows past its final size; both
    /// land in one transaction per plane either way.
    pub fn render(add: &[Rule], remove: &[Removal]) -> Plan {
        let ipt = |lines: Vec<String>| {
            (!lines.is_empty()).then(|| {
                let mut s = format!("*{IPT_TABLE}\n");
                for l in lines {
                    s.push_str(&l);
                    s.push('\n');
                }
                s.push_str("COMMIT\n");
                s
            })
        };
        let line = |op: char, r: &Rule| format!("-{op} {IPT_CHAIN} {}", iptables_spec(r));
        let forward = remove
            .iter()
            .map(|r| line('D', &r.rule))
            .chain(add.iter().map(|r| line('A', r)))
            .collect();
        let undo = add
            .iter()
            .map(|r| line('D', r))
            .chain(remove.iter().map(|r| line('A', &r.rule)))
            .collect();
        let mut nft = String::new();
        for r in remove {
            if let Some(h) = r.nft_handle {
                nft.push_str(&format!(
                    "delete rule {NFT_FAMILY} {NFT_TABLE} {NFT_CHAIN} handle {h}\n"
                ));
            }
        }
        for r in add {
            nft.push_str(&format!(
                "add rule {NFT_FAMILY} {NFT_TABLE} {NFT_CHAIN} {}\n",
                nft_spec(r)
            ));
        }
        Plan {
            iptables: ipt(forward),
            iptables_undo: ipt(undo),
            nft: (!nft.is_empty()).then_some(nft),
        }
    }
}

/// What a reconcile changes: computed against the current index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<Rule>,
    pub removed: Vec<Rule>,
    pub kept: Vec<Rule>,
}

/// `current` (id → rule) against `desired` (duplicates collapse).
pub fn diff<'a>(current: impl IntoIterator<Item = &'a Rule>, desired: &[Rule]) -> Diff {
    let current: BTreeMap<RuleId, &Rule> = current.into_iter().map(|r| (r.id(), r)).collect();
    let mut seen = BTreeSet::new();
    let mut out = Diff::default();
    for r in desired {
        let id = r.id();
        if !seen.insert(id.clone()) {
            continue;
        }
        if current.contains_key(&id) {
            out.kept.push(r.clone());
        } else {
            out.added.push(r.clone());
        }
    }
    for (id, r) in current {
        if !seen.contains(&id) {
            out.removed.push(r.clone());
        }
    }
    out
}

/// The iptables snapshot: restoring it with `iptables-restore --noflush`
/// replaces the chain's content in one transaction (a chain declaration
/// flushes that chain only, inside the same commit).
#[cfg(test)]
pub fn iptables_snapshot<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> String {
    iptables_snapshot_of_specs(rules.into_iter().map(iptables_spec))
}

/// [`iptables_snapshot`] from already rendered [`iptables_spec`]s, so a
/// mutation copies strings instead of rendering (and hashing) every rule.
pub fn iptables_snapshot_of_specs<S: AsRef<str>>(specs: impl IntoIterator<Item = S>) -> String {
    let mut s = format!(
        "# coolify allow-list (COOLIFY-ALLOW); written by coold, restore with iptables-restore --noflush\n*{IPT_TABLE}\n:{IPT_CHAIN} - [0:0]\n"
    );
    for spec in specs {
        s.push_str("-A ");
        s.push_str(IPT_CHAIN);
        s.push(' ');
        s.push_str(spec.as_ref());
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

/// The nft snapshot: `nft -f` applies flush + refill as one transaction.
/// It needs the scaffold (table and chain) to exist, as on the host.
#[cfg(test)]
pub fn nft_snapshot<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> String {
    nft_snapshot_of_specs(rules.into_iter().map(nft_spec))
}

/// [`nft_snapshot`] from already rendered [`nft_spec`]s.
pub fn nft_snapshot_of_specs<S: AsRef<str>>(specs: impl IntoIterator<Item = S>) -> String {
    let mut s = format!(
        "# coolify allow-list ({NFT_FAMILY} {NFT_TABLE} {NFT_CHAIN}); written by coold, restore with nft -f\nflush chain {NFT_FAMILY} {NFT_TABLE} {NFT_CHAIN}\n"
    );
    let prefix = format!("add rule {NFT_FAMILY} {NFT_TABLE} {NFT_CHAIN} ");
    for spec in specs {
        s.push_str(&prefix);
        s.push_str(spec.as_ref());
        s.push('\n');
    }
    s
}

/// Every coolify tag inside double quotes in `text` (iptables-save output,
/// either snapshot). Foreign comments are skipped; bad tags are returned
/// as errors so the caller can log them.
pub fn tagged_rules(text: &str) -> Vec<Result<Rule, CommentError>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(start) = rest.find(&format!("\"{COMMENT_PREFIX}")) {
            let after = &rest[start + 1..];
            let Some(end) = after.find('"') else { break };
            if let Some(parsed) = parse_comment(&after[..end]) {
                out.push(parsed);
            }
            rest = &after[end + 1..];
        }
    }
    out
}

/// The iptables plane as `iptables-save -t filter` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IptablesView {
    pub chain_present: bool,
    pub rules: Vec<Rule>,
    /// Rules in the chain without a valid coolify tag (left alone).
    pub foreign: usize,
}

pub fn parse_iptables_save(text: &str) -> IptablesView {
    let mut v = IptablesView::default();
    let decl = format!(":{IPT_CHAIN} ");
    let append = format!("-A {IPT_CHAIN} ");
    for line in text.lines() {
        if line.starts_with(&decl) {
            v.chain_present = true;
        } else if line.starts_with(&append) {
            match tagged_rules(line).into_iter().next() {
                Some(Ok(r)) => v.rules.push(r),
                _ => v.foreign += 1,
            }
        }
    }
    v
}

/// The bridge plane as `nft -j list chain …` shows it: tagged rules and
/// their handles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NftView {
    pub rules: Vec<(Rule, u64)>,
    pub foreign: usize,
}

pub fn parse_nft_json(text: &str) -> Result<NftView, String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("nft -j output is not JSON: {e}"))?;
    let items = doc
        .get("nftables")
        .and_then(|v| v.as_array())
        .ok_or("nft -j output has no nftables array")?;
    let mut v = NftView::default();
    for item in items {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let ours = rule.get("family").and_then(|x| x.as_str()) == Some(NFT_FAMILY)
            && rule.get("table").and_then(|x| x.as_str()) == Some(NFT_TABLE)
            && rule.get("chain").and_then(|x| x.as_str()) == Some(NFT_CHAIN);
        if !ours {
            continue;
        }
        let handle = rule.get("handle").and_then(|h| h.as_u64());
        let parsed = rule
            .get("comment")
            .and_then(|c| c.as_str())
            .and_then(parse_comment);
        match (parsed, handle) {
            (Some(Ok(r)), Some(h)) => v.rules.push((r, h)),
            _ => v.foreign += 1,
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::rule::{PortValue, RuleRequest};

    fn rule(ns: &str, src: &str, dst: &str, proto: &str, port: Option<&str>) -> Rule {
        RuleRequest {
            namespace: Some(ns.into()),
            src: Some(src.into()),
            dst: Some(dst.into()),
            proto: Some(proto.into()),
            port: port.map(|p| PortValue::Text(p.into())),
            id: None,
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn iptables_spec_matches_iptables_save_rendering() {
        let r = rule("default", "10.0.0.5", "10.0.1.0/24", "tcp", Some("80"));
        assert_eq!(
            iptables_spec(&r),
            format!("-s 10.0.0.5/32 -d 10.0.1.0/24 -p tcp -m tcp --dport 80 -m comment --comment \"coolify:{}:default|10.0.0.5|10.0.1.0/24|tcp|80\" -j ACCEPT", r.id())
        );
        let r = rule("a", "0.0.0.0/0", "10.0.1.7", "udp", Some("53-60"));
        assert!(
            iptables_spec(&r).starts_with("-d 10.0.1.7/32 -p udp -m udp --dport 53:60 -m comment")
        );
        let r = rule("a", "10.0.0.1", "10.0.1.7", "", None);
        assert!(iptables_spec(&r).starts_with("-s 10.0.0.1/32 -d 10.0.1.7/32 -m comment"));
    }

    #[test]
    fn nft_spec_renders_each_tuple_shape() {
        let r = rule("default", "10.0.0.5", "10.0.1.0/24", "tcp", Some("80"));
        assert!(nft_spec(&r).starts_with(
            "ip saddr 10.0.0.5 ip daddr 10.0.1.0/24 tcp dport 80 accept comment \"coolify:"
        ));
        let r = rule("a", "0.0.0.0/0", "10.0.1.7", "udp", Some("53-60"));
        assert!(nft_spec(&r).starts_with("ip daddr 10.0.1.7 udp dport 53-60 accept"));
        let r = rule("a", "10.0.0.1", "10.0.1.7", "tcp", None);
        assert!(
            nft_spec(&r).starts_with("ip saddr 10.0.0.1 ip daddr 10.0.1.7 ip protocol tcp accept")
        );
        let r = rule("a", "0.0.0.0/0", "0.0.0.0/0", "", None);
        assert!(nft_spec(&r).starts_with("ether type ip accept"));
    }

    #[test]
    fn comments_round_trip_and_tampered_ids_are_refused() {
        let r = rule("alpha", "10.0.0.5", "10.0.1.0/24", "tcp", Some("80"));
        assert_eq!(parse_comment(&comment(&r)), Some(Ok(r.clone())));
        assert_eq!(parse_comment("something else"), None);
        let tampered = comment(&r).replace("|80", "|81");
        assert!(matches!(
            parse_comment(&tampered),
            Some(Err(CommentError::IdMismatch { .. }))
        ));
        assert!(matches!(
            parse_comment("coolify:nonsense"),
            Some(Err(CommentError::Malformed(_)))
        ));
    }

    #[test]
    fn plan_renders_deltas_and_their_inverse() {
        let a = rule("a", "10.0.0.1", "10.0.1.1", "tcp", Some("80"));
        let b = rule("a", "10.0.0.2", "10.0.1.1", "tcp", Some("80"));
        let p = Plan::render(
            std::slice::from_ref(&a),
            &[Removal {
                rule: b.clone(),
                nft_handle: Some(7),
            }],
        );
        let ipt = p.iptables.unwrap();
        assert_eq!(ipt.lines().next(), Some("*filter"));
        assert_eq!(ipt.lines().last(), Some("COMMIT"));
        assert!(
            !ipt.contains("-F") && !ipt.contains(":COOLIFY-ALLOW"),
            "no flush: {ipt}"
        );
        let lines: Vec<&str> = ipt.lines().collect();
        assert!(lines[1].starts_with("-D COOLIFY-ALLOW -s 10.0.0.2/32"));
        assert!(lines[2].starts_with("-A COOLIFY-ALLOW -s 10.0.0.1/32"));
        let undo = p.iptables_undo.unwrap();
        assert!(undo.contains("-D COOLIFY-ALLOW -s 10.0.0.1/32"));
        assert!(undo.contains("-A COOLIFY-ALLOW -s 10.0.0.2/32"));
        let nft = p.nft.unwrap();
        assert_eq!(
            nft.lines().next(),
            Some("delete rule bridge coolify_bridge coolify_allow handle 7")
        );
        assert!(nft
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("add rule bridge coolify_bridge coolify_allow ip saddr 10.0.0.1"));
        assert!(!nft.contains("flush"));
    }

    #[test]
    fn plan_size_follows_the_change_not_the_rule_count() {
        let a = rule("a", "10.0.0.1", "10.0.1.1", "tcp", Some("80"));
        let p = Plan::render(&[a], &[]);
        assert_eq!(p.iptables.unwrap().lines().count(), 3);
        assert_eq!(p.nft.unwrap().lines().count(), 1);
        let empty = Plan::render(&[], &[]);
        assert_eq!(
            empty,
            Plan {
                iptables: None,
                iptables_undo: None,
                nft: None
            }
        );
    }

    #[test]
    fn removal_without_a_handle_skips_the_bridge_plane() {
        let a = rule("a", "10.0.0.1", "10.0.1.1", "tcp", Some("80"));
        let p = Plan::render(
            &[],
            &[Removal {
                rule: a,
                nft_handle: None,
            }],
        );
        assert!(p.iptables.is_some());
        assert!(p.nft.is_none());
    }

    #[test]
    fn diff_splits_added_removed_kept() {
        let a = rule("a", "10.0.0.1", "10.0.1.1", "tcp", Some("80"));
        let b = rule("a", "10.0.0.2", "10.0.1.1", "tcp", Some("80"));
        let c = rule("a", "10.0.0.3", "10.0.1.1", "tcp", Some("80"));
        let d = diff([&a, &b], &[b.clone(), c.clone(), c.clone()]);
        assert_eq!(d.added, vec![c]);
        assert_eq!(d.removed, vec![a]);
        assert_eq!(d.kept, vec![b]);
    }

    #[test]
    fn iptables_save_is_parsed_for_tagged_rules_only() {
        let a = rule("a", "10.0.0.1", "10.0.1.1", "tcp", Some("80"));
        let text = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:COOLIFY-ALLOW - [0:0]\n-A COOLIFY-ALLOW {}\n-A COOLIFY-ALLOW -s 1.2.3.4/32 -j ACCEPT\n-A FORWARD {}\nCOMMIT\n",
            iptables_spec(&a),
            iptables_spec(&a)
        );
        let v = parse_iptables_save(&text);
        assert!(v.chain_present);
        assert_eq!(v.rules, vec![a]);
        assert_eq!(v.foreign, 1);
        assert!(!parse_iptables_save("*filter\nCOMMIT\n").chain_present);
    }

    #[test]
    fn nft_json_yields_rules_and_handles() {
        let a = rule("a", "10.0.0.1", "10.0.1.1", "tcp", Some("80"));
        let text = serde_json::json!({"nftables": [
            {"metainfo": {}},
            {"chain": {"family": "bridge", "table": "coolify_bridge", "name": "coolify_allow"}},
            {"rule": {"family": "bridge", "table": "coolify_bridge", "chain": "coolify_allow", "handle": 4, "comment": comment(&a), "expr": []}},
            {"rule": {"family": "bridge", "table": "coolify_bridge", "chain": "coolify_allow", "handle": 5, "expr": []}},
        ]})
        .to_string();
        let v = parse_nft_json(&text).unwrap();
        assert_eq!(v.rules, vec![(a, 4)]);
        assert_eq!(v.foreign, 1);
        assert!(parse_nft_json("not json").is_err());
    }

    #[test]
    fn snapshots_replace_the_chain_in_one_transaction() {
        let a = rule("a", "10.0.0.1", "10.0.1.1", "tcp", Some("80"));
        let ipt = iptables_snapshot([&a]);
        assert!(ipt.contains("*filter\n:COOLIFY-ALLOW - [0:0]\n-A COOLIFY-ALLOW -s 10.0.0.1/32"));
        assert!(ipt.ends_with("COMMIT\n"));
        let nft = nft_snapshot([&a]);
        assert!(nft.contains("flush chain bridge coolify_bridge coolify_allow\nadd rule bridge coolify_bridge coolify_allow ip saddr 10.0.0.1"));
        let back: Vec<Rule> = tagged_rules(&nft).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(back, vec![a.clone()]);
        let back: Vec<Rule> = tagged_rules(&ipt).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(back, vec![a]);
    }
}
