//! The allow-rule tuple: validation, canonical form and [`RuleId`].
//!
//! Pure: no I/O. Canonicalisation (seed 000, byte-compatible with the Go
//! `coolify firewall` CLI) before hashing `namespace|src|dst|proto|port`:
//! - namespace: empty or absent → `default`;
//! - src, dst: IPv4 address or CIDR; a `/32` is written as the plain
//!   address (`10.0.0.5`), any other prefix as `a.b.c.d/len`; a CIDR with
//!   host bits set is refused rather than silently masked, because the
//!   kernel would mask it and the id would no longer describe the rule;
//! - proto: lowercased (`tcp`, `udp`), empty when absent;
//! - port: decimal (`80`), a range as `lo-hi` (`8000-8100`, `lo < hi`;
//!   `80-80` is `80`), `0` when absent; a port needs a proto.
//!
//! The id is the first 12 lowercase hex chars of sha256 of that string.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Namespace used when the caller gives none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Longest namespace accepted (a Podman network name segment).
const MAX_NAMESPACE_LEN: usize = 63;
/// Length of a rule id in hex characters.
pub const ID_LEN: usize = 12;

/// A bad field of a rule request; maps to HTTP 400 naming `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> RuleError {
    RuleError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// An IPv4 address with prefix length; `/32` is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, RuleError> {
        let hint = "expected an IPv4 address or CIDR such as 10.0.0.5 or 10.0.0.0/24";
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                // `u8::parse` would accept `+24`; only plain digits are a prefix.
                if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(field, format!("{s:?}: bad prefix length; {hint}")));
                }
                let prefix: u8 = p
                    .parse()
                    .map_err(|_| bad(field, format!("{s:?}: {hint}")))?;
                (a, prefix)
            }
            None => (s, 32),
        };
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| bad(field, format!("{s:?}: {hint}")))?;
        if prefix > 32 {
            return Err(bad(field, format!("{s:?}: prefix length must be 0-32")));
        }
        let net = Ipv4Net { addr, prefix };
        if net.masked() != addr {
            return Err(bad(
                field,
                format!(
                    "{s:?} has host bits set; did you mean {}/{prefix}?",
                    net.masked()
                ),
            ));
        }
        Ok(net)
    }

    fn masked(&self) -> Ipv4Addr {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        Ipv4Addr::from(u32::from(self.addr) & mask)
    }

    /// Always `a.b.c.d/len`, the form iptables prints.
    pub fn with_prefix(&self) -> String {
        format!("{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Display for Ipv4Net {
    /// The canonical form: plain address for a host, CIDR otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == 32 {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// Transport protocol of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(&self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    fn parse(s: &str) -> Result<Self, RuleError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(bad("proto", format!("{s:?}: expected tcp or udp"))),
        }
    }
}

/// A destination port or an inclusive range (`lo < hi`), never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    fn parse(s: &str) -> Result<Self, RuleError> {
        let hint = "expected a port 1-65535 or a range such as 8000-8100";
        let num = |p: &str| -> Result<u16, RuleError> {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("port", format!("{s:?}: {hint}")));
            }
            match p.parse::<u32>() {
                Ok(n @ 1..=65535) => Ok(n as u16),
                _ => Err(bad("port", format!("{s:?}: {hint}"))),
            }
        };
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let p = num(s)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(bad("port", format!("{s:?}: range start is above its end")));
        }
        Ok(PortRange { lo, hi })
    }

    pub fn is_single(&self) -> bool {
        self.lo == self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// A rule id: 12 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RuleId(String);

impl RuleId {
    /// Parses an id from a path or body; anything but 12 lowercase hex
    /// characters is refused.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, RuleError> {
        if s.len() == ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(RuleId(s.to_string()))
        } else {
            Err(bad(
                field,
                format!("{s:?}: a rule id is {ID_LEN} lowercase hex characters"),
            ))
        }
    }

    /// The id of a canonical tuple string.
    pub fn of_canonical(canonical: &str) -> Self {
        let digest = Sha256::digest(canonical.as_bytes());
        let mut hex = hex::encode(digest);
        hex.truncate(ID_LEN);
        RuleId(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated allow rule. Its id is derived, never stored apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    pub namespace: String,
    pub src: Ipv4Net,
    pub dst: Ipv4Net,
    pub proto: Option<Proto>,
    pub port: Option<PortRange>,
}

impl Rule {
    /// `namespace|src|dst|proto|port`, the string the id hashes.
    pub fn canonical(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.namespace,
            self.src,
            self.dst,
            self.proto.map(|p| p.as_str()).unwrap_or(""),
            self.port
                .map(|p| p.to_string())
                .unwrap_or_else(|| "0".into()),
        )
    }

    pub fn id(&self) -> RuleId {
        RuleId::of_canonical(&self.canonical())
    }

    /// Parses a canonical string back into a rule (the kernel comments and
    /// snapshots carry it). Strict: only the exact canonical form passes,
    /// so a hand-edited comment cannot smuggle in a different tuple.
    pub fn from_canonical(s: &str) -> Result<Rule, RuleError> {
        let parts: Vec<&str> = s.split('|').collect();
        let [ns, src, dst, proto, port] = parts.as_slice() else {
            return Err(bad("canonical", format!("{s:?}: expected 5 fields")));
        };
        let req = RuleRequest {
            namespace: Some((*ns).to_string()),
            src: Some((*src).to_string()),
            dst: Some((*dst).to_string()),
            proto: (!proto.is_empty()).then(|| (*proto).to_string()),
            port: (*port != "0").then(|| PortValue::Text((*port).to_string())),
            id: None,
        };
        let rule = req.validate()?;
        if rule.canonical() != s {
            return Err(bad("canonical", format!("{s:?} is not in canonical form")));
        }
        Ok(rule)
    }

    pub fn view(&self) -> RuleView {
        RuleView {
            id: self.id(),
            namespace: self.namespace.clone(),
            src: self.src.to_string(),
            dst: self.dst.to_string(),
            proto: self.proto.map(|p| p.as_str().to_string()),
            port: self.port.map(|p| p.to_string()),
        }
    }
}

/// Checks a namespace: letters, digits, `_`, `.`, `-`, starting with a
/// letter or digit. Why this strict: the namespace travels inside
/// iptables/nft comments and the `|`-separated canonical string, so quotes,
/// spaces, `|`, `;` or newlines must never reach them.
pub fn validate_namespace(ns: &str) -> Result<String, RuleError> {
    if ns.is_empty() {
        return Ok(DEFAULT_NAMESPACE.to_string());
    }
    let ok_first = ns.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = ns
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ns.len() > MAX_NAMESPACE_LEN || !ok_first || !ok_rest {
        return Err(bad(
            "namespace",
            format!(
                "{ns:?}: use 1-{MAX_NAMESPACE_LEN} letters, digits, '_', '.' or '-', starting with a letter or digit"
            ),
        ));
    }
    Ok(ns.to_string())
}

/// A port as JSON gives it: `80` or `"8000-8100"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PortValue {
    Number(u64),
    Text(String),
}

/// An allow rule as a caller sends it (REST body, bulk item, reconcile item).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortValue>,
    /// Optional: when given it must equal the tuple's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl RuleRequest {
    /// Validates every field; the error names the first bad one.
    pub fn validate(&self) -> Result<Rule, RuleError> {
        let namespace = validate_namespace(self.namespace.as_deref().unwrap_or(""))?;
        let src = Ipv4Net::parse(
            "src",
            self.src
                .as_deref()
                .ok_or_else(|| bad("src", "required: an IPv4 address or CIDR"))?,
        )?;
        let dst = Ipv4Net::parse(
            "dst",
            self.dst
                .as_deref()
                .ok_or_else(|| bad("dst", "required: an IPv4 address or CIDR"))?,
        )?;
        let proto = match self.proto.as_deref() {
            None | Some("") => None,
            Some(p) => Some(Proto::parse(p)?),
        };
        let port = match &self.port {
            None => None,
            Some(PortValue::Number(0)) => None,
            Some(PortValue::Number(n)) => Some(PortRange::parse(&n.to_string())?),
            Some(PortValue::Text(t)) if t.is_empty() || t == "0" => None,
            Some(PortValue::Text(t)) => Some(PortRange::parse(t)?),
        };
        if port.is_some() && proto.is_none() {
            return Err(bad("proto", "a port needs a proto (tcp or udp)"));
        }
        let rule = Rule {
            namespace,
            src,
            dst,
            proto,
            port,
        };
        if let Some(given) = &self.id {
            let given = RuleId::parse("id", given)?;
            let actual = rule.id();
            if given != actual {
                return Err(bad(
                    "id",
                    format!(
                        "{given} does not match the tuple {:?} (its id is {actual})",
                        rule.canonical()
                    ),
                ));
            }
        }
        Ok(rule)
    }
}

/// A rule as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleView {
    /// First 12 hex characters of sha256("namespace|src|dst|proto|port").
    #[schema(value_type = String)]
    pub id: RuleId,
    pub namespace: String,
    pub src: String,
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RuleId::parse("id", &s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ns: &str, src: &str, dst: &str, proto: &str, port: Option<PortValue>) -> RuleRequest {
        RuleRequest {
            namespace: Some(ns.into()),
            src: Some(src.into()),
            dst: Some(dst.into()),
            proto: Some(proto.into()),
            port,
            id: None,
        }
    }

    #[test]
    fn canonicalisation_follows_the_documented_rules() {
        let cases = [
            (
                req(
                    "",
                    "10.0.0.5/32",
                    "10.0.1.0/24",
                    "TCP",
                    Some(PortValue::Number(80)),
                ),
                "default|10.0.0.5|10.0.1.0/24|tcp|80",
            ),
            (
                req("alpha", "10.0.0.5", "10.0.0.6", "", None),
                "alpha|10.0.0.5|10.0.0.6||0",
            ),
            (
                req(
                    "a",
                    "0.0.0.0/0",
                    "10.0.0.6",
                    "udp",
                    Some(PortValue::Text("53-60".into())),
                ),
                "a|0.0.0.0/0|10.0.0.6|udp|53-60",
            ),
            (
                req(
                    "a",
                    "1.2.3.4",
                    "5.6.7.8",
                    "udp",
                    Some(PortValue::Text("53-53".into())),
                ),
                "a|1.2.3.4|5.6.7.8|udp|53",
            ),
            (
                req("a", "1.2.3.4", "5.6.7.8", "udp", Some(PortValue::Number(0))),
                "a|1.2.3.4|5.6.7.8|udp|0",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(r.validate().unwrap().canonical(), want);
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: Vec<(RuleRequest, &str)> = vec![
            (req("a b", "1.2.3.4", "1.2.3.5", "tcp", None), "namespace"),
            (req("a\"b", "1.2.3.4", "1.2.3.5", "tcp", None), "namespace"),
            (req("a|b", "1.2.3.4", "1.2.3.5", "tcp", None), "namespace"),
            (req("a;b", "1.2.3.4", "1.2.3.5", "tcp", None), "namespace"),
            (req("a\nb", "1.2.3.4", "1.2.3.5", "tcp", None), "namespace"),
            (req("-a", "1.2.3.4", "1.2.3.5", "tcp", None), "namespace"),
            (
                req(&"n".repeat(64), "1.2.3.4", "1.2.3.5", "tcp", None),
                "namespace",
            ),
            (req("a", "1.2.3", "1.2.3.5", "tcp", None), "src"),
            (req("a", "1.2.3.4/33", "1.2.3.5", "tcp", None), "src"),
            (req("a", "1.2.3.4/+8", "1.2.3.5", "tcp", None), "src"),
            (req("a", "10.0.0.5/24", "1.2.3.5", "tcp", None), "src"),
            (req("a", "::1", "1.2.3.5", "tcp", None), "src"),
            (req("a", "1.2.3.4", "1.2.3.5/", "tcp", None), "dst"),
            (req("a", "1.2.3.4", "1.2.3.5", "icmp", None), "proto"),
            (
                req(
                    "a",
                    "1.2.3.4",
                    "1.2.3.5",
                    "tcp",
                    Some(PortValue::Number(65536)),
                ),
                "port",
            ),
            (
                req(
                    "a",
                    "1.2.3.4",
                    "1.2.3.5",
                    "tcp",
                    Some(PortValue::Text("90-80".into())),
                ),
                "port",
            ),
            (
                req(
                    "a",
                    "1.2.3.4",
                    "1.2.3.5",
                    "tcp",
                    Some(PortValue::Text("+80".into())),
                ),
                "port",
            ),
            (
                req(
                    "a",
                    "1.2.3.4",
                    "1.2.3.5",
                    "tcp",
                    Some(PortValue::Text("80;x".into())),
                ),
                "port",
            ),
            (
                req("a", "1.2.3.4", "1.2.3.5", "", Some(PortValue::Number(80))),
                "proto",
            ),
        ];
        for (r, field) in cases {
            let err = r.validate().unwrap_err();
            assert_eq!(err.field, field, "{r:?}: {err}");
        }
        let missing = RuleRequest::default();
        assert_eq!(missing.validate().unwrap_err().field, "src");
    }

    #[test]
    fn a_caller_supplied_id_must_match_the_hash() {
        let mut r = req(
            "a",
            "1.2.3.4",
            "1.2.3.5",
            "tcp",
            Some(PortValue::Number(80)),
        );
        let id = r.validate().unwrap().id();
        r.id = Some(id.to_string());
        assert!(r.validate().is_ok());
        r.id = Some("000000000000".into());
        assert_eq!(r.validate().unwrap_err().field, "id");
        r.id = Some("ABCDEF012345".into());
        assert_eq!(r.validate().unwrap_err().field, "id");
    }

    #[test]
    fn id_is_first_12_hex_of_sha256_of_the_canonical_string() {
        // sha256("default|10.0.0.5|10.0.1.0/24|tcp|80"), computed with sha256sum.
        let r = req(
            "",
            "10.0.0.5",
            "10.0.1.0/24",
            "tcp",
            Some(PortValue::Number(80)),
        );
        let id = r.validate().unwrap().id();
        assert_eq!(id.as_str().len(), 12);
        assert_eq!(
            id,
            RuleId::of_canonical("default|10.0.0.5|10.0.1.0/24|tcp|80")
        );
    }

    #[test]
    fn canonical_round_trips_and_refuses_non_canonical_forms() {
        for s in [
            "default|10.0.0.5|10.0.1.0/24|tcp|80",
            "alpha|0.0.0.0/0|10.0.0.6||0",
            "a|1.2.3.4|5.6.7.8|udp|53-60",
        ] {
            assert_eq!(Rule::from_canonical(s).unwrap().canonical(), s);
        }
        for s in [
            "default|10.0.0.5/32|10.0.1.0/24|tcp|80",
            "|10.0.0.5|10.0.1.0/24|tcp|80",
            "default|10.0.0.5|10.0.1.0/24|TCP|80",
            "default|10.0.0.5|10.0.1.0/24|tcp|80|x",
            "default|10.0.0.5|10.0.1.0/24|tcp|080",
        ] {
            assert!(Rule::from_canonical(s).is_err(), "{s}");
        }
    }

    #[test]
    fn rule_ids_parse_strictly() {
        assert!(RuleId::parse("id", "0123456789ab").is_ok());
        for s in [
            "0123456789a",
            "0123456789abc",
            "0123456789aG",
            "../../etc/x",
        ] {
            assert!(RuleId::parse("id", s).is_err(), "{s}");
        }
    }
}
