//! `coolify dispatch --host H VERB PATH [--data JSON]`: one sync dispatch
//! over the broker's UDS lane. Prints the agent's JSON answer; the exit code
//! is 0 for 2xx, 1 otherwise (the body still says why).

use std::process::ExitCode;

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
    let r = super::lane::post(&a.lane.socket, "/v1/coold/dispatch", Some(req)).await?;
    Ok((r.status, r.text()))
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
            assert_eq!(
                parse(&[]).lane.socket,
                PathBuf::from("/run/coolify/broker.sock")
            );
        }
        assert_eq!(
            parse(&["--socket", "/tmp/other.sock"]).lane.socket,
            PathBuf::from("/tmp/other.sock")
        );
    }
}
