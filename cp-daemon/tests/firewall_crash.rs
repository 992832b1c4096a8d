//! `kill -9` of the agent at random points of a firewall mutation, 100
//! times (issue 19): after each restart both planes equal the snapshots.
//! A mutation writes the iptables plane, then the nft plane, then the
//! snapshots; a kill can land between any two, and the boot restore must
//! bring the kernel back to what the snapshots say, with no duplicate and
//! nothing missing. Runs in a private network namespace with the real
//! `iptables` and `nft`, a real coold restarted each round.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use support::{
    bridge_scaffold, http, in_private_netns, iptables_rules, nft_comments, Coold, TOKEN,
};

const ROUNDS: usize = 100;

/// The rule tags (`coolify:<id>:…`) in a text, as a set.
fn tags(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c == '"' || c.is_whitespace())
        .filter(|w| w.starts_with("coolify:"))
        .map(str::to_string)
        .collect()
}

fn kernel_iptables() -> BTreeSet<String> {
    tags(&iptables_rules().join("\n"))
}

fn kernel_nft() -> BTreeSet<String> {
    tags(&nft_comments().unwrap_or_default().join("\n"))
}

fn snapshot(path: &Path) -> BTreeSet<String> {
    tags(&std::fs::read_to_string(path).unwrap_or_default())
}

/// A cheap pseudo-random sequence (no dependency): xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// One of three mutations: a bulk add of 25 rules, a single add, or the
/// delete of a rule the agent holds.
fn mutation(
    rng: &mut Rng,
    round: usize,
    held: &[String],
) -> (&'static str, String, Option<String>) {
    match rng.next(3) {
        0 => {
            let rules: Vec<String> = (0..25)
                .map(|i| {
                    format!(
                        r#"{{"namespace":"alpha","src":"198.18.{}.{}","dst":"198.19.0.0/24","proto":"tcp","port":443}}"#,
                        round % 200,
                        i + 1
                    )
                })
                .collect();
            (
                "POST",
                "/api/v1/firewall/allow/bulk".into(),
                Some(format!(r#"{{"rules":[{}]}}"#, rules.join(","))),
            )
        }
        1 => (
            "POST",
            "/api/v1/firewall/allow".into(),
            Some(format!(
                r#"{{"namespace":"alpha","src":"198.18.250.{}","dst":"198.19.1.0/24","proto":"udp","port":{}}}"#,
                round % 250 + 1,
                1000 + round
            )),
        ),
        _ => match held.get(rng.next(held.len().max(1) as u64) as usize) {
            Some(id) => ("DELETE", format!("/api/v1/firewall/allow/{id}"), None),
            None => ("GET", "/api/v1/firewall/allow".into(), None),
        },
    }
}

/// The ids the agent lists.
fn held_ids(coold: &Coold) -> Vec<String> {
    let (code, v) = coold.json("GET", "/api/v1/firewall/allow", None);
    assert_eq!(code, 200, "{v}");
    v["rules"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn killed_mid_mutation_a_hundred_times_both_planes_equal_the_snapshots_after_each_restart() {
    if !in_private_netns(
        "killed_mid_mutation_a_hundred_times_both_planes_equal_the_snapshots_after_each_restart",
    ) {
        return;
    }
    bridge_scaffold();
    let state = tempfile::tempdir().expect("state dir");
    let (rules, bridge) = (
        state.path().join("allow.rules"),
        state.path().join("allow.nft"),
    );
    let data = state.path().join("data");
    let env = [
        ("COOLD_FIREWALL", "on"),
        ("COOLD_RULES_PATH", rules.to_str().expect("utf-8 path")),
        (
            "COOLD_BRIDGE_RULES_PATH",
            bridge.to_str().expect("utf-8 path"),
        ),
        ("COOLD_DATA_DIR", data.to_str().expect("utf-8 path")),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let (mut killed_with_change, mut killed_before_change) = (0, 0);
    for round in 0..=ROUNDS {
        let mut coold = Coold::start(&env);
        let (ipt, nft) = (kernel_iptables(), kernel_nft());
        let (want_ipt, want_nft) = (snapshot(&rules), snapshot(&bridge));
        assert_eq!(
            ipt, want_ipt,
            "round {round}: iptables plane differs from allow.rules"
        );
        assert_eq!(
            nft, want_nft,
            "round {round}: nft plane differs from allow.nft"
        );
        assert_eq!(
            iptables_rules().len(),
            ipt.len(),
            "round {round}: a duplicate rule in the iptables plane"
        );
        if round == ROUNDS {
            break;
        }
        let held = held_ids(&coold);
        let (method, path, body) = mutation(&mut rng, round, &held);
        let api = coold.api;
        let request = std::thread::spawn(move || {
            let auth = format!("Bearer {TOKEN}");
            let _ = http(
                api,
                method,
                &path,
                &[("Authorization", &auth)],
                body.as_deref(),
            );
        });
        // Anywhere from before the request arrives to after it is done.
        std::thread::sleep(Duration::from_micros(rng.next(40_000)));
        coold.child.kill().expect("kill -9 coold");
        let _ = coold.child.wait();
        let _ = request.join();
        if snapshot(&rules) != want_ipt || kernel_iptables() != ipt {
            killed_with_change += 1;
        } else {
            killed_before_change += 1;
        }
    }
    // The kills landed at different points: before any change and after.
    assert!(
        killed_with_change > 0 && killed_before_change > 0,
        "kills after a change: {killed_with_change}, before: {killed_before_change}"
    );
}
