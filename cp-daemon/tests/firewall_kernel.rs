//! The firewall against the real kernel: every test body runs in its own
//! private network namespace (`support::in_private_netns`), with the real
//! `iptables-restore`/`iptables-save` and `nft`, never the host's chains.

mod support;

use std::path::Path;

use coold::firewall::{
    BridgeMode, FirewallError, FirewallStore, Rule, RuleRequest, SnapshotPaths, StoreConfig,
};
use support::{
    bridge_scaffold, in_private_netns, iptables_rules, nft_comments, nft_script, run_ok,
};

fn rule(src: &str, port: u16) -> Rule {
    RuleRequest {
        namespace: Some("alpha".into()),
        src: Some(src.into()),
        dst: Some("198.18.1.0/24".into()),
        proto: Some("tcp".into()),
        port: Some(coold::firewall::PortValue::Number(port.into())),
        id: None,
    }
    .validate()
    .expect("valid test rule")
}

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        snapshots: SnapshotPaths {
            rules: dir.join("allow.rules"),
            bridge: dir.join("allow.nft"),
        },
        iptables: Default::default(),
        nft: Default::default(),
    }
}

async fn open(dir: &Path) -> FirewallStore {
    FirewallStore::open(config(dir))
        .await
        .expect("open store")
        .0
}

/// Rules in the iptables plane carrying `id`.
fn ipt_count(id: &str) -> usize {
    iptables_rules().iter().filter(|l| l.contains(id)).count()
}

fn nft_count(id: &str) -> usize {
    nft_comments()
        .unwrap_or_default()
        .iter()
        .filter(|c| c.contains(id))
        .count()
}

#[tokio::test]
async fn add_writes_both_planes_and_delete_removes_from_both() {
    if !in_private_netns("add_writes_both_planes_and_delete_removes_from_both") {
        return;
    }
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    assert_eq!(store.bridge_mode(), BridgeMode::Enforcing);
    let r = rule("198.18.0.5", 80);
    let id = r.id().to_string();
    let (view, created) = store.allow(r.clone()).await.unwrap();
    assert!(created);
    assert_eq!(view.id.as_str(), id);

    let ipt = iptables_rules();
    assert_eq!(ipt.len(), 1, "{ipt:?}");
    assert!(
        ipt[0].starts_with("-A COOLIFY-ALLOW -s 198.18.0.5/32 -d 198.18.1.0/24 -p tcp -m tcp --dport 80 -m comment"),
        "{}",
        ipt[0]
    );
    assert!(ipt[0].contains(&id) && ipt[0].ends_with("-j ACCEPT"));
    assert_eq!(nft_count(&id), 1);
    let listing = run_ok(
        "nft",
        &["list", "chain", "bridge", "coolify_bridge", "coolify_allow"],
    );
    assert!(
        listing.contains("ip saddr 198.18.0.5 ip daddr 198.18.1.0/24 tcp dport 80 accept"),
        "{listing}"
    );

    assert!(store.delete(&r.id()).await.unwrap());
    assert_eq!(ipt_count(&id), 0);
    assert_eq!(nft_count(&id), 0);
    assert!(
        !store.delete(&r.id()).await.unwrap(),
        "second delete finds nothing"
    );
}

#[tokio::test]
async fn same_tuple_twice_adds_no_duplicate_in_either_plane() {
    if !in_private_netns("same_tuple_twice_adds_no_duplicate_in_either_plane") {
        return;
    }
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let r = rule("198.18.0.5", 80);
    assert!(store.allow(r.clone()).await.unwrap().1);
    assert!(!store.allow(r.clone()).await.unwrap().1);
    let id = r.id().to_string();
    assert_eq!((ipt_count(&id), nft_count(&id)), (1, 1));
}

#[tokio::test]
async fn bulk_lands_in_both_planes_in_one_batch() {
    if !in_private_netns("bulk_lands_in_both_planes_in_one_batch") {
        return;
    }
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let rules: Vec<Rule> = (0..200u16)
        .map(|i| rule(&format!("198.18.{}.{}", i / 100, i % 100 + 1), 443))
        .collect();
    store.allow(rules[0].clone()).await.unwrap();
    let out = store.bulk(rules.clone()).await.unwrap();
    assert_eq!(out.added.len(), 199);
    assert_eq!(out.existing.len(), 1);
    assert_eq!(iptables_rules().len(), 200);
    assert_eq!(nft_comments().unwrap().len(), 200);
    assert_eq!(store.list(Some("alpha")).await.len(), 200);
    assert!(store.list(Some("beta")).await.is_empty());
}

#[tokio::test]
async fn bulk_is_all_or_nothing_when_the_bridge_plane_fails() {
    if !in_private_netns("bulk_is_all_or_nothing_when_the_bridge_plane_fails") {
        return;
    }
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.allow(rule("198.18.0.1", 22)).await.unwrap();
    let snapshot_before = std::fs::read_to_string(dir.path().join("allow.rules")).unwrap();
    // Break the bridge plane behind the store's back: the table stays, the
    // chain is gone, so the nft transaction fails.
    nft_script("delete chain bridge coolify_bridge coolify_allow\n");
    let rules: Vec<Rule> = (1..50u16)
        .map(|i| rule(&format!("198.18.3.{i}"), 80))
        .collect();
    let err = store.bulk(rules).await.unwrap_err();
    assert!(matches!(err, FirewallError::NftRolledBack { .. }), "{err}");
    assert_eq!(
        iptables_rules().len(),
        1,
        "iptables batch was not rolled back"
    );
    assert_eq!(store.len().await, 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("allow.rules")).unwrap(),
        snapshot_before
    );
}

#[tokio::test]
async fn nft_failure_rolls_back_the_iptables_plane_and_reports_both() {
    if !in_private_netns("nft_failure_rolls_back_the_iptables_plane_and_reports_both") {
        return;
    }
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let kept = rule("198.18.0.1", 22);
    store.allow(kept.clone()).await.unwrap();
    nft_script("delete table bridge coolify_bridge\n");
    let r = rule("198.18.0.9", 80);
    let err = store.allow(r.clone()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("nft plane") && msg.contains("iptables plane was rolled back"),
        "{msg}"
    );
    assert_eq!(ipt_count(r.id().as_str()), 0);
    assert_eq!(ipt_count(kept.id().as_str()), 1);
    assert_eq!(store.list(None).await.len(), 1);

    // A delete whose nft half fails puts the iptables rule back.
    bridge_scaffold();
    let err = store.delete(&kept.id()).await;
    // The recreated chain is empty, so the handle lookup finds nothing and
    // the bridge half is skipped: the delete succeeds on iptables alone.
    assert!(err.is_ok(), "{err:?}");
    assert_eq!(ipt_count(kept.id().as_str()), 0);
}

#[tokio::test]
async fn reconcile_returns_the_diff_and_never_flushes() {
    if !in_private_netns("reconcile_returns_the_diff_and_never_flushes") {
        return;
    }
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (a, b, c) = (
        rule("198.18.0.1", 80),
        rule("198.18.0.2", 80),
        rule("198.18.0.3", 80),
    );
    store.bulk(vec![a.clone(), b.clone()]).await.unwrap();
    // A rule of another namespace must survive a namespace-scoped reconcile.
    let other = RuleRequest {
        namespace: Some("beta".into()),
        ..serde_json::from_str(r#"{"src":"198.18.9.9","dst":"198.18.1.1"}"#).unwrap()
    }
    .validate()
    .unwrap();
    store.allow(other.clone()).await.unwrap();

    let out = store
        .reconcile(Some("alpha"), vec![b.clone(), c.clone()])
        .await
        .unwrap();
    let ids =
        |v: &[coold::firewall::RuleView]| v.iter().map(|r| r.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&out.added), vec![c.id().to_string()]);
    assert_eq!(ids(&out.removed), vec![a.id().to_string()]);
    assert_eq!(ids(&out.kept), vec![b.id().to_string()]);
    for (r, want) in [(&a, 0), (&b, 1), (&c, 1), (&other, 1)] {
        assert_eq!(
            ipt_count(r.id().as_str()),
            want,
            "iptables {}",
            r.canonical()
        );
        assert_eq!(nft_count(r.id().as_str()), want, "nft {}", r.canonical());
    }
    // Same desired set again: nothing to do.
    let again = store.reconcile(Some("alpha"), vec![b, c]).await.unwrap();
    assert!(again.added.is_empty() && again.removed.is_empty());
    assert_eq!(again.kept.len(), 2);
}

#[tokio::test]
async fn snapshots_follow_every_mutation_and_are_replaced_atomically() {
    if !in_private_netns("snapshots_follow_every_mutation_and_are_replaced_atomically") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let rules_path = dir.path().join("allow.rules");
    let nft_path = dir.path().join("allow.nft");
    let ino_before = std::fs::metadata(&rules_path).unwrap().ino();
    let r = rule("198.18.0.7", 8080);
    store.allow(r.clone()).await.unwrap();
    let ipt_snap = std::fs::read_to_string(&rules_path).unwrap();
    let nft_snap = std::fs::read_to_string(&nft_path).unwrap();
    assert_ne!(
        std::fs::metadata(&rules_path).unwrap().ino(),
        ino_before,
        "not replaced by rename"
    );
    // The snapshot holds exactly what iptables-save shows for the chain.
    let body: Vec<&str> = ipt_snap.lines().filter(|l| l.starts_with("-A ")).collect();
    assert_eq!(
        body,
        iptables_rules()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(ipt_snap.contains("*filter\n:COOLIFY-ALLOW - [0:0]\n"));
    assert!(nft_snap.contains("flush chain bridge coolify_bridge coolify_allow\n"));
    assert!(nft_snap.contains(r.id().as_str()));
    assert!(!dir.path().join("allow.rules.tmp").exists());

    // Both snapshots restore with the stock tools, replacing (not
    // doubling) what is there.
    let restore = |bin: &str, args: &[&str], path: &Path| {
        let out = std::process::Command::new(bin)
            .args(args)
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    restore("iptables-restore", &["--noflush"], &rules_path);
    restore("nft", &["-f"], &nft_path);
    assert_eq!(ipt_count(r.id().as_str()), 1);
    assert_eq!(nft_count(r.id().as_str()), 1);

    store.delete(&r.id()).await.unwrap();
    assert!(!std::fs::read_to_string(&rules_path)
        .unwrap()
        .contains(r.id().as_str()));
    assert!(!std::fs::read_to_string(&nft_path)
        .unwrap()
        .contains(r.id().as_str()));
}

#[tokio::test]
async fn boot_restore_twice_adds_no_duplicates() {
    if !in_private_netns("boot_restore_twice_adds_no_duplicates") {
        return;
    }
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let rules: Vec<Rule> = (1..=3u16)
        .map(|i| rule(&format!("198.18.0.{i}"), 80))
        .collect();
    {
        let store = open(dir.path()).await;
        store.bulk(rules.clone()).await.unwrap();
    }
    // "Reboot": the kernel loses everything, the snapshots stay.
    run_ok("iptables", &["-F", "COOLIFY-ALLOW"]);
    run_ok("iptables", &["-X", "COOLIFY-ALLOW"]);
    nft_script("flush chain bridge coolify_bridge coolify_allow\n");

    let (store, report) = FirewallStore::open(config(dir.path())).await.unwrap();
    assert!(report.created_chain);
    assert_eq!((report.restored_iptables, report.restored_nft), (3, 3));
    drop(store);
    let (store, report) = FirewallStore::open(config(dir.path())).await.unwrap();
    assert_eq!((report.restored_iptables, report.restored_nft), (0, 0));
    assert!(!report.created_chain);
    assert_eq!(store.len().await, 3);
    for r in &rules {
        assert_eq!(ipt_count(r.id().as_str()), 1);
        assert_eq!(nft_count(r.id().as_str()), 1);
    }
    // A plane that lost a rule is refilled from the other plane.
    nft_script("flush chain bridge coolify_bridge coolify_allow\n");
    std::fs::remove_file(dir.path().join("allow.rules")).unwrap();
    std::fs::remove_file(dir.path().join("allow.nft")).unwrap();
    let (_, report) = FirewallStore::open(config(dir.path())).await.unwrap();
    assert_eq!((report.restored_iptables, report.restored_nft), (0, 3));
    assert_eq!(nft_comments().unwrap().len(), 3);
}

#[tokio::test]
async fn permissive_host_without_bridge_scaffold_writes_iptables_and_snapshots() {
    if !in_private_netns("permissive_host_without_bridge_scaffold_writes_iptables_and_snapshots") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, report) = FirewallStore::open(config(dir.path())).await.unwrap();
    assert_eq!(report.bridge, BridgeMode::Permissive);
    assert!(report.created_chain, "missing COOLIFY-ALLOW is created");
    let r = rule("198.18.0.5", 80);
    store.allow(r.clone()).await.unwrap();
    assert_eq!(ipt_count(r.id().as_str()), 1);
    assert_eq!(nft_comments(), None, "no scaffold was created");
    let nft_snap = std::fs::read_to_string(dir.path().join("allow.nft")).unwrap();
    assert!(
        nft_snap.contains(r.id().as_str()),
        "bridge snapshot still written"
    );
    assert!(store.delete(&r.id()).await.unwrap());
    assert_eq!(ipt_count(r.id().as_str()), 0);
}

#[tokio::test]
async fn a_rule_deleted_behind_our_back_still_deletes_cleanly() {
    if !in_private_netns("a_rule_deleted_behind_our_back_still_deletes_cleanly") {
        return;
    }
    bridge_scaffold();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (a, b) = (rule("198.18.0.1", 80), rule("198.18.0.2", 80));
    store.bulk(vec![a.clone(), b.clone()]).await.unwrap();
    run_ok("iptables", &["-F", "COOLIFY-ALLOW"]);
    let out = store.reconcile(None, vec![]).await.unwrap();
    assert_eq!(out.removed.len(), 2);
    assert_eq!(nft_comments().unwrap().len(), 0);
    assert!(store.is_empty().await);
}

#[tokio::test]
async fn foreign_rules_in_the_chains_are_left_alone() {
    if !in_private_netns("foreign_rules_in_the_chains_are_left_alone") {
        return;
    }
    bridge_scaffold();
    run_ok("iptables", &["-N", "COOLIFY-ALLOW"]);
    run_ok(
        "iptables",
        &["-A", "COOLIFY-ALLOW", "-s", "198.18.7.7", "-j", "ACCEPT"],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let r = rule("198.18.0.1", 80);
    store.allow(r.clone()).await.unwrap();
    store.reconcile(None, vec![]).await.unwrap();
    assert_eq!(
        iptables_rules(),
        vec!["-A COOLIFY-ALLOW -s 198.18.7.7/32 -j ACCEPT".to_string()]
    );
}
