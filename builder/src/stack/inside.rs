//! Resolving a spec path against the checkout, symlinks included: the
//! lexical check in `spec` cannot see a link that points out of the repo.

use std::path::{Path, PathBuf};

use crate::error::BuildError;
use crate::spec::RepoPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Dir,
    File,
}

/// The real path of `path` in `checkout`, refused when it is missing, of
/// the wrong kind, or resolves outside the checkout.
pub fn resolve_inside(
    checkout: &Path,
    field: &str,
    path: &RepoPath,
    want: Want,
) -> Result<PathBuf, BuildError> {
    let root = checkout.canonicalize().map_err(|e| {
        BuildError::io(
            crate::error::Stage::Detect,
            format!("checkout {}: {e}", checkout.display()),
        )
    })?;
    let shown = path.display();
    let real = root.join(path.as_path()).canonicalize().map_err(|_| {
        BuildError::bad_spec(format!(
            "{field} {shown:?} does not exist in the repository at this ref"
        ))
    })?;
    if !real.starts_with(&root) {
        return Err(BuildError::bad_spec(format!(
            "{field} {shown:?} resolves outside the repository (through a symlink)"
        )));
    }
    let meta = std::fs::metadata(&real)
        .map_err(|e| BuildError::bad_spec(format!("{field} {shown:?}: {e}")))?;
    match want {
        Want::Dir if !meta.is_dir() => Err(BuildError::bad_spec(format!(
            "{field} {shown:?} is not a directory"
        ))),
        Want::File if !meta.is_file() => Err(BuildError::bad_spec(format!(
            "{field} {shown:?} is not a file"
        ))),
        _ => Ok(real),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn symlink_out_of_checkout_is_bad_spec() {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("src");
        std::fs::create_dir(&checkout).unwrap();
        std::os::unix::fs::symlink("/etc", checkout.join("site")).unwrap();
        std::os::unix::fs::symlink("../", checkout.join("up")).unwrap();
        for name in ["site", "up"] {
            let p = RepoPath::parse("publish_dir", name).unwrap();
            let err = resolve_inside(&checkout, "publish_dir", &p, Want::Dir).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadSpec);
            assert!(err.message.contains("outside"), "{}", err.message);
        }
    }

    #[test]
    fn symlink_inside_checkout_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dist")).unwrap();
        std::os::unix::fs::symlink("dist", dir.path().join("public")).unwrap();
        let p = RepoPath::parse("publish_dir", "public").unwrap();
        let real = resolve_inside(dir.path(), "publish_dir", &p, Want::Dir).unwrap();
        assert!(real.ends_with("dist"));
    }

    #[test]
    fn missing_path_and_wrong_kind_are_bad_spec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let missing = RepoPath::parse("publish_dir", "nope").unwrap();
        assert!(
            resolve_inside(dir.path(), "publish_dir", &missing, Want::Dir)
                .unwrap_err()
                .message
                .contains("does not exist")
        );
        let file = RepoPath::parse("publish_dir", "file").unwrap();
        assert!(resolve_inside(dir.path(), "publish_dir", &file, Want::Dir)
            .unwrap_err()
            .message
            .contains("not a directory"));
    }
}
