//! Paths inside the repository (publish dir, Containerfile, context), checked
//! lexically here; symlinks are resolved against the checkout in `stack`.

use std::path::{Component, Path, PathBuf};

/// A relative path that cannot name anything outside the repository by its
/// spelling alone: no absolute path, no `..`, no NUL. `.` components are
/// dropped, so `"."` is the repository root (an empty path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath(PathBuf);

impl RepoPath {
    pub fn parse(field: &str, raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err(format!(
                "{field} is empty (use \".\" for the repository root)"
            ));
        }
        if raw.contains('\0') {
            return Err(format!("{field} contains a NUL byte"));
        }
        let mut clean = PathBuf::new();
        for component in Path::new(raw).components() {
            match component {
                Component::Normal(part) => clean.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(format!(
                        "{field} {raw:?} must stay inside the repository (no ..)"
                    ))
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!(
                        "{field} {raw:?} must be relative to the repository root, not absolute"
                    ))
                }
            }
        }
        Ok(RepoPath(clean))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// How the spec wrote it, for messages (`.` for the root).
    pub fn display(&self) -> String {
        if self.0.as_os_str().is_empty() {
            ".".into()
        } else {
            self.0.display().to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_path_drops_dot_components() {
        assert_eq!(
            RepoPath::parse("f", "./dist/.").unwrap().as_path(),
            Path::new("dist")
        );
        assert_eq!(RepoPath::parse("f", ".").unwrap().display(), ".");
    }

    #[test]
    fn repo_path_refuses_escapes() {
        for raw in ["../x", "a/../../b", "/etc", "", "a\0b"] {
            let err = RepoPath::parse("publish_dir", raw).unwrap_err();
            assert!(err.contains("publish_dir"), "{err}");
        }
    }
}
