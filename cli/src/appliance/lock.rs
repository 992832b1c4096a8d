//! The `cp up` lock: two concurrent runs on one host serialise, so both
//! succeed and exactly one container exists.

use std::fs::OpenOptions;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::ApplianceError;
use crate::output::Reporter;

/// Held for the whole `cp up`; released on drop (and by the kernel if the
/// process dies, so a crash never leaves a stale lock).
pub struct UpLock(#[allow(dead_code)] Flock<std::fs::File>);

pub async fn acquire(run_dir: &Path, name: &str, out: &Reporter) -> Result<UpLock, ApplianceError> {
    let path = run_dir.join(format!("{name}.up.lock"));
    let err = |reason: String| ApplianceError::Lock {
        path: path.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(run_dir)
        .map_err(|e| err(format!("cannot create {}: {e}", run_dir.display())))?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| err(e.to_string()))?;
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => return Ok(UpLock(lock)),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => file,
        Err((_, e)) => return Err(err(e.to_string())),
    };
    let step = out.step("waiting for another `coolify cp up` on this host");
    let locked = tokio::task::spawn_blocking(move || Flock::lock(file, FlockArg::LockExclusive))
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(|(_, e)| err(e.to_string()))?;
    step.done("its turn");
    Ok(UpLock(locked))
}
