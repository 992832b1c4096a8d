//! The endpoint store over Corrosion's HTTP API (HTTP/1.1), for many hosts:
//! every host writes its own rows into its local Corrosion agent and gossip
//! replicates them (DESIGN.md decision 6).
//!
//! Protocol, as Corrosion documents it:
//! - `POST /v1/transactions` with `[[sql, [params…]], …]` → 200
//!   `{"results":[{"rows_affected":n,"time":t}],"time":t,"version":v}`; a
//!   failed statement is HTTP 500 with `{"results":[{"error":"…"}]}`.
//! - `POST /v1/queries` with `[sql, [params…]]` → NDJSON lines
//!   `{"columns":[…]}`, `{"row":[rowid,[values…]]}`, `{"eoq":{…}}`, or
//!   `{"error":"…"}`; bad SQL is HTTP 400 `{"error":"…"}`.
//! - Any route may shed load with 503.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use coolify_http_client::{Client, ClientError};
use http::Method;
use serde_json::Value;

use super::endpoint::Change;
use super::store::{row_from_values, statements, EndpointStore, Statement, StoreError};
use super::Endpoint;

/// Bound on one request, so a hung agent marks the store down instead of
/// stalling the sync.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct CorrosionStore {
    addr: SocketAddr,
    client: Client,
}

impl CorrosionStore {
    /// `addr` is the Corrosion agent's API address (`api.addr`).
    pub fn new(addr: SocketAddr) -> Self {
        CorrosionStore {
            addr,
            client: Client::tcp(addr.to_string()).with_timeout(REQUEST_TIMEOUT),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<(u16, bytes::Bytes), StoreError> {
        let body = bytes::Bytes::from(body.to_string());
        // Connect, transport and timeout failures all mean the agent is not
        // answering: the store is down, not the request wrong.
        let resp = self
            .client
            .send(Method::POST, path, Some(body))
            .await
            .map_err(|e| match e {
                ClientError::Connect(_) | ClientError::Transport(_) | ClientError::Timeout(_) => {
                    StoreError::Unavailable(format!("corrosion at {}: {e}", self.addr))
                }
            })?;
        Ok((resp.status, resp.body))
    }

    async fn transact(&self, stmts: &[Statement]) -> Result<(), StoreError> {
        let body = Value::Array(stmts.iter().map(Statement::to_json).collect());
        let (status, body) = self.post("/v1/transactions", body).await?;
        match status {
            200 => Ok(()),
            503 => Err(StoreError::Unavailable("corrosion shed load (503)".into())),
            _ => Err(StoreError::Rejected(first_error(&body).unwrap_or_else(
                || format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
            ))),
        }
    }
}

/// The first `error` in a transactions or queries error body.
fn first_error(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Some(e.to_string());
    }
    v.get("results")?
        .as_array()?
        .iter()
        .find_map(|r| r.get("error").and_then(Value::as_str).map(str::to_string))
}

/// Decodes a queries NDJSON stream into rows of values.
pub fn parse_query_stream(body: &[u8]) -> Result<Vec<Vec<Value>>, StoreError> {
    let mut rows = Vec::new();
    let mut finished = false;
    for line in body
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
    {
        let event: Value = serde_json::from_slice(line).map_err(|e| {
            StoreError::Protocol(format!(
                "bad NDJSON line ({e}): {}",
                String::from_utf8_lossy(line)
            ))
        })?;
        if let Some(row) = event.get("row") {
            let values = row
                .get(1)
                .and_then(Value::as_array)
                .ok_or_else(|| StoreError::Protocol(format!("row without values: {row}")))?;
            rows.push(values.clone());
        } else if let Some(e) = event.get("error") {
            return Err(StoreError::Rejected(
                e.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string()),
            ));
        } else if event.get("eoq").is_some() {
            finished = true;
        } else if event.get("columns").is_none() {
            return Err(StoreError::Protocol(format!(
                "unknown query event: {event}"
            )));
        }
    }
    if !finished {
        return Err(StoreError::Protocol(
            "query stream ended without eoq".into(),
        ));
    }
    Ok(rows)
}

#[async_trait]
impl EndpointStore for CorrosionStore {
    async fn apply(&self, host: &str, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.transact(&statements(host, changes)).await
    }

    async fn execute(&self, stmt: Statement) -> Result<(), StoreError> {
        self.transact(std::slice::from_ref(&stmt)).await
    }

    async fn query(&self, stmt: Statement) -> Result<Vec<Endpoint>, StoreError> {
        let (status, body) = self.post("/v1/queries", stmt.to_json()).await?;
        match status {
            200 => parse_query_stream(&body)?
                .iter()
                .map(|r| row_from_values(r))
                .collect(),
            503 => Err(StoreError::Unavailable("corrosion shed load (503)".into())),
            _ => Err(StoreError::Rejected(
                first_error(&body).unwrap_or_else(|| format!("HTTP {status}")),
            )),
        }
    }

    fn kind(&self) -> &'static str {
        "corrosion"
    }

    /// A digest of the table: its row count and the sum and maximum of
    /// `updated_at`, which every write of a row sets (coold writes it with
    /// the time in ms). An insert, a delete or an update moves it, merged
    /// from another host or written here. cr-sqlite's `crsql_db_version()`
    /// does not move for changes Corrosion merges (measured: it stayed 0 on
    /// an agent holding a gossiped row), so it cannot serve.
    async fn change_marker(&self) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT COUNT(*), COALESCE(SUM(updated_at), 0), COALESCE(MAX(updated_at), 0) FROM service_endpoints";
        let (status, body) = self
            .post("/v1/queries", serde_json::json!([sql, []]))
            .await?;
        match status {
            200 => {
                let rows = parse_query_stream(&body)?;
                let n = |i: usize| {
                    rows.first()
                        .and_then(|r| r.get(i))
                        .and_then(Value::as_i64)
                        .ok_or_else(|| StoreError::Protocol(format!("change marker: {rows:?}")))
                };
                Ok(Some(
                    n(0)?.wrapping_mul(1_000_003) ^ n(1)? ^ n(2)?.rotate_left(17),
                ))
            }
            503 => Err(StoreError::Unavailable("corrosion shed load (503)".into())),
            _ => Err(StoreError::Rejected(
                first_error(&body).unwrap_or_else(|| format!("HTTP {status}")),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_stream_decodes_rows_until_eoq() {
        let body = b"{\"columns\":[\"a\",\"b\"]}\n{\"row\":[1,[\"x\",2]]}\n{\"row\":[2,[\"y\",3]]}\n{\"eoq\":{\"time\":0.1}}\n";
        let rows = parse_query_stream(body).unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Value::from("x"), Value::from(2)],
                vec![Value::from("y"), Value::from(3)]
            ]
        );
    }

    #[test]
    fn query_stream_error_line_is_rejected() {
        let body = b"{\"columns\":[\"a\"]}\n{\"error\":\"no such table\"}\n";
        assert!(
            matches!(parse_query_stream(body), Err(StoreError::Rejected(e)) if e == "no such table")
        );
    }

    #[test]
    fn truncated_stream_is_a_protocol_error() {
        let body = b"{\"columns\":[\"a\"]}\n{\"row\":[1,[\"x\"]]}\n";
        assert!(matches!(
            parse_query_stream(body),
            Err(StoreError::Protocol(_))
        ));
    }

    #[test]
    fn transaction_error_body_names_the_statement_error() {
        let body = br#"{"results":[{"error":"NOT NULL constraint failed"}]}"#;
        assert_eq!(
            first_error(body).as_deref(),
            Some("NOT NULL constraint failed")
        );
    }
}
