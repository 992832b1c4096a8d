//! Normalisation of bind-mount sources, the way the kernel will see them:
//! components are walked one by one, `.` is dropped, `..` pops what came
//! before it *after* symlinks so far were followed, and each existing
//! symlink is replaced by its target. A trailing slash changes nothing.
//! The result is what a bind mount would actually expose, so comparing it
//! component-wise with an allowlisted root cannot be escaped by `..`,
//! symlinks or slashes.
//!
//! Paths are resolved in the filesystem the agent sees; in the appliance
//! that is the host's only for the directories it mounts (see docs).

use std::path::{Component, Path, PathBuf};

/// Most symlinks followed in one resolution (the kernel's limit is 40).
const MAX_LINKS: usize = 40;

/// Resolves an absolute path string; `None` when it is not absolute, holds
/// a NUL, or loops through too many symlinks.
pub fn resolve(source: &str) -> Option<PathBuf> {
    if !source.starts_with('/') || source.contains('\0') {
        return None;
    }
    resolve_path(Path::new(source))
}

/// [`resolve`] for a `Path`.
pub fn resolve_path(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut links = 0;
    walk(PathBuf::from("/"), path, &mut links)
}

fn walk(mut resolved: PathBuf, path: &Path, links: &mut usize) -> Option<PathBuf> {
    for comp in path.components() {
        match comp {
            Component::RootDir => resolved = PathBuf::from("/"),
            Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                // `/..` is `/`, as in the kernel.
                resolved.pop();
            }
            Component::Normal(name) => {
                let next = resolved.join(name);
                match std::fs::symlink_metadata(&next) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        *links += 1;
                        if *links > MAX_LINKS {
                            return None;
                        }
                        let target = std::fs::read_link(&next).ok()?;
                        // A relative target is relative to the link's directory.
                        resolved = walk(resolved, &target, links)?;
                    }
                    // Absent parts cannot be links (yet); keep them as they are.
                    _ => resolved = next,
                }
            }
        }
    }
    Some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_slashes_and_parents_normalise() {
        let cases = [
            ("/nonexistent-coolify/apps/", "/nonexistent-coolify/apps"),
            (
                "/nonexistent-coolify//apps/./web",
                "/nonexistent-coolify/apps/web",
            ),
            ("/nonexistent-coolify/apps/../../etc", "/etc"),
            ("/../../etc/shadow", "/etc/shadow"),
            ("/", "/"),
        ];
        for (input, want) in cases {
            assert_eq!(resolve(input), Some(PathBuf::from(want)), "{input}");
        }
        assert_eq!(resolve("relative/path"), None);
        assert_eq!(resolve("/a\0b"), None);
    }

    #[test]
    fn symlinks_are_followed_before_parent_steps() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("allowed/sub")).unwrap();
        std::fs::create_dir_all(root.join("secret")).unwrap();
        // allowed/escape -> ../secret (relative), allowed/abs -> /etc
        std::os::unix::fs::symlink("../secret", root.join("allowed/escape")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("allowed/abs")).unwrap();
        // allowed/deep -> sub ; deep/.. must be allowed, not allowed/..
        std::os::unix::fs::symlink("sub", root.join("allowed/deep")).unwrap();
        let r = |p: &str| resolve(&format!("{}/{p}", root.display())).unwrap();
        assert_eq!(r("allowed/escape"), root.join("secret"));
        assert_eq!(r("allowed/escape/"), root.join("secret"));
        assert_eq!(r("allowed/abs/passwd"), PathBuf::from("/etc/passwd"));
        assert_eq!(r("allowed/deep/.."), root.join("allowed"));
        // a loop ends instead of spinning
        std::os::unix::fs::symlink("loop", root.join("allowed/loop")).unwrap();
        assert_eq!(resolve(&format!("{}/allowed/loop", root.display())), None);
    }
}
