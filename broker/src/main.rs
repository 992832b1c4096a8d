//! `coolify-broker` binary: parse config, start, run until signalled.

use std::process::ExitCode;

use coolify_broker::config::Config;

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("coolify-broker: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = match tracing_subscriber::EnvFilter::try_new(&config.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "coolify-broker: configuration error: BROKER_LOG_LEVEL={:?} is invalid: {e}",
                config.log_level
            );
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("coolify-broker: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let running = match coolify_broker::server::start(&config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("coolify-broker: {e}");
                return ExitCode::from(2);
            }
        };
        match running.wait().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(part) => {
                tracing::error!(part, "a broker part stopped; exiting");
                ExitCode::from(1)
            }
        }
    })
}
