//! One build from start to files on disk: the pipeline raced against
//! SIGTERM/SIGINT, then the final event and the result or error file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};

use coolify_build_contract::{exit, ERROR_FILE, RESULT_FILE};

use crate::error::{BuildError, ErrorCode, Stage};
use crate::output::{write_atomic_json, EventLog};
use crate::pipeline::{self, BuilderConfig};

/// Runs the build and returns the process exit code. Only a work dir we
/// cannot create or write is reported on stderr alone (there is nowhere else).
pub async fn run_build(config: BuilderConfig) -> i32 {
    if let Err(e) = prepare_work_dir(&config.work_dir) {
        eprintln!(
            "coolify-builder: work dir {}: {e}",
            config.work_dir.display()
        );
        return ErrorCode::Io.exit_code();
    }
    // Invariant: a work dir holds at most one outcome file, the current
    // run's. A re-run in the same dir must not leave an older one beside it.
    for stale in [RESULT_FILE, ERROR_FILE] {
        match std::fs::remove_file(config.work_dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                eprintln!("coolify-builder: removing the old {stale}: {e}");
                return ErrorCode::Io.exit_code();
            }
            _ => {}
        }
    }
    let mut events = match EventLog::open(&config.work_dir) {
        Ok(events) => events,
        Err(e) => {
            eprintln!(
                "coolify-builder: events log in {}: {e}",
                config.work_dir.display()
            );
            return ErrorCode::Io.exit_code();
        }
    };
    let (mut sigterm, mut sigint) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("coolify-builder: cannot handle SIGTERM: {e}");
            return ErrorCode::Io.exit_code();
        }
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    // Invariant: when a signal wins, the pipeline future is dropped here,
    // before any file is written; that drops the build request's connection,
    // which is what makes Podman stop the build and remove its container.
    let outcome = tokio::select! {
        outcome = pipeline::run(&config, &mut events, interrupt.clone()) => outcome,
        _ = sigterm.recv() => Err(cancelled(&interrupt)),
        _ = sigint.recv() => Err(cancelled(&interrupt)),
    };
    let outcome = outcome.map_err(|err| match err.code {
        ErrorCode::Cancelled => BuildError::cancelled(events.stage()),
        _ => err,
    });
    pipeline::remove_scratch(&config.work_dir);
    let written = match &outcome {
        Ok(file) => events
            .result(&file.ok)
            .and_then(|()| write_atomic_json(&config.work_dir, RESULT_FILE, file)),
        Err(err) => {
            let err = scrubbed(err, &events);
            events
                .error(&err)
                .and_then(|()| write_atomic_json(&config.work_dir, ERROR_FILE, &err.file()))
        }
    };
    if let Err(e) = written {
        eprintln!(
            "coolify-builder: writing the outcome to {}: {e}",
            config.work_dir.display()
        );
        return ErrorCode::Io.exit_code();
    }
    match outcome {
        Ok(_) => exit::OK,
        Err(err) => err.code.exit_code(),
    }
}

/// The stage is filled in from the events log once the pipeline is dropped.
fn cancelled(interrupt: &AtomicBool) -> BuildError {
    interrupt.store(true, Ordering::Relaxed);
    BuildError::cancelled(Stage::Detect)
}

fn scrubbed(err: &BuildError, events: &EventLog) -> BuildError {
    BuildError {
        message: events.scrubber().scrub(&err.message),
        ..err.clone()
    }
}

/// Creates the work dir 0700 if missing; an existing one keeps its mode.
fn prepare_work_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(false)
        .mode(0o700)
        .create(dir)
    {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}
