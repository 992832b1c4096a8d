//! Text (YAML, or JSON, which YAML reads too) → [`WorkloadSpec`], with
//! errors that name the key and the line.
//!
//! Pure: no I/O. Decoding errors carry their key path from
//! `serde_path_to_error` and their line from the YAML parser; semantic
//! errors found after decoding get their line from [`line_of`].

use super::spec::WorkloadSpec;

/// A spec the agent refuses: the key at fault, where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{field}: {message}", source_prefix(.source_name, *.line))]
pub struct SpecError {
    /// Dotted key path, e.g. `pool.min_size` or `healthcheck.interval`.
    pub field: String,
    pub message: String,
    /// 1-based line in the source text, when known.
    pub line: Option<usize>,
    /// The file the spec came from (empty for a request body).
    pub source_name: String,
    /// True when policy (the deny filter) refuses it rather than syntax.
    pub denied: bool,
}

fn source_prefix(name: &str, line: Option<usize>) -> String {
    match (name.is_empty(), line) {
        (true, Some(l)) => format!("line {l}: "),
        (false, Some(l)) => format!("{name}:{l}: "),
        (false, None) => format!("{name}: "),
        (true, None) => String::new(),
    }
}

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError {
            field: field.into(),
            message: message.into(),
            line: None,
            source_name: String::new(),
            denied: false,
        }
    }

    pub fn denied(field: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError {
            denied: true,
            ..SpecError::new(field, message)
        }
    }

    /// Fills in the line from the source text when not known yet.
    pub fn located(mut self, text: &str) -> SpecError {
        if self.line.is_none() {
            self.line = line_of(text, &self.field);
        }
        self
    }

    pub fn in_file(mut self, name: &str) -> SpecError {
        self.source_name = name.to_string();
        self
    }
}

/// Decodes a spec. Unknown keys, wrong types, bad durations and sizes are
/// refused here; cross-field rules are [`super::validate`]'s.
pub fn parse(text: &str) -> Result<WorkloadSpec, SpecError> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(SpecError::new(
            "spec",
            format!("spec is larger than {MAX_SPEC_BYTES} bytes"),
        ));
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, WorkloadSpec>(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.location().map(|l| l.line());
        let raw = inner.to_string();
        // The parser appends "at line N column M"; the line is ours to say.
        let mut message = match raw.find(" at line ") {
            Some(i) => raw[..i].to_string(),
            None => raw,
        };
        // It also prefixes its own path (`pool: unknown field …`); the
        // field is ours to say too.
        if let Some((head, rest)) = message.split_once(": ") {
            if !head.is_empty() && !head.contains(' ') {
                message = rest.to_string();
            }
        }
        let field = field_of(&path, &message);
        SpecError {
            line: line.or_else(|| line_of(text, &field)),
            field,
            message,
            source_name: String::new(),
            denied: false,
        }
    })
}

/// Specs are small; a larger body is a mistake or an attack.
const MAX_SPEC_BYTES: usize = 256 * 1024;

/// The key an error is about: the path serde reached, plus the unknown or
/// missing key's own name, which only the message holds.
fn field_of(path: &str, message: &str) -> String {
    let base = if path == "." { "" } else { path };
    let named = ["unknown field `", "missing field `"].iter().find_map(|p| {
        let start = message.find(p)? + p.len();
        let end = message[start..].find('`')? + start;
        Some(&message[start..end])
    });
    match (base.is_empty(), named) {
        (false, Some(n)) if base == n || base.ends_with(&format!(".{n}")) => base.to_string(),
        (true, Some(n)) => n.to_string(),
        (false, Some(n)) => format!("{base}.{n}"),
        (true, None) => "spec".to_string(),
        (false, None) => base.to_string(),
    }
}

/// Best-effort line of a dotted key in block YAML: each segment is looked
/// for after the previous one's line, indented deeper. Sequence indices
/// (`ports[1]`) match the parent key. `None` for flow or JSON text where
/// the key cannot be found this way.
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    let mut from = 0usize;
    let mut indent: Option<usize> = None;
    let mut found: Option<usize> = None;
    for seg in field.split('.') {
        let key = seg.split('[').next().unwrap_or(seg);
        if key.is_empty() {
            continue;
        }
        let mut hit = None;
        for (i, line) in text.lines().enumerate().skip(from) {
            let trimmed = line.trim_start();
            let depth = line.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            // Left the parent's block: the key is not under it.
            if indent.is_some_and(|parent| depth <= parent) {
                break;
            }
            let body = trimmed.trim_start_matches("- ");
            let quoted = [format!("{key}:"), format!("\"{key}\":")];
            if quoted.iter().any(|q| body.starts_with(q.as_str())) {
                hit = Some((i, depth));
                break;
            }
        }
        let (i, depth) = hit?;
        found = Some(i + 1);
        from = i + 1;
        indent = Some(depth);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
id: worker
image: localhost/w:1
volumes:
  state:
    target: /data
  secrets:
    target: /secrets
    read_only: true
healthcheck:
  test: [CMD, 'true']
  interval: 1s
pool:
  min_size: 1
  max_size: 3
  idle_timeout: 10m
";

    #[test]
    fn the_seed_shape_parses() {
        let s = parse(GOOD).expect("parse");
        assert_eq!(s.id, "worker");
        assert_eq!(s.pool.max_size, 3);
        assert_eq!(
            s.healthcheck.and_then(|h| h.interval).map(|d| d.0),
            Some(std::time::Duration::from_secs(1))
        );
    }

    #[test]
    fn json_parses_too() {
        let s = parse(r#"{"id": "w", "image": "localhost/w:1", "pool": {"min_size": 0}}"#)
            .expect("parse");
        assert_eq!(s.pool.min_size, 0);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = GOOD.replace("  max_size: 3\n", "  max_size: 3\n  maxsize: 4\n");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field, "pool.maxsize", "{e}");
        assert_eq!(e.line, Some(15), "{e}");
    }

    #[test]
    fn bad_duration_is_named_with_its_line() {
        let e = parse(&GOOD.replace("interval: 1s", "interval: soon")).unwrap_err();
        assert_eq!(e.field, "healthcheck.interval", "{e}");
        assert_eq!(e.line, Some(11), "{e}");
        assert!(e.message.contains("bad duration"), "{e}");
    }

    #[test]
    fn line_of_walks_nested_keys() {
        assert_eq!(line_of(GOOD, "pool.max_size"), Some(14));
        assert_eq!(line_of(GOOD, "volumes.secrets.target"), Some(7));
        assert_eq!(line_of(GOOD, "volumes.state.target"), Some(5));
        assert_eq!(line_of(GOOD, "nope"), None);
    }

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        use super::super::spec::parse_size;
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert!(parse_size("2X").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }
}
