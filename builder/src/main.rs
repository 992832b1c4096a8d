//! `coolify-builder`: parses argv and runs one build (the file contract is
//! `coolify-build-contract`'s crate doc). clap exits 2 on bad argv.

use std::path::PathBuf;

use clap::Parser;
use coolify_build_contract::exit;
use coolify_builder::{run_build, wait_for_go, BuilderConfig, DEFAULT_STATIC_BASE_IMAGE};

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
    /// Warm start: wait until <work-dir>/go exists, then build. The agent
    /// starts builders ahead of requests this way; with it the credentials
    /// file is used only if it exists by then. SIGTERM while waiting exits
    /// 130 and writes nothing.
    #[arg(long)]
    await_go: bool,
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
            std::process::exit(exit::USAGE_OR_IO);
        }
    };
    if args.await_go {
        runtime.block_on(await_go(&args.work_dir));
    }
    let credentials_file = args
        .credentials_file
        .filter(|path| !args.await_go || path.exists());
    let code = runtime.block_on(run_build(BuilderConfig {
        spec_path: args.spec,
        work_dir: args.work_dir,
        podman_socket: args.podman_socket,
        credentials_file,
        static_base_image: args.static_base_image,
    }));
    // exit() rather than return: a clone cancelled mid-fetch may still hold a
    // blocking thread that the runtime would otherwise wait for.
    std::process::exit(code);
}

/// Waits for the go file, or exits: 130 on SIGTERM/SIGINT (a warm builder
/// retired before it got a build), 2 when the wait itself fails.
async fn await_go(work_dir: &std::path::Path) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("coolify-builder: cannot handle SIGTERM");
        std::process::exit(exit::USAGE_OR_IO);
    };
    let dir = work_dir.to_path_buf();
    let waited = tokio::task::spawn_blocking(move || wait_for_go(&dir));
    tokio::select! {
        r = waited => match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("coolify-builder: {e}");
                std::process::exit(exit::USAGE_OR_IO);
            }
            Err(e) => {
                eprintln!("coolify-builder: the wait for a build failed: {e}");
                std::process::exit(exit::USAGE_OR_IO);
            }
        },
        _ = term.recv() => std::process::exit(exit::CANCELLED),
        _ = int.recv() => std::process::exit(exit::CANCELLED),
    }
}
