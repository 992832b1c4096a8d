//! Plays one unit's start on a simulated host, as systemd would at boot:
//! its conditions, `Environment=`, `WorkingDirectory=`, each
//! `ExecStartPre=` then `ExecStart=`; a `Type=notify` service is spawned
//! in the background and counted started when it sends `READY=1` on a
//! `NOTIFY_SOCKET` of the test's, a `Type=oneshot` one runs each command
//! to completion.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::netns_host::NetnsHost;
use crate::unit_file::{command_words, UnitFile};

/// What starting a unit came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    /// Every command ran (oneshot) or the service said READY=1 (notify).
    Ran,
    /// A `ConditionPathExists=` did not hold: systemd skips the unit.
    Skipped(String),
}

/// Starts the unit at `path` inside `host`; panics with the command's
/// output when one fails, as the boot would stop there.
pub fn start(host: &mut NetnsHost, path: &Path) -> Started {
    let unit = UnitFile::read(path);
    for cond in unit.values("Unit", "ConditionPathExists") {
        if !Path::new(cond).exists() {
            return Started::Skipped(cond.to_string());
        }
    }
    let env = unit.environment();
    let cwd = unit.value("Service", "WorkingDirectory");
    let command = |line: &str| {
        let words = command_words(line);
        assert!(
            !words[0].starts_with(['-', '@', '+', '!', ':']),
            "{}: prefixes are not played: {line}",
            path.display()
        );
        let mut c = host.command(
            &words[0],
            &words[1..].iter().map(String::as_str).collect::<Vec<_>>(),
        );
        c.envs(env.iter().map(|(k, v)| (k, v)));
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        c
    };
    for line in unit.values("Service", "ExecStartPre") {
        run_to_end(command(line), path, line);
    }
    let kind = unit.value("Service", "Type").unwrap_or("simple");
    let starts = unit.values("Service", "ExecStart");
    match kind {
        "oneshot" => {
            for line in starts {
                run_to_end(command(line), path, line);
            }
        }
        "notify" => {
            assert_eq!(starts.len(), 1, "{}: one ExecStart", path.display());
            let notify = host.dir.path().join(format!(
                "notify-{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
            let _ = std::fs::remove_file(&notify);
            let sock = UnixDatagram::bind(&notify).expect("notify socket");
            sock.set_read_timeout(Some(Duration::from_millis(500)))
                .expect("timeout");
            let mut c = command(starts[0]);
            c.env("NOTIFY_SOCKET", &notify);
            let log = format!(
                "{}.log",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            let child = host.spawn(c, &log);
            host.adopt(child);
            let started = Instant::now();
            let mut buf = [0u8; 4096];
            loop {
                if let Ok(n) = sock.recv(&mut buf) {
                    if String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .any(|l| l == "READY=1")
                    {
                        break;
                    }
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{} did not send READY=1 within 30 s; see {log} in {}",
                    path.display(),
                    host.dir.path().display()
                );
            }
        }
        other => panic!("{}: Type={other} is not played", path.display()),
    }
    Started::Ran
}

fn run_to_end(mut c: std::process::Command, path: &Path, line: &str) {
    let out = c.output().expect("spawn nsenter");
    assert!(
        out.status.success(),
        "{}: `{line}` failed ({}):\nstdout: {}\nstderr: {}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
