//! The broker's small state files (revocations, the build journal): a
//! write is on disk before it returns (temp file, fsync, rename, fsync of
//! the directory), so what was answered survives a crash, and a reader
//! never sees half a file.

use std::io::Write as _;
use std::path::Path;

/// Replaces `path` with `body` (plus a newline) atomically and durably.
pub fn write_atomic(path: &Path, body: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.to_string()
    })
}
