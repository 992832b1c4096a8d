//! `COOLD_SYNC_ENV_FILE`: sink credentials the `*_env` keys of a sync spec
//! may name, from a file instead of the agent's environment. A container's
//! environment is recorded by the engine and shown by `podman inspect`; a
//! file mounted read-only is not.
//!
//! Format: one `NAME=value` per line; blank lines and lines starting with
//! `#` are skipped; the value is everything after the first `=`, as is (no
//! quotes, no expansion). The file must not be readable by group or others.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::runner::EnvLookup;

#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("COOLD_SYNC_ENV_FILE={path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("COOLD_SYNC_ENV_FILE={path} line {line}: {reason}")]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// Parses the file's text; errors name the line, never a value.
pub fn parse(path: &Path, text: &str) -> Result<HashMap<String, String>, EnvFileError> {
    let mut vars = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: &str| EnvFileError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            reason: reason.to_string(),
        };
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=value"))?;
        let name = name.trim();
        let name_ok = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(bad("the name must be letters, digits and _"));
        }
        if vars.insert(name.to_string(), value.to_string()).is_some() {
            return Err(bad(&format!("{name} is set twice")));
        }
    }
    Ok(vars)
}

/// Reads the file once; the lookup answers from it, then from the agent's
/// environment.
pub fn lookup(path: &Path) -> Result<EnvLookup, EnvFileError> {
    let read_err = |reason: String| EnvFileError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| read_err(e.to_string()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(read_err(format!(
            "mode {:o} lets group or others read credentials; chmod 600 it",
            meta.permissions().mode() & 0o777
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| read_err(e.to_string()))?;
    let vars = parse(path, &text)?;
    Ok(std::sync::Arc::new(move |name| {
        vars.get(name).cloned().or_else(|| std::env::var(name).ok())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_read_as_written_and_comments_skipped() {
        let vars = parse(
            Path::new("/x"),
            "# sink\nSTATE_KEY=AKIA=1\n\n  STATE_SECRET= s p \n",
        )
        .unwrap();
        assert_eq!(vars["STATE_KEY"], "AKIA=1");
        assert_eq!(vars["STATE_SECRET"], " s p ");
    }

    #[test]
    fn a_bad_line_is_named_without_its_value() {
        for (text, line) in [("A=1\nno equals sign\n", 2), ("1A=x", 1), ("A=1\nA=2", 2)] {
            match parse(Path::new("/x"), text) {
                Err(EnvFileError::Line { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.env");
        std::fs::write(&path, "K=v\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(lookup(&path), Err(EnvFileError::Read { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = lookup(&path).unwrap();
        assert_eq!(env("K").as_deref(), Some("v"));
        assert_eq!(env("COOLIFY_SURELY_UNSET_VAR"), None);
    }
}
