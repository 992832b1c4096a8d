//! Firewall benchmark (DESIGN.md: benchmarks, not timed tests). Runs in a
//! private network namespace: the process re-executes itself under
//! `unshare --net`, so the host's chains are never touched.
//!
//! Measures, in one run and side by side:
//! - bulk apply of N rules (default 10 000) through `FirewallStore::bulk`
//!   (both planes + both snapshots) vs the naive way, one `iptables -A`
//!   process per rule (iptables plane only, no snapshots: the naive side
//!   does strictly less work);
//! - one add (median of 31) with 0 rules present vs with N present;
//! - one delete (median of 31) with 0 vs N present, for the record.
//!
//! Env: `FW_BENCH_RULES` (default 10000), `FW_BENCH_NAIVE` (rules for the
//! naive run, default = FW_BENCH_RULES), `FW_BENCH_DIR` (where the
//! snapshots go; default the system temp dir).

use std::process::Command;
use std::time::{Duration, Instant};

use coold::firewall::{FirewallStore, PortValue, Rule, RuleRequest, SnapshotPaths, StoreConfig};

const MARKER: &str = "COOLD_BENCH_IN_NETNS";
const SAMPLES: usize = 31;

fn main() {
    if std::env::var_os(MARKER).is_none() {
        let exe = std::env::current_exe().expect("current exe");
        let status = Command::new("unshare")
            .args(["--net", "--"])
            .arg(exe)
            .env(MARKER, "1")
            .status()
            .expect("run unshare");
        std::process::exit(status.code().unwrap_or(1));
    }
    let n: usize = env_num("FW_BENCH_RULES", 10_000);
    let naive_n: usize = env_num("FW_BENCH_NAIVE", n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(n, naive_n));
}

fn env_num(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sh(bin: &str, args: &[&str]) {
    let out = Command::new(bin).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scaffold() {
    sh("nft", &["add", "table", "bridge", "coolify_bridge"]);
    sh(
        "nft",
        &[
            "add chain bridge coolify_bridge coolify_allow { type filter hook forward priority 0; policy accept; }",
        ],
    );
}

/// Rule `i` of a family: distinct sources in 198.18.0.0/15.
fn rule(family: u8, i: usize) -> Rule {
    RuleRequest {
        namespace: Some(format!("bench{family}")),
        src: Some(format!(
            "198.{}.{}.{}",
            18 + (i >> 16),
            (i >> 8) & 255,
            i & 255
        )),
        dst: Some("198.19.255.0/24".into()),
        proto: Some("tcp".into()),
        port: Some(PortValue::Number(443)),
        id: None,
    }
    .validate()
    .expect("valid rule")
}

async fn open(dir: &std::path::Path) -> FirewallStore {
    FirewallStore::open(StoreConfig {
        snapshots: SnapshotPaths {
            rules: dir.join("allow.rules"),
            bridge: dir.join("allow.nft"),
        },
        iptables: Default::default(),
        nft: Default::default(),
    })
    .await
    .expect("open store")
    .0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median time of one add, then one delete, each on its own rule.
async fn one_add_and_delete(store: &FirewallStore, family: u8) -> (Duration, Duration) {
    let rules: Vec<Rule> = (0..SAMPLES).map(|i| rule(family, i)).collect();
    let mut adds = Vec::new();
    for r in &rules {
        let t = Instant::now();
        store.allow(r.clone()).await.expect("add");
        adds.push(t.elapsed());
    }
    let mut dels = Vec::new();
    for r in &rules {
        let t = Instant::now();
        store.delete(&r.id()).await.expect("delete");
        dels.push(t.elapsed());
    }
    (median(adds), median(dels))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run(n: usize, naive_n: usize) {
    sh("ip", &["link", "set", "lo", "up"]);
    scaffold();
    // FW_BENCH_DIR puts the snapshots elsewhere (e.g. /dev/shm, to see
    // how much of a mutation is the snapshot fsync).
    let dir = match std::env::var_os("FW_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let store = open(dir.path()).await;

    let (add0, del0) = one_add_and_delete(&store, 1).await;

    let bulk: Vec<Rule> = (0..n).map(|i| rule(0, i)).collect();
    let t = Instant::now();
    let out = store.bulk(bulk).await.expect("bulk");
    let bulk_time = t.elapsed();
    assert_eq!(out.added.len(), n);
    // Let the kernel finish the deferred work of the big commit (RCU
    // frees of the old rule blobs) so it does not land in the samples.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (add_n, del_n) = one_add_and_delete(&store, 2).await;

    // Naive: one iptables process per rule, into a chain of its own.
    sh("iptables", &["-N", "NAIVE-ALLOW"]);
    let t = Instant::now();
    for i in 0..naive_n {
        let r = rule(3, i);
        sh(
            "iptables",
            &[
                "-A",
                "NAIVE-ALLOW",
                "-s",
                &r.src.to_string(),
                "-d",
                &r.dst.to_string(),
                "-p",
                "tcp",
                "-m",
                "tcp",
                "--dport",
                "443",
                "-m",
                "comment",
                "--comment",
                &coold::firewall::comment(&r),
                "-j",
                "ACCEPT",
            ],
        );
    }
    let naive_time = t.elapsed();
    let naive_per_rule = naive_time / naive_n.max(1) as u32;
    let naive_extrapolated = naive_per_rule * n as u32;

    println!();
    println!("firewall benchmark: {n} rules, private netns, medians of {SAMPLES} single ops");
    println!("{:<52} {:>12}", "measure", "time");
    println!("{:-<52} {:->12}", "", "");
    println!(
        "{:<52} {:>12}",
        format!("bulk apply {n} rules (store: both planes + snapshots)"),
        ms(bulk_time)
    );
    println!(
        "{:<52} {:>12}",
        format!("naive: {naive_n} x `iptables -A` (iptables plane only)"),
        ms(naive_time)
    );
    if naive_n != n {
        println!(
            "{:<52} {:>12}",
            format!("naive extrapolated to {n}"),
            ms(naive_extrapolated)
        );
    }
    println!("{:<52} {:>12}", "one add, 0 rules present", ms(add0));
    println!(
        "{:<52} {:>12}",
        format!("one add, {n} rules present"),
        ms(add_n)
    );
    println!("{:<52} {:>12}", "one delete, 0 rules present", ms(del0));
    println!(
        "{:<52} {:>12}",
        format!("one delete, {n} rules present"),
        ms(del_n)
    );
    println!();
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "naive / bulk                      {:>8.1}x",
        ratio(naive_extrapolated, bulk_time)
    );
    println!(
        "add at {n} / add at 0         {:>8.2}x   (goal <= 2x)",
        ratio(add_n, add0)
    );
    println!("delete at {n} / delete at 0   {:>8.2}x", ratio(del_n, del0));
    println!(
        "bulk {n} <= 1 s                {:>9}",
        if bulk_time <= Duration::from_secs(1) {
            "yes"
        } else {
            "no"
        }
    );
}
