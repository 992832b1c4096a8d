//! `GET /containers/{id}/logs`: NDJSON [`LogLine`]s. With `follow=true` the
//! answer streams until the container ends (the engine closes the stream)
//! or the client goes (the body is dropped, which drops the engine request).
//! `tail` (a count or `all`), `since` (unix seconds) and `timestamps`.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

use super::types::LogLine;
use super::{managed, ContainerError, LineStream, Target};
use crate::podman::Engine;
use crate::runtimes::Runtimes;

/// Query of the logs verb, parsed (the transport decodes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsQuery {
    pub follow: bool,
    pub timestamps: bool,
    pub tail: String,
    pub since: i32,
}

/// One engine chunk as an NDJSON line of ours.
pub(crate) fn to_line(out: LogOutput, timestamps: bool) -> bytes::Bytes {
    let (stream, message) = match out {
        LogOutput::StdErr { message } => ("stderr", message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => ("stdout", message),
        LogOutput::StdIn { message } => ("stdin", message),
    };
    let text = String::from_utf8_lossy(&message).into_owned();
    let (timestamp, text) = match (timestamps, text.split_once(' ')) {
        (true, Some((ts, rest))) => (Some(ts.to_string()), rest.to_string()),
        _ => (None, text),
    };
    let line = LogLine {
        stream: stream.to_string(),
        timestamp,
        text,
    };
    let mut buf = serde_json::to_vec(&line).unwrap_or_default();
    buf.push(b'\n');
    bytes::Bytes::from(buf)
}

pub async fn logs(
    main: &Engine,
    runtimes: &Runtimes,
    id: &str,
    q: &LogsQuery,
) -> Result<LineStream, ContainerError> {
    let Target { engine, .. } = managed(main, runtimes, id).await?;
    // `managed` has just seen the container; a failure after this point
    // (removed meanwhile) ends the stream early instead of changing status.
    let stream = engine.docker.logs(
        id,
        Some(LogsOptions {
            follow: q.follow,
            stdout: true,
            stderr: true,
            since: q.since,
            until: 0,
            timestamps: q.timestamps,
            tail: q.tail.clone(),
        }),
    );
    let timestamps = q.timestamps;
    Ok(Box::pin(stream.map(move |item| match item {
        Ok(out) => Ok(to_line(out, timestamps)),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    })))
}
