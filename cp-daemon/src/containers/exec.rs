//! `POST /containers/{id}/exec` `{cmd, tty?, stream?}`: runs a command in a
//! managed container. Answers `{exit_code, stdout, stderr}`, or with
//! `stream: true` NDJSON [`LogLine`]s and a last `{"exit_code": n}` line.

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::logs::to_line;
use super::types::{ExecOutput, ExecRequest};
use super::{managed, ContainerError, LineStream, Target};
use crate::podman::{Engine, EngineError, InvalidField};
use crate::runtimes::Runtimes;

/// Output kept per stream of a non-streamed exec; more is dropped and
/// `truncated` set (stream it instead).
const OUTPUT_CAP: usize = 1024 * 1024;

pub enum ExecReply {
    Done(ExecOutput),
    Streaming(LineStream),
}

pub async fn exec(
    main: &Engine,
    runtimes: &Runtimes,
    id: &str,
    req: &ExecRequest,
) -> Result<ExecReply, ContainerError> {
    if req.cmd.is_empty() {
        return Err(ContainerError::Invalid(InvalidField::new(
            "cmd",
            "cmd needs at least one element",
        )));
    }
    for (i, a) in req.cmd.iter().enumerate() {
        if a.contains('\0') {
            return Err(ContainerError::Invalid(InvalidField::new(
                format!("cmd[{i}]"),
                "must not contain NUL",
            )));
        }
    }
    for k in req.env.keys() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(ContainerError::Invalid(InvalidField::new(
                "env",
                "names must be non-empty, without `=` or NUL",
            )));
        }
    }
    let Target { engine, view } = managed(main, runtimes, id).await?;
    if !view.state.running {
        return Err(ContainerError::Engine(EngineError::Conflict(format!(
            "container {id} is not running ({})",
            view.state.status
        ))));
    }
    let what = format!("container {id}");
    let created = engine
        .docker
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(req.cmd.clone()),
                tty: Some(req.tty),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                env: (!req.env.is_empty())
                    .then(|| req.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                working_dir: req.working_dir.clone(),
                user: req.user.clone(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| EngineError::classify(e, &what))?;
    let started = engine
        .docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: req.tty,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| EngineError::classify(e, &what))?;
    let StartExecResults::Attached { mut output, .. } = started else {
        return Err(ContainerError::Internal("exec started detached".into()));
    };
    if req.stream {
        let exec_id = created.id.clone();
        let lines = output.map(|item| match item {
            Ok(out) => Ok(to_line(out, false)),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        });
        let tail = futures_util::stream::once(async move {
            let code = exit_code(&engine, &exec_id).await;
            let mut buf =
                serde_json::to_vec(&serde_json::json!({ "exit_code": code })).unwrap_or_default();
            buf.push(b'\n');
            Ok(bytes::Bytes::from(buf))
        });
        return Ok(ExecReply::Streaming(Box::pin(lines.chain(tail))));
    }
    let (mut stdout, mut stderr, mut truncated) = (Vec::new(), Vec::new(), false);
    while let Some(item) = output.next().await {
        use bollard::container::LogOutput;
        let (buf, msg) = match item.map_err(|e| EngineError::classify(e, &what))? {
            LogOutput::StdErr { message } => (&mut stderr, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (&mut stdout, message)
            }
            LogOutput::StdIn { .. } => continue,
        };
        let room = OUTPUT_CAP.saturating_sub(buf.len());
        if msg.len() > room {
            truncated = true;
        }
        buf.extend_from_slice(&msg[..msg.len().min(room)]);
    }
    Ok(ExecReply::Done(ExecOutput {
        exit_code: exit_code(&engine, &created.id).await,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        truncated,
    }))
}

/// The exec's exit code once its output has ended; -1 when the engine
/// cannot say.
async fn exit_code(engine: &Engine, exec_id: &str) -> i64 {
    // The engine may record the code a moment after the output closes.
    for _ in 0..20 {
        match engine.docker.inspect_exec(exec_id).await {
            Ok(i) if i.running != Some(true) => return i.exit_code.unwrap_or(-1),
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            Err(_) => return -1,
        }
    }
    -1
}
