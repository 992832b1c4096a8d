//! Decoding of request bodies and query strings into our own types, with
//! errors that name the field at fault (DESIGN.md decision 10).
//!
//! Pure: no I/O here.

use std::str::FromStr;

use hickory_proto::rr::RecordType;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::containers::LogsQuery;

/// Parses a JSON body into `T`. An empty body reads as `{}`, so verbs whose
/// body is all optional (`stop {timeout?}`) accept none. Errors name the
/// path of the offending field (`mounts[0].target`), or `body` when the
/// JSON itself is broken.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path == "?" || path.is_empty() {
            // serde reports a missing or unknown field by name in the
            // message only; lift the name out so callers can branch on it.
            quoted_field(&inner.to_string()).unwrap_or_else(|| "body".to_string())
        } else {
            path
        };
        ApiError::bad_request(field, format!("invalid request body: {inner}"))
    })
}

/// The first backquoted name in a serde message (`missing field `image``).
fn quoted_field(msg: &str) -> Option<String> {
    if !(msg.starts_with("missing field") || msg.starts_with("unknown field")) {
        return None;
    }
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

/// `k=v&k2=v2` pairs, percent- and `+`-decoded. A broken escape is a 400
/// naming the key.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            let s = s.replace('+', " ");
            let bytes = s.as_bytes();
            let mut buf = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' {
                    let hex = s.get(i + 1..i + 3)?;
                    buf.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                } else {
                    buf.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(buf).ok()
        };
        let key = decode(k).ok_or_else(|| ApiError::bad_request("query", "bad escape"))?;
        let value = decode(v)
            .ok_or_else(|| ApiError::bad_request(key.clone(), "bad escape in the value"))?;
        out.push((key, value));
    }
    Ok(out)
}

/// A boolean query flag: `true/false/1/0`, absent = `false`.
pub fn query_flag(pairs: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == key) {
        None => Ok(false),
        Some((_, v)) => match v.as_str() {
            "" | "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(ApiError::bad_request(
                key,
                format!("{key} must be true or false"),
            )),
        },
    }
}

/// The last value of `key`, if present.
pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The query of `GET /containers/{id}/logs`: `tail` (a count or `all`),
/// `since` (unix seconds), `follow` and `timestamps`.
pub fn logs_query(query: &str) -> Result<LogsQuery, ApiError> {
    let pairs = query_pairs(query)?;
    let tail = match query_value(&pairs, "tail") {
        None | Some("all") => "all".to_string(),
        Some(n) => n
            .parse::<u32>()
            .map_err(|_| ApiError::bad_request("tail", "tail must be a line count or `all`"))?
            .to_string(),
    };
    let since = match query_value(&pairs, "since") {
        None => 0,
        Some(s) => s.parse::<i32>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            ApiError::bad_request(
                "since",
                "since must be unix seconds (a non-negative integer)",
            )
        })?,
    };
    Ok(LogsQuery {
        follow: query_flag(&pairs, "follow")?,
        timestamps: query_flag(&pairs, "timestamps")?,
        tail,
        since,
    })
}

/// The query of `GET /dns/lookup/{name}`: `type=` (default A) is the only
/// parameter.
pub fn dns_lookup_query(query: Option<&str>) -> Result<RecordType, ApiError> {
    let mut qtype = RecordType::A;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("type", v)) => {
                qtype = RecordType::from_str(&v.to_ascii_uppercase()).map_err(|_| {
                    ApiError::BadRequest {
                        field: "type".into(),
                        message: format!("type: unknown record type {v:?} (A, AAAA, …)"),
                    }
                })?
            }
            _ => {
                return Err(ApiError::BadRequest {
                    field: "query".into(),
                    message: format!("query: unknown parameter {pair:?}; only type= is accepted"),
                })
            }
        }
    }
    Ok(qtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        image: String,
        #[serde(default)]
        ports: Vec<Port>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Port {
        container_port: u16,
    }

    fn field_of(body: &str) -> String {
        match json::<Probe>(body.as_bytes()) {
            Err(ApiError::BadRequest { field, .. }) => field,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of("{"), "body");
        assert_eq!(field_of("[]"), "body");
        assert_eq!(field_of("{}"), "image");
        assert_eq!(field_of(r#"{"image":1}"#), "image");
        assert_eq!(
            field_of(r#"{"image":"x","privileged2":true}"#),
            "privileged2"
        );
        assert_eq!(
            field_of(r#"{"image":"x","ports":[{"container_port":70000}]}"#),
            "ports[0].container_port"
        );
    }

    #[test]
    fn query_pairs_decode_and_flags_parse() {
        let q = query_pairs("follow=true&tail=10&since=a%20b&x").unwrap();
        assert!(query_flag(&q, "follow").unwrap());
        assert!(query_flag(&q, "x").unwrap());
        assert!(!query_flag(&q, "timestamps").unwrap());
        assert_eq!(query_value(&q, "since"), Some("a b"));
        let bad = query_pairs("follow=maybe").unwrap();
        assert!(query_flag(&bad, "follow").is_err());
        assert!(query_pairs("a=%zz").is_err());
    }

    #[test]
    fn logs_query_parses_and_names_bad_fields() {
        let q = logs_query("follow=true&tail=5&since=10&timestamps=1").unwrap();
        assert_eq!(
            q,
            LogsQuery {
                follow: true,
                timestamps: true,
                tail: "5".into(),
                since: 10
            }
        );
        assert_eq!(logs_query("").unwrap().tail, "all");
        for (q, field) in [
            ("tail=x", "tail"),
            ("since=-1", "since"),
            ("follow=2", "follow"),
        ] {
            match logs_query(q) {
                Err(ApiError::BadRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{q}: {other:?}"),
            }
        }
    }

    #[test]
    fn register_body_errors_name_the_field() {
        let e = json::<crate::discovery::verbs::RegisterRequest>(br#"{"container_id":"x"}"#)
            .unwrap_err();
        assert!(
            matches!(e, ApiError::BadRequest { ref field, .. } if field == "service_id"),
            "{e}"
        );
        let e = json::<crate::discovery::verbs::RegisterRequest>(
            br#"{"service_id":"web","container_id":"x","ports":["80"]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, ApiError::BadRequest { ref field, .. } if field.starts_with("ports")),
            "{e}"
        );
        let e = json::<crate::discovery::verbs::RegisterRequest>(
            br#"{"service_id":"web","container_id":"x","extra":1}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, ApiError::BadRequest { ref field, .. } if field == "extra"),
            "{e}"
        );
        let e = json::<crate::discovery::verbs::RegisterRequest>(b"not json").unwrap_err();
        assert!(matches!(e, ApiError::BadRequest { .. }), "{e}");
    }
}
