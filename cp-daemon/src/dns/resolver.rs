//! The answer rules of cluster DNS (seed 000, "Embedded cluster DNS"):
//!
//! - `<container>.<namespace>.<zone>` → A records of that container's
//!   resolvable endpoints, TTL 5 s, all of them, rotated per query;
//! - bare `<container>.<zone>` → NXDOMAIN, on purpose (names are always
//!   namespace-qualified, so tenants cannot shadow each other);
//! - AAAA (or any non-A type) for a known name → NODATA (IPv4 only);
//! - an unknown name in the zone → NXDOMAIN;
//! - names compare case-insensitively, the question is echoed as asked;
//! - out of zone → forward upstream (the caller decides whether it may).
//!
//! Pure: a request and a table in, a decision out. No I/O here; the listener
//! sends the reply or hands the query to the forwarder.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde::Serialize;

use super::table::ZoneTable;

/// TTL of every in-zone answer and of negative answers (via the SOA
/// minimum): short, because containers come and go, but never 0, which
/// defeats every cache between the client and us.
pub const TTL: u32 = 5;

/// The EDNS payload size we advertise (the DNS flag day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;

/// What the listener does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send this reply.
    Reply(Message),
    /// Out of zone: forward upstream (when the source may use the forwarder).
    Forward,
}

/// Where a name falls relative to the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    OutOfZone,
    /// The zone itself.
    Apex,
    /// `<namespace>.<zone>`.
    Namespace(String),
    /// `<container>.<zone>`: NXDOMAIN on purpose. Only distinguishable from
    /// `Namespace` by whether the label is a configured namespace.
    Bare(String),
    /// `<container>.<namespace>.<zone>`.
    Container {
        namespace: String,
        name: String,
    },
    /// More labels than any name in the zone has.
    TooDeep,
}

/// The answer to one name and type, and why: the lookup verb's body and the
/// resolver's single source of truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub rcode: String,
    pub answers: Vec<Ipv4Addr>,
    pub ttl: u32,
    pub reason: String,
    /// `forward`: an out-of-zone name the server forwards upstream.
    pub action: &'static str,
}

/// One namespace server's answer rules.
#[derive(Debug, Clone)]
pub struct Resolver {
    zone: Name,
    /// The namespace whose listener this resolver serves; `None` answers
    /// for every namespace (the lookup verb).
    namespace: Option<String>,
    /// Configured namespaces, to tell `<ns>.<zone>` from `<container>.<zone>`.
    namespaces: Vec<String>,
    soa: Record,
}

impl Resolver {
    /// `zone` is already validated by config (`COOLD_DNS_ZONE`).
    pub fn new(zone: &str, namespace: Option<&str>, namespaces: &[String]) -> Result<Self, String> {
        let zone = Name::from_ascii(zone)
            .map_err(|e| format!("COOLD_DNS_ZONE={zone:?}: {e}"))?
            .to_lowercase();
        let mut zone = zone;
        zone.set_fqdn(true);
        let soa_data = SOA::new(
            Name::from_ascii("ns")
                .and_then(|n| n.append_domain(&zone))
                .map_err(|e| e.to_string())?,
            Name::from_ascii("hostmaster")
                .and_then(|n| n.append_domain(&zone))
                .map_err(|e| e.to_string())?,
            1,
            3600,
            600,
            86400,
            TTL,
        );
        let soa = Record::from_rdata(zone.clone(), TTL, RData::SOA(soa_data));
        Ok(Resolver {
            zone,
            namespace: namespace.map(|n| n.to_ascii_lowercase()),
            namespaces: namespaces.iter().map(|n| n.to_ascii_lowercase()).collect(),
            soa,
        })
    }

    /// Where `name` falls in the zone.
    pub fn place(&self, name: &Name) -> Placement {
        let lower = name.to_lowercase();
        if !self.zone.zone_of(&lower) {
            return Placement::OutOfZone;
        }
        let extra =
            usize::from(lower.num_labels()).saturating_sub(usize::from(self.zone.num_labels()));
        let labels: Vec<String> = lower
            .iter()
            .take(extra)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        match labels.as_slice() {
            [] => Placement::Apex,
            [one] if self.namespaces.contains(one) => Placement::Namespace(one.clone()),
            [one] => Placement::Bare(one.clone()),
            [name, namespace] => Placement::Container {
                namespace: namespace.clone(),
                name: name.clone(),
            },
            _ => Placement::TooDeep,
        }
    }

    /// The answer for one name and type, and why.
    pub fn explain(&self, name: &Name, qtype: RecordType, table: &ZoneTable) -> Explanation {
        match self.rule(name, qtype, table) {
            None => Explanation {
                name: name.to_ascii(),
                record_type: qtype.to_string(),
                rcode: "forwarded".into(),
                answers: vec![],
                ttl: 0,
                reason: format!("outside {}: forwarded to the upstream resolver", self.zone),
                action: "forward",
            },
            Some((rcode, answers, reason)) => Explanation {
                name: name.to_ascii(),
                record_type: qtype.to_string(),
                rcode: super::stats::rcode_name(rcode).to_string(),
                ttl: TTL,
                answers,
                reason,
                action: "answer",
            },
        }
    }

    /// The rule that applies to `name`: `None` when it is out of zone.
    fn rule(
        &self,
        name: &Name,
        qtype: RecordType,
        table: &ZoneTable,
    ) -> Option<(ResponseCode, Vec<Ipv4Addr>, String)> {
        Some(match self.place(name) {
            Placement::OutOfZone => return None,
            Placement::Apex => (
                ResponseCode::NoError,
                vec![],
                "the zone apex has no A records".to_string(),
            ),
            Placement::Namespace(ns) => (
                ResponseCode::NoError,
                vec![],
                format!(
                    "{ns} is a namespace; ask for <container>.{ns}.{}",
                    self.zone
                ),
            ),
            Placement::Bare(c) => (
                ResponseCode::NXDomain,
                vec![],
                format!(
                    "bare names are NXDOMAIN on purpose: ask for {c}.<namespace>.{}",
                    self.zone
                ),
            ),
            Placement::TooDeep => (
                ResponseCode::NXDomain,
                vec![],
                "no name in the zone has more than <container>.<namespace> labels".to_string(),
            ),
            Placement::Container { namespace, name: c } => {
                if self
                    .namespace
                    .as_deref()
                    .is_some_and(|own| own != namespace)
                {
                    (
                        ResponseCode::NXDomain,
                        vec![],
                        format!("{namespace} is another namespace; its own server answers it"),
                    )
                } else {
                    match table.addresses(&namespace, &c) {
                        Some(ips) if matches!(qtype, RecordType::A | RecordType::ANY) => (
                            ResponseCode::NoError,
                            ips.to_vec(),
                            format!("{} resolvable endpoint(s)", ips.len()),
                        ),
                        Some(_) => (
                            ResponseCode::NoError,
                            vec![],
                            format!("NODATA: {qtype} is not served (IPv4 only)"),
                        ),
                        None => (
                            ResponseCode::NXDomain,
                            vec![],
                            table
                                .hidden_reason(&namespace, &c)
                                .map(|r| format!("no resolvable endpoint: {r}"))
                                .unwrap_or_else(|| {
                                    format!("no container {c} in namespace {namespace}")
                                }),
                        ),
                    }
                }
            }
        })
    }

    /// Decides the reply to a decoded request. `rotation` picks the first
    /// address of a multi-address answer (round robin across queries).
    pub fn respond(&self, req: &Message, table: &ZoneTable, rotation: usize) -> Decision {
        if req.op_code() != OpCode::Query {
            return Decision::Reply(reply(req, ResponseCode::NotImp, false));
        }
        // RFC 9619: a query has exactly one question; anything else is FORMERR.
        let [query] = req.queries() else {
            return Decision::Reply(reply(req, ResponseCode::FormErr, false));
        };
        let name = query.name();
        let Some((rcode, answers, _why)) = self.rule(name, query.query_type(), table) else {
            return Decision::Forward;
        };
        if query.query_class() != DNSClass::IN {
            return Decision::Reply(reply(req, ResponseCode::Refused, false));
        }
        let mut m = reply(req, rcode, true);
        if answers.is_empty() {
            // Negative answers carry the SOA, whose minimum (TTL 5) bounds
            // how long resolvers cache the "no such name".
            m.add_name_server(self.soa.clone());
        } else {
            let n = answers.len();
            for i in 0..n {
                let ip = answers[(i + rotation) % n];
                // The owner name is the question as asked (case preserved).
                m.add_answer(Record::from_rdata(name.clone(), TTL, RData::A(A(ip))));
            }
        }
        Decision::Reply(m)
    }
}

/// A reply skeleton: same id, opcode, RD and question; RA set because the
/// server forwards; EDNS answered when the client used it.
pub fn reply(req: &Message, rcode: ResponseCode, authoritative: bool) -> Message {
    let mut header = Header::response_from_request(req.header());
    header
        .set_message_type(MessageType::Response)
        .set_authoritative(authoritative)
        .set_recursion_available(true)
        .set_response_code(rcode);
    let mut m = Message::new();
    m.set_header(header);
    if rcode != ResponseCode::FormErr {
        m.add_queries(req.queries().iter().cloned());
    }
    if req.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(edns);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::table::test_endpoint as ep;
    use hickory_proto::op::Query;

    fn resolver() -> Resolver {
        Resolver::new(
            "coolify.internal",
            Some("alpha"),
            &["default".into(), "alpha".into()],
        )
        .unwrap()
    }

    fn table() -> ZoneTable {
        ZoneTable::from_endpoints(&[
            ep("a1", "web", "alpha", "198.18.0.2", "running", "healthy"),
            ep("a2", "web", "alpha", "198.18.0.3", "running", "unknown"),
            ep("a3", "web", "alpha", "198.18.0.4", "running", "unknown"),
            ep("b1", "sick", "alpha", "198.18.0.9", "running", "unhealthy"),
            ep("c1", "api", "default", "198.18.1.2", "running", "unknown"),
        ])
    }

    fn query(name: &str, qtype: RecordType) -> Message {
        let mut m = Message::new();
        m.set_id(4242).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m
    }

    fn answer(req: &Message, rotation: usize) -> Message {
        match resolver().respond(req, &table(), rotation) {
            Decision::Reply(m) => m,
            Decision::Forward => panic!("expected a reply, got Forward"),
        }
    }

    fn a_records(m: &Message) -> Vec<Ipv4Addr> {
        m.answers()
            .iter()
            .filter_map(|r| match r.data() {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn in_zone_name_answers_every_resolvable_endpoint_with_ttl_5() {
        let m = answer(&query("web.alpha.coolify.internal.", RecordType::A), 0);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(m.id(), 4242);
        assert!(m.authoritative());
        assert_eq!(m.message_type(), MessageType::Response);
        let mut got = a_records(&m);
        got.sort();
        assert_eq!(
            got,
            ["198.18.0.2", "198.18.0.3", "198.18.0.4"].map(|s| s.parse::<Ipv4Addr>().unwrap())
        );
        assert!(m.answers().iter().all(|r| r.ttl() == TTL));
        assert_eq!(TTL, 5);
    }

    #[test]
    fn round_robin_rotates_the_first_address() {
        let q = query("web.alpha.coolify.internal.", RecordType::A);
        let firsts: Vec<Ipv4Addr> = (0..3).map(|r| a_records(&answer(&q, r))[0]).collect();
        assert_eq!(
            firsts,
            ["198.18.0.2", "198.18.0.3", "198.18.0.4"].map(|s| s.parse::<Ipv4Addr>().unwrap())
        );
        assert_eq!(a_records(&answer(&q, 3))[0], firsts[0]);
    }

    #[test]
    fn aaaa_for_a_known_name_is_nodata() {
        let m = answer(&query("web.alpha.coolify.internal.", RecordType::AAAA), 0);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.answers().is_empty());
        assert_eq!(m.name_servers().len(), 1, "NODATA carries the SOA");
        assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    }

    #[test]
    fn bare_name_is_nxdomain() {
        let m = answer(&query("web.coolify.internal.", RecordType::A), 0);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
        assert!(m.answers().is_empty());
        let ex = resolver().explain(
            &Name::from_ascii("web.coolify.internal.").unwrap(),
            RecordType::A,
            &table(),
        );
        assert!(ex.reason.contains("on purpose"), "{}", ex.reason);
    }

    #[test]
    fn unknown_name_in_zone_is_nxdomain() {
        for n in [
            "nope.alpha.coolify.internal.",
            "a.b.alpha.coolify.internal.",
            "web.nosuchns.coolify.internal.",
        ] {
            let m = answer(&query(n, RecordType::A), 0);
            assert_eq!(m.response_code(), ResponseCode::NXDomain, "{n}");
        }
    }

    #[test]
    fn unhealthy_endpoint_is_not_answered() {
        let m = answer(&query("sick.alpha.coolify.internal.", RecordType::A), 0);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
        let ex = resolver().explain(
            &Name::from_ascii("sick.alpha.coolify.internal.").unwrap(),
            RecordType::A,
            &table(),
        );
        assert!(ex.reason.contains("unhealthy"), "{}", ex.reason);
    }

    #[test]
    fn names_are_case_insensitive_and_the_question_is_echoed_as_asked() {
        let m = answer(&query("WeB.ALPHA.Coolify.Internal.", RecordType::A), 0);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(a_records(&m).len(), 3);
        assert_eq!(
            m.queries()[0].name().to_ascii(),
            "WeB.ALPHA.Coolify.Internal."
        );
        assert_eq!(
            m.answers()[0].name().to_ascii(),
            "WeB.ALPHA.Coolify.Internal."
        );
    }

    #[test]
    fn another_namespaces_name_is_nxdomain_on_this_namespaces_server() {
        let m = answer(&query("api.default.coolify.internal.", RecordType::A), 0);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
        // The lookup verb (no own namespace) answers every namespace.
        let all = Resolver::new("coolify.internal", None, &["default".into()]).unwrap();
        let ex = all.explain(
            &Name::from_ascii("api.default.coolify.internal.").unwrap(),
            RecordType::A,
            &table(),
        );
        assert_eq!(ex.answers, vec!["198.18.1.2".parse::<Ipv4Addr>().unwrap()]);
    }

    #[test]
    fn namespace_and_apex_are_nodata() {
        for n in ["alpha.coolify.internal.", "coolify.internal."] {
            let m = answer(&query(n, RecordType::A), 0);
            assert_eq!(m.response_code(), ResponseCode::NoError, "{n}");
            assert!(m.answers().is_empty(), "{n}");
        }
    }

    #[test]
    fn out_of_zone_is_forwarded() {
        let d = resolver().respond(&query("example.org.", RecordType::A), &table(), 0);
        assert_eq!(d, Decision::Forward);
        // A suffix match that is not a label boundary is out of zone too.
        let d = resolver().respond(&query("xcoolify.internal.", RecordType::A), &table(), 0);
        assert_eq!(d, Decision::Forward);
    }

    #[test]
    fn zero_or_two_questions_are_formerr() {
        let mut none = query("web.alpha.coolify.internal.", RecordType::A);
        none.queries_mut().clear();
        assert_eq!(answer(&none, 0).response_code(), ResponseCode::FormErr);
        let mut two = query("web.alpha.coolify.internal.", RecordType::A);
        two.add_query(Query::query(
            Name::from_ascii("example.org.").unwrap(),
            RecordType::A,
        ));
        assert_eq!(answer(&two, 0).response_code(), ResponseCode::FormErr);
    }

    #[test]
    fn other_opcodes_are_notimp() {
        let mut m = query("web.alpha.coolify.internal.", RecordType::A);
        m.set_op_code(OpCode::Update);
        assert_eq!(answer(&m, 0).response_code(), ResponseCode::NotImp);
    }

    #[test]
    fn edns_is_answered_with_our_payload_size() {
        let mut q = query("web.alpha.coolify.internal.", RecordType::A);
        q.set_edns(Edns::new());
        let m = answer(&q, 0);
        assert_eq!(
            m.extensions().as_ref().map(|e| e.max_payload()),
            Some(EDNS_PAYLOAD)
        );
    }
}
