use std::collections::HashMap;

use super::*;

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

fn rejected_var(pairs: &[(&str, &str)]) -> &'static str {
    match config(pairs) {
        Err(ConfigError::Invalid { var, .. }) | Err(ConfigError::Missing { var, .. }) => var,
        Ok(c) => panic!("expected an error, got {c:?}"),
    }
}

const MGMT: (&str, &str) = ("COOLD_HOST_MGMT_IP", "100.64.0.5");

#[test]
fn defaults_follow_seed_000() {
    let c = config(&[MGMT]).expect("valid");
    assert_eq!(c.host_mgmt_ip, Ipv4Addr::new(100, 64, 0, 5));
    assert_eq!(c.namespaces.len(), 1);
    assert_eq!(c.namespaces[0].name, "default");
    assert_eq!(c.namespaces[0].network, "coolify-default-mesh");
    assert_eq!(c.broker_url, "grpcs://broker:6443/v1/agent");
    assert!(!c.builder_enabled);
    assert_eq!(c.api_bind, None);
    assert_eq!(c.rules_path, PathBuf::from("/etc/coolify/allow.rules"));
    assert_eq!(c.bridge_rules_path, PathBuf::from("/etc/coolify/allow.nft"));
    assert_eq!(c.reconcile_interval, Duration::from_secs(2));
    assert_eq!(c.dns_zone, "coolify.internal");
    assert_eq!(c.dns_upstream, "1.1.1.1:53".parse().unwrap());
    assert_eq!(c.dns_port, 53);
    assert_eq!(c.dns_upstream_timeout, Duration::from_secs(2));
    assert_eq!(c.health_bind, "127.0.0.1:8442".parse().unwrap());
    assert!(c.bind_allowlist.is_empty());
    assert_eq!(c.allowed_runtimes, ["runc", "crun", "runsc"]);
}

#[test]
fn bind_allowlist_and_runtimes_parse() {
    let c = config(&[
        MGMT,
        ("COOLD_BIND_ALLOWLIST", "/srv/apps/, /var/lib/coolify/binds"),
        ("COOLD_ALLOWED_RUNTIMES", "runc, runsc,runc"),
    ])
    .expect("valid");
    assert_eq!(
        c.bind_allowlist,
        [
            PathBuf::from("/srv/apps"),
            PathBuf::from("/var/lib/coolify/binds")
        ]
    );
    assert_eq!(c.allowed_runtimes, ["runc", "runsc"]);
}

#[test]
fn missing_mgmt_ip_is_named() {
    assert_eq!(rejected_var(&[]), "COOLD_HOST_MGMT_IP");
}

#[test]
fn each_bad_value_is_rejected_with_its_name() {
    let cases: &[(&str, &str)] = &[
        ("COOLD_HOST_MGMT_IP", "not-an-ip"),
        ("COOLD_HOST_MGMT_IP", "::1"),
        ("COOLD_NAMESPACES", "default"),
        ("COOLD_NAMESPACES", "a:net:1.2.3"),
        ("COOLD_NAMESPACES", "a b:net:10.0.0.1"),
        ("COOLD_NAMESPACES", "a:net:10.0.0.1,a:net2:10.0.1.1"),
        ("COOLD_BROKER_URL", "ftp://broker:6443"),
        ("COOLD_BROKER_URL", "grpcs:///v1/agent"),
        ("COOLD_BUILDER_ENABLED", "maybe"),
        ("COOLD_API_BIND", "nowhere"),
        ("COOLD_API_BIND", "no-such-iface0:8443"),
        ("COOLD_API_BIND", "127.0.0.1:99999"),
        ("COOLD_RULES_PATH", "relative/allow.rules"),
        ("COOLD_BRIDGE_RULES_PATH", "allow.nft"),
        ("COOLD_RECONCILE_INTERVAL", "soon"),
        ("COOLD_RECONCILE_INTERVAL", "0s"),
        ("COOLD_DNS_ZONE", "bad_zone!"),
        ("COOLD_DNS_UPSTREAM", "1.1.1.1"),
        ("COOLD_DNS_UPSTREAM_TIMEOUT", "0s"),
        ("COOLD_DNS_PORT", "0"),
        ("COOLD_DNS_PORT", "65536"),
        ("COOLD_HEALTH_BIND", "localhost"),
        ("COOLD_PODMAN_SOCKET", "podman.sock"),
        ("COOLD_DRAIN_TIMEOUT", "-1s"),
        ("COOLD_DATA_DIR", "data"),
        ("COOLD_HOST_ROOT", "host"),
        ("COOLD_ENDPOINT_STORE", "postgres"),
        ("COOLD_HEALTHCHECKS", "sometimes"),
        ("COOLD_BIND_ALLOWLIST", "relative/dir"),
        ("COOLD_BIND_ALLOWLIST", "/srv/apps,/srv/../etc"),
        ("COOLD_BIND_ALLOWLIST", "/"),
        ("COOLD_ALLOWED_RUNTIMES", "runc,run sc"),
        ("COOLD_ALLOWED_RUNTIMES", " , "),
        ("COOLD_ALLOWED_RUNTIMES", "runc;/bin/sh"),
        ("COOLD_RUNTIME_DIR", "runtimes"),
    ];
    for (var, value) in cases {
        let got = rejected_var(&[MGMT, (var, value)]);
        assert_eq!(&got, var, "{var}={value:?}");
    }
}

#[test]
fn api_bind_requires_a_token_file() {
    assert_eq!(
        rejected_var(&[MGMT, ("COOLD_API_BIND", "127.0.0.1:8443")]),
        "COOLD_API_TOKEN_FILE"
    );
}

#[test]
fn tls_needs_both_cert_and_key() {
    assert_eq!(
        rejected_var(&[MGMT, ("COOLD_TLS_CERT", "/c.pem")]),
        "COOLD_TLS_KEY"
    );
    assert_eq!(
        rejected_var(&[MGMT, ("COOLD_TLS_KEY", "/k.pem")]),
        "COOLD_TLS_CERT"
    );
}

#[test]
fn api_bind_accepts_an_interface_name() {
    let c = config(&[
        MGMT,
        ("COOLD_API_BIND", "lo:8443"),
        ("COOLD_API_TOKEN_FILE", "/etc/coolify/api-token"),
    ])
    .expect("lo has 127.0.0.1");
    assert_eq!(c.api_bind, Some("127.0.0.1:8443".parse().unwrap()));
}

#[test]
fn namespaces_parse_in_order() {
    let c = config(&[
        MGMT,
        (
            "COOLD_NAMESPACES",
            "default:coolify-default-mesh:198.18.0.1, alpha:coolify-alpha-mesh:198.18.1.1",
        ),
    ])
    .expect("valid");
    let names: Vec<_> = c.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["default", "alpha"]);
    assert_eq!(c.namespaces[1].gateway, Ipv4Addr::new(198, 18, 1, 1));
}

#[test]
fn empty_values_count_as_unset() {
    let c = config(&[MGMT, ("COOLD_DNS_ZONE", "  ")]).expect("valid");
    assert_eq!(c.dns_zone, "coolify.internal");
}

#[test]
fn firewall_is_on_unless_switched_off() {
    assert!(config(&[MGMT]).unwrap().firewall_enabled);
    assert!(
        !config(&[MGMT, ("COOLD_FIREWALL", "off")])
            .unwrap()
            .firewall_enabled
    );
    assert_eq!(
        rejected_var(&[MGMT, ("COOLD_FIREWALL", "maybe")]),
        "COOLD_FIREWALL"
    );
}

#[test]
fn corrosion_store_reads_its_address() {
    let c = config(&[
        MGMT,
        ("COOLD_ENDPOINT_STORE", "corrosion"),
        ("COOLD_CORROSION_API", "127.0.0.1:9090"),
    ])
    .expect("valid");
    assert_eq!(
        c.endpoint_store,
        StoreKind::Corrosion("127.0.0.1:9090".parse().unwrap())
    );
    assert_eq!(
        rejected_var(&[
            MGMT,
            ("COOLD_ENDPOINT_STORE", "corrosion"),
            ("COOLD_CORROSION_API", "nowhere")
        ]),
        "COOLD_CORROSION_API"
    );
}

#[test]
fn store_defaults_to_sqlite_and_agent_healthchecks() {
    let c = config(&[MGMT]).expect("valid");
    assert_eq!(c.endpoint_store, StoreKind::Sqlite);
    assert!(c.agent_healthchecks);
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/coolify"));
}

#[test]
fn broker_client_is_off_without_url_or_token() {
    assert_eq!(config(&[MGMT]).expect("valid").broker, None);
    let only_url = config(&[MGMT, ("COOLD_BROKER_URL", "grpcs://b:6443/v1/agent")]);
    assert_eq!(only_url.expect("valid").broker, None);
    let only_token = config(&[MGMT, ("COOLD_BROKER_TOKEN_FILE", "/etc/coolify/host.jwt")]);
    assert_eq!(only_token.expect("valid").broker, None);
}

#[test]
fn broker_link_needs_a_ca_for_tls() {
    let base = [
        MGMT,
        ("COOLD_BROKER_URL", "grpcs://b:6443/v1/agent"),
        ("COOLD_BROKER_TOKEN_FILE", "/etc/coolify/host.jwt"),
    ];
    assert_eq!(rejected_var(&base), "COOLD_BROKER_CA");
    let mut with_ca = base.to_vec();
    with_ca.push(("COOLD_BROKER_CA", "/etc/coolify/broker-ca.crt"));
    let link = config(&with_ca).expect("valid").broker.expect("on");
    assert_eq!(link.builder_capacity, 2);
    with_ca.push(("COOLD_BUILDER_CAPACITY", "0"));
    assert_eq!(rejected_var(&with_ca), "COOLD_BUILDER_CAPACITY");
}
