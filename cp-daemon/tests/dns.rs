//! Cluster DNS against the real Podman: a namespace network in
//! 198.18.0.0/15 with DNS disabled, the real coold binary serving it on a
//! test port, managed busybox containers, queries from the host and from
//! inside another container (busybox nslookup takes `server:port`).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use support::dns::{
    addresses, query, unique, wait_for, FakeUpstream, TestNetwork, FAKE_UPSTREAM_ANSWER,
};
use support::{free_port, http, Coold};

const NS: &str = "alpha";
const ZONE: &str = "coolify.internal";

/// coold serving `net` as namespace `alpha` on a free port, forwarding to a
/// fake upstream.
fn coold_for(net: &TestNetwork, upstream: &FakeUpstream) -> (Coold, SocketAddr) {
    let port = free_port();
    let c = Coold::start(&[
        (
            "COOLD_NAMESPACES",
            &format!("{NS}:{}:{}", net.name, net.gateway),
        ),
        ("COOLD_DNS_PORT", &port.to_string()),
        ("COOLD_DNS_UPSTREAM", &upstream.addr.to_string()),
        ("COOLD_DNS_UPSTREAM_TIMEOUT", "1s"),
        ("COOLD_RECONCILE_INTERVAL", "500ms"),
    ]);
    (c, SocketAddr::new(net.gateway.into(), port))
}

fn fqdn(container: &str) -> String {
    format!("{container}.{NS}.{ZONE}.")
}

/// The `dns-alpha` component of /healthz.
fn server_state(c: &Coold) -> String {
    let (_, body) = http(c.health, "GET", "/healthz", &[], None).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["components"]["dns-alpha"]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn container_name_resolves_from_the_host_and_from_another_container() {
    let upstream = FakeUpstream::start("127.0.0.71");
    let mut net = TestNetwork::create("dns-resolve", false);
    let (c, server) = coold_for(&net, &upstream);
    let web = unique("web");
    net.run_managed(&web, NS, &[]);
    let ip = podman_ip(&web, &net.name);

    // From the host: the answer carries the container's address, TTL 5.
    let reply = wait_for("an A answer from the host", Duration::from_secs(20), || {
        query(server, &fqdn(&web), RecordType::A, 1)
            .filter(|m| m.response_code() == ResponseCode::NoError && !m.answers().is_empty())
    });
    assert_eq!(addresses(&reply), vec![ip]);
    assert_eq!(reply.answers()[0].ttl(), 5);

    // Case-insensitive, AAAA NODATA, bare name NXDOMAIN, over the wire.
    let upper = query(server, &fqdn(&web).to_uppercase(), RecordType::A, 3).unwrap();
    assert_eq!(addresses(&upper), vec![ip]);
    let aaaa = query(server, &fqdn(&web), RecordType::AAAA, 3).unwrap();
    assert_eq!(aaaa.response_code(), ResponseCode::NoError);
    assert!(aaaa.answers().is_empty());
    let bare = query(server, &format!("{web}.{ZONE}."), RecordType::A, 3).unwrap();
    assert_eq!(bare.response_code(), ResponseCode::NXDomain);

    // TCP answers the same.
    let tcp = support::dns::query_tcp(server, &fqdn(&web), RecordType::A).expect("tcp answer");
    assert_eq!(addresses(&tcp), vec![ip]);

    // Out of zone from inside the bridge subnet (the host asks from the
    // gateway address): forwarded to the fake upstream.
    let fwd = query(server, "example.org.", RecordType::A, 3).unwrap();
    assert_eq!(addresses(&fwd), vec![FAKE_UPSTREAM_ANSWER]);

    // From inside another container on the bridge.
    let (ok, out) = net.run_once(&["nslookup", &fqdn(&web), &server.to_string()]);
    assert!(ok, "nslookup failed:\n{out}");
    assert!(out.contains(&ip.to_string()), "{out}");

    // The verbs say the same, and the counters moved.
    let (status, body) = c.request("GET", &format!("/api/v1/dns/lookup/{}", fqdn(&web)), None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["answers"][0], ip.to_string());
    assert_eq!(v["rcode"], "NOERROR");
    let (status, body) = c.request("GET", "/api/v1/dns/stats", None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["namespaces"][NS]["queries"].as_u64().unwrap() >= 5,
        "{body}"
    );
    assert!(
        v["namespaces"][NS]["forwarded"].as_u64().unwrap() >= 1,
        "{body}"
    );
    assert_eq!(v["namespaces"][NS]["server"], "healthy", "{body}");
    let (_, metrics) = http(c.health, "GET", "/metrics", &[], None).unwrap();
    assert!(
        metrics.contains("coold_dns_answers_total{namespace=\"alpha\",rcode=\"NXDOMAIN\"}"),
        "{metrics}"
    );
}

#[test]
fn malformed_packets_get_formerr_or_are_dropped_and_the_server_stays_up() {
    let upstream = FakeUpstream::start("127.0.0.72");
    let mut net = TestNetwork::create("dns-fuzz", false);
    let (_c, server) = coold_for(&net, &upstream);
    let web = unique("web");
    net.run_managed(&web, NS, &[]);
    wait_for("an A answer", Duration::from_secs(20), || {
        query(server, &fqdn(&web), RecordType::A, 1).filter(|m| !m.answers().is_empty())
    });

    let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let header = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let mut loop_ptr = header.to_vec();
    loop_ptr.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
    let mut wrong_counts = header.to_vec();
    wrong_counts[4] = 0xFF;
    let mut huge_label = header.to_vec();
    huge_label.extend_from_slice(&[0x7F, b'a', 0, 0, 1, 0, 1]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short", vec![1, 2, 3]),
        ("header only, one question claimed", header.to_vec()),
        ("compression loop", loop_ptr),
        ("wrong counts", wrong_counts),
        ("huge label", huge_label),
    ];
    let mut buf = [0u8; 512];
    for (what, bytes) in &cases {
        sock.send_to(bytes, server).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let m = hickory_proto::op::Message::from_vec(&buf[..n]).unwrap();
            assert_eq!(m.response_code(), ResponseCode::FormErr, "{what}");
            assert_eq!(m.id(), 0x1234, "{what}");
        } else {
            assert!(
                bytes.len() < 12,
                "{what}: a readable header deserves FORMERR"
            );
        }
    }
    // Still answering.
    let reply = query(server, &fqdn(&web), RecordType::A, 3).expect("server still up");
    assert!(!reply.answers().is_empty());
}

#[test]
fn bridge_teardown_and_return_rebinds_without_restarting_the_agent() {
    let upstream = FakeUpstream::start("127.0.0.73");
    let mut net = TestNetwork::create("dns-rebind", false);
    let (mut c, server) = coold_for(&net, &upstream);
    assert!(
        !net.bridge_up(),
        "netavark creates the bridge on first start"
    );
    assert!(
        server_state(&c).starts_with("waiting"),
        "{}",
        server_state(&c)
    );

    let first = unique("first");
    net.run_managed(&first, NS, &[]);
    wait_for(
        "an answer for the first container",
        Duration::from_secs(20),
        || query(server, &fqdn(&first), RecordType::A, 1).filter(|m| !m.answers().is_empty()),
    );

    // The last container stops: netavark deletes the bridge; the server
    // notices and goes back to waiting.
    support::dns::podman(&["stop", "-t", "0", &first]);
    wait_for("the bridge to go", Duration::from_secs(10), || {
        (!net.bridge_up()).then_some(())
    });
    wait_for("the server to wait again", Duration::from_secs(10), || {
        server_state(&c).starts_with("waiting").then_some(())
    });

    // A new container brings the bridge back, and the same agent binds
    // again and answers for it.
    let second = unique("second");
    net.run_managed(&second, NS, &[]);
    let ip = podman_ip(&second, &net.name);
    let reply = wait_for(
        "an answer after the rebind",
        Duration::from_secs(20),
        || query(server, &fqdn(&second), RecordType::A, 1).filter(|m| !m.answers().is_empty()),
    );
    assert_eq!(addresses(&reply), vec![ip]);
    assert!(
        server_state(&c).starts_with("bound"),
        "{}",
        server_state(&c)
    );
    assert!(
        c.child.try_wait().unwrap().is_none(),
        "agent never restarted"
    );
}

#[test]
fn unhealthy_container_drops_out_of_answers() {
    let upstream = FakeUpstream::start("127.0.0.74");
    let mut net = TestNetwork::create("dns-health", false);
    let (_c, server) = coold_for(&net, &upstream);
    let (web, bad) = (unique("web"), unique("bad"));
    // Healthy until /run/sick exists.
    let check = [
        "--health-cmd",
        "test ! -e /run/sick",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
    ];
    net.run_managed(&web, NS, &check);
    net.run_managed(
        &bad,
        NS,
        &[
            "--health-cmd",
            "false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
    );
    let ip = podman_ip(&web, &net.name);
    let reply = wait_for(
        "the healthy container's answer",
        Duration::from_secs(20),
        || query(server, &fqdn(&web), RecordType::A, 1).filter(|m| !m.answers().is_empty()),
    );
    assert_eq!(addresses(&reply), vec![ip]);
    // A container that never passes its check is never answered.
    let never = query(server, &fqdn(&bad), RecordType::A, 3).unwrap();
    assert_eq!(never.response_code(), ResponseCode::NXDomain);

    support::dns::podman(&["exec", &web, "touch", "/run/sick"]);
    wait_for(
        "the unhealthy container to drop out",
        Duration::from_secs(20),
        || {
            query(server, &fqdn(&web), RecordType::A, 1)
                .filter(|m| m.response_code() == ResponseCode::NXDomain)
        },
    );
}

/// The container's address on `network`.
fn podman_ip(container: &str, network: &str) -> std::net::Ipv4Addr {
    support::dns::podman(&[
        "inspect",
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        container,
    ])
    .parse()
    .unwrap()
}
