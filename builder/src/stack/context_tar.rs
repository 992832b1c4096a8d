//! The build context as a tar, the body of Podman's build request.

use std::path::Path;

use crate::error::{BuildError, Stage};

/// Tar writer that keeps symlinks as links (never follows one out of the
/// repository) and skips any `.git`.
pub struct ContextTar {
    builder: tar::Builder<Vec<u8>>,
}

impl ContextTar {
    pub fn new() -> Self {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        ContextTar { builder }
    }

    /// Adds the contents of `dir` under `prefix` ("" for the tar root).
    pub fn add_dir(&mut self, dir: &Path, prefix: &str) -> Result<(), BuildError> {
        self.add_dir_inner(dir, Path::new(prefix), 0)
    }

    fn add_dir_inner(&mut self, dir: &Path, prefix: &Path, depth: usize) -> Result<(), BuildError> {
        if depth > 256 {
            return Err(BuildError::bad_spec(format!(
                "{} nests deeper than 256 levels",
                dir.display()
            )));
        }
        let io = |e: std::io::Error| {
            BuildError::io(Stage::Detect, format!("packing {}: {e}", dir.display()))
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        // Sorted: the same tree gives the same tar, so Podman's cache hits.
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let path = entry.path();
            let in_tar = prefix.join(&name);
            let file_type = entry.file_type().map_err(io)?;
            if file_type.is_dir() {
                self.builder.append_dir(&in_tar, &path).map_err(io)?;
                self.add_dir_inner(&path, &in_tar, depth + 1)?;
            } else {
                self.builder
                    .append_path_with_name(&path, &in_tar)
                    .map_err(io)?;
            }
        }
        Ok(())
    }

    pub fn add_file(&mut self, name: &str, body: &[u8]) -> Result<(), BuildError> {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        self.builder
            .append_data(&mut header, name, body)
            .map_err(|e| BuildError::io(Stage::Detect, format!("packing {name}: {e}")))
    }

    pub fn finish(self) -> Result<Vec<u8>, BuildError> {
        self.builder
            .into_inner()
            .map_err(|e| BuildError::io(Stage::Detect, format!("finishing the context tar: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn context_tar_skips_git_and_keeps_links_as_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
        std::fs::create_dir(dir.path().join("css")).unwrap();
        std::fs::write(dir.path().join("css/a.css"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", dir.path().join("leak")).unwrap();
        let mut tar = ContextTar::new();
        tar.add_dir(dir.path(), "public").unwrap();
        tar.add_file("Containerfile", b"FROM scratch\n").unwrap();
        let bytes = tar.finish().unwrap();
        assert_eq!(
            names(&bytes),
            [
                "public/css",
                "public/css/a.css",
                "public/leak",
                "Containerfile"
            ]
        );
        let mut archive = tar::Archive::new(bytes.as_slice());
        let leak = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().ends_with("leak"))
            .unwrap();
        assert_eq!(leak.header().entry_type(), tar::EntryType::Symlink);
    }
}
