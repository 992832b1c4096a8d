//! `coolify-builder`: parses argv and runs one build (see the crate doc for
//! the file contract). clap exits 2 on bad argv.

use std::path::PathBuf;

use clap::Parser;
use coolify_builder::{run_build, BuilderConfig, DEFAULT_STATIC_BASE_IMAGE};

#[derive(Debug, Parser)]
#[command(
    name = "coolify-builder",
    version,
    about = "Builds one image from a repo into Podman's local storage"
)]
struct Args {
    /// Path of spec.json.
    #[arg(long)]
    spec: PathBuf,
    /// Where events.ndjson and result.json / error.json go (created 0700).
    #[arg(long)]
    work_dir: PathBuf,
    /// Podman's API socket.
    #[arg(long, default_value = "/run/podman/podman.sock")]
    podman_socket: String,
    /// JSON {"username","password"} for https clones; must be mode 0600.
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// STATIC base image when the spec names none.
    #[arg(long, env = "COOLIFY_BUILDER_STATIC_BASE_IMAGE", default_value = DEFAULT_STATIC_BASE_IMAGE)]
    static_base_image: String,
}

fn main() {
    let args = Args::parse();
    // https clones use rustls; the workspace's provider is ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("coolify-builder: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(run_build(BuilderConfig {
        spec_path: args.spec,
        work_dir: args.work_dir,
        podman_socket: args.podman_socket,
        credentials_file: args.credentials_file,
        static_base_image: args.static_base_image,
    }));
    // exit() rather than return: a clone cancelled mid-fetch may still hold a
    // blocking thread that the runtime would otherwise wait for.
    std::process::exit(code);
}
