//! The firewall verbs through the real `coold` binary: the agent runs with
//! the firewall on, inside the test's private network namespace, and is
//! driven over its REST API.

mod support;

use serde_json::Value;
use support::{bridge_scaffold, in_private_netns, iptables_rules, nft_comments, Coold};

const RULE: &str =
    r#"{"namespace":"alpha","src":"198.18.0.5","dst":"198.18.1.0/24","proto":"tcp","port":80}"#;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn firewall_verbs_over_rest() {
    if !in_private_netns("firewall_verbs_over_rest") {
        return;
    }
    bridge_scaffold();
    let c = Coold::start(&[("COOLD_FIREWALL", "on")]);

    let (code, body) = c.request("POST", "/api/v1/firewall/allow", Some(RULE));
    assert_eq!(code, 201, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_string();
    assert_eq!(json(&body)["src"], "198.18.0.5");
    let (code, body) = c.request("POST", "/api/v1/firewall/allow", Some(RULE));
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["id"], id.as_str());
    assert_eq!(iptables_rules().len(), 1);
    assert_eq!(nft_comments().unwrap().len(), 1);

    let (code, body) = c.request("GET", "/api/v1/firewall/allow?namespace=alpha", None);
    assert_eq!(code, 200);
    assert_eq!(json(&body)["rules"].as_array().unwrap().len(), 1);
    let (_, body) = c.request("GET", "/api/v1/firewall/allow?namespace=beta", None);
    assert_eq!(json(&body)["rules"].as_array().unwrap().len(), 0);

    let (code, body) = c.request(
        "POST",
        "/api/v1/firewall/allow/bulk",
        Some(r#"{"rules":[{"src":"198.18.0.6","dst":"198.18.1.1"},{"src":"198.18.0.7","dst":"198.18.1.1","proto":"udp","port":"53-60"}]}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["added"].as_array().unwrap().len(), 2);
    assert_eq!(iptables_rules().len(), 3);

    let (code, body) = c.request(
        "POST",
        "/api/v1/firewall/reconcile",
        Some(&format!(r#"{{"namespace":"alpha","rules":[{RULE},{{"namespace":"alpha","src":"198.18.0.8","dst":"198.18.1.1"}}]}}"#)),
    );
    assert_eq!(code, 200, "{body}");
    let diff = json(&body);
    assert_eq!(diff["added"].as_array().unwrap().len(), 1);
    assert_eq!(diff["removed"].as_array().unwrap().len(), 0);
    assert_eq!(diff["kept"][0]["id"], id.as_str());
    assert_eq!(
        iptables_rules().len(),
        4,
        "default-namespace rules untouched"
    );

    let (code, body) = c.request("DELETE", &format!("/api/v1/firewall/allow/{id}"), None);
    assert_eq!(code, 204, "{body}");
    assert!(body.is_empty());
    let (code, _) = c.request("DELETE", &format!("/api/v1/firewall/allow/{id}"), None);
    assert_eq!(code, 204, "delete of an absent rule is 204");
    assert!(iptables_rules().iter().all(|l| !l.contains(&id)));

    let snapshot = std::fs::read_to_string(c.path("allow.rules")).unwrap();
    assert_eq!(snapshot.lines().filter(|l| l.starts_with("-A ")).count(), 3);
    let (_, health) = support::http(c.health, "GET", "/healthz", &[], None).unwrap();
    assert_eq!(json(&health)["components"]["firewall"]["status"], "healthy");
}

#[test]
fn bad_firewall_input_is_400_naming_the_field() {
    if !in_private_netns("bad_firewall_input_is_400_naming_the_field") {
        return;
    }
    let c = Coold::start(&[("COOLD_FIREWALL", "on")]);
    let cases = [
        (
            "POST",
            "/api/v1/firewall/allow",
            r#"{"src":"10.0.0.300","dst":"10.0.0.1"}"#,
            "src",
        ),
        (
            "POST",
            "/api/v1/firewall/allow",
            r#"{"src":"10.0.0.1","dst":"10.0.0.0/33"}"#,
            "dst",
        ),
        (
            "POST",
            "/api/v1/firewall/allow",
            r#"{"src":"10.0.0.1","dst":"10.0.0.2","proto":"icmp"}"#,
            "proto",
        ),
        (
            "POST",
            "/api/v1/firewall/allow",
            r#"{"src":"10.0.0.1","dst":"10.0.0.2","proto":"tcp","port":70000}"#,
            "port",
        ),
        (
            "POST",
            "/api/v1/firewall/allow",
            r#"{"src":"10.0.0.1","dst":"10.0.0.2","port":80}"#,
            "proto",
        ),
        (
            "POST",
            "/api/v1/firewall/allow",
            r#"{"namespace":"a\" -j DROP","src":"10.0.0.1","dst":"10.0.0.2"}"#,
            "namespace",
        ),
        (
            "POST",
            "/api/v1/firewall/allow",
            r#"{"src":"10.0.0.1","dst":"10.0.0.2","id":"000000000000"}"#,
            "id",
        ),
        (
            "POST",
            "/api/v1/firewall/allow",
            r#"{"src":"10.0.0.1","dst":"10.0.0.2","extra":1}"#,
            "extra",
        ),
        ("POST", "/api/v1/firewall/allow", "not json", "body"),
        ("DELETE", "/api/v1/firewall/allow/xyz", "", "id"),
        (
            "POST",
            "/api/v1/firewall/allow/bulk",
            r#"{"rules":[{"src":"10.0.0.1","dst":"10.0.0.2"},{"src":"bad","dst":"10.0.0.2"}]}"#,
            "rules[1].src",
        ),
        (
            "POST",
            "/api/v1/firewall/reconcile",
            r#"{"namespace":"a b","rules":[]}"#,
            "namespace",
        ),
    ];
    for (method, path, body, field) in cases {
        let (code, resp) = c.request(method, path, Some(body));
        assert_eq!(code, 400, "{method} {path} {body}: {resp}");
        assert_eq!(json(&resp)["field"], field, "{body}: {resp}");
    }
    let (code, resp) = c.request("GET", "/api/v1/firewall/allow?namespace=a;b", None);
    assert_eq!(
        (code, json(&resp)["field"].clone()),
        (400, "namespace".into())
    );
    assert!(iptables_rules().is_empty(), "a bad bulk wrote nothing");
}

#[test]
fn firewall_off_answers_503_and_never_touches_the_kernel() {
    // Runs in the host netns on purpose: with COOLD_FIREWALL=off (the
    // support default) the agent must not write any chain.
    let c = Coold::start(&[]);
    let (code, body) = c.request("POST", "/api/v1/firewall/allow", Some(RULE));
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("COOLD_FIREWALL"));
}
