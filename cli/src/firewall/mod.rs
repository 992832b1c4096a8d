//! `coolify firewall …`: allow rules on this host's agent, over its REST
//! API (HTTPS with the CLI's CA, bearer token from the config dir).

mod render;

use std::path::Path;
use std::process::ExitCode;

use coolify_api_types::firewall::{
    BulkOutcome, BulkRequest, PortValue, ReconcileOutcome, ReconcileRequest, RuleList, RuleRequest,
    RuleView,
};
use serde::Serialize;

pub use crate::agent_api::{ApiClient, ClientError};

use crate::args::firewall::{FirewallArgs, FirewallCommand};
use crate::output::OutputFormat;

/// The agent API address when no flag, env or appliance label gives one.
const DEFAULT_API: &str = "127.0.0.1:8443";

#[derive(Debug, thiserror::Error)]
pub enum FirewallCliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
    #[error("the agent's answer is not what this CLI expects: {0}")]
    Decode(String),
}

/// Runs one `coolify firewall` command and prints its outcome.
pub async fn run(
    config_dir: &Path,
    engine_socket: &str,
    format: OutputFormat,
    args: &FirewallArgs,
) -> ExitCode {
    match execute(config_dir, engine_socket, format, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match format {
                OutputFormat::Json => {
                    let field = match &e {
                        FirewallCliError::Invalid { field, .. } => Some(field.clone()),
                        FirewallCliError::Client(ClientError::Api { field, .. }) => field.clone(),
                        _ => None,
                    };
                    println!(
                        "{}",
                        serde_json::json!({ "error": e.to_string(), "field": field })
                    );
                }
                OutputFormat::Text => eprintln!("coolify: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn execute(
    config_dir: &Path,
    engine_socket: &str,
    format: OutputFormat,
    args: &FirewallArgs,
) -> Result<(), FirewallCliError> {
    // Validate locally first: a bad tuple is refused without a round trip,
    // with the same field names the agent would use.
    let prepared = prepare(&args.command)?;
    let addr = match &args.api {
        Some(a) => a.clone(),
        None => crate::appliance::api_addr(&args.name, engine_socket)
            .await
            .unwrap_or_else(|| DEFAULT_API.to_string()),
    };
    let client = ApiClient::new(config_dir, &addr)?;
    let (status, body) = client
        .send(prepared.method, &prepared.path, prepared.body)
        .await?;
    match &args.command {
        FirewallCommand::Allow(_) => {
            let rule: RuleView = decode(&body)?;
            emit(format, &rule, || render::allowed(&rule, status == 201));
        }
        FirewallCommand::Delete { id } => {
            let out = serde_json::json!({ "id": id, "deleted": true });
            emit(format, &out, || {
                format!("{id} deleted (or was already absent)")
            });
        }
        FirewallCommand::List { .. } => {
            let list: RuleList = decode(&body)?;
            emit(format, &list, || render::table(&list.rules));
        }
        FirewallCommand::Bulk { .. } => {
            let out: BulkOutcome = decode(&body)?;
            emit(format, &out, || render::bulk(&out));
        }
        FirewallCommand::Reconcile { .. } => {
            let out: ReconcileOutcome = decode(&body)?;
            emit(format, &out, || render::reconcile(&out));
        }
    }
    Ok(())
}

/// A request ready to send.
#[derive(Debug)]
struct Prepared {
    method: http::Method,
    path: String,
    body: Option<Vec<u8>>,
}

fn invalid(e: coolify_api_types::firewall::RuleError) -> FirewallCliError {
    FirewallCliError::Invalid {
        field: e.field,
        message: e.message,
    }
}

fn to_json(v: &impl Serialize) -> Result<Option<Vec<u8>>, FirewallCliError> {
    serde_json::to_vec(v)
        .map(Some)
        .map_err(|e| FirewallCliError::Decode(e.to_string()))
}

fn prepare(cmd: &FirewallCommand) -> Result<Prepared, FirewallCliError> {
    const BASE: &str = "/api/v1/firewall";
    Ok(match cmd {
        FirewallCommand::Allow(a) => {
            let req = RuleRequest {
                namespace: a.namespace.clone(),
                src: Some(a.src.clone()),
                dst: Some(a.dst.clone()),
                proto: a.proto.clone(),
                port: a.port.clone().map(PortValue::Text),
                id: None,
            };
            req.validate().map_err(invalid)?;
            Prepared {
                method: http::Method::POST,
                path: format!("{BASE}/allow"),
                body: to_json(&req)?,
            }
        }
        FirewallCommand::Delete { id } => {
            let id = coolify_api_types::firewall::RuleId::parse("id", id).map_err(invalid)?;
            Prepared {
                method: http::Method::DELETE,
                path: format!("{BASE}/allow/{id}"),
                body: None,
            }
        }
        FirewallCommand::List { namespace } => {
            let path = match namespace {
                Some(ns) => {
                    let ns =
                        coolify_api_types::firewall::validate_namespace(ns).map_err(invalid)?;
                    format!("{BASE}/allow?namespace={ns}")
                }
                None => format!("{BASE}/allow"),
            };
            Prepared {
                method: http::Method::GET,
                path,
                body: None,
            }
        }
        FirewallCommand::Bulk { file } => {
            let rules = read_rules(file)?;
            coolify_api_types::firewall::validate_all(&rules).map_err(invalid)?;
            Prepared {
                method: http::Method::POST,
                path: format!("{BASE}/allow/bulk"),
                body: to_json(&BulkRequest { rules })?,
            }
        }
        FirewallCommand::Reconcile { file, namespace } => {
            let rules = read_rules(file)?;
            coolify_api_types::firewall::validate_all(&rules).map_err(invalid)?;
            Prepared {
                method: http::Method::POST,
                path: format!("{BASE}/reconcile"),
                body: to_json(&ReconcileRequest {
                    namespace: namespace.clone(),
                    rules,
                })?,
            }
        }
    })
}

/// Rules from a file or stdin (`-`): `{"rules":[…]}` or `[…]`.
fn read_rules(file: &Path) -> Result<Vec<RuleRequest>, FirewallCliError> {
    let name = file.display().to_string();
    let input_err = |reason: String| FirewallCliError::Input {
        path: name.clone(),
        reason,
    };
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| input_err(e.to_string()))?
    } else {
        std::fs::read_to_string(file).map_err(|e| input_err(e.to_string()))?
    };
    parse_rules(&text).map_err(input_err)
}

fn parse_rules(text: &str) -> Result<Vec<RuleRequest>, String> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Doc {
        Wrapped(BulkRequest),
        List(Vec<RuleRequest>),
    }
    match serde_json::from_str::<Doc>(text) {
        Ok(Doc::Wrapped(b)) => Ok(b.rules),
        Ok(Doc::List(l)) => Ok(l),
        Err(e) => Err(format!(
            "expected {{\"rules\":[…]}} or a JSON array of rules: {e}"
        )),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FirewallCliError> {
    serde_json::from_slice(body).map_err(|e| FirewallCliError::Decode(e.to_string()))
}

/// Prints the outcome. Write errors are ignored on purpose: a closed pipe
/// (`coolify firewall list | head`) must not turn into a panic.
fn emit<T: Serialize>(format: OutputFormat, value: &T, text: impl FnOnce() -> String) {
    use std::io::Write;
    let doc = match format {
        OutputFormat::Json => match serde_json::to_string_pretty(value) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("coolify: cannot render JSON: {e}");
                return;
            }
        },
        OutputFormat::Text => text(),
    };
    let _ = writeln!(std::io::stdout(), "{doc}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::firewall::RuleArgs;

    fn allow(src: &str, port: Option<&str>, proto: Option<&str>) -> FirewallCommand {
        FirewallCommand::Allow(RuleArgs {
            namespace: Some("alpha".into()),
            src: src.into(),
            dst: "10.0.1.0/24".into(),
            proto: proto.map(Into::into),
            port: port.map(Into::into),
        })
    }

    #[test]
    fn allow_is_validated_before_any_request() {
        let p = prepare(&allow("10.0.0.5", Some("80"), Some("tcp"))).unwrap();
        assert_eq!(p.method, http::Method::POST);
        assert_eq!(p.path, "/api/v1/firewall/allow");
        let body: serde_json::Value = serde_json::from_slice(&p.body.unwrap()).unwrap();
        assert_eq!(body["src"], "10.0.0.5");
        assert_eq!(body["port"], "80");
        for (cmd, field) in [
            (allow("10.0.0.500", None, None), "src"),
            (allow("10.0.0.5", Some("80"), None), "proto"),
            (FirewallCommand::Delete { id: "../x".into() }, "id"),
            (
                FirewallCommand::List {
                    namespace: Some("a b".into()),
                },
                "namespace",
            ),
        ] {
            match prepare(&cmd) {
                Err(FirewallCliError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{cmd:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn rule_files_take_either_shape() {
        let a = parse_rules(r#"{"rules":[{"src":"10.0.0.1","dst":"10.0.0.2"}]}"#).unwrap();
        let b = parse_rules(r#"[{"src":"10.0.0.1","dst":"10.0.0.2"}]"#).unwrap();
        assert_eq!(a, b);
        assert!(parse_rules("{}").is_err());
    }

    #[test]
    fn list_path_carries_the_namespace() {
        let p = prepare(&FirewallCommand::List {
            namespace: Some("alpha".into()),
        })
        .unwrap();
        assert_eq!(p.path, "/api/v1/firewall/allow?namespace=alpha");
    }
}
