//! File rules for PKI material: a 0700 directory, 0600 secrets, and writes
//! that never replace an existing file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::PkiError;
use crate::config_layout::ConfigLayout;

/// Where each piece lives under the config dir ([`ConfigLayout`]).
#[derive(Debug, Clone)]
pub struct PkiPaths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub api_token: PathBuf,
}

impl PkiPaths {
    pub fn new(dir: &Path) -> Self {
        let l = ConfigLayout::new(dir);
        PkiPaths {
            ca_cert: l.ca_cert(),
            ca_key: l.ca_key(),
            server_cert: l.server_cert(),
            server_key: l.server_key(),
            api_token: l.api_token(),
        }
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> PkiError {
    PkiError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Creates `dir` (0700) or tightens an existing one to 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<(), PkiError> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, format!("cannot create directory: {e}")))?;
    let meta = fs::metadata(dir).map_err(|e| io_err(dir, e))?;
    if !meta.is_dir() {
        return Err(io_err(dir, "exists but is not a directory"));
    }
    if meta.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err(dir, format!("cannot set mode 0700: {e}")))?;
    }
    Ok(())
}

/// Reads a file; `None` when it does not exist. Anything else that stops the
/// read (a directory, no permission) is an error naming the path.
pub fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, PkiError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, format!("cannot read: {e}"))),
    }
}

/// Writes a new file with `mode`; fails rather than replace one that a
/// racing process created meanwhile. The data is on disk before it returns.
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io_err(path, format!("cannot create: {e}")))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err(path, format!("cannot write: {e}")))?;
    // The umask may have narrowed the mode; secrets must be exactly `mode`.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| io_err(path, e))
}

/// Replaces `path` atomically with a new file of `mode` holding `data`
/// ([`crate::file_write::atomic`]); the error names the file.
pub fn replace(path: &Path, data: &[u8], mode: u32) -> Result<(), PkiError> {
    crate::file_write::atomic(path, data, mode)
        .map_err(|e| io_err(path, format!("cannot replace: {e}")))
}
