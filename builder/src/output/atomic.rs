//! Atomic small-file writes: a reader (the driver, possibly after an agent
//! restart) sees the whole file or none of it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `value` as JSON to `dir/name`: tmp file in the same dir, fsync,
/// rename, fsync of the dir; mode 0600. Keys are sorted (written through a
/// `Value`), so the bytes do not depend on field order in the types.
pub fn write_atomic_json(
    dir: &Path,
    name: &str,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let body = serde_json::to_vec_pretty(&serde_json::to_value(value)?)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&body)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn atomic_write_leaves_only_the_final_file_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic_json(dir.path(), "result.json", &serde_json::json!({"a": 1})).unwrap();
        write_atomic_json(dir.path(), "result.json", &serde_json::json!({"a": 2})).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["result.json"]);
        let path = dir.path().join("result.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["a"], 2);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
