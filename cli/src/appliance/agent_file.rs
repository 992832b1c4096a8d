//! `<config-dir>/agent.toml`: the agent's settings that `cp up` does not
//! decide itself, one key per `COOLD_*` variable (docs/agent-config.md).
//!
//! [`KEYS`] is the only list of them: the parser, the docs table's test
//! and the flags (`args/cp.rs`, which override the file) all go through
//! it. Values are checked here for their TOML type only; what a value
//! means is checked by `coolify-agent-config`, the parser coold itself
//! starts with, and an error there is turned back into this file's key and
//! line (`up.rs`).

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

/// What TOML type a key takes and how it becomes the variable's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string, passed as is.
    Text,
    /// A non-negative integer.
    Count,
    /// An integer or a float (`1`, `1.5`).
    Number,
    /// An array of strings, joined with `,`.
    List,
}

/// One key of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// `section.name`.
    pub name: &'static str,
    pub var: &'static str,
    pub kind: Kind,
}

const fn key(name: &'static str, var: &'static str, kind: Kind) -> Key {
    Key { name, var, kind }
}

/// Every key, grouped by concern as the agent's `settings` shows them.
pub const KEYS: [Key; 25] = [
    key(
        "containers.bind_allowlist",
        "COOLD_BIND_ALLOWLIST",
        Kind::List,
    ),
    key(
        "containers.allowed_runtimes",
        "COOLD_ALLOWED_RUNTIMES",
        Kind::List,
    ),
    key("containers.healthchecks", "COOLD_HEALTHCHECKS", Kind::Text),
    key(
        "discovery.endpoint_store",
        "COOLD_ENDPOINT_STORE",
        Kind::Text,
    ),
    key("discovery.corrosion_api", "COOLD_CORROSION_API", Kind::Text),
    key(
        "discovery.reconcile_interval",
        "COOLD_RECONCILE_INTERVAL",
        Kind::Text,
    ),
    key("dns.zone", "COOLD_DNS_ZONE", Kind::Text),
    key("dns.upstream", "COOLD_DNS_UPSTREAM", Kind::Text),
    key(
        "dns.upstream_timeout",
        "COOLD_DNS_UPSTREAM_TIMEOUT",
        Kind::Text,
    ),
    key("dns.port", "COOLD_DNS_PORT", Kind::Count),
    key("builds.network", "COOLD_BUILD_NETWORK", Kind::Text),
    key("builds.capacity", "COOLD_BUILDER_CAPACITY", Kind::Count),
    key("builds.warm", "COOLD_BUILD_WARM", Kind::Count),
    key("builds.cpus", "COOLD_BUILD_CPUS", Kind::Number),
    key("builds.memory", "COOLD_BUILD_MEMORY", Kind::Text),
    key("builds.timeout", "COOLD_BUILD_TIMEOUT", Kind::Text),
    key("builds.grace", "COOLD_BUILD_GRACE", Kind::Text),
    key("builds.keep", "COOLD_BUILD_KEEP", Kind::Text),
    key("builds.deny_cidrs", "COOLD_BUILD_DENY_CIDRS", Kind::List),
    key(
        "builds.static_base_image",
        "COOLD_BUILD_STATIC_BASE_IMAGE",
        Kind::Text,
    ),
    key("builds.builder_image", "COOLD_BUILDER_IMAGE", Kind::Text),
    key(
        "pools.refill_interval",
        "COOLD_POOL_REFILL_INTERVAL",
        Kind::Text,
    ),
    key("sync.rclone_bin", "COOLD_RCLONE_BIN", Kind::Text),
    key("sync.timeout", "COOLD_SYNC_TIMEOUT", Kind::Text),
    key("sync.env_file", "COOLD_SYNC_ENV_FILE", Kind::Text),
];

/// One setting read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: &'static Key,
    /// The variable's text.
    pub value: String,
    /// 1-based line of the value.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentFileError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} line {line}: {reason}")]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path} line {line}: {key}: {reason}")]
    Key {
        path: PathBuf,
        line: usize,
        key: String,
        reason: String,
    },
}

/// Reads the file; a missing file is no settings (the defaults hold).
pub fn read(path: &Path) -> Result<Vec<Entry>, AgentFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(AgentFileError::Read {
            path: path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        }),
    }
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, AgentFileError> {
    let root = DeTable::parse(text).map_err(|e| AgentFileError::Syntax {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
        reason: e.message().to_string(),
    })?;
    let key_err = |at: usize, key: &str, reason: String| AgentFileError::Key {
        path: path.to_path_buf(),
        line: line_of(text, at),
        key: key.to_string(),
        reason,
    };
    let mut entries = Vec::new();
    for (section, table) in root.get_ref().iter() {
        let section_name = section.get_ref().as_ref();
        let DeValue::Table(table) = table.get_ref() else {
            return Err(key_err(
                section.span().start,
                section_name,
                format!("expected a [section]: one of {}", sections().join(", ")),
            ));
        };
        for (name, value) in table.iter() {
            let full = format!("{section_name}.{}", name.get_ref());
            let Some(key) = KEYS.iter().find(|k| k.name == full) else {
                return Err(key_err(
                    name.span().start,
                    &full,
                    format!("unknown key; the keys are {}", names().join(", ")),
                ));
            };
            let at = value.span().start;
            let text_value =
                convert(key.kind, value.get_ref()).map_err(|reason| key_err(at, &full, reason))?;
            entries.push(Entry {
                key,
                value: text_value,
                line: line_of(text, at),
            });
        }
    }
    entries.sort_by_key(|e| e.line);
    Ok(entries)
}

fn convert(kind: Kind, v: &DeValue<'_>) -> Result<String, String> {
    let found = v.type_str();
    match (kind, v) {
        (Kind::Text, DeValue::String(s)) => Ok(s.to_string()),
        (Kind::Count, DeValue::Integer(i)) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.to_string())
            .ok_or_else(|| "expected a non-negative integer".to_string()),
        (Kind::Number, DeValue::Integer(i)) => Ok(i.as_str().to_string()),
        (Kind::Number, DeValue::Float(f)) => Ok(f.as_str().to_string()),
        (Kind::List, DeValue::Array(items)) => {
            let mut out = Vec::new();
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::String(s) if !s.contains(',') => out.push(s.to_string()),
                    DeValue::String(_) => return Err("an entry must not contain `,`".into()),
                    other => {
                        return Err(format!(
                            "expected an array of strings, found a {} in it",
                            other.type_str()
                        ))
                    }
                }
            }
            Ok(out.join(","))
        }
        (Kind::Text, _) => Err(format!("expected a string, found {found}")),
        (Kind::Count, _) => Err(format!("expected an integer, found {found}")),
        (Kind::Number, _) => Err(format!("expected a number, found {found}")),
        (Kind::List, _) => Err(format!("expected an array of strings, found {found}")),
    }
}

fn names() -> Vec<&'static str> {
    KEYS.iter().map(|k| k.name).collect()
}

fn sections() -> Vec<&'static str> {
    let mut s: Vec<&str> = KEYS
        .iter()
        .filter_map(|k| k.name.split_once('.').map(|(s, _)| s))
        .collect();
    s.dedup();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<(String, String, usize)>, AgentFileError> {
        parse(Path::new("/etc/coolify/agent.toml"), text).map(|es| {
            es.into_iter()
                .map(|e| (e.key.var.to_string(), e.value, e.line))
                .collect()
        })
    }

    #[test]
    fn keys_become_their_variables_with_lists_joined() {
        let got = parse_str(
            "# agent\n[containers]\nbind_allowlist = [\"/srv/a\", \"/srv/b\"]\n\n\
             [builds]\ncapacity = 3\ncpus = 1.5\nnetwork = \"git-net\"\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("COOLD_BIND_ALLOWLIST".into(), "/srv/a,/srv/b".into(), 3),
                ("COOLD_BUILDER_CAPACITY".into(), "3".into(), 6),
                ("COOLD_BUILD_CPUS".into(), "1.5".into(), 7),
                ("COOLD_BUILD_NETWORK".into(), "git-net".into(), 8),
            ]
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err =
            parse_str("[dns]\nzone = \"x.internal\"\nupstreams = \"1.1.1.1:53\"\n").unwrap_err();
        match err {
            AgentFileError::Key { line, key, .. } => {
                assert_eq!((line, key.as_str()), (3, "dns.upstreams"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wrong_type_is_named_with_its_key_and_line() {
        for (text, want_key, want_line) in [
            ("[builds]\n\ncapacity = \"two\"\n", "builds.capacity", 3),
            ("[builds]\ncapacity = -1\n", "builds.capacity", 2),
            (
                "[containers]\nallowed_runtimes = \"runc\"\n",
                "containers.allowed_runtimes",
                2,
            ),
            (
                "[containers]\nbind_allowlist = [\"/a,/b\"]\n",
                "containers.bind_allowlist",
                2,
            ),
            ("dns = 1\n", "dns", 1),
        ] {
            match parse_str(text) {
                Err(AgentFileError::Key { line, key, .. }) => {
                    assert_eq!((key.as_str(), line), (want_key, want_line), "{text:?}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_syntax_error_names_its_line_and_a_missing_file_is_no_settings() {
        match parse_str("[dns]\nzone = \n") {
            Err(AgentFileError::Syntax { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(read(Path::new("/nonexistent/agent.toml")), Ok(Vec::new()));
    }

    #[test]
    fn the_operators_doc_has_a_row_for_every_key_and_no_other() {
        let doc = include_str!("../../../docs/agent-config.md");
        let rows: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`').map(|(k, _)| k))
            .collect();
        let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(rows, keys, "docs/agent-config.md's table and KEYS differ");
        for k in KEYS {
            assert!(
                doc.contains(&format!("`{}`", k.var)),
                "{} undocumented",
                k.var
            );
        }
    }

    #[test]
    fn every_variable_has_one_key() {
        for k in KEYS {
            assert_eq!(
                KEYS.iter().filter(|o| o.var == k.var).count(),
                1,
                "{}",
                k.var
            );
            assert!(k.var.starts_with("COOLD_") && k.name.contains('.'));
        }
    }
}
