//! Embeds the appliance's static binaries into the CLI (seed 003's pattern:
//! the image is made on the spot from what the CLI carries; no registry).
//!
//! Each binary comes from, first match wins:
//! 1. its variable (`COOLIFY_COOLD_BIN`, `COOLIFY_BROKER_BIN`,
//!    `COOLIFY_BUILDER_BIN`; the setup scripts set them);
//! 2. `<target dir>/x86_64-unknown-linux-musl/release/<name>`.
//!
//! A binary that is absent is left out (so `cargo clippy`/`cargo test` work
//! on a fresh checkout); `coolify cp up` says how to build a complete CLI
//! when it needs one that is missing. The generated `embedded.rs` lists what
//! was found, each with its sha256, plus one hash over all of them that
//! labels the image: a change of any binary rebuilds it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `(file name in the image context, variable naming its path)`.
const BINARIES: [(&str, &str); 3] = [
    ("coold", "COOLIFY_COOLD_BIN"),
    ("coolify-broker", "COOLIFY_BROKER_BIN"),
    ("coolify-builder", "COOLIFY_BUILDER_BIN"),
];

fn main() {
    println!("cargo::rerun-if-env-changed=CARGO_TARGET_DIR");
    println!("cargo::rerun-if-changed=../images/appliance");

    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                manifest.join("..").join(p)
            }
        })
        .unwrap_or_else(|_| manifest.join("../target"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));

    let mut entries = String::new();
    let mut bundle = Sha256::new();
    for (name, var) in BINARIES {
        println!("cargo::rerun-if-env-changed={var}");
        let candidate = std::env::var(var).map(PathBuf::from).unwrap_or_else(|_| {
            target_dir
                .join("x86_64-unknown-linux-musl/release")
                .join(name)
        });
        println!("cargo::rerun-if-changed={}", candidate.display());
        let embedded = out.join(format!("{name}.bin"));
        match std::fs::read(&candidate) {
            Ok(bytes) => {
                let hash = hex::encode(Sha256::digest(&bytes));
                write_if_changed(&embedded, &bytes);
                bundle.update(format!("{name} {hash}\n").as_bytes());
                entries.push_str(&format!(
                    "    EmbeddedBinary {{ name: {name:?}, bytes: include_bytes!({:?}), sha256: {hash:?} }},\n",
                    embedded.display().to_string()
                ));
            }
            Err(_) => {
                println!(
                    "cargo::warning=no static {name} at {} (set {var} or run scripts/build-static): it is not embedded",
                    candidate.display()
                );
                let _ = std::fs::remove_file(&embedded);
            }
        }
    }
    let known: Vec<&str> = BINARIES.iter().map(|(n, _)| *n).collect();
    let generated = format!(
        "/// Every binary an appliance image may carry (build.rs's list).\n\
         pub const KNOWN_BINARIES: &[&str] = &{known:?};\n\
         /// Binaries this CLI carries, in the order of build.rs's list.\n\
         pub const BINARIES: &[EmbeddedBinary] = &[\n{entries}];\n\
         /// sha256 over every embedded binary's name and sha256.\n\
         pub const BUNDLE_SHA256: &str = {:?};\n",
        hex::encode(bundle.finalize())
    );
    write_if_changed(&out.join("embedded.rs"), generated.as_bytes());
}

/// Rewriting an unchanged file would make cargo recompile the CLI on every
/// build (a missing optional binary reruns this script each time).
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}
