//! `GET /containers/{id}/logs`: NDJSON [`LogLine`]s. With `follow=true` the
//! answer streams until the container ends (the engine closes the stream)
//! or the client goes (the body is dropped, which drops the engine request).
//! `tail` (a count or `all`), `since` (unix seconds) and `timestamps`.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

use super::types::LogLine;
use super::{managed, Target};
use crate::api::AgentContext;
use crate::api::{decode, ApiError, ByteStream};

/// Query of the logs verb, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsQuery {
    pub follow: bool,
    pub timestamps: bool,
    pub tail: String,
    pub since: i32,
}

pub fn parse_query(query: &str) -> Result<LogsQuery, ApiError> {
    let pairs = decode::query_pairs(query)?;
    let tail = match decode::query_value(&pairs, "tail") {
        None | Some("all") => "all".to_string(),
        Some(n) => n
            .parse::<u32>()
            .map_err(|_| ApiError::bad_request("tail", "tail must be a line count or `all`"))?
            .to_string(),
    };
    let since = match decode::query_value(&pairs, "since") {
        None => 0,
        Some(s) => s.parse::<i32>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            ApiError::bad_request(
                "since",
                "since must be unix seconds (a non-negative integer)",
            )
        })?,
    };
    Ok(LogsQuery {
        follow: decode::query_flag(&pairs, "follow")?,
        timestamps: decode::query_flag(&pairs, "timestamps")?,
        tail,
        since,
    })
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

pub async fn logs(ctx: &AgentContext, id: &str, query: &str) -> Result<ByteStream, ApiError> {
    let q = parse_query(query)?;
    let Target { engine, .. } = managed(ctx, id).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parses_and_names_bad_fields() {
        let q = parse_query("follow=true&tail=5&since=10&timestamps=1").unwrap();
        assert_eq!(
            q,
            LogsQuery {
                follow: true,
                timestamps: true,
                tail: "5".into(),
                since: 10
            }
        );
        assert_eq!(parse_query("").unwrap().tail, "all");
        for (q, field) in [
            ("tail=x", "tail"),
            ("since=-1", "since"),
            ("follow=2", "follow"),
        ] {
            match parse_query(q) {
                Err(ApiError::BadRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{q}: {other:?}"),
            }
        }
    }
}
