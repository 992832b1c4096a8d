//! The machinery behind the verb table (`api/verbs.rs`): from one list of
//! entries, [`verb_table!`] writes the `Verb` enum, its names, the router,
//! the dispatcher and the OpenAPI paths. The routing itself is here, as
//! plain functions over the table's entries (pure: no I/O).
//!
//! A path matches an entry segment by segment: a literal segment must be
//! equal, `{param}` takes one segment, and a `+ tail` entry's last
//! parameter takes every remaining segment (an image reference holds `/`).
//! Segments are percent-decoded first, so a `%2F` stays inside its
//! segment. When several entries match a path, the most literal one wins
//! (`firewall/allow/bulk` over `firewall/allow/{id}`); a path that matches
//! only under other methods is 405 naming them.

use std::sync::OnceLock;

use http::Method;

/// Every path of the agent surface lives under this prefix.
pub const API_PREFIX: &str = "/api/v1";

/// Why a request matched no verb.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no such verb: {path}")]
    NotFound { path: String },
    #[error("{method} is not allowed on {path} (allowed: {allowed})")]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: String,
    },
}

/// One row of the table as the router sees it.
pub struct Entry<V: 'static> {
    pub method: Method,
    /// The full path, with `{param}` segments (as OpenAPI writes it).
    pub path: &'static str,
    /// The last parameter takes the rest of the path.
    pub tail: bool,
    /// Builds the verb from the path's parameters, in order.
    pub make: fn(Vec<String>) -> V,
}

enum Segment {
    Literal(&'static str),
    Param,
}

/// An entry's path, split once (the first request compiles the table).
pub struct Compiled {
    segments: Vec<Segment>,
    literals: usize,
}

fn compile(path: &'static str) -> Compiled {
    let rest = path.strip_prefix(API_PREFIX).unwrap_or(path);
    let segments: Vec<Segment> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Segment::Param
            } else {
                Segment::Literal(s)
            }
        })
        .collect();
    let literals = segments
        .iter()
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count();
    Compiled { segments, literals }
}

/// The parameters `path` (decoded segments) gives `c`, or `None`.
fn matches(c: &Compiled, tail: bool, segs: &[String]) -> Option<Vec<String>> {
    let mut params = Vec::new();
    for (i, pattern) in c.segments.iter().enumerate() {
        let last = i + 1 == c.segments.len();
        match pattern {
            Segment::Literal(l) => {
                if segs.get(i).map(String::as_str) != Some(*l) {
                    return None;
                }
            }
            Segment::Param if last && tail => {
                let rest = segs.get(i..).filter(|r| !r.is_empty())?;
                params.push(rest.join("/"));
                return Some(params);
            }
            Segment::Param => params.push(segs.get(i)?.clone()),
        }
    }
    (segs.len() == c.segments.len()).then_some(params)
}

/// Decoded path segments under [`API_PREFIX`].
fn segments(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix(API_PREFIX)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let mut out = Vec::new();
    for seg in rest.trim_end_matches('/').split('/').skip(1) {
        let decoded = percent_decode(seg)?;
        // Empty, `.` and `..` segments name nothing in the closed set.
        if decoded.is_empty() || decoded == "." || decoded == ".." {
            return None;
        }
        out.push(decoded);
    }
    Some(out)
}

/// Maps a method and path (without query) to a verb of `table`.
pub fn route<V>(
    table: &'static [Entry<V>],
    compiled: &'static OnceLock<Vec<Compiled>>,
    method: &Method,
    path: &str,
) -> Result<V, RouteError> {
    let not_found = || RouteError::NotFound {
        path: path.to_string(),
    };
    let segs = segments(path).ok_or_else(not_found)?;
    let compiled = compiled.get_or_init(|| table.iter().map(|e| compile(e.path)).collect());
    let mut best: Option<usize> = None;
    let mut hit: Option<(&Entry<V>, Vec<String>)> = None;
    let mut allowed: Vec<&Method> = Vec::new();
    for (entry, c) in table.iter().zip(compiled) {
        let Some(params) = matches(c, entry.tail, &segs) else {
            continue;
        };
        match best {
            Some(b) if c.literals < b => continue,
            Some(b) if c.literals > b => {
                hit = None;
                allowed.clear();
            }
            _ => {}
        }
        best = Some(c.literals);
        if entry.method == *method && hit.is_none() {
            hit = Some((entry, params));
        } else if entry.method != *method {
            allowed.push(&entry.method);
        }
    }
    if let Some((entry, params)) = hit {
        return Ok((entry.make)(params));
    }
    if allowed.is_empty() {
        return Err(not_found());
    }
    // A fixed order, so the message does not depend on the table's.
    let order = [Method::GET, Method::POST, Method::PUT, Method::DELETE];
    allowed.sort_by_key(|m| order.iter().position(|o| o == *m).unwrap_or(order.len()));
    allowed.dedup();
    Err(RouteError::MethodNotAllowed {
        method: method.to_string(),
        path: path.to_string(),
        allowed: allowed
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Decodes `%XX` escapes; `None` for a broken escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The next path parameter; the router gives exactly as many as the entry
/// names, so the default is never used.
pub fn param(it: &mut std::vec::IntoIter<String>) -> String {
    it.next().unwrap_or_default()
}

/// Writes, from one table: the `Verb` enum (one variant per entry, its
/// path parameters as fields), `Verb::name` (stable, for logs and
/// metrics), `Verb::route`, the dispatcher `run` (each entry's handler,
/// called with the context, the request's input and the parameters), and
/// `VerbPaths`, the OpenAPI paths (each entry's own attributes).
macro_rules! verb_table {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident { $($field:ident),* } = $method:ident $path:literal $(+ $tail:ident)?
            => $name:literal, $handler:path,
            ($($openapi:tt)*);
    )*) => {
        /// One verb of the agent's wire surface, with its path parameters
        /// (already percent-decoded; checked by the handler that uses them).
        /// `strum::EnumCount` gives `Verb::COUNT` to the OpenAPI test.
        #[derive(Debug, Clone, PartialEq, Eq, strum::EnumCount)]
        pub enum Verb {
            $( $(#[doc = $doc])* $variant { $($field: String),* }, )*
        }

        static TABLE: &[$crate::api::verb_table::Entry<Verb>] = &[
            $( $crate::api::verb_table::Entry {
                method: $crate::api::verb_table::verb_table!(@method $method),
                path: $path,
                tail: $crate::api::verb_table::verb_table!(@tail $($tail)?),
                make: |params| {
                    let _it = &mut params.into_iter();
                    Verb::$variant { $($field: $crate::api::verb_table::param(_it)),* }
                },
            }, )*
        ];

        static COMPILED: std::sync::OnceLock<Vec<$crate::api::verb_table::Compiled>> =
            std::sync::OnceLock::new();

        impl Verb {
            /// Stable name for logs and metrics; never contains request data.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Verb::$variant { .. } => $name, )*
                }
            }

            /// Maps a method and path (without query) to a verb.
            pub fn route(method: &http::Method, path: &str) -> Result<Verb, RouteError> {
                $crate::api::verb_table::route(TABLE, &COMPILED, method, path)
            }
        }

        /// Runs `verb`'s handler.
        pub(super) async fn run(
            ctx: &super::context::AgentContext,
            verb: Verb,
            input: &super::dispatch::Input,
        ) -> Result<super::dispatch::Reply, super::error::ApiError> {
            match verb {
                $( Verb::$variant { $($field),* } => $handler(ctx, input $(, $field)*).await, )*
            }
        }

        /// The OpenAPI paths of every verb, from the table's own entries.
        #[allow(non_snake_case, dead_code)] // the stubs exist for their attributes only
        pub mod stubs {
            use super::*;

            $(
                #[utoipa::path($method, path = $path, operation_id = $name, $($openapi)*)]
                pub fn $variant() {}
            )*

            #[derive(utoipa::OpenApi)]
            #[openapi(paths($($variant),*))]
            pub struct VerbPaths;
        }
    };
    (@method get) => { http::Method::GET };
    (@method post) => { http::Method::POST };
    (@method put) => { http::Method::PUT };
    (@method delete) => { http::Method::DELETE };
    (@tail tail) => { true };
    (@tail) => { false };
}
pub(crate) use verb_table;

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        segments(p).expect("under the prefix")
    }

    #[test]
    fn params_take_one_segment_and_a_tail_takes_the_rest() {
        let c = compile("/api/v1/images/{ref}");
        assert_eq!(
            matches(&c, false, &segs("/api/v1/images/a")),
            Some(vec!["a".into()])
        );
        assert_eq!(matches(&c, false, &segs("/api/v1/images/a/b")), None);
        assert_eq!(
            matches(&c, true, &segs("/api/v1/images/a/b:1")),
            Some(vec!["a/b:1".into()])
        );
        assert_eq!(matches(&c, true, &segs("/api/v1/images")), None);
    }

    #[test]
    fn paths_outside_the_prefix_or_with_dot_segments_have_no_segments() {
        assert!(segments("/api/v1x/host").is_none());
        assert!(segments("/api/v1/a/../b").is_none());
        assert!(segments("/api/v1/a/%2E%2E").is_none());
        assert!(segments("/api/v1/a/%zz").is_none());
        assert_eq!(segs("/api/v1/a%2Fb/"), vec!["a/b".to_string()]);
    }
}
