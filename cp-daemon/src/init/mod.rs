//! PID 1 duties: reap orphaned zombies and pass signals on.
//!
//! As PID 1 of the appliance, coold inherits every orphan the container
//! makes (iptables-restore, nft, …). A global `waitpid(-1)` in the agent
//! itself would steal the exit status of children tokio is waiting for, so
//! instead the process splits in two, the way tini does: the parent is a
//! tiny init that only reaps and forwards signals, and the child runs the
//! agent with a normal process life.
//!
//! `COOLD_INIT=1` forces this mode outside PID 1 (as a child subreaper), so
//! tests can exercise it.

use std::process::ExitCode;

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// Signals the init forwards to the agent.
const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// If this process should act as init, forks: the parent supervises and
/// returns `Some(exit code)`; the child returns `None` and runs the agent.
/// Must be called before any thread starts (before the tokio runtime).
pub fn supervise_if_init() -> Option<ExitCode> {
    let forced = std::env::var("COOLD_INIT").is_ok_and(|v| v == "1");
    if std::process::id() != 1 && !forced {
        return None;
    }
    if std::process::id() != 1 {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            eprintln!("coold: cannot become a child subreaper: {e}");
            return Some(ExitCode::from(1));
        }
    }
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    mask.add(Signal::SIGCHLD);
    // Block before fork so no signal is lost between fork and sigwait; the
    // child unblocks again.
    if let Err(e) = mask.thread_block() {
        eprintln!("coold: cannot block signals: {e}");
        return Some(ExitCode::from(1));
    }
    // SAFETY: called from main before any other thread exists, so the child
    // starts with a consistent single-threaded address space.
    #[allow(unsafe_code)]
    let forked = unsafe { fork() };
    match forked {
        Ok(ForkResult::Child) => {
            if let Err(e) = mask.thread_unblock() {
                eprintln!("coold: cannot unblock signals: {e}");
                std::process::exit(1);
            }
            None
        }
        Ok(ForkResult::Parent { child }) => Some(supervise(child, &mask)),
        Err(e) => {
            eprintln!("coold: fork failed: {e}");
            Some(ExitCode::from(1))
        }
    }
}

fn supervise(agent: Pid, mask: &SigSet) -> ExitCode {
    loop {
        let sig = match mask.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(agent, sig);
            continue;
        }
        if let Some(code) = reap(agent) {
            return code;
        }
    }
}

/// Reaps every exited child; returns the agent's exit code once it is gone.
fn reap(agent: Pid) -> Option<ExitCode> {
    let mut agent_code = None;
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == agent => {
                agent_code = Some(ExitCode::from(u8::try_from(code).unwrap_or(1)));
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == agent => {
                agent_code = Some(ExitCode::from(128u8.saturating_add(sig as u8)));
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return agent_code,
            Ok(_) => {}
        }
    }
}
