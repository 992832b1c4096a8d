//! `coolify dispatch --host H VERB PATH [--data JSON]`: one sync dispatch
//! over the broker's UDS lane. Prints the agent's JSON answer; the exit code
//! is 0 for 2xx, 1 otherwise (the body still says why).

use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::args::broker::DispatchArgs;

pub async fn run(a: &DispatchArgs) -> ExitCode {
    match call(a).await {
        Ok((status, body)) => {
            let pretty = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(body);
            if !pretty.is_empty() {
                // A closed pipe (`| head`) is not an error worth a panic.
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout(), "{pretty}");
            }
            if (200..300).contains(&status) {
                ExitCode::SUCCESS
            } else {
                eprintln!("coolify: dispatch answered HTTP {status}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("coolify: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn call(a: &DispatchArgs) -> Result<(u16, String), String> {
    let body = match &a.data {
        Some(d) => Some(
            serde_json::from_str::<serde_json::Value>(d)
                .map_err(|e| format!("--data is not JSON: {e}"))?,
        ),
        None => None,
    };
    let req = serde_json::json!({
        "host_id": a.host,
        "method": a.verb,
        "path": a.path,
        "body": body,
    })
    .to_string();
    let mut s = tokio::net::UnixStream::connect(&a.socket)
        .await
        .map_err(|e| {
            format!(
                "{}: {e} (is coolify-broker running, and may this user open its socket?)",
                a.socket.display()
            )
        })?;
    let head = format!(
        "POST /v1/coold/dispatch HTTP/1.1\r\nHost: broker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        req.len()
    );
    s.write_all(head.as_bytes())
        .await
        .and(s.write_all(req.as_bytes()).await)
        .map_err(|e| format!("{}: {e}", a.socket.display()))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .await
        .map_err(|e| format!("{}: {e}", a.socket.display()))?;
    parse_response(&raw)
}

/// Status and body of an HTTP/1.1 response read to EOF.
fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or("the broker sent no complete HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("the broker sent no HTTP status")?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    Ok((
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        },
    ))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        a: DispatchArgs,
    }

    #[test]
    fn socket_defaults_to_the_single_host_lane_and_takes_an_override() {
        use clap::Parser as _;
        let parse = |extra: &[&str]| {
            let mut argv = vec!["t", "--host", "h1", "GET", "/api/v1/host/info"];
            argv.extend_from_slice(extra);
            Wrapper::try_parse_from(argv).expect("parses").a
        };
        // The variable overrides the default; only judge the default without it.
        if std::env::var_os("BROKER_UNIX_SOCKET_PATH").is_none() {
            assert_eq!(parse(&[]).socket, PathBuf::from("/run/coolify/broker.sock"));
        }
        assert_eq!(
            parse(&["--socket", "/tmp/other.sock"]).socket,
            PathBuf::from("/tmp/other.sock")
        );
    }

    #[test]
    fn parses_plain_and_chunked_answers() {
        let plain = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).expect("ok"), (404, "{}".into()));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).expect("ok"),
            (200, "{\"a\":1}".into())
        );
        assert!(parse_response(b"garbage").is_err());
    }
}
