//! Embeds the static `coold` into the CLI (seed 003's pattern: the image is
//! built on the spot from what the CLI carries; no registry).
//!
//! Where the binary comes from, first match wins:
//! 1. `COOLIFY_COOLD_BIN` (the setup scripts set it);
//! 2. `<target dir>/x86_64-unknown-linux-musl/release/coold`.
//!
//! Without one the CLI still builds (so `cargo clippy`/`cargo test` work on a
//! fresh checkout), and `coolify cp up` says how to build a complete CLI.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(coolify_embedded_coold)");
    println!("cargo::rerun-if-env-changed=COOLIFY_COOLD_BIN");
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
    let candidate = std::env::var("COOLIFY_COOLD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target_dir.join("x86_64-unknown-linux-musl/release/coold"));
    println!("cargo::rerun-if-changed={}", candidate.display());

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let embedded = out.join("coold.bin");
    let hash_file = out.join("coold.sha256");
    match std::fs::read(&candidate) {
        Ok(bytes) => {
            let hash = hex::encode(Sha256::digest(&bytes));
            std::fs::write(&embedded, &bytes).expect("write OUT_DIR/coold.bin");
            std::fs::write(&hash_file, hash).expect("write OUT_DIR/coold.sha256");
            println!("cargo::rustc-cfg=coolify_embedded_coold");
        }
        Err(_) => {
            println!(
                "cargo::warning=no static coold at {}: `coolify cp up` will refuse to run (scripts/build-static builds it)",
                candidate.display()
            );
            let _ = std::fs::remove_file(&embedded);
            let _ = std::fs::remove_file(&hash_file);
        }
    }
}
