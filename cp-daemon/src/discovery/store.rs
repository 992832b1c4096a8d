//! The endpoint store: one trait, two implementations chosen by config
//! (DESIGN.md decision 6). Both take the same SQL statements from here, so
//! they cannot drift apart.
//!
//! Invariant: a host writes only its own rows (every write carries
//! `host_mgmt_ip` and deletes are scoped by it).

use async_trait::async_trait;
use serde_json::{json, Value};

use super::endpoint::{now_ms, ports_to_text, Change, Endpoint, Observed};

/// The schema both stores load (and Corrosion's schema dir takes as is).
pub const SCHEMA: &str = include_str!("schema.sql");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("endpoint store unavailable: {0}")]
    Unavailable(String),
    #[error("endpoint store rejected a statement: {0}")]
    Rejected(String),
    #[error("endpoint store answered something unexpected: {0}")]
    Protocol(String),
}

#[async_trait]
pub trait EndpointStore: Send + Sync + std::fmt::Debug {
    /// Applies `changes` for `host` in one transaction.
    async fn apply(&self, host: &str, changes: &[Change]) -> Result<(), StoreError>;
    /// Runs one read statement and returns its rows.
    async fn query(&self, stmt: Statement) -> Result<Vec<Endpoint>, StoreError>;
    /// Runs one write statement.
    async fn execute(&self, stmt: Statement) -> Result<(), StoreError>;
    /// A short name for logs and /healthz.
    fn kind(&self) -> &'static str;

    /// A number that moves whenever any host's row changes in this store,
    /// cheap to ask: the DNS view is re-read when it moves, so rows other
    /// hosts write arrive without waiting for this host's reconcile tick.
    /// `None`: the store has no such number (SQLite, which only this host
    /// writes: its reconcile refreshes the view).
    async fn change_marker(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    async fn host_rows(&self, host: &str) -> Result<Vec<Endpoint>, StoreError> {
        self.query(Statement::new(
            format!("{SELECT} WHERE host_mgmt_ip = ? ORDER BY container_id"),
            vec![json!(host)],
        ))
        .await
    }

    async fn service_rows(&self, service_id: &str) -> Result<Vec<Endpoint>, StoreError> {
        self.query(Statement::new(
            format!("{SELECT} WHERE service_id = ? ORDER BY host_mgmt_ip, container_id"),
            vec![json!(service_id)],
        ))
        .await
    }

    /// Removes a container from a service (the row goes; if the container
    /// still runs, the next reconcile adds it back unregistered).
    async fn deregister(
        &self,
        host: &str,
        service_id: &str,
        container_id: &str,
    ) -> Result<(), StoreError> {
        self.execute(Statement::new(
            "DELETE FROM service_endpoints WHERE container_id = ? AND service_id = ? AND host_mgmt_ip = ?",
            vec![json!(container_id), json!(service_id), json!(host)],
        ))
        .await
    }

    async fn all_rows(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.query(Statement::new(
            format!("{SELECT} ORDER BY container_id"),
            vec![],
        ))
        .await
    }
}

/// One SQL statement with positional parameters (`?`), in the JSON shape
/// Corrosion takes: `[sql, [params…]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Self {
        Statement {
            sql: sql.into(),
            params,
        }
    }

    pub fn to_json(&self) -> Value {
        json!([self.sql, self.params])
    }
}

/// Column order every read returns; [`row_from_values`] decodes it.
pub const SELECT: &str = "SELECT container_id, container_name, namespace, host_mgmt_ip, container_ip, state, health, updated_at, service_id, ports FROM service_endpoints";

const UPSERT_OBSERVED: &str = "INSERT INTO service_endpoints (container_id, container_name, namespace, host_mgmt_ip, container_ip, state, health, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (container_id) DO UPDATE SET container_name = excluded.container_name, namespace = excluded.namespace, host_mgmt_ip = excluded.host_mgmt_ip, container_ip = excluded.container_ip, state = excluded.state, health = excluded.health, updated_at = excluded.updated_at";

const UPSERT_REGISTERED: &str = "INSERT INTO service_endpoints (container_id, container_name, namespace, host_mgmt_ip, container_ip, state, health, updated_at, service_id, ports) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (container_id) DO UPDATE SET container_name = excluded.container_name, namespace = excluded.namespace, host_mgmt_ip = excluded.host_mgmt_ip, container_ip = excluded.container_ip, state = excluded.state, health = excluded.health, updated_at = excluded.updated_at, service_id = excluded.service_id, ports = excluded.ports";

const DELETE_OWN: &str =
    "DELETE FROM service_endpoints WHERE container_id = ? AND host_mgmt_ip = ?";

fn observed_params(host: &str, o: &Observed, now: i64) -> Vec<Value> {
    vec![
        json!(o.container_id),
        json!(o.container_name),
        json!(o.namespace),
        json!(host),
        json!(o.container_ip),
        json!(o.state),
        json!(o.health),
        json!(now),
    ]
}

/// The statements for `changes`, in order.
pub fn statements(host: &str, changes: &[Change]) -> Vec<Statement> {
    let now = now_ms();
    changes
        .iter()
        .map(|c| match c {
            Change::Upsert(o) => Statement::new(UPSERT_OBSERVED, observed_params(host, o, now)),
            Change::Register {
                observed,
                service_id,
                ports,
            } => {
                let mut params = observed_params(host, observed, now);
                params.push(json!(service_id));
                params.push(json!(ports_to_text(ports)));
                Statement::new(UPSERT_REGISTERED, params)
            }
            Change::Delete { container_id } => {
                Statement::new(DELETE_OWN, vec![json!(container_id), json!(host)])
            }
        })
        .collect()
}

/// Decodes one row of [`SELECT`].
pub fn row_from_values(v: &[Value]) -> Result<Endpoint, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> {
        v.get(i)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| StoreError::Protocol(format!("column {i} is not text in {v:?}")))
    };
    Ok(Endpoint {
        container_id: text(0)?,
        container_name: text(1)?,
        namespace: text(2)?,
        host_mgmt_ip: text(3)?,
        container_ip: text(4)?,
        state: text(5)?,
        health: text(6)?,
        updated_at: v.get(7).and_then(Value::as_i64).ok_or_else(|| {
            StoreError::Protocol(format!("updated_at is not an integer in {v:?}"))
        })?,
        service_id: text(8)?,
        ports: super::endpoint::ports_from_text(&text(9)?),
    })
}
